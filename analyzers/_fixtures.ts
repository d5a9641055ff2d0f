/**
 * Private: hand-built ringside captures for the analyzers' tests and for
 * testdata/analyzers/ (written by testdata/analyzers/make.ts). A
 * {@linkcode SessionBuilder} writes a virtio-fs session record by record (the
 * vhost-user set-up, kicks, chains, FUSE requests and replies, calls) with
 * the project's own encoders; the scenario functions below build a clean
 * session, one capture per protocol violation `ringside check` knows, and a
 * larger deterministic workload for `stats` and `report`.
 *
 * @module
 */
import {
  encodeErrorReply,
  encodeReply,
  encodeRequest,
  type FuseReplyInit,
  type FuseRequestInit,
} from "../codecs/fuse/codec.ts";
import type { FuseAttr, FuseEntryOut } from "../codecs/fuse/types.ts";
import {
  type ChainSummary,
  encodeRecordPrefix,
  type RecordHeader,
} from "../codecs/pcapng/record.ts";
import { recordDirection } from "../codecs/pcapng/record.ts";
import { PcapngWriter } from "../codecs/pcapng/writer.ts";
import {
  encodeReply as encodeVhostReply,
  encodeRequest as encodeVhostRequest,
  FrontendRequest,
} from "../codecs/vhost_user/vhost_user.ts";
import { prng } from "../testing/fuzz.ts";

/** Start time of every fixture: 2024-01-01T00:00:00Z. */
export const FIXTURE_START_NS = 1_704_067_200_000_000_000n;
/** Minor every fixture negotiates. */
export const FIXTURE_MINOR = 38;

const MINOR = FIXTURE_MINOR;
const none = new Uint8Array(0);

/** A fuse_attr for a fixture inode. */
export function attr(ino: bigint, mode = 0o100644, size = 0n): FuseAttr {
  return {
    ino,
    size,
    blocks: (size + 511n) / 512n,
    atime: 1_704_067_200n,
    mtime: 1_704_067_200n,
    ctime: 1_704_067_200n,
    atimensec: 0,
    mtimensec: 0,
    ctimensec: 0,
    mode,
    nlink: 1,
    uid: 1000,
    gid: 1000,
    rdev: 0,
    blksize: 4096,
    flags: 0,
  };
}

/** A fuse_entry_out for node `nodeid`. */
export function entry(nodeid: bigint, mode = 0o100644, size = 0n): FuseEntryOut {
  return {
    nodeid,
    generation: 1n,
    entry_valid: 1n,
    attr_valid: 1n,
    entry_valid_nsec: 0,
    attr_valid_nsec: 0,
    attr: attr(nodeid, mode, size),
  };
}

/** What a test should expect of a fixture: the findings `check` must report, by code. */
export interface FixtureExpectation {
  /** Finding code to how many times it must appear (nothing else may). */
  findings: Record<string, number>;
  /** Frame numbers (1-based) the findings must name, when the fixture pins them. */
  frames?: number[];
}

/** A built capture with what it proves. */
export interface Fixture {
  /** File name under testdata/analyzers/. */
  name: string;
  /** One line: what the capture holds. */
  description: string;
  /** The pcapng bytes. */
  bytes: Uint8Array;
  /** What `check` must find in it. */
  expect: FixtureExpectation;
}

/** Options of {@linkcode SessionBuilder.op}. */
export interface OpOptions {
  /** Virtqueue (default 1). */
  queue?: number;
  /** Nanoseconds from request to reply (default 20 µs). */
  latencyNs?: bigint;
  /** Answer with this positive errno instead of `reply`. */
  errno?: number;
  /** Bytes of writable room in the chain (default: the reply's length). */
  writable?: number;
  /** Do not answer. */
  noReply?: boolean;
}

/** Writes a virtio-fs session as a ringside capture, record by record. */
export class SessionBuilder {
  readonly #chunks: Uint8Array[] = [];
  readonly #w: PcapngWriter;
  readonly #control: number;
  readonly #queues = new Map<number, number>();
  /** Current time in ns. */
  t = FIXTURE_START_NS;
  /** Next FUSE unique. */
  unique = 2n;
  /** Frames written so far (the number of the last record). */
  frames = 0;
  #head = 0;

  /** Starts a capture with the vhost-user control channel and queues 0 (hiprio) and 1. */
  constructor(comment: string) {
    this.#w = new PcapngWriter((c) => this.#chunks.push(c), {
      userappl: "ringside analyzers fixture",
      comment,
    });
    this.#control = this.#w.addInterface({ name: "vhost-user", description: "control socket" });
    this.#queue(0);
    this.#queue(1);
  }

  #queue(q: number): number {
    let id = this.#queues.get(q);
    if (id === undefined) {
      id = this.#w.addInterface({
        name: `vq${q}`,
        description: q === 0 ? "virtio-fs hiprio queue" : `virtio-fs request queue ${q}`,
      });
      this.#queues.set(q, id);
    }
    return id;
  }

  /** Writes one record on `iface`; returns its frame number. */
  record(iface: number, header: RecordHeader, payload: Uint8Array, comment?: string): number {
    this.#w.writePacket(iface, {
      timestampNs: this.t,
      data: [encodeRecordPrefix(header), payload],
      direction: recordDirection(header.kind),
      comment,
    });
    return ++this.frames;
  }

  /** Advances the clock. */
  tick(ns = 1_000n): void {
    this.t += ns;
  }

  /** A vhost-user front-end request and, when `reply` is given, the back-end's answer. */
  vhost(request: number, payload: Parameters<typeof encodeVhostRequest>[1], fds = 0): number {
    this.tick(500n);
    return this.record(
      this.#control,
      { kind: "vhost_user_front_to_back", fdCount: fds },
      encodeVhostRequest(request, payload),
    );
  }

  /** A vhost-user back-end reply to `request`. */
  vhostReply(request: number, payload: Parameters<typeof encodeVhostReply>[1]): number {
    this.tick(500n);
    return this.record(
      this.#control,
      { kind: "vhost_user_back_to_front" },
      encodeVhostReply(request, payload),
    );
  }

  /** The usual vhost-user set-up: features, owner, memory table, then each queue's size, base, address, kick and call. */
  setup(queues: number[] = [0, 1], options: { memTable?: boolean } = {}): void {
    this.vhost(FrontendRequest.GET_FEATURES, { kind: "none" });
    this.vhostReply(FrontendRequest.GET_FEATURES, { kind: "u64", u64: 0x1_7000_0000n });
    this.vhost(FrontendRequest.SET_FEATURES, { kind: "u64", u64: 0x1_0000_0000n });
    this.vhost(FrontendRequest.SET_OWNER, { kind: "none" });
    if (options.memTable ?? true) this.memTable();
    for (const q of queues) this.vring(q);
  }

  /** SET_MEM_TABLE with one region. */
  memTable(): number {
    return this.vhost(FrontendRequest.SET_MEM_TABLE, {
      kind: "memory",
      regions: [{
        guestPhysAddr: 0n,
        memorySize: 0x4000_0000n,
        userspaceAddr: 0x7f00_0000_0000n,
        mmapOffset: 0n,
      }],
    }, 1);
  }

  /** One queue's SET_VRING_NUM, _BASE, _ADDR, _KICK and _CALL. */
  vring(q: number, options: { addr?: boolean } = {}): void {
    this.#queue(q);
    this.vhost(FrontendRequest.SET_VRING_NUM, { kind: "vring_state", index: q, num: 1024 });
    this.vhost(FrontendRequest.SET_VRING_BASE, { kind: "vring_state", index: q, num: 0 });
    if (options.addr ?? true) this.vringAddr(q);
    this.vhost(FrontendRequest.SET_VRING_KICK, { kind: "u64", u64: BigInt(q) }, 1);
    this.vhost(FrontendRequest.SET_VRING_CALL, { kind: "u64", u64: BigInt(q) }, 1);
  }

  /** SET_VRING_ADDR for queue `q`. */
  vringAddr(q: number): number {
    const base = 0x7f00_0010_0000n + BigInt(q) * 0x10000n;
    return this.vhost(FrontendRequest.SET_VRING_ADDR, {
      kind: "vring_addr",
      index: q,
      flags: 0,
      descUserAddr: base,
      availUserAddr: base + 0x4000n,
      usedUserAddr: base + 0x5000n,
      logGuestAddr: 0n,
    });
  }

  /** A FUSE request in a fresh chain on `queue` (with a kick first); returns the request's frame. */
  request(
    msg: FuseRequestInit,
    options: { queue?: number; writable?: number; kick?: boolean } = {},
  ): { frame: number; chain: ChainSummary } {
    const q = options.queue ?? 1;
    const iface = this.#queue(q);
    const bytes = encodeRequest(msg, { minor: MINOR });
    const chain: ChainSummary = {
      head: this.#head,
      descriptors: options.writable === 0 ? 1 : 2,
      readableBytes: bytes.length,
      writableBytes: options.writable ?? 4096 + 16,
    };
    this.#head = (this.#head + 2) % 1024;
    if (options.kick ?? true) this.record(iface, { kind: "ring_kick", queue: q }, none);
    this.record(iface, { kind: "ring_chain", queue: q, chain }, none);
    const frame = this.record(
      iface,
      { kind: "fuse_request", queue: q, chain, fuseMinor: MINOR },
      bytes,
    );
    return { frame, chain };
  }

  /** A FUSE reply (raw bytes) in `chain` on `queue`, then a call; returns the reply's frame. */
  replyBytes(bytes: Uint8Array, chain: ChainSummary, queue = 1): number {
    const iface = this.#queue(queue);
    const frame = this.record(
      iface,
      { kind: "fuse_reply", queue, chain, fuseMinor: MINOR },
      bytes,
    );
    this.record(iface, { kind: "ring_call", queue }, none);
    return frame;
  }

  /**
   * One request and its answer (`reply` body, or `options.errno`); the reply
   * comes `latencyNs` later. Returns the request's unique and frames.
   */
  op(
    msg: Omit<FuseRequestInit, "header"> & { nodeid?: bigint },
    reply: FuseReplyInit["body"],
    options: OpOptions = {},
  ): { unique: bigint; requestFrame: number; replyFrame?: number } {
    const unique = this.unique;
    this.unique += 2n;
    const req = {
      ...msg,
      header: { unique, nodeid: msg.nodeid ?? 1n, uid: 1000, gid: 1000, pid: 77 },
    };
    delete (req as { nodeid?: bigint }).nodeid;
    const out = options.errno !== undefined
      ? encodeErrorReply(unique, options.errno)
      : encodeReply({ op: msg.op, header: { unique }, body: reply } as FuseReplyInit, {
        minor: MINOR,
      });
    this.tick(2_000n);
    const { frame, chain } = this.request(req as FuseRequestInit, {
      queue: options.queue,
      writable: options.writable ?? Math.max(out.length, 16),
    });
    if (options.noReply) return { unique, requestFrame: frame };
    this.tick(options.latencyNs ?? 20_000n);
    const replyFrame = this.replyBytes(out, chain, options.queue ?? 1);
    return { unique, requestFrame: frame, replyFrame };
  }

  /**
   * Several requests sent back to back, then answered in the order `order`
   * gives (indexes into `ops`), each after its own latency: in-flight depth
   * grows to `ops.length`.
   */
  concurrent(
    ops: {
      msg: Omit<FuseRequestInit, "header"> & { nodeid?: bigint };
      reply: FuseReplyInit["body"];
      options?: OpOptions;
    }[],
    order: number[],
  ): void {
    const sent = ops.map(({ msg, reply, options = {} }) => {
      const unique = this.unique;
      this.unique += 2n;
      const req = {
        ...msg,
        header: { unique, nodeid: msg.nodeid ?? 1n, uid: 1000, gid: 1000, pid: 77 },
      };
      delete (req as { nodeid?: bigint }).nodeid;
      const out = options.errno !== undefined
        ? encodeErrorReply(unique, options.errno)
        : encodeReply({ op: msg.op, header: { unique }, body: reply } as FuseReplyInit, {
          minor: MINOR,
        });
      this.tick(1_000n);
      const { chain } = this.request(req as FuseRequestInit, {
        queue: options.queue,
        writable: options.writable ?? Math.max(out.length, 16),
      });
      return { out, chain, queue: options.queue ?? 1, latency: options.latencyNs ?? 20_000n };
    });
    for (const i of order) {
      this.tick(sent[i].latency / BigInt(ops.length));
      this.replyBytes(sent[i].out, sent[i].chain, sent[i].queue);
    }
  }

  /** FUSE INIT at {@linkcode FIXTURE_MINOR}: the kernel offers `offered`, the server accepts `accepted`. */
  init(offered = 0x73fffffb, accepted = 0x40000bfb): void {
    this.op({
      op: "INIT",
      body: { major: 7, minor: MINOR, max_readahead: 131072, flags: offered, flags2: 0 },
    }, {
      major: 7,
      minor: MINOR,
      max_readahead: 131072,
      flags: accepted,
      max_background: 12,
      congestion_threshold: 9,
      max_write: 1 << 20,
      time_gran: 1,
      max_pages: 256,
      map_alignment: 0,
      flags2: 0,
      max_stack_depth: 0,
      request_timeout: 0,
    });
  }

  /** A FORGET on the hiprio queue (no reply). */
  forget(nodeid: bigint, nlookup = 1n): { unique: bigint; frame: number } {
    const unique = this.unique;
    this.unique += 2n;
    this.tick(2_000n);
    const { frame } = this.request({
      op: "FORGET",
      header: { unique, nodeid },
      body: { nlookup },
    }, { queue: 0, writable: 0 });
    return { unique, frame };
  }

  /** The capture's bytes. */
  finish(): Uint8Array {
    this.#w.flush();
    const out = new Uint8Array(this.#chunks.reduce((n, c) => n + c.length, 0));
    let p = 0;
    for (const c of this.#chunks) {
      out.set(c, p);
      p += c.length;
    }
    return out;
  }
}

/**
 * The clean session every violation fixture starts from: set-up, INIT,
 * lookups, open/read/write/release, a directory listing read in two
 * resuming parts, a matched FORGET, an ENOENT lookup.
 */
function cleanSession(b: SessionBuilder): void {
  b.setup();
  b.init();
  b.op({ op: "GETATTR", body: { getattr_flags: 0, dummy: 0, fh: 0n } }, {
    attr_valid: 1n,
    attr_valid_nsec: 0,
    dummy: 0,
    attr: attr(1n, 0o40755),
  });
  b.op({ op: "LOOKUP", nodeid: 1n, body: { name: "src" } }, entry(2n, 0o40755));
  b.op({ op: "LOOKUP", nodeid: 2n, body: { name: "main.c" } }, entry(3n, 0o100644, 5000n));
  b.op({ op: "OPEN", nodeid: 3n, body: { flags: 2, open_flags: 0 } }, {
    fh: 10n,
    open_flags: 0,
    backing_id: 0,
  });
  b.op(
    {
      op: "READ",
      nodeid: 3n,
      body: {
        fh: 10n,
        offset: 0n,
        size: 4096,
        read_flags: 0,
        lock_owner: 0n,
        flags: 2,
        padding: 0,
      },
    },
    { data: new Uint8Array(4096).fill(0x61) },
    { writable: 4096 + 16 },
  );
  b.op({
    op: "WRITE",
    nodeid: 3n,
    body: {
      fh: 10n,
      offset: 4096n,
      size: 100,
      write_flags: 0,
      lock_owner: 0n,
      flags: 2,
      padding: 0,
      data: new Uint8Array(100).fill(0x62),
    },
  }, { size: 100, padding: 0 });
  b.op({ op: "FLUSH", nodeid: 3n, body: { fh: 10n, unused: 0, padding: 0, lock_owner: 1n } }, {});
  b.op({
    op: "RELEASE",
    nodeid: 3n,
    body: { fh: 10n, flags: 2, release_flags: 0, lock_owner: 0n },
  }, {});
  b.op({ op: "OPENDIR", nodeid: 2n, body: { flags: 0, open_flags: 0 } }, {
    fh: 20n,
    open_flags: 0,
    backing_id: 0,
  });
  const dirent = (name: string, off: bigint, ino: bigint) => ({
    ino,
    off,
    namelen: name.length,
    type: 8,
    name,
  });
  const readdir = (offset: bigint) => ({
    op: "READDIR" as const,
    nodeid: 2n,
    body: { fh: 20n, offset, size: 4096, read_flags: 0, lock_owner: 0n, flags: 0, padding: 0 },
  });
  b.op(readdir(0n), {
    entries: [dirent(".", 1n, 2n), dirent("..", 2n, 1n), dirent("main.c", 3n, 3n)],
  });
  b.op(readdir(3n), { entries: [dirent("util.c", 4n, 4n)] });
  b.op(readdir(4n), { entries: [] });
  b.op({
    op: "RELEASEDIR",
    nodeid: 2n,
    body: { fh: 20n, flags: 0, release_flags: 0, lock_owner: 0n },
  }, {});
  b.op({ op: "LOOKUP", nodeid: 2n, body: { name: "missing.h" } }, null, { errno: 2 });
  b.forget(3n, 1n);
}

/** A finished fixture from a builder and what it must show. */
function fixture(
  name: string,
  description: string,
  build: (b: SessionBuilder) => number[] | void,
  findings: Record<string, number>,
): Fixture {
  const b = new SessionBuilder(`${name}: ${description}`);
  const frames = build(b) ?? undefined;
  return { name, description, bytes: b.finish(), expect: { findings, frames } };
}

/** The clean capture: a well-formed session with no finding. */
export function cleanFixture(): Fixture {
  return fixture("clean.pcapng", "a well-formed session: check finds nothing", (b) => {
    cleanSession(b);
  }, {});
}

/** One capture per violation `check` knows, each holding that violation exactly once. */
export function violationFixtures(): Fixture[] {
  const out: Fixture[] = [];
  const add = (
    code: string,
    description: string,
    build: (b: SessionBuilder) => number[],
  ) => out.push(fixture(`${code}.pcapng`, description, build, { [code]: 1 }));

  add("reply_without_request", "a reply whose unique no request carried", (b) => {
    cleanSession(b);
    b.tick();
    const { chain } = {
      chain: { head: 900, descriptors: 2, readableBytes: 40, writableBytes: 16 },
    };
    return [b.replyBytes(encodeErrorReply(0xdead0n, 2), chain)];
  });
  add("duplicate_unique", "a second request reuses a unique that is still in flight", (b) => {
    cleanSession(b);
    const first = b.op(
      { op: "GETATTR", nodeid: 2n, body: { getattr_flags: 0, dummy: 0, fh: 0n } },
      null,
      {
        noReply: true,
      },
    );
    b.tick();
    const again = b.request({
      op: "STATFS",
      header: { unique: first.unique, nodeid: 1n },
      body: {},
    });
    b.tick();
    b.replyBytes(
      // the answer fits the later request (STATFS): only the duplicate is wrong
      encodeReply({
        op: "STATFS",
        header: { unique: first.unique },
        body: {
          st: {
            blocks: 1000n,
            bfree: 500n,
            bavail: 500n,
            files: 100n,
            ffree: 50n,
            bsize: 4096,
            namelen: 255,
            frsize: 4096,
            padding: 0,
          },
        },
      }, { minor: MINOR }),
      again.chain,
    );
    return [again.frame, first.requestFrame];
  });
  add("reply_size", "a LOOKUP reply 8 bytes short of a 7.38 fuse_entry_out", (b) => {
    cleanSession(b);
    const unique = b.unique;
    b.unique += 2n;
    b.tick();
    const { chain, frame } = b.request({
      op: "LOOKUP",
      header: { unique, nodeid: 1n },
      body: { name: "docs" },
    });
    const good = encodeReply({ op: "LOOKUP", header: { unique }, body: entry(9n, 0o40755) }, {
      minor: MINOR,
    });
    const short = good.slice(0, good.length - 8);
    new DataView(short.buffer).setUint32(0, short.length, true);
    b.tick();
    return [b.replyBytes(short, chain), frame];
  });
  add("error_reply_with_body", "an ENOENT reply that also carries 128 bytes", (b) => {
    cleanSession(b);
    const unique = b.unique;
    b.unique += 2n;
    b.tick();
    const { chain, frame } = b.request({
      op: "LOOKUP",
      header: { unique, nodeid: 1n },
      body: { name: "nope" },
    });
    const bytes = new Uint8Array(16 + 128);
    const v = new DataView(bytes.buffer);
    v.setUint32(0, bytes.length, true);
    v.setInt32(4, -2, true);
    v.setBigUint64(8, unique, true);
    b.tick();
    return [b.replyBytes(bytes, chain), frame];
  });
  add("reply_to_forget", "the server answers a FORGET", (b) => {
    cleanSession(b);
    b.op({ op: "LOOKUP", nodeid: 1n, body: { name: "README" } }, entry(12n));
    const f = b.forget(12n, 1n);
    b.tick();
    const chain = { head: 800, descriptors: 2, readableBytes: 48, writableBytes: 16 };
    return [b.replyBytes(encodeErrorReply(f.unique, 0), chain, 0)];
  });
  add("nodeid_after_forget", "a GETATTR on a node the kernel had forgotten", (b) => {
    cleanSession(b);
    b.op({ op: "LOOKUP", nodeid: 1n, body: { name: "tmp" } }, entry(13n, 0o40755));
    const forgot = b.forget(13n, 1n);
    const r = b.op(
      { op: "GETATTR", nodeid: 13n, body: { getattr_flags: 0, dummy: 0, fh: 0n } },
      null,
      {
        errno: 116,
      },
    );
    return [r.requestFrame, forgot.frame];
  });
  add("handle_after_release", "a READ on a file handle after its RELEASE", (b) => {
    cleanSession(b);
    b.op({ op: "LOOKUP", nodeid: 1n, body: { name: "log" } }, entry(14n));
    b.op({ op: "OPEN", nodeid: 14n, body: { flags: 0, open_flags: 0 } }, {
      fh: 30n,
      open_flags: 0,
      backing_id: 0,
    });
    const rel = b.op({
      op: "RELEASE",
      nodeid: 14n,
      body: { fh: 30n, flags: 0, release_flags: 0, lock_owner: 0n },
    }, {});
    const r = b.op(
      {
        op: "READ",
        nodeid: 14n,
        body: {
          fh: 30n,
          offset: 0n,
          size: 512,
          read_flags: 0,
          lock_owner: 0n,
          flags: 0,
          padding: 0,
        },
      },
      null,
      { errno: 9 },
    );
    return [r.requestFrame, rel.requestFrame];
  });
  add("readdir_offset", "a READDIR continues from an offset the previous reply never gave", (b) => {
    cleanSession(b);
    b.op({ op: "OPENDIR", nodeid: 1n, body: { flags: 0, open_flags: 0 } }, {
      fh: 21n,
      open_flags: 0,
      backing_id: 0,
    });
    const rd = (offset: bigint) => ({
      op: "READDIR" as const,
      nodeid: 1n,
      body: { fh: 21n, offset, size: 4096, read_flags: 0, lock_owner: 0n, flags: 0, padding: 0 },
    });
    b.op(rd(0n), { entries: [{ ino: 2n, off: 1n, namelen: 3, type: 4, name: "src" }] });
    const r = b.op(rd(7n), { entries: [] });
    b.op({
      op: "RELEASEDIR",
      nodeid: 1n,
      body: { fh: 21n, flags: 0, release_flags: 0, lock_owner: 0n },
    }, {});
    return [r.requestFrame];
  });
  add(
    "malformed_chain",
    "the device saw a chain with a readable descriptor after a writable one",
    (b) => {
      cleanSession(b);
      b.tick();
      return [b.record(
        2, /* vq1 */
        {
          kind: "ring_chain",
          queue: 1,
          flags: 0x0002,
          chain: { head: 500, descriptors: 3, readableBytes: 40, writableBytes: 16 },
        },
        none,
        "malformed chain: readable descriptor after a writable one",
      )];
    },
  );
  add("used_above_writable", "a reply longer than the room the chain offered", (b) => {
    cleanSession(b);
    const r = b.op({ op: "GETATTR", nodeid: 1n, body: { getattr_flags: 0, dummy: 0, fh: 0n } }, {
      attr_valid: 1n,
      attr_valid_nsec: 0,
      dummy: 0,
      attr: attr(1n, 0o40755),
    }, { writable: 64 });
    return [r.replyFrame!];
  });
  add("ring_before_mem_table", "the guest kicks a queue before any SET_MEM_TABLE", (b) => {
    b.setup([0, 1], { memTable: false });
    b.tick();
    const kick = b.record(2, { kind: "ring_kick", queue: 1 }, none);
    b.memTable();
    b.init();
    return [kick];
  });
  add("kick_before_addr", "a kick on a queue whose SET_VRING_ADDR has not come yet", (b) => {
    b.setup([0]);
    b.vring(1, { addr: false });
    b.tick();
    const kick = b.record(2, { kind: "ring_kick", queue: 1 }, none);
    b.vringAddr(1);
    b.init();
    return [kick];
  });
  return out;
}

/** Options of {@linkcode workloadFixture}. */
export interface WorkloadOptions {
  /** Files created and read back (default 160). */
  files?: number;
  /** Seed of the latency and ordering choices (default 1). */
  seed?: number;
}

/**
 * A larger deterministic session for `stats` and `report`: an untar-like
 * phase (MKDIR, CREATE, WRITE, RELEASE) over two queues with overlapping
 * requests, a grep-like phase (LOOKUP, OPEN, READ, RELEASE, READDIRPLUS),
 * ENOENT lookups, FORGETs for some nodes, two handles never released and
 * one request never answered.
 */
export function workloadFixture(options: WorkloadOptions = {}): Fixture {
  const files = options.files ?? 160;
  const rnd = prng(options.seed ?? 1);
  const b = new SessionBuilder("workload: untar-like then grep-like, two request queues");
  b.setup([0, 1, 2]);
  b.init();
  const lat = (medianUs: number) =>
    BigInt(Math.round(medianUs * 1000 * Math.exp((rnd() - 0.5) * 1.6)));
  let node = 100n;
  let fh = 1000n;
  const dirs: bigint[] = [];
  for (let d = 0; d < 8; d++) {
    const id = node++;
    dirs.push(id);
    b.op(
      { op: "MKDIR", nodeid: 1n, body: { mode: 0o755, umask: 0o22, name: `dir${d}` } },
      entry(id, 0o40755),
      {
        latencyNs: lat(60),
      },
    );
  }
  const created: { id: bigint; dir: bigint; name: string; size: number }[] = [];
  for (let i = 0; i < files; i++) {
    const dir = dirs[i % dirs.length];
    const id = node++;
    const name = `file${i}.txt`;
    const q = 1 + (i & 1);
    const size = 512 * (1 + Math.floor(rnd() * 8)) * (i % 50 === 0 ? 16 : 1);
    b.op(
      {
        op: "CREATE",
        nodeid: dir,
        body: { flags: 0o101, mode: 0o644, umask: 0o22, open_flags: 0, name },
      },
      { entry: entry(id, 0o100644), open: { fh, open_flags: 0, backing_id: 0 } },
      {
        queue: q,
        latencyNs: lat(80),
      },
    );
    for (let off = 0; off < size; off += 16384) {
      const n = Math.min(16384, size - off);
      b.op(
        {
          op: "WRITE",
          nodeid: id,
          body: {
            fh,
            offset: BigInt(off),
            size: n,
            write_flags: 0,
            lock_owner: 0n,
            flags: 0o101,
            padding: 0,
            data: new Uint8Array(n),
          },
        },
        { size: n, padding: 0 },
        { queue: q, latencyNs: lat(40 + n / 200) },
      );
    }
    if (i !== 17 && i !== 117) {
      b.op(
        { op: "RELEASE", nodeid: id, body: { fh, flags: 0, release_flags: 0, lock_owner: 0n } },
        {},
        {
          queue: q,
          latencyNs: lat(10),
        },
      );
    }
    fh++;
    created.push({ id, dir, name, size });
    b.tick(BigInt(Math.floor(rnd() * 3_000_000))); // the archive reader is slower than the filesystem
  }
  // grep-like: every file looked up again, opened, read whole, released; hot files read more
  for (let pass = 0; pass < 2; pass++) {
    for (const [i, f] of created.entries()) {
      if (pass === 1 && i % 7 !== 0) continue;
      const q = 1 + (i % 2);
      b.op(
        { op: "LOOKUP", nodeid: f.dir, body: { name: f.name } },
        entry(f.id, 0o100644, BigInt(f.size)),
        {
          queue: q,
          latencyNs: lat(25),
        },
      );
      b.op({ op: "OPEN", nodeid: f.id, body: { flags: 0, open_flags: 0 } }, {
        fh,
        open_flags: 0,
        backing_id: 0,
      }, { queue: q, latencyNs: lat(30) });
      // readahead: the reads of one file go out together and come back in any order
      const reads = [];
      for (let off = 0; off < f.size; off += 8192) {
        const n = Math.min(8192, f.size - off);
        reads.push({
          msg: {
            op: "READ" as const,
            nodeid: f.id,
            body: {
              fh,
              offset: BigInt(off),
              size: 8192,
              read_flags: 0,
              lock_owner: 0n,
              flags: 0,
              padding: 0,
            },
          },
          reply: { data: new Uint8Array(n) },
          // files 60-69 sit on a slow disk in the first pass: the latency tail
          options: {
            queue: q,
            latencyNs: lat((50 + n / 100) * (pass === 0 && i >= 60 && i < 70 ? 40 : 1)),
            writable: 8192 + 16,
          },
        });
      }
      const order = reads.map((_, k) => k).sort(() => rnd() - 0.5);
      b.concurrent(reads, order);
      b.op(
        { op: "RELEASE", nodeid: f.id, body: { fh, flags: 0, release_flags: 0, lock_owner: 0n } },
        {},
        {
          queue: q,
          latencyNs: lat(10),
        },
      );
      fh++;
      if (i % 9 === 0) {
        b.op({ op: "LOOKUP", nodeid: f.dir, body: { name: `${f.name}.orig` } }, null, {
          errno: 2,
          queue: q,
          latencyNs: lat(20),
        });
      }
      if (rnd() < 0.1) b.tick(BigInt(Math.floor(rnd() * 5_000_000))); // a pause now and then
    }
  }
  // forget half the files (each was looked up once by CREATE and once or twice by LOOKUP)
  for (const [i, f] of created.entries()) {
    if (i % 2 === 0) b.forget(f.id, i % 7 === 0 ? 3n : 2n);
  }
  // the hang: a GETXATTR that never gets an answer
  b.op(
    { op: "GETXATTR", nodeid: dirs[0], body: { size: 0, padding: 0, name: "user.stuck" } },
    null,
    {
      noReply: true,
    },
  );
  for (let i = 0; i < 50; i++) {
    b.op({ op: "GETATTR", nodeid: 1n, body: { getattr_flags: 0, dummy: 0, fh: 0n } }, {
      attr_valid: 1n,
      attr_valid_nsec: 0,
      dummy: 0,
      attr: attr(1n, 0o40755),
    }, { latencyNs: lat(15) });
  }
  return {
    name: "workload.pcapng",
    description: "untar-like then grep-like session on two queues, leaks, a hang",
    bytes: b.finish(),
    expect: { findings: {} },
  };
}

/**
 * Two guests one after another, as the recorder writes them (a new pcapng
 * section for the second): uniques and node ids start over, and the first
 * guest left a request (unique 6) unanswered that the second reuses.
 */
function twoGuestsBytes(): Uint8Array {
  const first = new SessionBuilder("guest 1");
  first.setup();
  first.init();
  first.op({ op: "LOOKUP", nodeid: 1n, body: { name: "one" } }, entry(2n));
  // the first guest goes away with a request unanswered (unique 6)
  first.op({ op: "GETXATTR", nodeid: 2n, body: { size: 64, padding: 0, name: "user.x" } }, null, {
    noReply: true,
  });
  const second = new SessionBuilder("guest 2");
  second.t = first.t + 1_000_000n;
  second.setup();
  second.init();
  second.op({ op: "LOOKUP", nodeid: 1n, body: { name: "two" } }, entry(2n));
  // unique 6 again, another opcode, answered
  second.op({ op: "LOOKUP", nodeid: 2n, body: { name: "in-two" } }, entry(3n));
  const a = first.finish();
  const c = second.finish();
  const out = new Uint8Array(a.length + c.length);
  out.set(a);
  out.set(c, a.length);
  return out;
}

/** Two guest sessions in two sections (see `twoGuestsBytes`): clean for `check`. */
export function twoGuestsFixture(): Fixture {
  return {
    name: "two_guests.pcapng",
    description: "two guests one after another (two sections), uniques and node ids reused",
    bytes: twoGuestsBytes(),
    expect: { findings: {} },
  };
}

/** The bytes of {@linkcode twoGuestsFixture}. */
export function twoGuestsCapture(): Uint8Array {
  return twoGuestsBytes();
}
