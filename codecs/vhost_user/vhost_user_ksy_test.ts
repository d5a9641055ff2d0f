import assert from "node:assert/strict";
import { loadKsy } from "../../testing/kaitai.ts";
import { prng } from "../../testing/fuzz.ts";
import { randomMessage } from "./fuzz.ts";
import {
  BackendRequest,
  decodeMessage,
  encodeMessage,
  FrontendRequest,
  type VhostUserChannel,
} from "./vhost_user.ts";

const KSY = new URL("./vhost_user.ksy", import.meta.url).pathname;

function snake(name: string): string {
  return name.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);
}

/**
 * Leaves of a payload tree keyed by array path and leaf name: object keys
 * that only wrap (Kaitai's `payload.memory`, the codec's `region`) are
 * dropped, array keys and indices kept, so both trees meet on
 * `regions.0.guest_phys_addr`.
 */
function isLeaf(x: unknown): boolean {
  return x instanceof Uint8Array || typeof x !== "object" || x === null;
}

function leaves(v: object, base = "", out = new Map<string, unknown>()): Map<string, unknown> {
  for (const [k, x] of Object.entries(v)) {
    if (k === "kind") continue;
    const name = base + snake(k);
    if (isLeaf(x)) {
      out.set(name, x);
    } else if (Array.isArray(x)) {
      x.forEach((e, i) => isLeaf(e) ? out.set(`${name}.${i}`, e) : leaves(e, `${name}.${i}.`, out));
    } else {
      leaves(x, base, out);
    }
  }
  return out;
}

const SAFE = 2n ** 53n;

function crossCheck(
  parse: (b: Uint8Array, t?: string) => Record<string, unknown>,
  wire: Uint8Array,
  channel: VhostUserChannel,
): number {
  const ours = decodeMessage(wire, { channel });
  const theirs = parse(wire, channel === "backend" ? "backend_msg" : undefined);
  assert.equal(theirs.request, ours.request);
  assert.equal(theirs.flags, ours.flags);
  assert.equal(theirs.size, wire.length - 12);
  const mine = leaves(ours.payload);
  const kaitai = leaves(theirs.payload as object);
  let compared = 0;
  for (const [key, value] of mine) {
    assert.ok(
      kaitai.has(key),
      `kaitai has no ${key} for request ${ours.request} (${[...kaitai.keys()]})`,
    );
    const k = kaitai.get(key);
    if (typeof value === "bigint") {
      if (value >= SAFE) continue;
      assert.equal(BigInt(k as number), value, key);
    } else {
      assert.deepEqual(k, value, key);
    }
    compared++;
  }
  return compared;
}

Deno.test("Kaitai parser from vhost_user.ksy reads every message of the corpus like the codec", async () => {
  const parse = await loadKsy(KSY);
  const rand = prng(2024);
  let messages = 0;
  let fields = 0;
  for (
    const [channel, table] of [["frontend", FrontendRequest], ["backend", BackendRequest]] as const
  ) {
    for (const request of Object.values(table) as number[]) {
      for (const reply of [false, true]) {
        for (let k = 0; k < 4; k++) {
          const msg = randomMessage(rand, { channel, request, reply, safeU64: true });
          fields += crossCheck(parse, encodeMessage(msg, { channel }), channel);
          messages++;
        }
      }
    }
  }
  assert.equal(messages, (44 + 10) * 2 * 4);
  assert.ok(fields > 1000, `compared only ${fields} fields`);
});

Deno.test("Kaitai and the codec agree on the leaf names of a memory table", async () => {
  const parse = await loadKsy(KSY);
  const wire = encodeMessage({
    request: FrontendRequest.SET_MEM_TABLE,
    flags: 1,
    payload: {
      kind: "memory",
      regions: [{ guestPhysAddr: 1n, memorySize: 2n, userspaceAddr: 3n, mmapOffset: 4n }],
    },
  });
  const keys = [...leaves(parse(wire).payload as object).keys()].sort();
  assert.deepEqual(keys, [
    "nregions",
    "padding",
    "regions.0.guest_phys_addr",
    "regions.0.memory_size",
    "regions.0.mmap_offset",
    "regions.0.userspace_addr",
  ]);
  assert.deepEqual([...leaves(decodeMessage(wire).payload).keys()].sort(), [
    "regions.0.guest_phys_addr",
    "regions.0.memory_size",
    "regions.0.mmap_offset",
    "regions.0.userspace_addr",
  ]);
});
