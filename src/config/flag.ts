import { Emitter } from '../emitter.js';
import * as v from '../validate.js';

/** Options of {@link Flag}. */
export interface FlagOptions {
  /** Names the flag on the dashboard and in `createPolicies` configs. */
  name: string;
  /**
   * Whether it starts on.
   * @default false
   */
  enabled?: boolean;
}

/** Payload of the {@link FlagEvents.changed | changed} event. */
export interface FlagChangedEvent {
  /** Whether the flag is on now. */
  readonly enabled: boolean;
}

/** The events of a {@link Flag}, each with one payload object. */
export interface FlagEvents {
  /** The flag was turned on or off (not fired when `set` leaves it as it was). */
  changed: [FlagChangedEvent];
}

/** Which flag switches which policy, for the dashboard; weak, so a policy let go is not kept. */
const switchedBy = new WeakMap<object, Flag>();

/** @internal The flag recorded for `policy` with {@link Flag.controls}, if any. */
export function flagOf(policy: object): Flag | undefined {
  return switchedBy.get(policy);
}

/**
 * A switch that can be turned on and off at run time: from code, from the dashboard's
 * controls, or from the environment through `fromEnv` and `createPolicies`. Pass `flag.read`
 * as a chaos injection's `enabled`: the injection asks it on every call, so turning the flag
 * off stops injecting from the next call on.
 *
 * @example
 * ```ts
 * const chaos = new Flag({ name: 'chaos' });
 * const faults = injectFault({ rate: 0.1, enabled: chaos.read });
 * chaos.controls(faults); // shown beside the injection on the dashboard
 * chaos.set(true);
 * ```
 */
export class Flag extends Emitter<FlagEvents> {
  /** Names the flag. */
  readonly name: string;
  private value: boolean;
  /** Whether the flag is on, as a function: give it as a chaos injection's `enabled`. */
  readonly read: () => boolean = () => this.value;

  constructor(options: FlagOptions) {
    super();
    const o = v.object('Flag options', options);
    v.knownKeys('Flag', o, ['name', 'enabled']);
    this.name = v.string('name', o.name);
    if (o.enabled !== undefined && typeof o.enabled !== 'boolean') {
      throw new TypeError(`enabled must be a boolean, got ${v.show(o.enabled)}`);
    }
    this.value = o.enabled === true;
  }

  /** What this is, for the dashboard. */
  get kind(): 'flag' {
    return 'flag';
  }

  /** Whether the flag is on. */
  get enabled(): boolean {
    return this.value;
  }

  /** Turns the flag on or off; emits `changed` when that changes it. */
  set(enabled: boolean): void {
    if (typeof enabled !== 'boolean')
      throw new TypeError(`enabled must be a boolean, got ${v.show(enabled)}`);
    if (enabled === this.value) return;
    this.value = enabled;
    if (this.listenerCount('changed') !== 0) this.emit('changed', { enabled });
  }

  /**
   * Records that this flag switches `policies` (whose `enabled` is {@link read}), so the
   * dashboard shows which flag switches each injection. Changes nothing else.
   */
  controls(...policies: object[]): this {
    for (const p of policies) {
      if (typeof p !== 'object' || p === null)
        throw new TypeError(`controls: expected a policy, got ${v.show(p)}`);
      switchedBy.set(p, this);
    }
    return this;
  }
}
