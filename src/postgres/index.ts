/**
 * A durable store for `DeferredQueue` on PostgreSQL (`pg`, an optional peer dependency).
 * @packageDocumentation
 * @module breakwater/postgres
 */
export {
  type PostgresQueryable,
  type PostgresResult,
  type PostgresStore,
  type PostgresStoreOptions,
  postgresStore,
} from './store.js';
