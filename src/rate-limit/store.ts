import type { RateLimitStrategy } from './rate-limit.js';

/** What a {@link RateLimitStore} counts permits by: the policy's rule. */
export interface RateLimitRule {
  /** Calls allowed per `interval`. */
  readonly limit: number;
  /** The period (ms) `limit` is counted over. */
  readonly interval: number;
  /** The token bucket's size; `undefined` for `sliding-window`. */
  readonly burst: number | undefined;
  /** How permits are counted: by token bucket or exact sliding window. */
  readonly strategy: RateLimitStrategy;
}

/**
 * Where the permits of a limit shared by several processes are counted (the `store` option
 * of {@link rateLimit}): one atomic operation per call, on the store's own clock, so that
 * every process counts against the same buckets. `breakwater/redis` has one
 * (`redisRateLimitStore`).
 */
export interface RateLimitStore {
  /**
   * ms the policy waits on {@link take} before it counts the call on its own bucket instead
   * (the store is down or slow: see the `storeError` event).
   */
  readonly commandTimeout: number;
  /**
   * Takes a permit from the bucket of (`name`, `key`) if one is free now, answering 0;
   * otherwise takes nothing and answers the ms until one would be free.
   */
  take(name: string, key: string, rule: RateLimitRule): Promise<number>;
}
