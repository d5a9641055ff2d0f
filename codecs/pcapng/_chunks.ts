/**
 * A queue of input chunks that the streaming readers consume from: bytes are
 * read in place when a record lies inside one chunk and assembled into a copy
 * only when it spans chunks, so memory stays at one record plus one chunk.
 *
 * @module
 */

/** Pushed chunks, consumed from the front; `consumed` is the absolute byte offset of the front. */
export class ChunkQueue {
  #chunks: Uint8Array[] = [];
  #head = 0;
  #available = 0;
  /** Bytes consumed so far: the absolute offset of the next unread byte. */
  consumed = 0;

  /** Appends `chunk`; the queue keeps a reference to it, so it must not be modified afterwards. */
  push(chunk: Uint8Array): void {
    if (chunk.length === 0) return;
    this.#chunks.push(chunk);
    this.#available += chunk.length;
  }

  /** Bytes pushed but not yet consumed. */
  get available(): number {
    return this.#available;
  }

  /** The byte at `rel` bytes past the front (`rel < available`). */
  byteAt(rel: number): number {
    let i = 0;
    let at = this.#head + rel;
    while (at >= this.#chunks[i].length) {
      at -= this.#chunks[i].length;
      i++;
    }
    return this.#chunks[i][at];
  }

  /** The u16 at `rel` bytes past the front, little- or big-endian (`rel + 2 <= available`). */
  u16(rel: number, le: boolean): number {
    const c = this.#chunks[0];
    const p = this.#head + rel;
    let b0, b1;
    if (p + 2 <= c.length) {
      b0 = c[p];
      b1 = c[p + 1];
    } else {
      b0 = this.byteAt(rel);
      b1 = this.byteAt(rel + 1);
    }
    return le ? b0 | (b1 << 8) : (b0 << 8) | b1;
  }

  /** The u32 at `rel` bytes past the front, little- or big-endian (`rel + 4 <= available`). */
  u32(rel: number, le: boolean): number {
    const c = this.#chunks[0];
    const p = this.#head + rel;
    let b0, b1, b2, b3;
    if (p + 4 <= c.length) {
      b0 = c[p];
      b1 = c[p + 1];
      b2 = c[p + 2];
      b3 = c[p + 3];
    } else {
      b0 = this.byteAt(rel);
      b1 = this.byteAt(rel + 1);
      b2 = this.byteAt(rel + 2);
      b3 = this.byteAt(rel + 3);
    }
    return le
      ? (b0 | (b1 << 8) | (b2 << 16) | (b3 << 24)) >>> 0
      : ((b0 << 24) | (b1 << 16) | (b2 << 8) | b3) >>> 0;
  }

  /**
   * Consumes `n` bytes (`n <= available`) and returns them contiguous: a view
   * into the pushed chunk when they lie inside one, otherwise a fresh copy.
   */
  take(n: number): Uint8Array {
    const c = this.#chunks[0];
    const p = this.#head;
    let out: Uint8Array;
    if (p + n <= c.length) {
      out = c.subarray(p, p + n);
      this.#head = p + n;
      if (this.#head === c.length) {
        this.#chunks.shift();
        this.#head = 0;
      }
    } else {
      out = new Uint8Array(n);
      let filled = 0;
      while (filled < n) {
        const f = this.#chunks[0];
        const count = Math.min(f.length - this.#head, n - filled);
        out.set(f.subarray(this.#head, this.#head + count), filled);
        filled += count;
        this.#head += count;
        if (this.#head === f.length) {
          this.#chunks.shift();
          this.#head = 0;
        }
      }
    }
    this.#available -= n;
    this.consumed += n;
    return out;
  }

  /** The array holding the bytes the last {@linkcode ChunkQueue.takeInPlace} consumed. */
  taken: Uint8Array = new Uint8Array(0);

  /**
   * Consumes `n` bytes (`n <= available`) like {@linkcode ChunkQueue.take}
   * without making a view: they are `taken[start, start + n)` for the
   * returned `start` (a pushed chunk, or a fresh copy when they span chunks).
   */
  takeInPlace(n: number): number {
    const c = this.#chunks[0];
    const p = this.#head;
    if (p + n > c.length) {
      this.taken = this.take(n);
      return 0;
    }
    this.taken = c;
    this.#head = p + n;
    if (this.#head === c.length) {
      this.#chunks.shift();
      this.#head = 0;
    }
    this.#available -= n;
    this.consumed += n;
    return p;
  }

  /** Drops everything not yet consumed (after a fatal error). */
  clear(): void {
    this.consumed += this.#available;
    this.#chunks = [];
    this.#head = 0;
    this.#available = 0;
  }
}
