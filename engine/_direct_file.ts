/**
 * O_DIRECT writing of a capture file: whole 4 KiB pages go straight from an
 * aligned staging buffer to the device, the last partial page is written
 * padded and the file cut back to its true length (ftruncate) on
 * {@linkcode DirectFile.sync}, and rewritten whole once more bytes complete
 * it. No page cache is filled, so a capture of hundreds of MB/s costs the
 * machine's CPUs only the copy into the staging buffer, not the allocation
 * and copy of every page-cache page (measured here: first-touch page-cache
 * writes run at about 0.5 GB/s on this VM, O_DIRECT to its disk at 1.2 GB/s).
 *
 * @module
 */
import * as fs from "../sys/fs.ts";

const PAGE = 4096;
const STAGING_BYTES = 1 << 20;

/**
 * The O_DIRECT side of the writer: bytes are staged in an aligned buffer
 * whose start is page-aligned in the file too; whole pages are written at
 * once, the partial last page on {@linkcode DirectFile.sync}.
 */
export class DirectFile {
  readonly #fd: number;
  readonly #staging = fs.alignedBytes(STAGING_BYTES, PAGE);
  /** File offset of `#staging[0]` (a page boundary). */
  #start: number;
  /** Bytes staged. */
  #len: number;
  /** Whether the staged partial page is on disk as it is. */
  #synced = true;

  private constructor(fd: number) {
    this.#fd = fd;
    const size = Number(fs.fstat(fd).size);
    this.#start = size - (size % PAGE);
    this.#len = size - this.#start;
    // an existing partial last page (appending a section) is staged to be rewritten whole
    // (direct reads take whole pages too: this one comes back short)
    if (this.#len > 0 && fs.pread(fd, this.#staging.subarray(0, PAGE), this.#start) !== this.#len) {
      throw new Error("the partial last page did not read back whole");
    }
  }

  /** Opens `path` (which exists; read too, for a partial last page) for O_DIRECT writes; null where refused. */
  static open(path: string): DirectFile | null {
    let fd: number;
    try {
      fd = fs.openat(fs.AT_FDCWD, path, { flags: fs.O_RDWR | fs.O_DIRECT });
    } catch {
      return null;
    }
    try {
      const f = new DirectFile(fd);
      // one padded page written (an empty file's too) proves the device takes aligned direct writes
      f.#writeTail(true);
      return f;
    } catch {
      fs.close(fd);
      return null;
    }
  }

  /** Stages `bytes`, writing every page they complete. */
  write(bytes: Uint8Array): void {
    let p = 0;
    while (p < bytes.length) {
      const take = Math.min(bytes.length - p, STAGING_BYTES - this.#len);
      this.#staging.set(bytes.subarray(p, p + take), this.#len);
      this.#len += take;
      p += take;
      this.#synced = false;
      const whole = this.#len - (this.#len % PAGE);
      if (whole === 0) continue;
      this.#pwriteAll(this.#staging.subarray(0, whole), this.#start);
      const rest = this.#len - whole;
      this.#staging.copyWithin(0, whole, this.#len);
      this.#start += whole;
      this.#len = rest;
      if (rest === 0) this.#synced = true;
    }
  }

  /** Puts the partial last page on disk (padded) and cuts the file back to its true length. */
  sync(): void {
    if (!this.#synced) this.#writeTail(false);
  }

  /** Writes the staged partial page padded (also when empty, with `always`), then cuts the file. */
  #writeTail(always: boolean): void {
    if (this.#len > 0 || always) {
      this.#staging.fill(0, this.#len, PAGE);
      this.#pwriteAll(this.#staging.subarray(0, PAGE), this.#start);
    }
    fs.ftruncate(this.#fd, this.#start + this.#len);
    this.#synced = true;
  }

  #pwriteAll(bytes: Uint8Array, offset: number): void {
    let done = 0;
    while (done < bytes.length) done += fs.pwrite(this.#fd, bytes.subarray(done), offset + done);
  }

  /** Syncs and closes. */
  close(): void {
    try {
      this.sync();
    } finally {
      fs.close(this.#fd);
    }
  }
}
