/**
 * A map keyed by a fixed-length tuple of primitives, kept as nested Maps: a lookup hashes each part and builds no
 * key string (the estimates pass looks up 100,000 tuples per run; building the strings was a fair part of it).
 */
export class TupleMap<K extends readonly unknown[], V> {
  private readonly root = new Map<unknown, unknown>();

  get(key: K): V | undefined {
    let level: Map<unknown, unknown> | undefined = this.root;
    for (let index = 0; index < key.length - 1; index += 1) {
      level = level.get(key[index]) as Map<unknown, unknown> | undefined;
      if (level === undefined) return undefined;
    }
    return level.get(key[key.length - 1]) as V | undefined;
  }

  set(key: K, value: V): void {
    let level = this.root;
    for (let index = 0; index < key.length - 1; index += 1) {
      let next = level.get(key[index]) as Map<unknown, unknown> | undefined;
      if (next === undefined) {
        next = new Map();
        level.set(key[index], next);
      }
      level = next;
    }
    level.set(key[key.length - 1], value);
  }
}
