/**
 * The guest kernel: finding the host's newest `/boot/vmlinuz-*`, pulling the
 * uncompressed ELF `vmlinux` out of a bzImage, and checking that it has a PVH
 * entry point, so QEMU can start it directly.
 *
 * Why: under TCG the kernel's own decompressor (xz) is emulated and costs ~2 s
 * per boot; QEMU boots an ELF kernel with a PVH entry note
 * (XEN_ELFNOTE_PHYS32_ENTRY) without running it.
 *
 * Layout facts used (x86 boot protocol, Documentation/arch/x86/boot.rst):
 * `setup_sects` at 0x1f1 (0 means 4), "HdrS" at 0x202, protocol version at
 * 0x206, `payload_offset` and `payload_length` at 0x248/0x24c (protocol
 * ≥ 2.08), relative to the protected-mode code at `(setup_sects + 1) * 512`.
 * The kernel build appends the uncompressed size as a little-endian u32 to the
 * compressed payload.
 *
 * @module
 */

/** Where a bzImage's compressed kernel lies and how it is compressed. */
export interface BzImagePayload {
  /** Byte offset of the compressed stream in the bzImage. */
  offset: number;
  /** Length of the compressed stream, without the appended size. */
  length: number;
  /** Size of the decompressed vmlinux, as appended by the kernel build. */
  uncompressedSize: number;
  /** Compression, from the stream's magic. */
  compression: "gzip" | "xz" | "zstd" | "lz4" | "lzma" | "bzip2" | "lzo" | "unknown";
}

function u16(b: Uint8Array, off: number): number {
  return b[off] | (b[off + 1] << 8);
}

function u32(b: Uint8Array, off: number): number {
  return (b[off] | (b[off + 1] << 8) | (b[off + 2] << 16) | (b[off + 3] << 24)) >>> 0;
}

function startsWith(b: Uint8Array, off: number, magic: number[]): boolean {
  return magic.every((m, i) => b[off + i] === m);
}

/**
 * Locates the compressed payload of an x86 bzImage. Throws a `RangeError`
 * naming the offset when `image` is not a bzImage of boot protocol ≥ 2.08 or
 * the payload lies outside it.
 */
export function bzImagePayload(image: Uint8Array): BzImagePayload {
  if (image.length < 0x250 || !startsWith(image, 0x202, [0x48, 0x64, 0x72, 0x53])) {
    throw new RangeError("kernel: no bzImage header signature HdrS at byte 0x202");
  }
  const version = u16(image, 0x206);
  if (version < 0x208) {
    throw new RangeError(
      `kernel: boot protocol ${version.toString(16)} at byte 0x206 is older than 2.08`,
    );
  }
  const setupSects = image[0x1f1] || 4;
  const payloadOffset = u32(image, 0x248);
  const payloadLength = u32(image, 0x24c);
  const offset = (setupSects + 1) * 512 + payloadOffset;
  if (payloadLength < 4 || offset + payloadLength > image.length) {
    throw new RangeError(
      `kernel: payload at byte 0x248 (${offset}+${payloadLength}) lies outside the image`,
    );
  }
  const length = payloadLength - 4;
  const uncompressedSize = u32(image, offset + length);
  let compression: BzImagePayload["compression"] = "unknown";
  if (startsWith(image, offset, [0x1f, 0x8b])) compression = "gzip";
  else if (startsWith(image, offset, [0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00])) compression = "xz";
  else if (startsWith(image, offset, [0x28, 0xb5, 0x2f, 0xfd])) compression = "zstd";
  else if (startsWith(image, offset, [0x02, 0x21, 0x4c, 0x18])) compression = "lz4";
  else if (startsWith(image, offset, [0x5d, 0x00, 0x00])) compression = "lzma";
  else if (startsWith(image, offset, [0x42, 0x5a, 0x68])) compression = "bzip2";
  else if (startsWith(image, offset, [0x89, 0x4c, 0x5a, 0x4f])) compression = "lzo";
  return { offset, length, uncompressedSize, compression };
}

async function pipeThrough(cmd: string, args: string[], input: Uint8Array): Promise<Uint8Array> {
  const child = new Deno.Command(cmd, {
    args,
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const writer = child.stdin.getWriter();
  const writing = writer.write(input).then(() => writer.close()).catch(() => {});
  const out = await child.output();
  await writing;
  if (!out.success) {
    const msg = new TextDecoder().decode(out.stderr).trim();
    throw new Error(`${cmd} ${args.join(" ")} failed: ${msg || `status ${out.code}`}`);
  }
  return out.stdout;
}

/**
 * Decompresses `data` compressed with `compression`: gzip in-process, the
 * others through the xz, zstd, lz4, bzip2 or lzop command-line tools.
 */
export async function decompress(
  data: Uint8Array,
  compression: BzImagePayload["compression"],
): Promise<Uint8Array> {
  switch (compression) {
    case "gzip": {
      const stream = new Blob([data as Uint8Array<ArrayBuffer>]).stream()
        .pipeThrough(new DecompressionStream("gzip"));
      return new Uint8Array(await new Response(stream).arrayBuffer());
    }
    case "xz":
      return await pipeThrough("xz", ["-dc", "--single-stream"], data);
    case "lzma":
      return await pipeThrough("xz", ["-dc", "--format=lzma"], data);
    case "zstd":
      return await pipeThrough("zstd", ["-dcq"], data);
    case "lz4":
      return await pipeThrough("lz4", ["-dcq"], data);
    case "bzip2":
      return await pipeThrough("bzip2", ["-dc"], data);
    case "lzo":
      return await pipeThrough("lzop", ["-dc"], data);
    default:
      throw new Error("kernel: unknown compression");
  }
}

/**
 * Returns the decompressed ELF kernel inside `bzImage`. Throws when the
 * payload cannot be found or decompressed, or the result is not an ELF file
 * of the size the image announces.
 */
export async function extractVmlinux(bzImage: Uint8Array): Promise<Uint8Array> {
  const p = bzImagePayload(bzImage);
  const elf = await decompress(bzImage.subarray(p.offset, p.offset + p.length), p.compression);
  if (!startsWith(elf, 0, [0x7f, 0x45, 0x4c, 0x46])) {
    throw new Error("kernel: the decompressed payload is not an ELF file");
  }
  if (elf.length !== p.uncompressedSize) {
    throw new Error(
      `kernel: decompressed ${elf.length} bytes, the image announces ${p.uncompressedSize}`,
    );
  }
  return elf;
}

/** ELF note type of the 32-bit PVH entry point (xen/include/public/elfnote.h). */
export const XEN_ELFNOTE_PHYS32_ENTRY = 18;

/**
 * True when the 64-bit little-endian ELF file `elf` has a `Xen` note of type
 * XEN_ELFNOTE_PHYS32_ENTRY in one of its PT_NOTE segments. Never reads past
 * `elf`: a malformed file is simply `false`.
 */
export function hasPvhEntry(elf: Uint8Array): boolean {
  if (elf.length < 64 || !startsWith(elf, 0, [0x7f, 0x45, 0x4c, 0x46, 2, 1])) return false;
  const view = new DataView(elf.buffer, elf.byteOffset, elf.byteLength);
  const phoff = Number(view.getBigUint64(0x20, true));
  const phentsize = view.getUint16(0x36, true);
  const phnum = view.getUint16(0x38, true);
  if (phentsize < 56) return false;
  for (let i = 0; i < phnum; i++) {
    const ph = phoff + i * phentsize;
    if (ph + 56 > elf.length) return false;
    if (view.getUint32(ph, true) !== 4) continue; // PT_NOTE
    const start = Number(view.getBigUint64(ph + 8, true));
    const end = start + Number(view.getBigUint64(ph + 32, true));
    if (end > elf.length) continue;
    let n = start;
    while (n + 12 <= end) {
      const namesz = view.getUint32(n, true);
      const descsz = view.getUint32(n + 4, true);
      const type = view.getUint32(n + 8, true);
      const name = n + 12;
      const desc = name + ((namesz + 3) & ~3);
      if (
        namesz === 4 && type === XEN_ELFNOTE_PHYS32_ENTRY &&
        startsWith(elf, name, [0x58, 0x65, 0x6e, 0])
      ) {
        return true;
      }
      n = desc + ((descsz + 3) & ~3);
    }
  }
  return false;
}

/** Compares kernel release strings the way `sort -V` would for `6.1.0-56-amd64`. */
export function compareKernelVersions(a: string, b: string): number {
  const pa = a.split(/(\d+)/);
  const pb = b.split(/(\d+)/);
  for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
    const x = pa[i] ?? "";
    const y = pb[i] ?? "";
    if (i % 2 === 1) {
      const d = Number(x || -1) - Number(y || -1);
      if (d !== 0) return d;
    } else if (x !== y) {
      return x < y ? -1 : 1;
    }
  }
  return 0;
}

/** The newest kernel release with a `/boot/vmlinuz-<release>`, or `undefined`. */
export function newestKernelVersion(bootDir = "/boot"): string | undefined {
  const versions: string[] = [];
  try {
    for (const e of Deno.readDirSync(bootDir)) {
      if (e.name.startsWith("vmlinuz-")) versions.push(e.name.slice("vmlinuz-".length));
    }
  } catch {
    return undefined;
  }
  versions.sort(compareKernelVersions);
  return versions.at(-1);
}
