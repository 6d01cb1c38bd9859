/**
 * `breakwater/pg`: makes `pg` queries honour an AbortSignal, so that a timeout, a caller's
 * abort or a shutdown ends them. `pg` is an optional peer dependency: this entry takes
 * your Pool and never imports `pg` at run time.
 * @packageDocumentation
 * @module breakwater/pg
 */
export {
  type AbortableClient,
  type AbortableOptions,
  type AbortablePool,
  type AbortableQuery,
  abortable,
  ClientDiscardedError,
  isClientDiscardedError,
  type PgCallOptions,
  query,
} from './abortable.js';
