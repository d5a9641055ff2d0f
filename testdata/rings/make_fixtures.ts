// Regenerates the ring dumps in this folder: `deno run -A testdata/rings/make_fixtures.ts`.
// split.bin: a split ring of 8 at 0x10000 as in Renode's diagrams: a chain of
// two device-writable buffers used with 0x230 bytes, then a FUSE-like request
// (readable header split over two descriptors + writable reply) and a lone
// buffer in flight. packed.bin: the same traffic on a packed ring of 8.
import { GuestMemory } from "../../virtqueue/guest_memory.ts";
import { createDeviceQueue, createDriverQueue } from "../../virtqueue/mod.ts";
import { splitRingLayout } from "../../codecs/virtio/mod.ts";

const BASE = 0x10000n;
const SIZE = 0x4000;
for (const layout of ["split", "packed"] as const) {
  const bytes = new Uint8Array(SIZE);
  const mem = new GuestMemory([{ guestAddr: BASE, size: SIZE, userAddr: 0n, bytes }]);
  const l = splitRingLayout(BASE, 8);
  const config = layout === "split"
    ? { size: 8, desc: l.desc, driver: l.avail, device: l.used }
    : { size: 8, desc: BASE, driver: BASE + 0x80n, device: BASE + 0x84n };
  const drv = createDriverQueue(layout, mem, config, { buffers: { addr: BASE + 0x1000n, size: 0x3000 } });
  const dev = createDeviceQueue(layout, mem, config);
  drv.add([], [0x200, 0x200]);
  const c = dev.pop()!;
  c.write(new Uint8Array(0x230).fill(0xab));
  dev.push(c);
  drv.add([new Uint8Array(24).fill(1), new Uint8Array(16).fill(2)], [0x100]);
  drv.add([], [0x80]);
  await Deno.writeFile(new URL(`./${layout}.bin`, import.meta.url), bytes);
  console.log(layout, config);
}
