/**
 * Virtqueue device-side cost: ns per chain for pop + push on split and packed
 * rings, and throughput of 4 KiB and 1 MiB chains (read the request, write a
 * reply of the same size). The driver side is taken out of the loop: the
 * rings are filled once and then re-published by a minimal "fast guest" that
 * rewrites the avail ring entries (split) or the descriptors (packed).
 *
 * `deno bench -A bench/virtqueue_bench.ts` for ns/iter;
 * `deno run -A bench/virtqueue_bench.ts` prints ns per chain and bytes/s.
 *
 * @module
 */
import { GuestMemory } from "../virtqueue/guest_memory.ts";
import { PackedDeviceQueue } from "../virtqueue/packed_device.ts";
import { SplitDeviceQueue } from "../virtqueue/split_device.ts";
import { createDriverQueue } from "../virtqueue/mod.ts";
import type { DeviceQueue, RingLayout } from "../virtqueue/types.ts";

const SIZE = 256;

interface Rig {
  dev: DeviceQueue;
  /** Makes the next `SIZE` chains available again after the device used them. */
  refill(): void;
}

/** Sets up chains of `readParts` readable buffers of `reqBytes` total and one writable of `replyBytes`. */
function rig(layout: RingLayout, reqBytes: number, replyBytes: number, readParts = 1): Rig {
  const ring = 0x10000;
  const descsPerChain = readParts + 1;
  let chains = SIZE / descsPerChain;
  while (chains > 1 && chains * (reqBytes + replyBytes) > 64 << 20) chains /= 2;
  const bufBytes = chains * (reqBytes + replyBytes + 64 * descsPerChain) + 4096;
  const total = 0x4000 + bufBytes;
  const bytes = new Uint8Array(total);
  const mem = new GuestMemory([{ guestAddr: BigInt(ring), size: total, userAddr: 0n, bytes }]);
  const config = {
    size: SIZE,
    desc: BigInt(ring),
    driver: BigInt(ring + 16 * SIZE),
    device: BigInt(ring + 0x3000),
    eventIdx: true,
  };
  const drv = createDriverQueue(layout, mem, config, {
    buffers: { addr: BigInt(ring + 0x4000), size: bufBytes },
  });
  const part = Math.ceil(reqBytes / readParts);
  for (let i = 0; i < chains; i++) {
    const parts = Array.from({ length: readParts }, () => new Uint8Array(part).fill(i));
    if (drv.add(parts, [replyBytes]) === null) throw new Error("bench rig: ring full");
  }
  const dv = new DataView(bytes.buffer);
  const dev = layout === "split"
    ? new SplitDeviceQueue(mem, config)
    : new PackedDeviceQueue(mem, config);
  const availRing = 16 * SIZE + 4;
  const heads = Array.from({ length: chains }, (_, i) => dv.getUint16(availRing + 2 * i, true));
  const nDescs = chains * descsPerChain;
  const template = bytes.slice(0, 16 * nDescs);
  const tv = new DataView(template.buffer);
  let pos = nDescs % SIZE;
  let wrap = nDescs < SIZE;
  let idx = chains;
  return {
    dev,
    refill() {
      if (layout === "split") {
        // a fast guest: the same heads again, one index step each
        for (let i = 0; i < chains; i++) {
          dv.setUint16(availRing + 2 * ((idx + i) & (SIZE - 1)), heads[i], true);
        }
        idx = (idx + chains) & 0xffff;
        dv.setUint16(availRing - 2, idx, true);
      } else {
        // a fast guest: the same descriptors again at the next positions, with the current wrap
        for (let i = 0; i < nDescs; i++) {
          const at = 16 * pos;
          bytes.set(template.subarray(16 * i, 16 * i + 14), at);
          const f = tv.getUint16(16 * i + 14, true) & ~((1 << 7) | (1 << 15));
          dv.setUint16(at + 14, f | (wrap ? 1 << 7 : 1 << 15), true);
          if (++pos === SIZE) {
            pos = 0;
            wrap = !wrap;
          }
        }
      }
    },
  };
}

function serve(r: Rig, copyReply: boolean): number {
  let n = 0;
  for (let c = r.dev.pop(); c !== null; c = r.dev.pop()) {
    if (copyReply) {
      const req = c.readAll();
      r.dev.push(
        c,
        c.write(req.length <= c.writableLength ? req : req.subarray(0, c.writableLength)),
      );
    } else {
      r.dev.push(c, 0);
    }
    n++;
  }
  r.dev.needsInterrupt();
  r.refill();
  return n;
}

const small = {
  split: rig("split", 40, 16),
  packed: rig("packed", 40, 16),
};

for (const layout of ["split", "packed"] as const) {
  Deno.bench(`${layout}: pop + push, ${SIZE / 2} two-descriptor chains per iteration`, {
    group: "pop+push",
  }, () => {
    serve(small[layout], false);
  });
}

const big = {
  "4 KiB": { split: rig("split", 4096, 4096), packed: rig("packed", 4096, 4096) },
  "1 MiB": { split: rig("split", 1 << 20, 1 << 20, 1), packed: rig("packed", 1 << 20, 1 << 20, 1) },
};
for (const [label, rigs] of Object.entries(big)) {
  for (const layout of ["split", "packed"] as const) {
    Deno.bench(`${layout}: ${label} request read + ${label} reply written, all chains of one lap`, {
      group: label,
    }, () => {
      serve(rigs[layout], true);
    });
  }
}

if (import.meta.main) {
  const measure = (r: Rig, copy: boolean, perChainBytes: number, label: string) => {
    for (let w = 0; w < 20; w++) serve(r, copy);
    let chains = 0;
    const t0 = performance.now();
    while (performance.now() - t0 < 1000) chains += serve(r, copy);
    const s = (performance.now() - t0) / 1000;
    const ns = (s * 1e9) / chains;
    const bps = perChainBytes > 0
      ? `, ${(perChainBytes * chains / s / 1e9).toFixed(2)} GB/s through the chains`
      : "";
    console.log(`${label}: ${ns.toFixed(0)} ns per chain${bps}`);
  };
  for (const layout of ["split", "packed"] as const) {
    measure(small[layout], false, 0, `${layout} pop+push`);
    measure(small[layout], true, 56, `${layout} pop+read 40 B+write 16 B+push`);
    measure(big["4 KiB"][layout], true, 8192, `${layout} 4 KiB in + 4 KiB out`);
    measure(big["1 MiB"][layout], true, 2 << 20, `${layout} 1 MiB in + 1 MiB out`);
  }
}
