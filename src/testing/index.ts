export { flushPromises, ManualClock } from './manual-clock.js';
export { seededRandom } from './seeded-random.js';
