/**
 * `ringside stats`: one pass over a capture's events, in constant memory,
 * answering the questions people otherwise grep huge logs for: what ran and
 * how often it failed (per opcode, errors by errno name), how long it took
 * (p50/p90/p99/max per opcode), how many bytes moved and when, how deep the
 * queues got, which files were busiest (paths rebuilt from entry replies),
 * which inodes the guest still holds (LOOKUP/FORGET balance), which handles
 * were never released, which requests were never answered and how long they
 * had waited (the hang finder), and what INIT negotiated, in words.
 *
 * Every table is bounded (see `sketch.ts`); what a bound turned away is
 * counted in `overflow` and printed.
 *
 * @example
 * ```ts
 * import { StatsAnalyzer, formatStats } from "./stats.ts";
 * import { readEvents } from "./events.ts";
 * const stats = new StatsAnalyzer();
 * for await (const ev of readEvents("capture.pcapng")) stats.push(ev);
 * console.log(formatStats(stats.finish()));
 * ```
 *
 * @module
 */
import {
  errorName,
  InitFlag,
  initFlagNames,
  initFlagsWord,
  Opcode,
  opcodeHasNoReply,
} from "../codecs/fuse/mod.ts";
import type { FuseName, FuseReply, FuseRequest } from "../codecs/fuse/mod.ts";
import type { CaptureEvent, EventSummary } from "./events.ts";
import {
  BoundedMap,
  type HistogramBucket,
  type HistogramSummary,
  LogHistogram,
  type SeriesColumn,
  type SeriesSnapshot,
  SpaceSaving,
  TimeSeries,
} from "./sketch.ts";

/** Options for {@linkcode StatsAnalyzer}. */
export interface StatsOptions {
  /** Rows in each top list (default 20). */
  top?: number;
  /** Most inodes tracked for paths and the LOOKUP/FORGET balance (default 262144). */
  maxNodes?: number;
  /** Most requests tracked while waiting for a reply (default 65536). */
  maxInFlight?: number;
  /** Most open handles tracked (default 65536). */
  maxHandles?: number;
  /** Most time buckets in the series (default 512). */
  maxBuckets?: number;
}

/** Latency and error figures of one opcode. */
export interface OpcodeStats {
  /** Opcode name (`LOOKUP`). */
  op: string;
  /** Requests seen. */
  requests: number;
  /** Replies seen (paired with a request of this opcode). */
  replies: number;
  /** Replies with a non-zero error. */
  errors: number;
  /** Error replies by errno name (`ENOENT`). */
  errnos: Record<string, number>;
  /** Request-to-reply latency in ns. */
  latency: HistogramSummary;
  /** Latency histogram (ns), about 30 log-scale buckets. */
  histogram: HistogramBucket[];
}

/** A file (inode) in a top list. */
export interface TopFile {
  /** Node id, decimal. */
  nodeid: string;
  /** Path rebuilt from entry replies (`/src/main.c`), or `<node N>` parts where unknown. */
  path: string;
  /** Requests on it (for the by-operations list) or bytes moved (for the by-bytes list). */
  value: number;
  /** How much `value` may be over-estimated (0 when exact). */
  error: number;
}

/** A request that never got a reply. */
export interface UnansweredStat {
  /** Its frame. */
  frame: number;
  /** Opcode name. */
  op: string;
  /** Unique, decimal. */
  unique: string;
  /** Node id, decimal. */
  nodeid: string;
  /** Path of the node, when known. */
  path: string;
  /** Queue or channel it travelled on. */
  queue: string;
  /** Time from the request to the end of the capture, ns. */
  waited_ns: number;
}

/** An inode the guest still holds at the end (looked up more than forgotten). */
export interface HeldNode {
  /** Node id, decimal. */
  nodeid: string;
  /** Its path, when known. */
  path: string;
  /** Outstanding lookup count. */
  nlookup: number;
}

/** An open handle never released. */
export interface OpenHandle {
  /** File handle, decimal. */
  fh: string;
  /** `file` (OPEN, CREATE) or `dir` (OPENDIR). */
  kind: "file" | "dir";
  /** The node it was opened on. */
  nodeid: string;
  /** Its path, when known. */
  path: string;
  /** Frame of the reply that handed it out. */
  frame: number;
}

/** The INIT exchange in words. */
export interface InitStats {
  /** Frame of the INIT request. */
  frame: number;
  /** The kernel's (client's) protocol version. */
  kernel: string;
  /** The server's protocol version, when it answered. */
  server?: string;
  /** The minor both use (the lower). */
  negotiated_minor?: number;
  /** Flags the kernel offered. */
  offered: string[];
  /** Flags the server answered with. */
  accepted: string[];
  /** Flags in effect (offered and accepted). */
  agreed: string[];
  /** Flags the kernel offered that the server did not take. */
  declined: string[];
  /** Flags the server set that the kernel had not offered (ignored by the kernel). */
  unsolicited: string[];
  /** Limits from the reply (max_write, max_readahead, max_pages, max_background, congestion_threshold, time_gran). */
  limits: Record<string, number>;
  /** The INIT failed with this errno name. */
  error?: string;
}

/** Everything `ringside stats` reports. */
export interface StatsReport {
  /** The capture as a whole. */
  capture: {
    /** Events (frames) read. */
    frames: number;
    /** Time of the first and last event, ns since the epoch, decimal (absent without timestamps). */
    start_ns?: string;
    /** Time of the last event. */
    end_ns?: string;
    /** Seconds from the first to the last event. */
    duration_s: number;
    /** Frames per channel. */
    channels: Record<string, number>;
    /** Events whose message did not decode. */
    decode_errors: number;
    /** Damage that ended the read early, as a sentence. */
    damage?: string;
    /** The FUSE minor used (from INIT or the record headers). */
    fuse_minor?: number;
  };
  /** Totals over every opcode. */
  totals: {
    /** FUSE requests. */
    requests: number;
    /** FUSE replies. */
    replies: number;
    /** Error replies. */
    errors: number;
    /** Notifications by name. */
    notifications: Record<string, number>;
    /** Bytes returned by READ replies. */
    bytes_read: number;
    /** Bytes accepted by WRITE replies. */
    bytes_written: number;
    /** vhost-user messages on the control channel. */
    vhost_user_messages: number;
    /** Ring records: kicks, calls, chains. */
    ring_events: Record<string, number>;
  };
  /** Per opcode, busiest first. */
  opcodes: OpcodeStats[];
  /** Latency of every reply, all opcodes together. */
  latency: HistogramSummary;
  /** INIT in words, when the capture has it. */
  init?: InitStats;
  /**
   * Over time: `ops` (requests), `errors`, `read_bytes`, `write_bytes`,
   * `op:<NAME>` (requests of that opcode), `inflight:<queue>` (greatest depth).
   */
  series: SeriesSnapshot;
  /** Busiest files. */
  top_files: { by_ops: TopFile[]; by_bytes: TopFile[] };
  /** LOOKUP/FORGET balance. */
  lookups: {
    /** Lookup references handed out (entry replies, READDIRPLUS entries). */
    lookups: number;
    /** References given back by FORGET and BATCH_FORGET. */
    forgets: number;
    /** Inodes still held at the end. */
    held_nodes: number;
    /** Outstanding references at the end. */
    held_references: number;
    /** The most-held inodes. */
    held: HeldNode[];
    /** FORGETs of inodes never seen looked up (the capture started late, or a bug). */
    unknown_forgets: number;
  };
  /** Handles never released. */
  handles: { opened: number; released: number; open_at_end: number; open: OpenHandle[] };
  /** Requests never answered, longest wait first (the hang finder). */
  unanswered: { count: number; requests: UnansweredStat[] };
  /** What the bounded tables had to leave out. */
  overflow: { in_flight: number; nodes: number; handles: number; approximate_top: boolean };
}

interface InFlight {
  frame: number;
  time: number;
  opcode: number;
  op: string;
  nodeid: bigint;
  queue: string;
  /** Entry-creating requests: the new name (LINK: the new name; RENAME is not followed). */
  name?: string;
}

interface NodeInfo {
  parent: bigint;
  name: string;
  nlookup: number;
}

interface Handle {
  kind: "file" | "dir";
  nodeid: bigint;
  frame: number;
  refs: number;
}

const ENTRY_OPS = new Set<number>([
  Opcode.LOOKUP,
  Opcode.MKNOD,
  Opcode.MKDIR,
  Opcode.SYMLINK,
  Opcode.LINK,
  Opcode.CREATE,
  Opcode.TMPFILE,
]);

/** The name an entry-creating request gives its new entry. */
function entryName(req: FuseRequest): string | undefined {
  switch (req.op) {
    case "LOOKUP":
    case "MKNOD":
    case "MKDIR":
    case "SYMLINK":
    case "CREATE":
    case "TMPFILE":
      return (req.body as { name: FuseName }).name.text;
    case "LINK":
      return req.body.newname.text;
    default:
      return undefined;
  }
}

const VQ_LABELS: string[] = [];

/** Queue label of an event: `vq<N>` for a virtqueue, else the channel name. */
export function queueLabel(ev: CaptureEvent): string {
  const q = ev.queue;
  if (q === undefined) return ev.channel;
  return VQ_LABELS[q] ??= `vq${q}`;
}

/** Entry (nodeid) a successful reply hands out, or undefined. */
function replyEntryNode(reply: FuseReply): bigint | undefined {
  if (reply.body === null) return undefined;
  switch (reply.op) {
    case "LOOKUP":
    case "MKNOD":
    case "MKDIR":
    case "SYMLINK":
    case "LINK":
      return reply.body.nodeid;
    case "CREATE":
    case "TMPFILE":
      return reply.body.entry.nodeid;
    default:
      return undefined;
  }
}

/**
 * Folds capture events into a {@linkcode StatsReport}: call
 * {@linkcode StatsAnalyzer.push} for every event in order, then
 * {@linkcode StatsAnalyzer.finish}.
 */
export class StatsAnalyzer {
  #top: number;
  #frames = 0;
  #first: bigint | undefined;
  #last: bigint | undefined;
  #channels = new Map<string, number>();
  #decodeErrors = 0;
  #minor: number | undefined;
  #requests = 0;
  #replies = 0;
  #errors = 0;
  #notifications = new Map<string, number>();
  #bytesRead = 0;
  #bytesWritten = 0;
  #vhost = 0;
  #ring = new Map<string, number>();
  #ops = new Map<number, {
    op: string;
    requests: number;
    replies: number;
    errors: number;
    errnos: Map<string, number>;
    latency: LogHistogram;
    column: SeriesColumn;
  }>();
  #depthColumns = new Map<string, SeriesColumn>();
  #opsColumn: SeriesColumn;
  #errorsColumn: SeriesColumn;
  #readColumn: SeriesColumn;
  #writeColumn: SeriesColumn;
  #all = new LogHistogram();
  #series: TimeSeries;
  #inflight: BoundedMap<bigint, InFlight>;
  #depth = new Map<string, number>();
  #nodes: BoundedMap<bigint, NodeInfo>;
  #lookups = 0;
  #forgets = 0;
  #unknownForgets = 0;
  #handles: BoundedMap<string, Handle>;
  #opened = 0;
  #released = 0;
  #byOps: SpaceSaving<bigint>;
  #byBytes: SpaceSaving<bigint>;
  #init: InitStats | undefined;
  #initOffered = 0n;

  /** Builds an empty analyzer. */
  constructor(options: StatsOptions = {}) {
    this.#top = options.top ?? 20;
    this.#series = new TimeSeries({ maxBuckets: options.maxBuckets ?? 512 });
    this.#inflight = new BoundedMap(options.maxInFlight ?? 65536);
    this.#nodes = new BoundedMap(options.maxNodes ?? 262144);
    this.#handles = new BoundedMap(options.maxHandles ?? 65536);
    this.#byOps = new SpaceSaving(Math.max(64, this.#top * 8));
    this.#byBytes = new SpaceSaving(Math.max(64, this.#top * 8));
    this.#nodes.set(1n, { parent: 0n, name: "", nlookup: 0 });
    this.#opsColumn = this.#series.column("ops");
    this.#errorsColumn = this.#series.column("errors");
    this.#readColumn = this.#series.column("read_bytes");
    this.#writeColumn = this.#series.column("write_bytes");
  }

  #depthColumn(queue: string): SeriesColumn {
    let c = this.#depthColumns.get(queue);
    if (c === undefined) {
      c = this.#series.column(`inflight:${queue}`, "max");
      this.#depthColumns.set(queue, c);
    }
    return c;
  }

  /** Takes one event (in capture order). */
  push(ev: CaptureEvent): void {
    this.#frames++;
    const tsBig = ev.time_ns;
    if (this.#first === undefined || tsBig < this.#first) this.#first = tsBig;
    if (this.#last === undefined || tsBig > this.#last) this.#last = tsBig;
    const ts = Number(tsBig);
    this.#channels.set(ev.channel, (this.#channels.get(ev.channel) ?? 0) + 1);
    if (ev.error !== undefined) this.#decodeErrors++;
    if (ev.fuse_minor !== undefined) this.#minor = ev.fuse_minor;
    switch (ev.kind) {
      case "fuse_request":
        if (ev.fuse !== undefined) this.#request(ev, ts);
        break;
      case "fuse_reply":
        if (ev.fuse !== undefined) this.#reply(ev, ts);
        break;
      case "fuse_notify": {
        const name = ev.fuse?.op ?? "NOTIFY_UNKNOWN";
        this.#notifications.set(name, (this.#notifications.get(name) ?? 0) + 1);
        break;
      }
      case "vhost_user_front_to_back":
      case "vhost_user_back_to_front":
        this.#vhost++;
        break;
      default:
        this.#ring.set(ev.kind, (this.#ring.get(ev.kind) ?? 0) + 1);
    }
  }

  #opStats(opcode: number, op: string) {
    let s = this.#ops.get(opcode);
    if (s === undefined) {
      s = {
        op,
        requests: 0,
        replies: 0,
        errors: 0,
        errnos: new Map(),
        latency: new LogHistogram(),
        column: this.#series.column(`op:${op}`),
      };
      this.#ops.set(opcode, s);
    }
    return s;
  }

  #request(ev: CaptureEvent, ts: number): void {
    const f = ev.fuse!;
    this.#requests++;
    const s = this.#opStats(f.opcode, f.op);
    s.requests++;
    const bucket = this.#series.bucket(ts);
    this.#series.addAt(this.#opsColumn, bucket, 1);
    this.#series.addAt(s.column, bucket, 1);
    const nodeid = f.nodeid ?? 0n;
    if (nodeid !== 0n) this.#byOps.add(nodeid);
    const req = f.request;
    if (req !== undefined) {
      if (req.op === "FORGET") this.#forget(nodeid, req.body.nlookup);
      else if (req.op === "BATCH_FORGET") {
        for (const one of req.body.forgets) this.#forget(one.nodeid, one.nlookup);
      } else if (req.op === "RELEASE" || req.op === "RELEASEDIR") {
        const key = `${req.op === "RELEASE" ? "f" : "d"}:${req.body.fh}`;
        const h = this.#handles.get(key);
        if (h !== undefined && --h.refs <= 0) this.#handles.delete(key);
        this.#released++;
      } else if (req.op === "INIT") {
        const b = req.body;
        const ext = (b.flags & Number(InitFlag.INIT_EXT)) !== 0;
        this.#initOffered = initFlagsWord(b.flags, ext ? b.flags2 : 0);
        this.#init = {
          frame: ev.frame,
          kernel: `${b.major}.${b.minor}`,
          offered: initFlagNames(this.#initOffered),
          accepted: [],
          agreed: [],
          declined: [],
          unsolicited: [],
          limits: { max_readahead: b.max_readahead },
        };
      }
    }
    if (opcodeHasNoReply(f.opcode) || f.unique === 0n) return;
    const queue = queueLabel(ev);
    const before = this.#inflight.overflow;
    this.#inflight.set(f.unique, {
      frame: ev.frame,
      time: ts,
      opcode: f.opcode,
      op: f.op,
      nodeid,
      queue,
      name: req !== undefined && ENTRY_OPS.has(f.opcode) ? entryName(req) : undefined,
    });
    if (this.#inflight.overflow === before) {
      const d = (this.#depth.get(queue) ?? 0) + 1;
      this.#depth.set(queue, d);
      this.#series.addAt(this.#depthColumn(queue), bucket, d);
    }
  }

  #forget(nodeid: bigint, nlookup: bigint): void {
    const n = Number(nlookup);
    this.#forgets += n;
    const node = this.#nodes.get(nodeid);
    if (node === undefined || node.nlookup === 0) {
      this.#unknownForgets++;
      return;
    }
    node.nlookup = Math.max(0, node.nlookup - n);
  }

  #lookup(nodeid: bigint, parent: bigint, name: string): void {
    if (nodeid === 0n) return;
    this.#lookups++;
    const node = this.#nodes.get(nodeid);
    if (node !== undefined) {
      node.nlookup++;
      node.parent = parent;
      node.name = name;
    } else this.#nodes.set(nodeid, { parent, name, nlookup: 1 });
  }

  #reply(ev: CaptureEvent, ts: number): void {
    const f = ev.fuse!;
    this.#replies++;
    const bucket = this.#series.bucket(ts);
    const pending = this.#inflight.get(f.unique);
    if (pending !== undefined) {
      this.#inflight.delete(f.unique);
      const d = Math.max(0, (this.#depth.get(pending.queue) ?? 1) - 1);
      this.#depth.set(pending.queue, d);
      this.#series.addAt(this.#depthColumn(pending.queue), bucket, d);
    }
    if (f.request_frame === undefined) return; // unpaired: check reports it
    const s = this.#opStats(f.opcode, f.op);
    s.replies++;
    if (f.latency_ns !== undefined) {
      const l = Number(f.latency_ns);
      s.latency.add(l);
      this.#all.add(l);
    }
    const error = f.error ?? 0;
    if (error !== 0) {
      this.#errors++;
      s.errors++;
      const name = errorName(error);
      s.errnos.set(name, (s.errnos.get(name) ?? 0) + 1);
      this.#series.addAt(this.#errorsColumn, bucket, 1);
      if (f.opcode === Opcode.INIT && this.#init !== undefined) this.#init.error = name;
      return;
    }
    const reply = f.reply;
    if (reply === undefined || reply.body === null) return;
    const nodeid = f.nodeid ?? 0n;
    switch (reply.op) {
      case "READ": {
        const n = reply.body.data.length;
        this.#bytesRead += n;
        this.#series.addAt(this.#readColumn, bucket, n);
        if (nodeid !== 0n) this.#byBytes.add(nodeid, n);
        break;
      }
      case "WRITE": {
        const n = reply.body.size;
        this.#bytesWritten += n;
        this.#series.addAt(this.#writeColumn, bucket, n);
        if (nodeid !== 0n) this.#byBytes.add(nodeid, n);
        break;
      }
      case "OPEN":
      case "OPENDIR":
      case "CREATE": {
        const fh = reply.op === "CREATE" ? reply.body.open.fh : reply.body.fh;
        const key = `${reply.op === "OPENDIR" ? "d" : "f"}:${fh}`;
        const target = reply.op === "CREATE" ? reply.body.entry.nodeid : nodeid;
        const h = this.#handles.get(key);
        if (h !== undefined) h.refs++;
        else {
          this.#handles.set(key, {
            kind: reply.op === "OPENDIR" ? "dir" : "file",
            nodeid: target,
            frame: ev.frame,
            refs: 1,
          });
        }
        this.#opened++;
        break;
      }
      case "READDIRPLUS":
        for (const e of reply.body.entries) {
          const name = e.dirent.name.text;
          if (name === "." || name === "..") continue;
          this.#lookup(e.entry_out.nodeid, nodeid, name);
        }
        break;
      case "INIT":
        this.#initReply(reply.body);
        break;
    }
    const created = replyEntryNode(reply);
    if (created !== undefined && pending?.name !== undefined) {
      this.#lookup(created, nodeid, pending.name);
    } else if (created !== undefined) {
      this.#lookup(created, 0n, `<node ${created}>`);
    }
  }

  #initReply(out: NonNullable<(FuseReply & { op: "INIT" })["body"]>): void {
    const init = this.#init;
    if (init === undefined) return;
    const ext = (out.flags & Number(InitFlag.INIT_EXT)) !== 0;
    const accepted = initFlagsWord(out.flags, ext ? out.flags2 : 0);
    const offered = this.#initOffered;
    init.server = `${out.major}.${out.minor}`;
    const [, kminor] = init.kernel.split(".").map(Number);
    init.negotiated_minor = Math.min(kminor, out.minor);
    init.accepted = initFlagNames(accepted);
    init.agreed = initFlagNames(offered & accepted);
    init.declined = initFlagNames(offered & ~accepted);
    init.unsolicited = initFlagNames(accepted & ~offered);
    init.limits = {
      ...init.limits,
      max_readahead: out.max_readahead,
      max_write: out.max_write,
      max_background: out.max_background,
      congestion_threshold: out.congestion_threshold,
      time_gran: out.time_gran,
      max_pages: out.max_pages,
    };
    this.#minor = init.negotiated_minor;
  }

  /** The path of `nodeid` as far as entry replies told it (`/a/b`), with `<node N>` for unknown parts. */
  path(nodeid: bigint): string {
    if (nodeid === 1n) return "/";
    const parts: string[] = [];
    let id = nodeid;
    for (let depth = 0; depth < 64; depth++) {
      if (id === 1n) return "/" + parts.reverse().join("/");
      const node = this.#nodes.get(id);
      if (node === undefined || node.parent === 0n) {
        parts.push(node?.name.startsWith("<node") ? node.name : `<node ${id}>`);
        return parts.reverse().join("/");
      }
      parts.push(node.name);
      id = node.parent;
    }
    return ".../" + parts.reverse().join("/");
  }

  /** The report; `summary` (from `readEvents`) adds damage information. */
  finish(summary?: EventSummary): StatsReport {
    const first = this.#first ?? 0n;
    const last = this.#last ?? 0n;
    const endTs = Number(last);
    const ops = [...this.#ops.values()]
      .sort((a, b) => b.requests - a.requests || a.op.localeCompare(b.op))
      .map((s) => ({
        op: s.op,
        requests: s.requests,
        replies: s.replies,
        errors: s.errors,
        errnos: Object.fromEntries([...s.errnos].sort((a, b) => b[1] - a[1])),
        latency: s.latency.summary(),
        histogram: s.latency.buckets(30),
      }));
    const tops = (s: SpaceSaving<bigint>) =>
      s.top(this.#top).map((t) => ({
        nodeid: String(t.key),
        path: this.path(t.key),
        value: t.weight,
        error: t.error,
      }));
    let heldNodes = 0;
    let heldRefs = 0;
    const held: HeldNode[] = [];
    for (const [id, n] of this.#nodes) {
      if (n.nlookup <= 0) continue;
      heldNodes++;
      heldRefs += n.nlookup;
      held.push({ nodeid: String(id), path: "", nlookup: n.nlookup });
      if (held.length > 4 * this.#top) {
        held.sort((a, b) => b.nlookup - a.nlookup);
        held.length = this.#top;
      }
    }
    held.sort((a, b) => b.nlookup - a.nlookup || Number(BigInt(a.nodeid) - BigInt(b.nodeid)));
    held.length = Math.min(held.length, this.#top);
    for (const h of held) h.path = this.path(BigInt(h.nodeid));
    const open: OpenHandle[] = [];
    for (const [key, h] of this.#handles) {
      if (open.length >= this.#top) break;
      open.push({
        fh: key.slice(2),
        kind: h.kind,
        nodeid: String(h.nodeid),
        path: this.path(h.nodeid),
        frame: h.frame,
      });
    }
    const unanswered = [...this.#inflight.values()]
      .sort((a, b) => a.time - b.time)
      .slice(0, Math.max(this.#top, 50))
      .map((r) => ({
        frame: r.frame,
        op: r.op,
        unique: "",
        nodeid: String(r.nodeid),
        path: this.path(r.nodeid),
        queue: r.queue,
        waited_ns: endTs - r.time,
      }));
    // the unique is the key of the in-flight map
    const byFrame = new Map<number, bigint>();
    for (const [u, r] of this.#inflight) byFrame.set(r.frame, u);
    for (const u of unanswered) u.unique = String(byFrame.get(u.frame));
    const hasTime = this.#first !== undefined && (first !== 0n || last !== 0n);
    return {
      capture: {
        frames: this.#frames,
        start_ns: hasTime ? String(first) : undefined,
        end_ns: hasTime ? String(last) : undefined,
        duration_s: hasTime ? Number(last - first) / 1e9 : 0,
        channels: Object.fromEntries(this.#channels),
        decode_errors: this.#decodeErrors,
        damage: summary?.damage?.message,
        fuse_minor: this.#minor,
      },
      totals: {
        requests: this.#requests,
        replies: this.#replies,
        errors: this.#errors,
        notifications: Object.fromEntries(this.#notifications),
        bytes_read: this.#bytesRead,
        bytes_written: this.#bytesWritten,
        vhost_user_messages: this.#vhost,
        ring_events: Object.fromEntries(this.#ring),
      },
      opcodes: ops,
      latency: this.#all.summary(),
      init: this.#init,
      series: this.#series.snapshot(),
      top_files: { by_ops: tops(this.#byOps), by_bytes: tops(this.#byBytes) },
      lookups: {
        lookups: this.#lookups,
        forgets: this.#forgets,
        held_nodes: heldNodes,
        held_references: heldRefs,
        held,
        unknown_forgets: this.#unknownForgets,
      },
      handles: {
        opened: this.#opened,
        released: this.#released,
        open_at_end: this.#handles.size,
        open,
      },
      unanswered: { count: this.#inflight.size, requests: unanswered },
      overflow: {
        in_flight: this.#inflight.overflow,
        nodes: this.#nodes.overflow,
        handles: this.#handles.overflow,
        approximate_top: this.#byOps.approximate || this.#byBytes.approximate,
      },
    };
  }
}

/** Runs a {@linkcode StatsAnalyzer} over `events` and returns its report. */
export async function collectStats(
  events: AsyncIterable<CaptureEvent> | Iterable<CaptureEvent>,
  options: StatsOptions & { summary?: EventSummary } = {},
): Promise<StatsReport> {
  const s = new StatsAnalyzer(options);
  for await (const ev of events) s.push(ev);
  return s.finish(options.summary);
}

/** A duration in ns for people: `850 ns`, `12.3 µs`, `4.56 ms`, `2.1 s`. */
export function formatNs(ns: number): string {
  if (ns < 1000) return `${Math.round(ns)} ns`;
  if (ns < 1e6) return `${(ns / 1e3).toPrecision(3)} µs`;
  if (ns < 1e9) return `${(ns / 1e6).toPrecision(3)} ms`;
  return `${(ns / 1e9).toPrecision(3)} s`;
}

/** A byte count for people: `512 B`, `4.0 KiB`, `1.5 MiB`. */
export function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  const units = ["KiB", "MiB", "GiB", "TiB"];
  let v = n / 1024;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${v.toFixed(1)} ${units[i]}`;
}

function table(rows: string[][], right: boolean[]): string[] {
  const widths = rows[0].map((_, c) => Math.max(...rows.map((r) => r[c].length)));
  return rows.map((r) =>
    r.map((cell, c) => right[c] ? cell.padStart(widths[c]) : cell.padEnd(widths[c])).join("  ")
      .trimEnd()
  );
}

/** The report as text for a terminal. */
export function formatStats(r: StatsReport): string {
  const out: string[] = [];
  const c = r.capture;
  const start = c.start_ns !== undefined
    ? new Date(Number(BigInt(c.start_ns) / 1_000_000n)).toISOString()
    : "no timestamps";
  out.push(
    `capture: ${c.frames} frames, ${start}, ${c.duration_s.toFixed(3)} s` +
      (c.fuse_minor !== undefined ? `, FUSE 7.${c.fuse_minor}` : ""),
  );
  out.push(
    `channels: ${Object.entries(c.channels).map(([k, v]) => `${k} ${v}`).join(", ") || "none"}`,
  );
  if (c.decode_errors > 0) out.push(`decode errors: ${c.decode_errors} (run ringside check)`);
  if (c.damage !== undefined) out.push(`damage: ${c.damage} (read stopped there)`);
  const t = r.totals;
  out.push(
    `requests ${t.requests}, replies ${t.replies}, errors ${t.errors}; read ${
      formatBytes(t.bytes_read)
    }, written ${formatBytes(t.bytes_written)}`,
  );
  if (Object.keys(t.notifications).length > 0) {
    out.push(
      `notifications: ${Object.entries(t.notifications).map(([k, v]) => `${k} ${v}`).join(", ")}`,
    );
  }
  if (t.vhost_user_messages > 0 || Object.keys(t.ring_events).length > 0) {
    out.push(
      `vhost-user messages ${t.vhost_user_messages}; ring events: ${
        Object.entries(t.ring_events).map(([k, v]) => `${k.replace("ring_", "")} ${v}`).join(
          ", ",
        ) ||
        "none"
      }`,
    );
  }
  if (r.init !== undefined) {
    const i = r.init;
    out.push("");
    out.push(
      `INIT (frame ${i.frame}): kernel ${i.kernel}, server ${i.server ?? "did not answer"}` +
        (i.negotiated_minor !== undefined ? `, using 7.${i.negotiated_minor}` : "") +
        (i.error !== undefined ? `, failed ${i.error}` : ""),
    );
    const list = (xs: string[]) => xs.length === 0 ? "(none)" : xs.join(" ");
    out.push(`  agreed:      ${list(i.agreed)}`);
    out.push(`  declined:    ${list(i.declined)}`);
    if (i.unsolicited.length > 0) out.push(`  unsolicited: ${list(i.unsolicited)}`);
    out.push(
      `  limits:      ${Object.entries(i.limits).map(([k, v]) => `${k}=${v}`).join(" ")}`,
    );
  }
  if (r.opcodes.length > 0) {
    out.push("");
    const rows = [["opcode", "requests", "errors", "p50", "p90", "p99", "max", "errnos"]];
    for (const o of r.opcodes) {
      const l = o.latency;
      const has = l.count > 0;
      rows.push([
        o.op,
        String(o.requests),
        String(o.errors),
        has ? formatNs(l.p50) : "-",
        has ? formatNs(l.p90) : "-",
        has ? formatNs(l.p99) : "-",
        has ? formatNs(l.max) : "-",
        Object.entries(o.errnos).map(([k, v]) => `${k} ${v}`).join(", "),
      ]);
    }
    out.push(...table(rows, [false, true, true, true, true, true, true, false]));
  }
  const files = (title: string, list: TopFile[], fmt: (n: number) => string) => {
    if (list.length === 0) return;
    out.push("");
    out.push(title);
    const rows = list.map((f) => [fmt(f.value) + (f.error > 0 ? "~" : ""), f.path]);
    out.push(...table(rows, [true, false]).map((l) => `  ${l}`));
  };
  files("top files by operations:", r.top_files.by_ops, String);
  files("top files by bytes:", r.top_files.by_bytes, formatBytes);
  const lk = r.lookups;
  out.push("");
  out.push(
    `LOOKUP/FORGET: ${lk.lookups} lookups, ${lk.forgets} forgotten; ${lk.held_nodes} inodes still held (${lk.held_references} references)` +
      (lk.unknown_forgets > 0 ? `; ${lk.unknown_forgets} FORGETs of inodes never looked up` : ""),
  );
  for (const h of lk.held.slice(0, 10)) out.push(`  ${String(h.nlookup).padStart(4)}  ${h.path}`);
  const hd = r.handles;
  out.push(
    `handles: ${hd.opened} opened, ${hd.released} released, ${hd.open_at_end} never released`,
  );
  for (const h of hd.open.slice(0, 10)) {
    out.push(`  fh ${h.fh} (${h.kind}) on ${h.path}, opened at frame ${h.frame}`);
  }
  const u = r.unanswered;
  out.push(`requests never answered: ${u.count}`);
  for (const q of u.requests.slice(0, 10)) {
    out.push(
      `  frame ${q.frame}: ${q.op} unique ${q.unique} on ${q.path} (${q.queue}) waited ${
        formatNs(q.waited_ns)
      }`,
    );
  }
  const o = r.overflow;
  if (o.in_flight + o.nodes + o.handles > 0 || o.approximate_top) {
    out.push(
      `bounded tables: ${o.in_flight} requests, ${o.nodes} inodes, ${o.handles} handles not tracked` +
        (o.approximate_top ? "; top lists are estimates (~)" : ""),
    );
  }
  return out.join("\n");
}
