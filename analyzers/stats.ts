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
import { bigOf, type Key, keyOf, le32, nameAt, u64Key, u64Number } from "./_wire.ts";
import { KeyTable } from "./_table.ts";
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
  /** The FUSE session it belongs to (see `CaptureEvent.session`; node ids are per session). */
  session: number;
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
  /** The FUSE session it belongs to (see `CaptureEvent.session`; node ids are per session). */
  session: number;
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
  /** The FUSE session it belongs to (see `CaptureEvent.session`; node ids are per session). */
  session: number;
  /** Node id, decimal. */
  nodeid: string;
  /** Its path, when known. */
  path: string;
  /** Outstanding lookup count. */
  nlookup: number;
}

/** An open handle never released. */
export interface OpenHandle {
  /** The FUSE session it belongs to (see `CaptureEvent.session`; node ids are per session). */
  session: number;
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
    /** FUSE sessions seen (more than one: two guests one after another, two mounts). */
    sessions: number;
    /** Time of the first and last event, ns since the epoch, decimal (absent without timestamps). */
    start_ns?: string;
    /** Time of the last event. */
    end_ns?: string;
    /** Seconds from the first to the last event. */
    duration_s: number;
    /** Frames per channel. */
    channels: Record<string, number>;
    /** Events whose message did not decode, from the read's summary (0 without one; with `bodies: "lazy"`, of the messages looked into). */
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
  session: number;
  unique: Key;
  nodeid: Key;
  queue: string;
  /** Entry-creating requests, UNLINK, RMDIR, RENAME(2): the name in the parent. */
  name?: string;
  /** RENAME(2): where the entry goes. */
  newdir?: Key;
  newname?: string;
  /** RENAME2 flags. */
  flags?: number;
}

interface NodeInfo {
  parent: Key;
  name: string;
  nlookup: number;
}

interface Handle {
  nodeid: Key;
  frame: number;
  refs: number;
}

/** What one FUSE session knows: its inodes (with a name index for renames) and handles. */
class SessionState {
  nodes: BoundedMap<Key, NodeInfo>;
  /** parent → name → node id, for the entries the nodes table holds. */
  children = new Map<Key, Map<string, Key>>();
  files: BoundedMap<Key, Handle>;
  dirs: BoundedMap<Key, Handle>;

  constructor(maxNodes: number, maxHandles: number) {
    this.nodes = new BoundedMap(maxNodes);
    this.files = new BoundedMap(maxHandles);
    this.dirs = new BoundedMap(maxHandles);
    this.nodes.set(1, { parent: 0, name: "", nlookup: 0 });
  }

  child(parent: Key, name: string): Key | undefined {
    return this.children.get(parent)?.get(name);
  }

  /** Names node `id` as `name` in `parent` (dropping its former name from the index). */
  place(id: Key, node: NodeInfo, parent: Key, name: string): void {
    const old = this.children.get(node.parent);
    if (old !== undefined && old.get(node.name) === id) {
      old.delete(node.name);
      if (old.size === 0) this.children.delete(node.parent);
    }
    node.parent = parent;
    node.name = name;
    let dir = this.children.get(parent);
    if (dir === undefined) {
      dir = new Map();
      this.children.set(parent, dir);
    }
    dir.set(name, id);
  }

  /** The entry `name` in `parent` is gone (UNLINK, RMDIR, replaced by a RENAME). */
  remove(parent: Key, name: string): void {
    const dir = this.children.get(parent);
    const id = dir?.get(name);
    if (id === undefined) return;
    dir!.delete(name);
    if (dir!.size === 0) this.children.delete(parent);
    const node = this.nodes.get(id);
    if (node !== undefined && node.parent === parent && node.name === name) {
      node.name = `${name} (deleted)`;
    }
  }
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

/** A node's key in the top lists: its node id in session 0, `session:nodeid` in later ones. */
function topKey(session: number, nodeid: Key): Key | string {
  return session === 0 ? nodeid : `${session}:${nodeid}`;
}

function splitTopKey(k: Key | string): [number, Key] {
  if (typeof k !== "string") return [0, k];
  const i = k.indexOf(":");
  return [Number(k.slice(0, i)), keyOf(BigInt(k.slice(i + 1)))];
}

/** RENAME2 flag: swap the two entries (include/uapi/linux/fs.h RENAME_EXCHANGE). */
const RENAME_EXCHANGE = 2;

/**
 * Folds capture events into a {@linkcode StatsReport}: call
 * {@linkcode StatsAnalyzer.push} for every event in order, then
 * {@linkcode StatsAnalyzer.finish}. It reads message fields in place and
 * decodes a body only where it needs one (INIT, BATCH_FORGET, the names of
 * MKNOD and the like, RENAME), so it is fastest over events read with
 * `bodies: "lazy"`.
 */
export class StatsAnalyzer {
  #top: number;
  #frames = 0;
  #first: CaptureEvent | undefined;
  #last: CaptureEvent | undefined;
  #channels = new Map<string, number[]>();
  #lastChannel: string | undefined;
  #channelCount: number[] = [0];
  #minor: number | undefined;
  #requests = 0;
  #replies = 0;
  #errors = 0;
  #notifications = new Map<string, number>();
  #bytesRead = 0;
  #bytesWritten = 0;
  #vhost = 0;
  #kicks = 0;
  #calls = 0;
  #chains = 0;
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
  /** Requests waiting for a reply, by request frame (events pair them per session). */
  #inflight = new KeyTable<InFlight>();
  #maxInFlight: number;
  #inflightOverflow = 0;
  #depth = new Map<string, number>();
  #sessions: SessionState[] = [];
  #maxNodes: number;
  #maxHandles: number;
  #lookups = 0;
  #forgets = 0;
  #unknownForgets = 0;
  #opened = 0;
  #released = 0;
  #byOps: SpaceSaving<Key | string>;
  #byBytes: SpaceSaving<Key | string>;
  #init: InitStats | undefined;
  #initOffered = 0n;

  /** Builds an empty analyzer. */
  constructor(options: StatsOptions = {}) {
    this.#top = options.top ?? 20;
    this.#series = new TimeSeries({ maxBuckets: options.maxBuckets ?? 512 });
    this.#maxInFlight = options.maxInFlight ?? 65536;
    this.#maxNodes = options.maxNodes ?? 262144;
    this.#maxHandles = options.maxHandles ?? 65536;
    // thousands of files fit exactly; beyond, the sketch keeps the heavy ones
    this.#byOps = new SpaceSaving(Math.max(4096, this.#top * 64));
    this.#byBytes = new SpaceSaving(Math.max(4096, this.#top * 64));
    this.#opsColumn = this.#series.column("ops");
    this.#errorsColumn = this.#series.column("errors");
    this.#readColumn = this.#series.column("read_bytes");
    this.#writeColumn = this.#series.column("write_bytes");
  }

  #session(n: number): SessionState {
    let s = this.#sessions[n];
    if (s === undefined) {
      s = new SessionState(this.#maxNodes, this.#maxHandles);
      this.#sessions[n] = s;
    }
    return s;
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
    const ts = ev.time;
    if (this.#first === undefined || ts < this.#first.time) this.#first = ev;
    if (this.#last === undefined || ts >= this.#last.time) this.#last = ev;
    const ch = ev.channel;
    if (ch !== this.#lastChannel) {
      this.#lastChannel = ch;
      let c = this.#channels.get(ch);
      if (c === undefined) {
        c = [0];
        this.#channels.set(ch, c);
      }
      this.#channelCount = c;
    }
    this.#channelCount[0]++;
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
      case "ring_kick":
        this.#kicks++;
        break;
      case "ring_call":
        this.#calls++;
        break;
      case "ring_chain":
        this.#chains++;
        break;
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
    const opcode = f.opcode;
    const s = this.#opStats(opcode, f.op);
    s.requests++;
    const bucket = this.#series.bucket(ts);
    this.#series.addAt(this.#opsColumn, bucket, 1);
    this.#series.addAt(s.column, bucket, 1);
    const nodeid = f.nodeidKey ?? 0;
    const session = ev.session;
    if (nodeid !== 0) this.#byOps.add(topKey(session, nodeid));
    let name: string | undefined;
    let b: Uint8Array;
    switch (opcode) {
      case Opcode.FORGET: // fuse_forget_in { u64 nlookup }
        b = ev.bytes;
        if (b.length >= 48) this.#forget(session, nodeid, u64Number(b, 40));
        return;
      case Opcode.BATCH_FORGET: {
        const req = f.request;
        if (req?.op === "BATCH_FORGET") {
          for (const one of req.body.forgets) {
            this.#forget(session, keyOf(one.nodeid), Number(one.nlookup));
          }
        }
        return;
      }
      case Opcode.RELEASE:
      case Opcode.RELEASEDIR: { // fuse_release_in { u64 fh; ... }
        b = ev.bytes;
        if (b.length >= 48) {
          const st = this.#session(session);
          const table = opcode === Opcode.RELEASE ? st.files : st.dirs;
          const fh = u64Key(b, 40);
          const h = table.get(fh);
          if (h !== undefined && --h.refs <= 0) table.delete(fh);
          this.#released++;
        }
        break;
      }
      case Opcode.LOOKUP: // the name alone
        b = ev.bytes;
        name = nameAt(b, 40, b.length);
        break;
      case Opcode.UNLINK:
      case Opcode.RMDIR:
        b = ev.bytes;
        name = nameAt(b, 40, b.length);
        break;
      case Opcode.INIT: {
        const req = f.request;
        if (req?.op === "INIT") {
          const body = req.body;
          const ext = (body.flags & Number(InitFlag.INIT_EXT)) !== 0;
          this.#initOffered = initFlagsWord(body.flags, ext ? body.flags2 : 0);
          this.#init = {
            frame: ev.frame,
            kernel: `${body.major}.${body.minor}`,
            offered: initFlagNames(this.#initOffered),
            accepted: [],
            agreed: [],
            declined: [],
            unsolicited: [],
            limits: { max_readahead: body.max_readahead },
          };
        }
        break;
      }
      default:
        if (ENTRY_OPS.has(opcode)) {
          const req = f.request;
          if (req !== undefined) name = entryName(req);
        }
    }
    if (opcodeHasNoReply(opcode) || f.uniqueKey === 0) return;
    const queue = queueLabel(ev);

    const x: InFlight = {
      frame: ev.frame,
      time: ts,
      opcode,
      op: f.op,
      session,
      unique: f.uniqueKey,
      nodeid,
      queue,
      name,
    };
    if (opcode === Opcode.RENAME || opcode === Opcode.RENAME2) {
      const req = f.request;
      if (req?.op === "RENAME" || req?.op === "RENAME2") {
        x.name = req.body.oldname.text;
        x.newdir = keyOf(req.body.newdir);
        x.newname = req.body.newname.text;
        x.flags = req.op === "RENAME2" ? req.body.flags : 0;
      }
    }
    if (this.#inflight.size >= this.#maxInFlight) this.#inflightOverflow++;
    else {
      this.#inflight.set(ev.frame, x);
      const d = (this.#depth.get(queue) ?? 0) + 1;
      this.#depth.set(queue, d);
      this.#series.addAt(this.#depthColumn(queue), bucket, d);
    }
  }

  #forget(session: number, nodeid: Key, n: number): void {
    this.#forgets += n;
    const node = this.#session(session).nodes.get(nodeid);
    if (node === undefined || node.nlookup === 0) {
      this.#unknownForgets++;
      return;
    }
    node.nlookup = Math.max(0, node.nlookup - n);
  }

  #lookup(st: SessionState, nodeid: Key, parent: Key, name: string): void {
    if (nodeid === 0) return;
    this.#lookups++;
    const node = st.nodes.get(nodeid);
    if (node !== undefined) {
      node.nlookup++;
      if (node.parent !== parent || node.name !== name) st.place(nodeid, node, parent, name);
    } else {
      const fresh = { parent: 0 as Key, name: "", nlookup: 1 };
      st.nodes.set(nodeid, fresh);
      if (st.nodes.get(nodeid) === fresh) st.place(nodeid, fresh, parent, name);
    }
  }

  #reply(ev: CaptureEvent, ts: number): void {
    const f = ev.fuse!;
    this.#replies++;
    const bucket = this.#series.bucket(ts);
    const rf = f.request_frame;
    if (rf === undefined) return; // unpaired: check reports it
    const pending = this.#inflight.get(rf);
    if (pending !== undefined) {
      this.#inflight.delete(rf);
      const d = Math.max(0, (this.#depth.get(pending.queue) ?? 1) - 1);
      this.#depth.set(pending.queue, d);
      this.#series.addAt(this.#depthColumn(pending.queue), bucket, d);
    }
    const opcode = f.opcode;
    const s = this.#opStats(opcode, f.op);
    s.replies++;
    const l = f.latency;
    if (l !== undefined) {
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
      if (opcode === Opcode.INIT && this.#init !== undefined) this.#init.error = name;
      return;
    }
    const nodeid = f.nodeidKey ?? 0;
    const session = ev.session;
    const b = ev.bytes;
    const n = b.length;
    const entrySize = (ev.fuse_minor ?? this.#minor ?? 45) < 9 ? 120 : 128;
    switch (opcode) {
      case Opcode.READ: {
        const got = n - 16;
        this.#bytesRead += got;
        this.#series.addAt(this.#readColumn, bucket, got);
        if (nodeid !== 0) this.#byBytes.add(topKey(session, nodeid), got);
        return;
      }
      case Opcode.WRITE: { // fuse_write_out { u32 size; u32 padding }
        if (n < 24) return;
        const put = le32(b, 16);
        this.#bytesWritten += put;
        this.#series.addAt(this.#writeColumn, bucket, put);
        if (nodeid !== 0) this.#byBytes.add(topKey(session, nodeid), put);
        return;
      }
      case Opcode.OPEN:
      case Opcode.OPENDIR: // fuse_open_out { u64 fh; ... }
        if (n >= 24) {
          const st = this.#session(session);
          this.#open(opcode === Opcode.OPEN ? st.files : st.dirs, u64Key(b, 16), nodeid, ev.frame);
        }
        return;
      case Opcode.CREATE: // fuse_entry_out, then fuse_open_out
        if (n >= 16 + entrySize + 8) {
          const created = u64Key(b, 16);
          const st = this.#session(session);
          this.#open(st.files, u64Key(b, 16 + entrySize), created, ev.frame);
          this.#entry(st, created, nodeid, pending);
        }
        return;
      case Opcode.LOOKUP:
      case Opcode.MKNOD:
      case Opcode.MKDIR:
      case Opcode.SYMLINK:
      case Opcode.LINK:
      case Opcode.TMPFILE: // fuse_entry_out { u64 nodeid; ... }
        if (n >= 24) this.#entry(this.#session(session), u64Key(b, 16), nodeid, pending);
        return;
      case Opcode.READDIRPLUS:
        this.#direntplus(this.#session(session), b, nodeid);
        return;
      case Opcode.UNLINK:
      case Opcode.RMDIR:
        if (pending?.name !== undefined) this.#session(session).remove(nodeid, pending.name);
        return;
      case Opcode.RENAME:
      case Opcode.RENAME2:
        if (pending?.newdir !== undefined) this.#rename(this.#session(session), pending);
        return;
      case Opcode.INIT: {
        const reply = f.reply;
        if (reply?.op === "INIT" && reply.body !== null) this.#initReply(reply.body);
        return;
      }
    }
  }

  #open(table: BoundedMap<Key, Handle>, fh: Key, nodeid: Key, frame: number): void {
    const h = table.get(fh);
    if (h !== undefined) h.refs++;
    else table.set(fh, { nodeid, frame, refs: 1 });
    this.#opened++;
  }

  #entry(st: SessionState, created: Key, parent: Key, pending: InFlight | undefined): void {
    if (pending?.name !== undefined) this.#lookup(st, created, parent, pending.name);
    else this.#lookup(st, created, 0, `<node ${created}>`);
  }

  /** READDIRPLUS entries: fuse_direntplus { fuse_entry_out (128); fuse_dirent { ino, off, namelen, type, name } }, 8-aligned. */
  #direntplus(st: SessionState, b: Uint8Array, parent: Key): void {
    const n = b.length;
    let p = 16;
    while (p + 152 <= n) {
      const namelen = le32(b, p + 144);
      const end = p + 152 + namelen;
      if (end > n) return;
      const nodeid = u64Key(b, p);
      const dot = (namelen === 1 && b[p + 152] === 0x2e) ||
        (namelen === 2 && b[p + 152] === 0x2e && b[p + 153] === 0x2e);
      if (!dot) this.#lookup(st, nodeid, parent, nameAt(b, p + 152, end));
      p += (152 + namelen + 7) & ~7;
    }
  }

  #rename(st: SessionState, x: InFlight): void {
    const from = st.child(x.nodeid, x.name!);
    const to = st.child(x.newdir!, x.newname!);
    if ((x.flags! & RENAME_EXCHANGE) !== 0) {
      const a = from === undefined ? undefined : st.nodes.get(from);
      const c = to === undefined ? undefined : st.nodes.get(to);
      if (a !== undefined) st.place(from!, a, x.newdir!, x.newname!);
      if (c !== undefined) st.place(to!, c, x.nodeid, x.name!);
      return;
    }
    if (to !== undefined && to !== from) st.remove(x.newdir!, x.newname!);
    const node = from === undefined ? undefined : st.nodes.get(from);
    if (node !== undefined) st.place(from!, node, x.newdir!, x.newname!);
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

  /**
   * The path of `nodeid` (in `session`, default 0) as far as entry replies,
   * renames and unlinks told it (`/a/b`), with `<node N>` for unknown parts
   * and ` (deleted)` after a name that was unlinked.
   */
  path(nodeid: bigint | number, session = 0): string {
    const st = this.#sessions[session];
    let id = keyOf(nodeid);
    if (id === 1) return "/";
    const parts: string[] = [];
    for (let depth = 0; depth < 64; depth++) {
      if (id === 1) return "/" + parts.reverse().join("/");
      const node = st?.nodes.get(id);
      if (node === undefined || node.parent === 0) {
        parts.push(node?.name.startsWith("<node") ? node.name : `<node ${id}>`);
        return parts.reverse().join("/");
      }
      parts.push(node.name);
      id = node.parent;
    }
    return ".../" + parts.reverse().join("/");
  }

  /** The report; `summary` (from `readEvents`) adds damage and decode-error information. */
  finish(summary?: EventSummary): StatsReport {
    const endTs = this.#last?.time ?? 0;
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
    const tops = (s: SpaceSaving<Key | string>) =>
      s.top(this.#top).map((t) => {
        const [session, nodeid] = splitTopKey(t.key);
        return {
          session,
          nodeid: String(nodeid),
          path: this.path(nodeid, session),
          value: t.weight,
          error: t.error,
        };
      });
    let heldNodes = 0;
    let heldRefs = 0;
    const held: (HeldNode & { id: Key })[] = [];
    const open: OpenHandle[] = [];
    this.#sessions.forEach((st, session) => {
      for (const [id, n] of st.nodes) {
        if (n.nlookup <= 0) continue;
        heldNodes++;
        heldRefs += n.nlookup;
        held.push({ session, id, nodeid: String(id), path: "", nlookup: n.nlookup });
        if (held.length > 4 * this.#top) {
          held.sort((a, b) => b.nlookup - a.nlookup);
          held.length = this.#top;
        }
      }
      for (const [table, kind] of [[st.files, "file"], [st.dirs, "dir"]] as const) {
        for (const [fh, h] of table) {
          if (open.length >= this.#top) break;
          open.push({
            session,
            fh: String(fh),
            kind,
            nodeid: String(h.nodeid),
            path: this.path(h.nodeid, session),
            frame: h.frame,
          });
        }
      }
    });
    held.sort((a, b) =>
      b.nlookup - a.nlookup || a.session - b.session ||
      Number(bigOf(a.id) - bigOf(b.id))
    );
    held.length = Math.min(held.length, this.#top);
    const heldOut: HeldNode[] = held.map((h) => ({
      session: h.session,
      nodeid: h.nodeid,
      path: this.path(h.id, h.session),
      nlookup: h.nlookup,
    }));
    let openAtEnd = 0;
    let handleOverflow = 0;
    let nodeOverflow = 0;
    for (const st of this.#sessions) {
      if (st === undefined) continue;
      openAtEnd += st.files.size + st.dirs.size;
      handleOverflow += st.files.overflow + st.dirs.overflow;
      nodeOverflow += st.nodes.overflow;
    }
    const unanswered = this.#inflight.values()
      .sort((a, b) => a.time - b.time)
      .slice(0, Math.max(this.#top, 50))
      .map((r) => ({
        session: r.session,
        frame: r.frame,
        op: r.op,
        unique: String(r.unique),
        nodeid: String(r.nodeid),
        path: this.path(r.nodeid, r.session),
        queue: r.queue,
        waited_ns: endTs - r.time,
      }));
    const first = this.#first?.time_ns ?? 0n;
    const last = this.#last?.time_ns ?? 0n;
    const hasTime = this.#first !== undefined && (first !== 0n || last !== 0n);
    return {
      capture: {
        frames: this.#frames,
        sessions: this.#sessions.length,
        start_ns: hasTime ? String(first) : undefined,
        end_ns: hasTime ? String(last) : undefined,
        duration_s: hasTime ? Number(last - first) / 1e9 : 0,
        channels: Object.fromEntries([...this.#channels].map(([k, v]) => [k, v[0]])),
        decode_errors: summary?.decodeErrors ?? 0,
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
        ring_events: Object.fromEntries(
          [["ring_kick", this.#kicks], ["ring_call", this.#calls], ["ring_chain", this.#chains]]
            .filter(([, n]) => n !== 0),
        ),
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
        held: heldOut,
        unknown_forgets: this.#unknownForgets,
      },
      handles: {
        opened: this.#opened,
        released: this.#released,
        open_at_end: openAtEnd,
        open,
      },
      unanswered: { count: this.#inflight.size, requests: unanswered },
      overflow: {
        in_flight: this.#inflightOverflow,
        nodes: nodeOverflow,
        handles: handleOverflow,
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
  // with several sessions a node id (and its path) means something only within its session
  const at = (x: { session: number; path: string }) =>
    c.sessions > 1 ? `[session ${x.session}] ${x.path}` : x.path;
  const start = c.start_ns !== undefined
    ? new Date(Number(BigInt(c.start_ns) / 1_000_000n)).toISOString()
    : "no timestamps";
  out.push(
    `capture: ${c.frames} frames, ${start}, ${c.duration_s.toFixed(3)} s` +
      (c.fuse_minor !== undefined ? `, FUSE 7.${c.fuse_minor}` : ""),
  );
  if (c.sessions > 1) out.push(`FUSE sessions: ${c.sessions} (node ids and paths are per session)`);
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
    const rows = list.map((f) => [fmt(f.value) + (f.error > 0 ? "~" : ""), at(f)]);
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
  for (const h of lk.held.slice(0, 10)) out.push(`  ${String(h.nlookup).padStart(4)}  ${at(h)}`);
  const hd = r.handles;
  out.push(
    `handles: ${hd.opened} opened, ${hd.released} released, ${hd.open_at_end} never released`,
  );
  for (const h of hd.open.slice(0, 10)) {
    out.push(`  fh ${h.fh} (${h.kind}) on ${at(h)}, opened at frame ${h.frame}`);
  }
  const u = r.unanswered;
  out.push(`requests never answered: ${u.count}`);
  for (const q of u.requests.slice(0, 10)) {
    out.push(
      `  frame ${q.frame}: ${q.op} unique ${q.unique} on ${at(q)} (${q.queue}) waited ${
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
