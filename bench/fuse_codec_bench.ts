/**
 * FUSE codec throughput on a realistic mix (LOOKUP, GETATTR, READ and WRITE of
 * 4 KiB, READDIRPLUS; requests and their replies), beside the parser Kaitai
 * Struct generates from codecs/fuse/fuse.ksy on the same bytes.
 *
 * `deno bench -A bench/fuse_codec_bench.ts` prints messages/s and MB/s for
 * decode and encode, and the ratio to Kaitai (goal: decode ≥ 10× Kaitai).
 */
import { loadKsy } from "../testing/kaitai.ts";
import {
  decodeReply,
  decodeRequest,
  encodeReply,
  encodeRequest,
  type FuseReplyInit,
  type FuseRequest,
  type FuseRequestInit,
  type OpName,
} from "../codecs/fuse/mod.ts";
import { replyBodies, requestBodies, sampleEntry } from "../codecs/fuse/_samples.ts";

// raw: the generated classes as they are, without the test helper's conversion to plain objects
const parse = await loadKsy(new URL("../codecs/fuse/fuse.ksy", import.meta.url).pathname, {
  raw: true,
});

const page = new Uint8Array(4096).map((_, i) => i & 0xff);
const req45 = requestBodies(45, false);
const rep45 = replyBodies(45);

const requestsIn: FuseRequestInit[] = [
  req45.LOOKUP,
  req45.GETATTR,
  req45.READ,
  { ...req45.WRITE, body: { ...req45.WRITE.body, size: 4096, data: page } },
  req45.READDIRPLUS,
];
const repliesIn: [OpName, FuseReplyInit, string][] = [
  ["LOOKUP", rep45.LOOKUP!, "fuse_entry_out"],
  ["GETATTR", rep45.GETATTR!, "fuse_attr_out"],
  ["READ", { op: "READ", header: { unique: 28n }, body: { data: page } }, "data_out"],
  [
    "WRITE",
    { op: "WRITE", header: { unique: 30n }, body: { size: 4096, padding: 0 } },
    "fuse_write_out",
  ],
  ["READDIRPLUS", {
    op: "READDIRPLUS",
    header: { unique: 84n },
    body: {
      entries: Array.from({ length: 12 }, (_, i) => ({
        entry_out: sampleEntry(45, i + 1),
        dirent: {
          ino: BigInt(0x100 + i),
          off: BigInt(i + 1),
          namelen: 0,
          type: 8,
          name: `file-${i}.txt`,
        },
      })).map((e) => ({ ...e, dirent: { ...e.dirent, namelen: e.dirent.name.length } })),
    },
  }, "readdirplus_out"],
];

const separateRequests = requestsIn.map((r) => encodeRequest(r));
const separateReplies = repliesIn.map(([, r]) => encodeReply(r));
// The same messages laid out one after the other in one buffer, as a transport's
// read buffer or a capture file holds them.
const packed = new Uint8Array(
  [...separateRequests, ...separateReplies].reduce((n, b) => n + b.length, 0),
);
let at = 0;
const packedRequests = separateRequests.map((b) => {
  packed.set(b, at);
  at += b.length;
  return packed.subarray(at - b.length, at);
});
const packedReplies = separateReplies.map((b) => {
  packed.set(b, at);
  at += b.length;
  return packed.subarray(at - b.length, at);
});
let requestBytes = separateRequests;
let replyBytes = separateReplies;
const requests = requestBytes.map((b) => decodeRequest(b));
const replyOf = new Map<bigint, FuseRequest>(requests.map((r) => [r.header.unique, r]));
const replyRequests = repliesIn.map(([, r]) => replyOf.get(r.header.unique)!);
const replyTypes = repliesIn.map(([, , t]) => t);
const MIX_MESSAGES = requestBytes.length + replyBytes.length;
const MIX_BYTES = packed.length;

let sink = 0;

function decodeMix(): void {
  for (let i = 0; i < requestBytes.length; i++) sink += decodeRequest(requestBytes[i]).header.len;
  for (let i = 0; i < replyBytes.length; i++) {
    sink += decodeReply(replyBytes[i], { request: replyRequests[i] }).header.len;
  }
}

/** decodeMix, then every READDIRPLUS entry built and read (names stay bytes). */
function decodeMixWalk(): void {
  for (let i = 0; i < requestBytes.length; i++) sink += decodeRequest(requestBytes[i]).header.len;
  for (let i = 0; i < replyBytes.length; i++) {
    const r = decodeReply(replyBytes[i], { request: replyRequests[i] });
    sink += r.header.len;
    if (r.op === "READDIRPLUS" && r.body !== null) {
      for (const e of r.body.entries) {
        sink += e.dirent.name.length + Number(e.entry_out.nodeid & 1n);
      }
    }
  }
}

function kaitaiMix(): void {
  for (let i = 0; i < requestBytes.length; i++) sink += parse(requestBytes[i]).body ? 1 : 0;
  for (let i = 0; i < replyBytes.length; i++) {
    const b = replyBytes[i];
    sink += parse(b, "fuse_out_header").len as number;
    sink += parse(b.subarray(16), replyTypes[i]) ? 1 : 0;
  }
}

function encodeMix(): void {
  for (let i = 0; i < requests.length; i++) {
    sink += encodeRequest(requests[i] as FuseRequestInit).length;
  }
  for (let i = 0; i < repliesIn.length; i++) sink += encodeReply(repliesIn[i][1]).length;
}

/** Runs `fn` for about `ms` milliseconds; mixes per second. */
function rate(fn: () => void, ms: number): number {
  let n = 0;
  const start = performance.now();
  let now = start;
  while (now - start < ms) {
    for (let i = 0; i < 50; i++) fn();
    n += 50;
    now = performance.now();
  }
  return n / ((now - start) / 1000);
}

/** Best of several alternating rounds, so a busy machine hurts both sides alike. */
function best(fns: (() => void)[], rounds: number, ms: number): number[] {
  for (const fn of fns) for (let i = 0; i < 300; i++) fn(); // warm-up
  const out = fns.map(() => 0);
  for (let r = 0; r < rounds; r++) {
    fns.forEach((fn, i) => out[i] = Math.max(out[i], rate(fn, ms)));
  }
  return out;
}

function report(): void {
  const line = (what: string, perSec: number) =>
    `  ${what.padEnd(34)} ${(perSec * MIX_MESSAGES / 1e6).toFixed(2).padStart(6)} M messages/s ${
      (perSec * MIX_BYTES / 1e6).toFixed(0).padStart(6)
    } MB/s`;
  console.log(
    `\nFUSE codec on a mix of ${MIX_MESSAGES} messages (${MIX_BYTES} bytes): LOOKUP, GETATTR, ` +
      `READ 4 KiB, WRITE 4 KiB, READDIRPLUS (12 entries), requests and replies; best of 5 rounds`,
  );
  for (const layout of ["separate buffers", "one buffer"]) {
    requestBytes = layout === "one buffer" ? packedRequests : separateRequests;
    replyBytes = layout === "one buffer" ? packedReplies : separateReplies;
    const [ours, kaitai, walk] = best([decodeMix, kaitaiMix, decodeMixWalk], 5, 150);
    console.log(`  messages in ${layout}:`);
    console.log(line("decode (ringside)", ours));
    console.log(line("decode (Kaitai-generated parser)", kaitai));
    console.log(`  decode ratio ringside/Kaitai: ${(ours / kaitai).toFixed(1)}x (goal >= 10x)`);
    // READDIRPLUS entries are built on first access: this row pays for all of them
    console.log(line("decode + build every dirent (ringside)", walk));
    console.log(`  ratio with every dirent built: ${(walk / kaitai).toFixed(1)}x`);
  }
  // per message kind (separate buffers), to show where the time goes
  requestBytes = separateRequests;
  replyBytes = separateReplies;
  const kinds: [string, () => void, () => void][] = [
    ...requestsIn.map((r, i): [string, () => void, () => void] => [
      `${r.op} request`,
      () => sink += decodeRequest(separateRequests[i]).header.len,
      () => sink += parse(separateRequests[i]) ? 1 : 0,
    ]),
    ...repliesIn.map(([op], i): [string, () => void, () => void] => [
      `${op} reply`,
      () => sink += decodeReply(separateReplies[i], { request: replyRequests[i] }).header.len,
      () => {
        sink += parse(separateReplies[i], "fuse_out_header") ? 1 : 0;
        sink += parse(separateReplies[i].subarray(16), replyTypes[i]) ? 1 : 0;
      },
    ]),
  ];
  for (const [name, ours, kaitai] of kinds) {
    const [a, k] = best([ours, kaitai], 3, 60);
    console.log(
      `  ${name.padEnd(20)} ringside ${(1e9 / a).toFixed(0).padStart(6)} ns  Kaitai ${
        (1e9 / k).toFixed(0).padStart(6)
      } ns  ${(a / k).toFixed(1).padStart(5)}x`,
    );
  }
  const [enc] = best([encodeMix], 5, 150);
  console.log(line("encode (ringside)", enc));
  console.log("");
}

report();

Deno.bench("decode mix (ringside)", { group: "decode", baseline: true }, decodeMix);
Deno.bench("decode mix (Kaitai-generated parser)", { group: "decode" }, kaitaiMix);
Deno.bench("encode mix (ringside)", { group: "encode" }, encodeMix);
Deno.bench("decode LOOKUP request", () => {
  sink += decodeRequest(requestBytes[0]).header.len;
});
Deno.bench("encode GETATTR reply", () => {
  sink += encodeReply(repliesIn[1][1]).length;
});
globalThis.addEventListener("unload", () => {
  if (sink === -1) console.log(sink);
});
