/**
 * Fuzz target for the device side: random and mutated ring memory, random
 * ring parameters; the device must never throw (other than refusing ring
 * parts outside memory at setup), never loop, and only hand out chains whose
 * buffers lie inside guest memory.
 *
 * @module
 */
import { type FuzzTarget, prng } from "../testing/fuzz.ts";
import { GuestMemory } from "./guest_memory.ts";
import { VirtqueueError } from "./errors.ts";
import { createDeviceQueue, createDriverQueue } from "./mod.ts";
import type { QueueConfig, RingLayout } from "./types.ts";

const MEM_BASE = 0x1000;
const MEM_SIZE = 0x2000;

interface Template {
  layout: RingLayout;
  config: QueueConfig;
  bytes: Uint8Array;
  /** The device's vhost-user base after the completed rounds. */
  base: number;
}

function buildTemplates(): Template[] {
  const out: Template[] = [];
  const rnd = prng(1);
  for (const layout of ["split", "packed"] as const) {
    for (const indirect of [false, true]) {
      for (const size of [4, 8, 16]) {
        const bytes = new Uint8Array(MEM_SIZE);
        const mem = new GuestMemory([{
          guestAddr: BigInt(MEM_BASE),
          size: MEM_SIZE,
          userAddr: 0n,
          bytes,
        }]);
        const config: QueueConfig = {
          size,
          desc: BigInt(MEM_BASE),
          driver: BigInt(MEM_BASE + 16 * size),
          device: BigInt(MEM_BASE + 16 * size + 64),
          indirect,
          eventIdx: rnd() < 0.5,
        };
        const drv = createDriverQueue(layout, mem, config, {
          buffers: { addr: BigInt(MEM_BASE + 0x600), size: MEM_SIZE - 0x600 },
        });
        // a few completed rounds, then a ring full of pending chains
        const dev = createDeviceQueue(layout, mem, config);
        for (let r = 0; r < size + 3; r++) {
          drv.add([new Uint8Array(1 + (r % 5))], [r % 3 + 1]);
          const c = dev.pop();
          if (c) dev.push(c, 0);
          drv.takeUsed();
        }
        for (let k = 0; k < size; k++) {
          const parts = [
            new Uint8Array(1 + Math.floor(rnd() * 30)),
            new Uint8Array(Math.floor(rnd() * 9)),
          ];
          if (drv.add(parts, [1 + Math.floor(rnd() * 40)]) === null) break;
        }
        out.push({ layout, config, bytes: bytes.slice(), base: dev.getBase() });
      }
    }
  }
  return out;
}

let templates: Template[] | undefined;

/** What a fuzz run exercised. */
export interface FuzzStats {
  /** Cases run. */
  cases: number;
  /** Chains served (popped well-formed). */
  chains: number;
  /** Malformed chains returned with length 0. */
  malformed: number;
  /** Queues that ended in the needs-reset state. */
  resets: number;
  /** Queues refused at setup (ring parts outside memory). */
  refused: number;
}

/** Runs one fuzz case; throws on an invariant violation. */
function runCase(rnd: () => number, scratch: Uint8Array, stats: FuzzStats): void {
  const int = (n: number) => Math.floor(rnd() * n);
  templates ??= buildTemplates();
  const t = templates[int(templates.length)];
  let layout = t.layout;
  let config: QueueConfig = t.config;
  let base: number | undefined = t.base;
  const mode = rnd();
  if (mode < 0.15) {
    // pure noise and random parameters
    for (let i = 0; i < scratch.length; i += 4) {
      const v = (rnd() * 0x1_0000_0000) >>> 0;
      scratch[i] = v;
      scratch[i + 1] = v >>> 8;
      scratch[i + 2] = v >>> 16;
      scratch[i + 3] = v >>> 24;
    }
    layout = rnd() < 0.5 ? "split" : "packed";
    const size = layout === "split" ? 1 << int(6) : 1 + int(40);
    const addr = () => BigInt(MEM_BASE - 64 + int(MEM_SIZE + 128));
    base = undefined;
    config = {
      size,
      desc: addr(),
      driver: addr(),
      device: addr(),
      indirect: rnd() < 0.7,
      eventIdx: rnd() < 0.5,
    };
  } else {
    scratch.set(t.bytes);
    // mutate: bytes in the ring area mostly, sometimes anywhere
    const flips = 1 + int(12);
    for (let k = 0; k < flips; k++) {
      const at = rnd() < 0.8 ? int(0x400) : int(scratch.length);
      scratch[at] = rnd() < 0.3 ? scratch[at] ^ (1 << int(8)) : int(256);
    }
    if (rnd() < 0.2) config = { ...config, indirect: !config.indirect };
  }
  const mem = new GuestMemory([{
    guestAddr: BigInt(MEM_BASE),
    size: MEM_SIZE,
    userAddr: 0n,
    bytes: scratch,
  }]);
  let dev;
  try {
    dev = createDeviceQueue(layout, mem, config, {
      base: rnd() < 0.05 ? int(0x1_0000_0000) : base,
    });
  } catch (e) {
    if (e instanceof VirtqueueError && e.kind === "address-out-of-memory") {
      stats.refused++;
      return;
    }
    throw e;
  }
  const budget = 2 * config.size + 4;
  let pops = 0;
  const held = [];
  for (let c = dev.pop(); c !== null; c = dev.pop()) {
    if (++pops > budget) {
      throw new Error(`device produced more than ${budget} chains from a ring of ${config.size}`);
    }
    if (c.error !== undefined) throw new Error("a malformed chain came out of pop()");
    if (c.descCount > config.size) throw new Error(`chain of ${c.descCount} descriptors`);
    let sum = 0;
    for (let i = 0; i < c.rCount; i++) {
      if (c.rOff[i] < 0 || c.rOff[i] + c.rLen[i] > c.rBytes[i].length) {
        throw new Error("readable segment outside its region");
      }
      sum += c.rLen[i];
    }
    if (sum !== c.readableLength) throw new Error("readable length mismatch");
    for (let i = 0; i < c.wCount; i++) {
      if (c.wOff[i] < 0 || c.wOff[i] + c.wLen[i] > c.wBytes[i].length) {
        throw new Error("writable segment outside its region");
      }
    }
    const data = c.readAll();
    if (data.length !== c.readableLength) throw new Error("readAll length mismatch");
    const reply = data.subarray(0, Math.min(data.length, c.writableLength));
    if (rnd() < 0.5) dev.push(c, c.write(reply));
    else held.push(c);
    if (rnd() < 0.2) dev.needsInterrupt();
    if (rnd() < 0.1) dev.enableKicks();
    if (rnd() < 0.1) dev.disableKicks();
  }
  for (const c of held) dev.push(c, 0);
  dev.needsInterrupt();
  dev.getBase();
  stats.chains += pops;
  stats.malformed += dev.malformed;
  if (dev.needsReset !== undefined) stats.resets++;
}

/** Runs `iterations` cases from `seed` and says what they exercised; throws on the first failure. */
export function fuzzDevice(iterations: number, seed: number): FuzzStats {
  const stats: FuzzStats = { cases: 0, chains: 0, malformed: 0, resets: 0, refused: 0 };
  const scratch = new Uint8Array(MEM_SIZE);
  for (let i = 0; i < iterations; i++) {
    const rnd = prng((seed + Math.imul(i, 0x9e3779b1)) >>> 0);
    try {
      runCase(rnd, scratch, stats);
    } catch (e) {
      throw new Error(
        `virtqueue.device failed at seed ${seed} case ${i}: ${e instanceof Error ? e.stack : e}`,
      );
    }
    stats.cases++;
  }
  return stats;
}

/** The `virtqueue.device` fuzz target. */
export const virtqueueDeviceFuzz: FuzzTarget = {
  name: "virtqueue.device",
  run(iterations: number, seed: number): void {
    fuzzDevice(iterations, seed);
  },
};
