/** A promise settled from outside, to hold a call in flight. */
export interface Deferred<T> {
  readonly promise: Promise<T>;
  resolve(value: T): void;
  reject(error: unknown): void;
}

export function deferred<T = string>(): Deferred<T> {
  let resolve!: (value: T) => void;
  let reject!: (error: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

export type Settled =
  | { state: 'pending' }
  | { state: 'fulfilled'; value: unknown }
  | { state: 'rejected'; value: unknown };

/** Tracks how a promise settled, without awaiting it. */
export function track<T>(p: Promise<T>): () => Settled {
  let state: Settled = { state: 'pending' };
  p.then(
    (value) => {
      state = { state: 'fulfilled', value };
    },
    (value: unknown) => {
      state = { state: 'rejected', value };
    },
  );
  return () => state;
}
