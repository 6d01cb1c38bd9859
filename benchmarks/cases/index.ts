import type { Case } from '../lib/types.js';
import { concurrency, failurePath, fastFail, success } from './breaker.js';
import { deferredThroughput, deferToSuccess } from './deferred.js';
import { events } from './events.js';
import { group } from './group.js';
import { adaptiveCost, overloadTable } from './overload.js';
import { policies2 } from './policies2.js';
import { redisSuccess } from './redis.js';
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
  adaptiveCost,
  overloadTable,
  ...policies2,
  group,
  redisSuccess,
  deferToSuccess,
  deferredThroughput,
];
