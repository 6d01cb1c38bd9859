/**
 * Test helpers: a manual clock and a seeded random source, to drive breakwater's policies
 * through time and jitter deterministically, with no real waiting.
 * @packageDocumentation
 * @module breakwater/testing
 */
export { flushPromises, ManualClock } from './manual-clock.js';
export { seededRandom } from './seeded-random.js';
