export {
  type HedgedEvent,
  type HedgeEvents,
  type HedgeFailedEvent,
  type HedgeOptions,
  HedgePolicy,
  type HedgeSkippedEvent,
  type HedgeWonEvent,
  hedge,
  type PercentileDelay,
} from './hedge.js';
