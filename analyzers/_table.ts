/**
 * Private: a hash map from u64 keys to values for the pairing hot path.
 * Number keys live in an open-addressing table (linear probing, deletion by
 * backward shift), so the insert-then-delete churn of requests and replies
 * allocates nothing (a Map that small rehashes every few operations);
 * bigint keys (above 2^53, never seen in practice) go to a Map. Insertion
 * order is kept in a ring of keys so the oldest entry can be evicted.
 *
 * @module
 */
import type { Key } from "./_wire.ts";

const EMPTY = -1;

/** A map from {@linkcode Key} to `V` with insertion order for eviction. */
export class KeyTable<V> {
  #keys: Float64Array;
  /** When each slot's entry was inserted (its place in `#order`). */
  #seqs: Float64Array;
  #vals: (V | undefined)[];
  #mask: number;
  #count = 0;
  #big = new Map<bigint, { v: V; seq: number }>();
  /** Keys in insertion order with their insertion numbers (stale ones skipped when met). */
  #order: Key[] = [];
  #orderSeqs: number[] = [];
  #orderHead = 0;
  #seq = 0;

  /** Builds an empty table. */
  constructor() {
    this.#keys = new Float64Array(16).fill(EMPTY);
    this.#seqs = new Float64Array(16);
    this.#vals = new Array(16).fill(undefined);
    this.#mask = 15;
  }

  /** Entries held. */
  get size(): number {
    return this.#count + this.#big.size;
  }

  #slot(k: number): number {
    const h = Math.imul((k | 0) ^ ((k / 4294967296) | 0), 0x9e3779b1);
    return (h ^ (h >>> 15)) & this.#mask;
  }

  #find(k: number): number {
    const keys = this.#keys;
    let i = this.#slot(k);
    for (;;) {
      const at = keys[i];
      if (at === k) return i;
      if (at === EMPTY) return -1;
      i = (i + 1) & this.#mask;
    }
  }

  /** The value of `k`. */
  get(k: Key): V | undefined {
    if (typeof k === "bigint") return this.#big.get(k)?.v;
    const i = this.#find(k);
    return i < 0 ? undefined : this.#vals[i];
  }

  /** Whether `k` is held. */
  has(k: Key): boolean {
    return typeof k === "bigint" ? this.#big.has(k) : this.#find(k) >= 0;
  }

  /** Sets `k` (a new key goes last in insertion order). */
  set(k: Key, v: V): void {
    if (typeof k === "bigint") {
      const e = this.#big.get(k);
      if (e !== undefined) e.v = v;
      else this.#big.set(k, { v, seq: this.#remember(k) });
      return;
    }
    const keys = this.#keys;
    let i = this.#slot(k);
    for (;;) {
      const at = keys[i];
      if (at === k) {
        this.#vals[i] = v;
        return;
      }
      if (at === EMPTY) break;
      i = (i + 1) & this.#mask;
    }
    keys[i] = k;
    this.#vals[i] = v;
    this.#count++;
    this.#seqs[i] = this.#remember(k);
    if (this.#count * 2 > this.#mask) this.#grow();
  }

  /** Appends `k` to the insertion order; returns its insertion number. */
  #remember(k: Key): number {
    // drop stale entries now and then, so the order stays near the size
    if (this.#order.length - this.#orderHead > 2 * this.size + 64) {
      const keys: Key[] = [];
      const seqs: number[] = [];
      for (let i = this.#orderHead; i < this.#order.length; i++) {
        if (this.#current(this.#order[i], this.#orderSeqs[i])) {
          keys.push(this.#order[i]);
          seqs.push(this.#orderSeqs[i]);
        }
      }
      this.#order = keys;
      this.#orderSeqs = seqs;
      this.#orderHead = 0;
    }
    const seq = this.#seq++;
    this.#order.push(k);
    this.#orderSeqs.push(seq);
    return seq;
  }

  /** Whether `k` is held and was inserted as number `seq`. */
  #current(k: Key, seq: number): boolean {
    if (typeof k === "bigint") return this.#big.get(k)?.seq === seq;
    const i = this.#find(k);
    return i >= 0 && this.#seqs[i] === seq;
  }

  #grow(): void {
    const oldKeys = this.#keys;
    const oldSeqs = this.#seqs;
    const oldVals = this.#vals;
    const n = oldKeys.length * 2;
    this.#keys = new Float64Array(n).fill(EMPTY);
    this.#seqs = new Float64Array(n);
    this.#vals = new Array(n).fill(undefined);
    this.#mask = n - 1;
    for (let j = 0; j < oldKeys.length; j++) {
      const k = oldKeys[j];
      if (k === EMPTY) continue;
      let i = this.#slot(k);
      while (this.#keys[i] !== EMPTY) i = (i + 1) & this.#mask;
      this.#keys[i] = k;
      this.#seqs[i] = oldSeqs[j];
      this.#vals[i] = oldVals[j];
    }
  }

  /** Removes `k`; true when it was held. */
  delete(k: Key): boolean {
    if (typeof k === "bigint") return this.#big.delete(k);
    let i = this.#find(k);
    if (i < 0) return false;
    const keys = this.#keys;
    const seqs = this.#seqs;
    const vals = this.#vals;
    const mask = this.#mask;
    // backward shift: pull later entries of the probe run into the hole
    let j = i;
    for (;;) {
      j = (j + 1) & mask;
      const at = keys[j];
      if (at === EMPTY) break;
      const home = this.#slot(at);
      // move `at` into the hole unless its home lies cyclically in (i, j]
      if (i <= j ? home <= i || home > j : home <= i && home > j) {
        keys[i] = at;
        seqs[i] = seqs[j];
        vals[i] = vals[j];
        i = j;
      }
    }
    keys[i] = EMPTY;
    vals[i] = undefined;
    this.#count--;
    return true;
  }

  /** The key inserted longest ago still held, if any. */
  oldest(): Key | undefined {
    const order = this.#order;
    while (this.#orderHead < order.length) {
      const k = order[this.#orderHead];
      if (this.#current(k, this.#orderSeqs[this.#orderHead])) return k;
      this.#orderHead++;
    }
    return undefined;
  }

  /** Every value, oldest first. */
  values(): V[] {
    const out: V[] = [];
    for (let i = this.#orderHead; i < this.#order.length; i++) {
      const k = this.#order[i];
      if (this.#current(k, this.#orderSeqs[i])) out.push(this.get(k)!);
    }
    return out;
  }
}
