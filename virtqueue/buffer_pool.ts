/**
 * A first-fit allocator over one area of guest memory, for the driver side's
 * data buffers and indirect tables.
 *
 * @module
 */

/** First-fit allocator of guest-physical ranges with coalescing frees. */
export class BufferPool {
  // free blocks sorted by start: [start0, len0, start1, len1, ...]
  #free: number[];
  /** First address of the area. */
  readonly start: number;
  /** Size of the area in bytes. */
  readonly size: number;

  /** Creates a pool over `[start, start + size)`. */
  constructor(start: number, size: number) {
    this.start = start;
    this.size = size;
    this.#free = size > 0 ? [start, size] : [];
  }

  /** Allocates `len` bytes aligned to `align` (a power of two); `-1` when nothing fits. */
  alloc(len: number, align = 8): number {
    const need = Math.max(len, 1);
    const f = this.#free;
    for (let i = 0; i < f.length; i += 2) {
      const s = f[i];
      const l = f[i + 1];
      const a = Math.ceil(s / align) * align;
      const pad = a - s;
      if (l < pad + need) continue;
      const rest = l - pad - need;
      const repl: number[] = [];
      if (pad > 0) repl.push(s, pad);
      if (rest > 0) repl.push(a + need, rest);
      f.splice(i, 2, ...repl);
      return a;
    }
    return -1;
  }

  /** Returns `[addr, addr + len)` (as allocated) to the pool. */
  free(addr: number, len: number): void {
    const need = Math.max(len, 1);
    const f = this.#free;
    let i = 0;
    while (i < f.length && f[i] < addr) i += 2;
    f.splice(i, 0, addr, need);
    // merge with the next block, then with the previous one
    if (i + 2 < f.length && f[i] + f[i + 1] === f[i + 2]) {
      f[i + 1] += f[i + 3];
      f.splice(i + 2, 2);
    }
    if (i >= 2 && f[i - 2] + f[i - 1] === f[i]) {
      f[i - 1] += f[i + 1];
      f.splice(i, 2);
    }
  }

  /** Bytes currently free. */
  get freeBytes(): number {
    let n = 0;
    for (let i = 1; i < this.#free.length; i += 2) n += this.#free[i];
    return n;
  }
}
