import assert from "node:assert/strict";
import {
  bzImagePayload,
  compareKernelVersions,
  extractVmlinux,
  hasPvhEntry,
  XEN_ELFNOTE_PHYS32_ENTRY,
} from "./kernel.ts";

/** A minimal ELF64 file with one PT_NOTE segment holding `notes`. */
function elfWithNotes(notes: { name: string; type: number; desc: number[] }[]): Uint8Array {
  const noteBytes: number[] = [];
  for (const n of notes) {
    const name = [...new TextEncoder().encode(n.name), 0];
    const le32 = (v: number) => [v & 0xff, (v >> 8) & 0xff, (v >> 16) & 0xff, (v >>> 24) & 0xff];
    noteBytes.push(...le32(name.length), ...le32(n.desc.length), ...le32(n.type));
    noteBytes.push(...name, ...new Array((4 - (name.length % 4)) % 4).fill(0));
    noteBytes.push(...n.desc, ...new Array((4 - (n.desc.length % 4)) % 4).fill(0));
  }
  const phoff = 64;
  const noteOff = phoff + 56;
  const out = new Uint8Array(noteOff + noteBytes.length);
  const v = new DataView(out.buffer);
  out.set([0x7f, 0x45, 0x4c, 0x46, 2, 1, 1]);
  v.setBigUint64(0x20, BigInt(phoff), true);
  v.setUint16(0x36, 56, true);
  v.setUint16(0x38, 1, true);
  v.setUint32(phoff, 4, true); // PT_NOTE
  v.setBigUint64(phoff + 8, BigInt(noteOff), true);
  v.setBigUint64(phoff + 32, BigInt(noteBytes.length), true);
  out.set(noteBytes, noteOff);
  return out;
}

async function gzip(data: Uint8Array): Promise<Uint8Array> {
  const s = new Blob([data as Uint8Array<ArrayBuffer>]).stream()
    .pipeThrough(new CompressionStream("gzip"));
  return new Uint8Array(await new Response(s).arrayBuffer());
}

/** A bzImage-shaped buffer whose payload is `compressed` plus the appended size. */
function bzImage(compressed: Uint8Array, size: number): Uint8Array {
  const setupSects = 1;
  const payloadOffset = 16;
  const start = (setupSects + 1) * 512 + payloadOffset;
  const out = new Uint8Array(start + compressed.length + 4 + 32);
  const v = new DataView(out.buffer);
  out[0x1f1] = setupSects;
  out.set(new TextEncoder().encode("HdrS"), 0x202);
  v.setUint16(0x206, 0x020f, true);
  v.setUint32(0x248, payloadOffset, true);
  v.setUint32(0x24c, compressed.length + 4, true);
  out.set(compressed, start);
  v.setUint32(start + compressed.length, size, true);
  return out;
}

Deno.test("kernel: PVH note found only with the Xen name and type 18", () => {
  assert.equal(
    hasPvhEntry(elfWithNotes([
      { name: "GNU", type: 3, desc: [1, 2, 3, 4, 5] },
      { name: "Xen", type: XEN_ELFNOTE_PHYS32_ENTRY, desc: [0, 0x10, 0, 0] },
    ])),
    true,
  );
  assert.equal(hasPvhEntry(elfWithNotes([{ name: "Xen", type: 17, desc: [0, 0, 0, 0] }])), false);
  assert.equal(hasPvhEntry(elfWithNotes([{ name: "Xem", type: 18, desc: [0, 0, 0, 0] }])), false);
  assert.equal(hasPvhEntry(new Uint8Array(100)), false);
  // truncated in the middle of the note segment: no read past the end, just false
  const full = elfWithNotes([{ name: "Xen", type: 18, desc: [0, 0, 0, 0] }]);
  assert.equal(hasPvhEntry(full.subarray(0, full.length - 8)), false);
});

Deno.test("kernel: payload located from the boot header and decompressed", async () => {
  const elf = elfWithNotes([{ name: "Xen", type: 18, desc: [1, 2, 3, 4] }]);
  const img = bzImage(await gzip(elf), elf.length);
  const p = bzImagePayload(img);
  assert.equal(p.compression, "gzip");
  assert.equal(p.offset, 2 * 512 + 16);
  assert.equal(p.uncompressedSize, elf.length);
  assert.deepEqual(await extractVmlinux(img), elf);
  // a wrong appended size is caught
  await assert.rejects(extractVmlinux(bzImage(await gzip(elf), elf.length + 1)), /announces/);
});

Deno.test("kernel: not a bzImage, or a payload outside the file", () => {
  assert.throws(() => bzImagePayload(new Uint8Array(4096)), /HdrS at byte 0x202/);
  const img = bzImage(new Uint8Array(10), 10);
  new DataView(img.buffer).setUint32(0x24c, 1 << 20, true);
  assert.throws(() => bzImagePayload(img), /outside the image/);
  const old = bzImage(new Uint8Array(10), 10);
  new DataView(old.buffer).setUint16(0x206, 0x0206, true);
  assert.throws(() => bzImagePayload(old), /older than 2.08/);
});

Deno.test("kernel: release strings sort like sort -V", () => {
  const v = ["6.1.0-9-amd64", "6.1.0-56-amd64", "5.10.0-30-amd64", "6.1.0-10-amd64"];
  v.sort(compareKernelVersions);
  assert.deepEqual(v, ["5.10.0-30-amd64", "6.1.0-9-amd64", "6.1.0-10-amd64", "6.1.0-56-amd64"]);
});
