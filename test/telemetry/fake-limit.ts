import { Emitter } from '../../src/emitter.js';
import type { Priority } from '../../src/policy.js';

/** A stand-in with the shape the adapters read from `adaptiveLimit(...)` (they tell it by `kind`). */
export class FakeLimit extends Emitter<{
  limitChanged: [{ from: number; to: number }];
  rejected: [{ priority: Priority; reason: 'limit' | 'queue-timeout' }];
}> {
  readonly kind = 'adaptive-limit' as const;
  limit = 10;
  inFlight = 0;
  queued = 0;
  constructor(readonly name = 'db') {
    super();
  }
  move(to: number): void {
    const from = this.limit;
    this.limit = to;
    this.emit('limitChanged', { from, to });
  }
}
