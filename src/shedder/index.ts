export type { PressureProbe, PressureReadings } from './sampler.js';
export {
  DEFAULT_THRESHOLDS,
  type LoadShedderEvents,
  type LoadShedderOptions,
  LoadShedderPolicy,
  loadShedder,
  type PressureChangedEvent,
  type SheddablePriority,
  type SheddingChangedEvent,
  type ShedEvent,
  type ShedThresholds,
} from './shedder.js';
