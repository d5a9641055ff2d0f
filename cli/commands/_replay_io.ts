/**
 * Private helpers of `replay`, `diff`, `bench-backend` and `demo`: reading a
 * capture into recorded exchanges, and opening a replay target (the engine
 * over a directory, or a vhost-user back-end through the test front-end).
 *
 * @module
 */
import { readEvents } from "../../analyzers/events.ts";
import { CaptureReader } from "../../codecs/pcapng/mod.ts";
import { Opcode, opcodeHasNoReply } from "../../codecs/fuse/mod.ts";
import { createPassthrough } from "../../engine/session.ts";
import { engineTarget, type RecordedExchange, type ReplayTarget } from "../../engine/replayer.ts";
import { parseSnapshotComment, type SnapshotReference } from "../../engine/recorder.ts";
import { type FrontendQueue, VhostUserFrontend } from "../../transports/vhost_user/frontend.ts";
import { UserError } from "../errors.ts";

/** A capture read for replay. */
export interface LoadedCapture {
  /** Every FUSE request with its reply, in capture order. */
  exchanges: RecordedExchange[];
  /** The snapshot the capture names in its section comment, if any. */
  snapshot?: SnapshotReference;
  /** Requests without a reply (other than FORGET-like ones). */
  unanswered: number;
  /** Messages that did not decode. */
  decodeErrors: number;
}

async function sectionComment(path: string): Promise<string | undefined> {
  const f = await Deno.open(path);
  try {
    const buf = new Uint8Array(65536);
    const n = await f.read(buf);
    if (n === null) return undefined;
    const r = new CaptureReader();
    r.push(buf.subarray(0, n));
    for (let i = 0; i < 4; i++) {
      const item = r.next();
      if (item === undefined) break;
      if ("kind" in item && item.kind === "section") return item.comment;
    }
  } catch {
    // not pcapng, or damaged at the start: no comment
  } finally {
    f.close();
  }
  return undefined;
}

/** Requests held waiting for their reply before the oldest is handed on without one. */
const MAX_PENDING = 4096;

/** What {@linkcode streamCapture} counted, complete once its exchanges have been read. */
export interface CaptureCounts {
  /** Requests read. */
  requests: number;
  /** Requests without a reply (other than FORGET-like ones and INTERRUPT). */
  unanswered: number;
  /** Messages that did not decode. */
  decodeErrors: number;
  /** Where the capture is damaged, when it is. */
  damage?: string;
}

/**
 * Reads the FUSE exchanges of a capture as they come (pcapng, pcap or raw
 * stream): each request is handed on, in capture order, once its reply has
 * been read. It holds the requests still waiting for a reply, at most
 * {@linkcode MAX_PENDING} of them: beyond that the oldest goes on without
 * its reply (a request blocked that long, such as a SETLKW, is counted
 * unanswered).
 */
export async function streamCapture(path: string): Promise<{
  exchanges: AsyncIterable<RecordedExchange>;
  snapshot?: SnapshotReference;
  counts: CaptureCounts;
}> {
  try {
    await Deno.stat(path);
  } catch {
    throw new UserError(`cannot read capture ${path}: no such file`);
  }
  const counts: CaptureCounts = { requests: 0, unanswered: 0, decodeErrors: 0 };
  const opcodeOf = (b: Uint8Array) => new DataView(b.buffer, b.byteOffset).getUint32(4, true);
  const handOn = (x: RecordedExchange) => {
    const op = opcodeOf(x.request);
    if (x.reply === null && !opcodeHasNoReply(op) && op !== Opcode.INTERRUPT) counts.unanswered++;
    return x;
  };
  async function* exchanges(): AsyncGenerator<RecordedExchange> {
    const byFrame = new Map<number, RecordedExchange>();
    const queue: RecordedExchange[] = [];
    let head = 0;
    const events = readEvents(path, { onDamage: "stop" });
    for await (const ev of events) {
      const f = ev.fuse;
      if (f === undefined || ev.error !== undefined) continue;
      if (ev.kind === "fuse_request" && f.request !== undefined) {
        const x: RecordedExchange = {
          seq: ev.frame,
          time: ev.time_ns,
          request: ev.bytes.slice(),
          reply: null,
        };
        counts.requests++;
        if (!opcodeHasNoReply(opcodeOf(x.request))) byFrame.set(ev.frame, x);
        queue.push(x);
      } else if (ev.kind === "fuse_reply" && f.request_frame !== undefined) {
        const x = byFrame.get(f.request_frame);
        if (x !== undefined && x.reply === null) {
          x.reply = ev.bytes.slice();
          x.replyTime = ev.time_ns;
          byFrame.delete(f.request_frame);
        }
      }
      while (
        head < queue.length &&
        (queue[head].reply !== null || !byFrame.has(queue[head].seq) ||
          queue.length - head > MAX_PENDING)
      ) {
        byFrame.delete(queue[head].seq);
        yield handOn(queue[head++]);
      }
      if (head > 1024 && head * 2 > queue.length) {
        queue.splice(0, head);
        head = 0;
      }
    }
    for (; head < queue.length; head++) yield handOn(queue[head]);
    counts.decodeErrors = events.summary.decodeErrors;
    if (events.summary.damage) counts.damage = events.summary.damage.message;
  }
  return {
    exchanges: exchanges(),
    snapshot: parseSnapshotComment(await sectionComment(path)),
    counts,
  };
}

/** Reads every FUSE exchange of a capture (pcapng, pcap or raw stream) into memory. */
export async function loadCapture(path: string): Promise<LoadedCapture> {
  const { exchanges, snapshot, counts } = await streamCapture(path);
  const order: RecordedExchange[] = [];
  for await (const x of exchanges) order.push(x);
  if (order.length === 0) {
    throw new UserError(
      `${path}: no FUSE requests found${counts.damage ? ` (damaged: ${counts.damage})` : ""}`,
    );
  }
  return {
    exchanges: order,
    snapshot,
    unanswered: counts.unanswered,
    decodeErrors: counts.decodeErrors,
  };
}

/** An open target: where requests go, and how to let it go. */
export interface OpenTarget {
  /** The target. */
  target: ReplayTarget;
  /** Releases it (closes the front-end connection). */
  close(): Promise<void>;
}

function replySize(request: Uint8Array): number {
  const v = new DataView(request.buffer, request.byteOffset, request.byteLength);
  const op = v.getUint32(4, true);
  switch (op) {
    case Opcode.READ:
    case Opcode.READDIR:
    case Opcode.READDIRPLUS:
      return 16 + v.getUint32(40 + 16, true);
    case Opcode.GETXATTR:
    case Opcode.LISTXATTR:
      return 16 + Math.max(8, v.getUint32(40, true));
    case Opcode.IOCTL:
      return 16 + 16 + v.getUint32(40 + 28, true);
    default:
      return 4096;
  }
}

/**
 * A {@linkcode ReplayTarget} through ringside's vhost-user test front-end:
 * memfd guest memory, SET_MEM_TABLE, split rings built with the virtqueue
 * driver side, kicks and calls. FORGET and BATCH_FORGET go on the hiprio
 * queue (0), everything else on request queue 1; several requests may be in
 * flight. INTERRUPT is not sent (the virtio-fs driver never sends one).
 */
export class VhostUserTarget implements ReplayTarget {
  readonly description: string;
  #fe: VhostUserFrontend;
  #queues: FrontendQueue[];
  #waiting = new Map<string, (b: Uint8Array) => void>();
  #backlog: (() => void)[] = [];
  #pumping = false;
  #failed: Error | undefined;

  private constructor(socket: string, fe: VhostUserFrontend, queues: FrontendQueue[]) {
    this.description = `vhost-user:${socket}`;
    this.#fe = fe;
    this.#queues = queues;
  }

  /** Connects to the back-end at `socket` and sets up the device. */
  static async open(
    socket: string,
    options: { queueSize?: number; memorySize?: number; timeoutMs?: number } = {},
  ): Promise<VhostUserTarget> {
    let fe: VhostUserFrontend;
    try {
      fe = await VhostUserFrontend.connect(socket, { timeoutMs: options.timeoutMs ?? 5000 });
    } catch (e) {
      throw new UserError(
        `cannot connect to the vhost-user back-end at ${socket}: ${
          e instanceof Error ? e.message : e
        }`,
      );
    }
    const dev = await fe.setUp({
      queues: 2,
      queueSize: options.queueSize ?? 128,
      memorySize: options.memorySize ?? 64 << 20,
    });
    return new VhostUserTarget(socket, fe, dev.queues);
  }

  /** Sends one request and resolves with the reply (null for FORGET-like requests). */
  send(request: Uint8Array): Promise<Uint8Array | null> {
    if (this.#failed !== undefined) return Promise.reject(this.#failed);
    const op = new DataView(request.buffer, request.byteOffset).getUint32(4, true);
    if (op === Opcode.INTERRUPT) return Promise.resolve(null);
    const noReply = opcodeHasNoReply(op);
    const q = noReply ? 0 : 1;
    return new Promise((resolve, reject) => {
      const attempt = () => {
        const token = this.#queues[q].submit(request, noReply ? 0 : replySize(request));
        if (token === null) {
          this.#backlog.push(attempt);
          return;
        }
        if (noReply) {
          // nothing to wait for: the used buffer (if the back-end returns one) is collected later
          resolve(null);
          return;
        }
        this.#waiting.set(`${q}:${token}`, (written) => {
          if (written.length < 16) {
            return reject(new Error(`the back-end returned a ${written.length}-byte reply`));
          }
          const len = new DataView(written.buffer, written.byteOffset).getUint32(0, true);
          resolve(written.subarray(0, Math.min(len, written.length)));
        });
        this.#pump().catch((e) => {
          this.#failed = e instanceof Error ? e : new Error(String(e));
          reject(this.#failed);
        });
      };
      attempt();
    });
  }

  #deliver(q: FrontendQueue, used: { token: number; len: number; written: Uint8Array }[]): void {
    for (const u of used) {
      const k = `${q.index}:${u.token}`;
      const w = this.#waiting.get(k);
      this.#waiting.delete(k);
      w?.(u.written.subarray(0, u.len));
    }
    if (used.length > 0) { for (const r of this.#backlog.splice(0)) r(); }
  }

  async #pump(): Promise<void> {
    if (this.#pumping) return;
    this.#pumping = true;
    let idleMs = 0;
    try {
      while (this.#waiting.size > 0) {
        let got = 0;
        for (const q of this.#queues) {
          const used = q.driver.takeUsed();
          got += used.length;
          this.#deliver(q, used);
        }
        if (got > 0) {
          idleMs = 0;
          await Promise.resolve();
          continue;
        }
        const onRequests = [...this.#waiting.keys()].some((k) => k.startsWith("1:"));
        const q = this.#queues[onRequests ? 1 : 0];
        const used = await q.waitUsedAsync(200);
        this.#deliver(q, used);
        idleMs = used.length > 0 ? 0 : idleMs + 200;
        if (idleMs >= 10000) throw new Error("the vhost-user back-end did not answer within 10 s");
      }
    } finally {
      this.#pumping = false;
    }
  }

  /** The request queue (1), for callers that drive it synchronously (bench-backend). */
  get requestQueue(): FrontendQueue {
    return this.#queues[1];
  }

  /** Closes the connection. */
  close(): void {
    this.#fe.close();
  }
}

/** Opens `--dir DIR` or `--target vhost-user:SOCKET`. */
export async function openTarget(
  spec: { dir?: string; target?: string },
): Promise<OpenTarget> {
  if ((spec.dir === undefined) === (spec.target === undefined)) {
    throw new UserError("give exactly one of --dir DIR and --target vhost-user:SOCKET", 2);
  }
  if (spec.dir !== undefined) {
    let st: Deno.FileInfo;
    try {
      st = await Deno.stat(spec.dir);
    } catch {
      throw new UserError(`--dir ${spec.dir}: no such directory`);
    }
    if (!st.isDirectory) throw new UserError(`--dir ${spec.dir}: not a directory`);
    const server = createPassthrough(spec.dir);
    return {
      target: engineTarget(server, { description: `engine:${spec.dir}` }),
      close: () => Promise.resolve(),
    };
  }
  const m = /^vhost-user:(.+)$/.exec(spec.target!);
  if (m === null) {
    throw new UserError(`--target ${spec.target}: expected vhost-user:SOCKET`, 2);
  }
  const t = await VhostUserTarget.open(m[1]);
  return {
    target: t,
    close: () => {
      t.close();
      return Promise.resolve();
    },
  };
}
