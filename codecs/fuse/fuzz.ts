/**
 * The FUSE codec's fuzz target: random and mutated messages through every
 * decoder (requests, replies by every opcode, notifications, the stream
 * pairer) at several minors. The only exception allowed is a CodecError;
 * whatever decodes must re-encode, and re-encoding is a fixpoint.
 *
 * @module
 */
import { type FuzzTarget, prng } from "../../testing/fuzz.ts";
import { CodecError } from "../errors.ts";
import {
  decodeNotification,
  decodeReply,
  decodeRequest,
  encodeNotification,
  encodeReply,
  encodeRequest,
  type FuseNotificationInit,
  type FuseReplyInit,
  type FuseRequestInit,
} from "./codec.ts";
import { Opcode } from "./constants.ts";
import { FuseStream } from "./stream.ts";
import { notificationSamples, replyBodies, requestBodies } from "./_samples.ts";

const MINORS = [45, 36, 23, 12, 8, 3];

/** Encoded sample messages: requests at several minors, replies, notifications. */
export function fuseCorpus(): {
  requests: Uint8Array[];
  replies: Uint8Array[];
  notes: Uint8Array[];
} {
  const requests: Uint8Array[] = [];
  const replies: Uint8Array[] = [];
  for (const minor of [45, 8]) {
    for (const r of Object.values(requestBodies(minor))) {
      requests.push(encodeRequest(r as FuseRequestInit, { minor, setxattrExt: minor >= 33 }));
    }
    for (const r of Object.values(replyBodies(minor))) {
      replies.push(encodeReply(r as FuseReplyInit, { minor }));
    }
  }
  requests.push(encodeRequest({
    ...requestBodies(45).CREATE,
    extensions: [
      { kind: "security_context", type: 1, contexts: [{ name: "a", context: new Uint8Array(3) }] },
      { kind: "supp_groups", type: 32, groups: [5] },
    ],
  }));
  const notes = notificationSamples().map((n) => encodeNotification(n));
  return { requests, replies, notes };
}

const OPCODES = [...Object.values(Opcode), 0, 7, 19, 54, 99];

function setLen(b: Uint8Array): void {
  if (b.length >= 4) new DataView(b.buffer, b.byteOffset).setUint32(0, b.length, true);
}

function mutate(src: Uint8Array, rnd: () => number): Uint8Array {
  let b = src.slice();
  const kind = Math.floor(rnd() * 6);
  if (kind === 0) {
    // truncate
    b = b.slice(0, Math.floor(rnd() * b.length));
  } else if (kind === 1) {
    // extend with junk
    const extra = new Uint8Array(b.length + 1 + Math.floor(rnd() * 64));
    extra.set(b);
    for (let i = b.length; i < extra.length; i++) extra[i] = Math.floor(rnd() * 256);
    b = extra;
  } else {
    // flip a few bytes, biased towards the header and the first struct fields
    const flips = 1 + Math.floor(rnd() * 4);
    for (let i = 0; i < flips && b.length > 0; i++) {
      const at = rnd() < 0.6
        ? Math.floor(rnd() * Math.min(b.length, 64))
        : Math.floor(rnd() * b.length);
      b[at] = rnd() < 0.3 ? 0xff : rnd() < 0.5 ? 0 : Math.floor(rnd() * 256);
    }
  }
  // usually keep len consistent so decoding reaches the body
  if (rnd() < 0.8) setLen(b);
  return b;
}

function randomBytes(rnd: () => number): Uint8Array {
  const b = new Uint8Array(Math.floor(rnd() * 160));
  for (let i = 0; i < b.length; i++) b[i] = Math.floor(rnd() * 256);
  if (rnd() < 0.8) setLen(b);
  if (b.length >= 8 && rnd() < 0.7) {
    new DataView(b.buffer).setUint32(4, OPCODES[Math.floor(rnd() * OPCODES.length)], true);
  }
  return b;
}

function allowed(e: unknown, what: string): void {
  if (!(e instanceof CodecError)) {
    throw new Error(`${what}: ${e instanceof Error ? `${e.name}: ${e.message}` : String(e)}`);
  }
}

function same(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** Runs one input through every decoder; throws a plain Error on anything but a CodecError. */
export function fuzzOne(b: Uint8Array, rnd: () => number): void {
  const minor = MINORS[Math.floor(rnd() * MINORS.length)];
  const setxattrExt = rnd() < 0.5;
  const opts = { minor, setxattrExt };
  try {
    const req = decodeRequest(b, opts);
    const again = encodeRequest(req as FuseRequestInit, opts);
    const twice = encodeRequest(decodeRequest(again, opts) as FuseRequestInit, opts);
    if (!same(again, twice)) throw new Error(`request ${req.op} re-encoding is not a fixpoint`);
  } catch (e) {
    allowed(e, "decodeRequest");
  }
  const opcode = OPCODES[Math.floor(rnd() * OPCODES.length)];
  try {
    const rep = decodeReply(b, { minor, opcode });
    const again = encodeReply(rep as FuseReplyInit, { minor });
    const twice = encodeReply(decodeReply(again, { minor, opcode }) as FuseReplyInit, { minor });
    if (!same(again, twice)) throw new Error(`reply ${rep.op} re-encoding is not a fixpoint`);
  } catch (e) {
    allowed(e, `decodeReply(opcode ${opcode})`);
  }
  try {
    const n = decodeNotification(b);
    encodeNotification(n as FuseNotificationInit);
  } catch (e) {
    allowed(e, "decodeNotification");
  }
}

/** The FUSE codec's fuzz target (`fuse.decode`). */
export const fuseFuzzTarget: FuzzTarget = {
  name: "fuse.decode",
  run(iterations: number, seed: number): void {
    const rnd = prng(seed);
    const corpus = fuseCorpus();
    const all = [...corpus.requests, ...corpus.replies, ...corpus.notes];
    const stream = new FuseStream();
    for (let i = 0; i < iterations; i++) {
      let b: Uint8Array;
      const pick = rnd();
      if (pick < 0.25) b = randomBytes(rnd);
      else b = mutate(all[Math.floor(rnd() * all.length)], rnd);
      try {
        fuzzOne(b, rnd);
        // the stream never throws: bad input becomes an "invalid" event
        stream.push(rnd() < 0.5 ? "request" : "reply", b);
      } catch (e) {
        throw new Error(
          `fuse fuzz seed ${seed} case ${i} (${b.length} bytes ${
            Array.from(b.subarray(0, 48), (x) => x.toString(16).padStart(2, "0")).join("")
          }): ${e instanceof Error ? e.message : String(e)}`,
        );
      }
    }
  },
};
