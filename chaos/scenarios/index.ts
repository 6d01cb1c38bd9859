import type { Scenario } from '../lib/types.js';
import { databaseDown } from './01-database-down.js';
import { memoryPressure } from './02-memory-pressure.js';
import { partition } from './03-partition.js';
import { diskFull } from './04-disk-full.js';
import { cpuSaturation } from './05-cpu-saturation.js';
import { slowDependency } from './06-slow-dependency.js';
import { flapping } from './07-flapping.js';
import { retryStorm } from './08-retry-storm.js';
import { redisHangs } from './09-redis-hangs.js';
import { crashRestart } from './10-crash-restart.js';

/** Each scenario is stopped (and counted failed) when it runs longer than this after its setup. */
export const SCENARIO_TIME_LIMIT = 60_000;
/** Starting its throwaway servers and the service: seconds on an idle machine, many more on a loaded one. */
export const SETUP_TIME_LIMIT = 45_000;

/** The ten scenarios, in their numbered order. */
export const SCENARIOS: readonly Scenario[] = [
  databaseDown,
  memoryPressure,
  partition,
  diskFull,
  cpuSaturation,
  slowDependency,
  flapping,
  retryStorm,
  redisHangs,
  crashRestart,
];
