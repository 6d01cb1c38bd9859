/** A node of an {@link LruList}: the list links it in place, so moving it allocates nothing. */
export interface Linked {
  readonly key: string;
  prev: Linked | undefined;
  next: Linked | undefined;
}

/**
 * Nodes by key, in order of use: least recently used at `head`. A `Map` alone (re-inserting a
 * key on use) would do in theory, but V8 leaves a hole per deleted entry until the table is
 * rebuilt, and reaching the first live entry steps over every hole: with a key evicted per
 * call, that made each eviction cost O(maxSize) (40 µs at 10,000 keys). Here every operation
 * is O(1).
 */
export class LruList<N extends Linked> {
  private readonly index = new Map<string, N>();
  /** The least recently used node. */
  head: N | undefined = undefined;
  /** The most recently used node. */
  tail: N | undefined = undefined;

  get size(): number {
    return this.index.size;
  }

  get(key: string): N | undefined {
    return this.index.get(key);
  }

  has(key: string): boolean {
    return this.index.has(key);
  }

  /** Adds a node whose key the list does not hold, as the most recently used. */
  push(node: N): void {
    this.index.set(node.key, node);
    this.append(node);
  }

  /** Removes a node that the list holds. */
  remove(node: N): void {
    this.index.delete(node.key);
    this.unlink(node);
  }

  /** Marks a node that the list holds as the most recently used. */
  touch(node: N): void {
    if (node === this.tail) return;
    this.unlink(node);
    this.append(node);
  }

  clear(): void {
    this.index.clear();
    this.head = undefined;
    this.tail = undefined;
  }

  /** The nodes, least recently used first. */
  *[Symbol.iterator](): IterableIterator<N> {
    for (let node = this.head; node !== undefined; node = node.next as N | undefined) yield node;
  }

  private append(node: N): void {
    node.prev = this.tail;
    node.next = undefined;
    if (this.tail === undefined) this.head = node;
    else this.tail.next = node;
    this.tail = node;
  }

  private unlink(node: N): void {
    if (node.prev === undefined) this.head = node.next as N | undefined;
    else node.prev.next = node.next;
    if (node.next === undefined) this.tail = node.prev as N | undefined;
    else node.next.prev = node.prev;
    node.prev = undefined;
    node.next = undefined;
  }
}
