/**
 * Redis for breakwater (entry `breakwater/redis`): `redisCircuitStore` shares a circuit
 * breaker's state across processes; `redisRateLimitStore` shares a rate limit's buckets;
 * `redisStore` keeps a deferred queue on Redis Streams.
 * Needs the optional peer `redis` (node-redis) or any client with `sendCommand(args)`.
 * @packageDocumentation
 * @module breakwater/redis
 */
export {
  type RedisCircuitStoreOptions,
  type RedisSubscriber,
  redisCircuitStore,
} from './circuit-store.js';
export {
  type RedisQueueClient,
  type RedisQueueStore,
  type RedisStoreOptions,
  redisStore,
} from './queue-store.js';
export { type RedisRateLimitStoreOptions, redisRateLimitStore } from './rate-limit-store.js';
export type { RedisCommandClient } from './scripts.js';
