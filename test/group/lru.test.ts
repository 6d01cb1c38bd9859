import { describe, expect, it } from 'vitest';
import { type Linked, LruList } from '../../src/group/lru.js';

const node = (key: string): Linked => ({ key, prev: undefined, next: undefined });
const keys = (list: LruList<Linked>) => [...list].map((n) => n.key);

describe('LruList', () => {
  it('keeps nodes in order of use, least recently used at head', () => {
    const list = new LruList<Linked>();
    const [a, b, c] = [node('a'), node('b'), node('c')];
    list.push(a);
    list.push(b);
    list.push(c);
    expect(keys(list)).toEqual(['a', 'b', 'c']);
    list.touch(a);
    expect(keys(list)).toEqual(['b', 'c', 'a']);
    list.touch(c);
    expect(keys(list)).toEqual(['b', 'a', 'c']);
    list.touch(c); // already the tail
    expect(list.head).toBe(b);
    expect(list.tail).toBe(c);
    expect(list.size).toBe(3);
    expect(list.get('a')).toBe(a);
    expect(list.has('z')).toBe(false);
  });

  it('removes from the head, the middle and the tail', () => {
    const list = new LruList<Linked>();
    const nodes = ['a', 'b', 'c', 'd'].map(node);
    for (const n of nodes) list.push(n);
    list.remove(nodes[1]!);
    expect(keys(list)).toEqual(['a', 'c', 'd']);
    list.remove(nodes[0]!);
    expect(list.head).toBe(nodes[2]);
    list.remove(nodes[3]!);
    expect(list.tail).toBe(nodes[2]);
    expect(keys(list)).toEqual(['c']);
    list.remove(nodes[2]!);
    expect(list.head).toBeUndefined();
    expect(list.tail).toBeUndefined();
    expect(list.size).toBe(0);
    list.push(node('e'));
    expect(keys(list)).toEqual(['e']);
  });

  it('clears', () => {
    const list = new LruList<Linked>();
    list.push(node('a'));
    list.clear();
    expect(list.size).toBe(0);
    expect(keys(list)).toEqual([]);
  });
});
