/**
 * Fuzz targets: each codec or ring module that takes untrusted bytes exports
 * one, the normal test run calls it with a modest count, and
 * `deno task fuzz` (tools/fuzz.ts) calls every target with millions.
 *
 * @module
 */

/** One fuzz target: feeds `iterations` generated inputs, seeded, to a decoder. */
export interface FuzzTarget {
  /** Stable name (`fuse.decodeRequest`). */
  name: string;
  /**
   * Runs `iterations` cases from `seed`; throws on the first failure with the
   * seed and case index in the message so it can be reproduced.
   */
  run(iterations: number, seed: number): void;
}

/** A small, fast, seedable PRNG (mulberry32) for reproducible fuzz cases. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return function next(): number {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
