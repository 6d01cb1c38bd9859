import type { Case } from '../lib/types.js';
import { concurrency, failurePath, fastFail, success } from './breaker.js';
import { events } from './events.js';
import { composed, retrySuccess } from './retry.js';
import { scale } from './scale.js';
import { shedderIdle } from './shedder.js';
import { windows } from './windows.js';

/** Every case, in the order of the results table. */
export const cases: readonly Case[] = [
  success,
  fastFail,
  failurePath,
  retrySuccess,
  composed,
  scale,
  concurrency,
  events,
  windows,
  shedderIdle,
];
