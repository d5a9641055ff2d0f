/**
 * A capture file written with O_DIRECT through Linux native AIO from the
 * recording thread itself: the {@linkcode Recorder} fills page-aligned chunks
 * and each flush hands one to the kernel with a single io_submit, which
 * returns once the write is queued. Nothing waits on the disk and no page
 * cache is filled (on this VM a first-touch page-cache write costs about
 * 2 ns a byte on the writing thread, O_DIRECT about 0.05).
 *
 * Layout on disk: every write starts on a page boundary. A chunk that does
 * not end on one is completed with a ringside padding block
 * (`BLOCK_RINGSIDE_PADDING`, which readers skip), so writes never overlap and
 * several can be in flight. The file is preallocated ahead of the writes
 * (ext4 makes a write that extends the file wait for the device); on close
 * the last chunk is written padded with zeros and the file is cut back to its
 * true length. A process killed with SIGKILL leaves every submitted write on
 * disk (the kernel finishes them) followed by preallocated zeros, which the
 * readers take as the end of the capture.
 *
 * Where O_DIRECT or native AIO is refused, or on tmpfs (where AIO writes
 * synchronously and preallocation touches memory), {@linkcode AioFile.open}
 * returns null and the recorder writes as before.
 *
 * @module
 */
import { AioContext } from "../sys/aio.ts";
import * as fs from "../sys/fs.ts";
import { SysError } from "../sys/libc.ts";
import { BLOCK_RINGSIDE_PADDING } from "../codecs/pcapng/types.ts";

const PAGE = 4096;
/** Slack after a chunk's usable bytes: room for a padding block that needs an extra page. */
const SLACK = 2 * PAGE;
/** Preallocation step (the file is extended this far ahead of the writes). */
const PREALLOCATE_BYTES = 64 << 20;

/** Options of {@linkcode AioFile.open}. */
export interface AioFileOptions {
  /** Keep what the file holds and write after it (default false: truncate). */
  append?: boolean;
  /** Chunks (each one write in flight at most; default 8). */
  chunks?: number;
  /** Usable bytes per chunk (default 2 MiB: a flush threshold plus the largest FUSE message). */
  chunkBytes?: number;
}

/** Counters of an {@linkcode AioFile}. */
export interface AioFileStats {
  /** Writes submitted. */
  writes: number;
  /** Times a flush had to wait for the device because every chunk was in flight. */
  waits: number;
  /** Bytes of padding blocks written. */
  paddingBytes: number;
  /** fallocate calls. */
  preallocations: number;
}

interface Chunk {
  bytes: Uint8Array;
  busy: boolean;
}

/** An O_DIRECT capture file written through native AIO (see the module doc). */
export class AioFile {
  readonly #fd: number;
  readonly #aio: AioContext;
  readonly #chunks: Chunk[];
  readonly #chunkBytes: number;
  /** Tag → chunk in flight and the length submitted from it. */
  readonly #inFlight = new Map<number, { chunk: Chunk; length: number }>();
  #nextTag = 1;
  #cur: Chunk;
  /** Bytes at the start of the current chunk carried from the file (its partial last page). */
  #head = 0;
  /** File offset of the current chunk (a page boundary). */
  #offset: number;
  /** End of the preallocated space (0: none yet; -1: the file system refused). */
  #allocEnd = 0;
  #failure: Error | undefined;
  #closed = false;
  readonly stats: AioFileStats = { writes: 0, waits: 0, paddingBytes: 0, preallocations: 0 };

  private constructor(fd: number, aio: AioContext, options: AioFileOptions) {
    this.#fd = fd;
    this.#aio = aio;
    this.#chunkBytes = options.chunkBytes ?? 2 << 20;
    const n = options.chunks ?? 8;
    this.#chunks = [];
    for (let i = 0; i < n; i++) {
      this.#chunks.push({
        bytes: fs.alignedBytes(this.#chunkBytes + SLACK, PAGE),
        busy: false,
      });
    }
    this.#cur = this.#chunks[0];
    const size = dataEnd(fd, this.#cur.bytes.subarray(0, PAGE));
    this.#offset = size - (size % PAGE);
    this.#head = size - this.#offset;
  }

  /**
   * Opens `path` for O_DIRECT writes through AIO, or returns null where that
   * is refused or pointless (tmpfs); proves it with one aligned write first.
   */
  static open(path: string, options: AioFileOptions = {}): AioFile | null {
    let fd: number;
    try {
      fd = fs.openat(fs.AT_FDCWD, path, {
        flags: fs.O_RDWR | fs.O_CREAT | fs.O_DIRECT | (options.append ? 0 : fs.O_TRUNC),
        mode: 0o644,
      });
    } catch {
      return null;
    }
    let aio: AioContext | undefined;
    try {
      if (fs.fstatfsType(fd) === fs.TMPFS_MAGIC) throw new Error("tmpfs");
      aio = new AioContext(Math.max(2, options.chunks ?? 8) + 1);
      const f = new AioFile(fd, aio, options);
      f.#probe();
      return f;
    } catch {
      aio?.destroy();
      fs.close(fd);
      return null;
    }
  }

  /**
   * The partial last page of an appended file is read into the first chunk
   * (it is rewritten whole with the first write), and one page is written
   * and reaped here to prove the file takes aligned direct writes through AIO.
   */
  #probe(): void {
    const page = this.#cur.bytes.subarray(0, PAGE);
    page.fill(0);
    if (this.#head > 0) {
      // (a zero tail after the data, cut below, may make the page read longer)
      if (fs.pread(this.#fd, page, this.#offset) < this.#head) {
        throw new Error("the partial last page did not read back whole");
      }
      page.fill(0, this.#head);
    }
    this.#aio.submitWrite(this.#fd, page, this.#offset, 0);
    const [done] = this.#aio.reap(1);
    if (done.result !== PAGE) throw new Error(`probe write returned ${done.result}`);
    fs.ftruncate(this.#fd, this.#offset + this.#head);
  }

  /** The current chunk's room for whole blocks (after any carried head). */
  chunk(): Uint8Array {
    return this.#cur.bytes.subarray(this.#head, this.#cur.bytes.length - SLACK);
  }

  /**
   * Writes the first `len` bytes of {@linkcode chunk} (whole blocks) and
   * returns the next chunk, with room for at least `need` bytes. Throws the
   * error of an earlier write that failed.
   */
  submit(len: number, need = 0): Uint8Array {
    this.#throwFailure();
    if (len > 0 || this.#head > 0) this.#write(this.#head + len, true);
    this.#reapDone(0);
    this.#cur = this.#nextChunk(need);
    this.#head = 0;
    return this.chunk();
  }

  /**
   * Writes the last `len` bytes held, waits for every write, cuts the file
   * to its true length and closes it (idempotent).
   */
  close(len: number): void {
    if (this.#closed) return;
    this.#closed = true;
    try {
      const total = this.#head + len;
      const end = this.#offset + total;
      if (total > 0 && this.#failure === undefined) this.#write(total, false);
      this.#reapDone(this.#aio.inFlight);
      this.#throwFailure();
      fs.ftruncate(this.#fd, end);
    } finally {
      this.#aio.destroy();
      fs.close(this.#fd);
    }
  }

  /** Submits `total` bytes of the current chunk, padded to a page (a padding block, or zeros at the end). */
  #write(total: number, paddingBlock: boolean): void {
    const b = this.#cur.bytes;
    let gap = (PAGE - (total % PAGE)) % PAGE;
    if (gap > 0) {
      if (paddingBlock) {
        if (gap < 12) gap += PAGE; // a block takes at least 12 bytes
        const v = new DataView(b.buffer, b.byteOffset + total, gap);
        v.setUint32(0, BLOCK_RINGSIDE_PADDING, true);
        v.setUint32(4, gap, true);
        b.fill(0, total + 8, total + gap - 4);
        v.setUint32(gap - 4, gap, true);
        this.stats.paddingBytes += gap;
      } else {
        b.fill(0, total, total + gap);
      }
    }
    const length = total + gap;
    this.#preallocate(this.#offset + length);
    // one-off chunks are not in the pool whose size bounds the writes in flight
    while (this.#aio.inFlight >= this.#aio.depth) {
      this.stats.waits++;
      this.#reapDone(1);
    }
    const tag = this.#nextTag;
    this.#nextTag = (this.#nextTag % 0xffff_ffff) + 1; // tag 0 is the probe's
    this.#aio.submitWrite(this.#fd, b.subarray(0, length), this.#offset, tag);
    this.#cur.busy = true;
    this.#inFlight.set(tag, { chunk: this.#cur, length });
    this.#offset += length;
    this.stats.writes++;
  }

  /** Extends the file ahead of `end` so that writes land inside it (ext4 waits on a write past the end). */
  #preallocate(end: number): void {
    if (this.#allocEnd < 0 || end <= this.#allocEnd) return;
    const from = Math.max(this.#allocEnd, this.#offset);
    const to = end + PREALLOCATE_BYTES;
    try {
      fs.fallocate(this.#fd, { offset: from, length: to - from });
      this.#allocEnd = to;
      this.stats.preallocations++;
    } catch {
      this.#allocEnd = -1; // not supported here: writes extend the file (and may wait)
    }
  }

  /** A free chunk with room for `need` bytes (waiting for the device when every chunk is in flight). */
  #nextChunk(need: number): Chunk {
    if (need > this.#chunkBytes) {
      // a one-off buffer for an outsize block, dropped once written
      return { bytes: fs.alignedBytes(roundUp(need, PAGE) + SLACK, PAGE), busy: false };
    }
    for (;;) {
      for (const c of this.#chunks) if (!c.busy) return c;
      this.stats.waits++;
      this.#reapDone(1);
    }
  }

  #reapDone(min: number): void {
    if (this.#aio.inFlight === 0) return;
    for (const done of this.#aio.reap(min)) {
      const w = this.#inFlight.get(done.tag);
      this.#inFlight.delete(done.tag);
      if (w === undefined) continue;
      w.chunk.busy = false;
      if (done.result !== w.length && this.#failure === undefined) {
        this.#failure = done.result < 0
          ? new SysError("writing the capture", -done.result)
          : new Error(`writing the capture: ${done.result} of ${w.length} bytes written`);
      }
    }
  }

  #throwFailure(): void {
    if (this.#failure !== undefined) throw this.#failure;
  }
}

/**
 * Where the data of an existing capture ends: its size, less a zero tail
 * (the preallocated space an interrupted recording leaves). A block ends in
 * its nonzero total length, so the data ends at the 4-byte boundary after
 * the last nonzero byte. `page` is an aligned scratch page.
 */
function dataEnd(fd: number, page: Uint8Array): number {
  const size = Number(fs.fstat(fd).size);
  let end = size - (size % PAGE);
  if (end < size) {
    // the partial last page: O_DIRECT reads whole pages and returns it short
    const n = fs.pread(fd, page, end);
    for (let i = n - 1; i >= 0; i--) if (page[i] !== 0) return roundUp(end + i + 1, 4);
  }
  while (end > 0) {
    end -= PAGE;
    if (fs.pread(fd, page, end) !== PAGE) {
      throw new Error("a page of the capture did not read back whole");
    }
    for (let i = PAGE - 1; i >= 0; i--) if (page[i] !== 0) return roundUp(end + i + 1, 4);
  }
  return 0;
}

function roundUp(n: number, to: number): number {
  return Math.ceil(n / to) * to;
}
