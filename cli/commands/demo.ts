/**
 * `ringside demo`: the guided tour on a built-in default: a scripted guest
 * session through real split rings into the engine, recorded with its
 * snapshot and final state, replayed, refused on a changed tree, forced,
 * and diffed against a second recording ({@linkcode runTour}).
 * `--decode-only` shows a short scripted FUSE session (INIT, LOOKUP,
 * GETATTR, OPEN, READ, RELEASE, a failed LOOKUP, READDIRPLUS, an interrupted
 * READ, FORGET) encoded with the codec, paired by the stream decoder and
 * printed one line per message.
 *
 * @module
 */
import type { Command } from "@commander-js/extra-typings";
import { createDeviceQueue, createDriverQueue, GuestMemory } from "../../virtqueue/mod.ts";
import { createPassthrough } from "../../engine/session.ts";
import type { FuseServer } from "../../engine/types.ts";
import { Recorder, RecordingServer } from "../../engine/recorder.ts";
import { FuseScriptClient, runScriptedSession } from "../../engine/scripted_session.ts";
import { copyTree } from "../../engine/tree_state.ts";
import {
  finalManifestPath,
  snapshotForCapture,
  writeFinalManifest,
} from "../../engine/snapshot.ts";
import { UserError } from "../errors.ts";
import { runReplay } from "./replay.ts";
import { runDiff } from "./diff.ts";
import { reportLines } from "./_diff_report.ts";
import {
  encodeErrorReply,
  encodeReply,
  encodeRequest,
  type FuseReplyInit,
  type FuseRequestInit,
  FuseStream,
  type FuseStreamEvent,
  InitFlag,
  splitInitFlags,
  summarizeNotification,
  summarizeReply,
  summarizeRequest,
} from "../../codecs/fuse/mod.ts";

const CONTENT = new TextEncoder().encode("hello from ringside\n");

function attr(ino: bigint, mode: number, size: bigint) {
  return {
    ino,
    size,
    blocks: (size + 511n) / 512n,
    atime: 1_700_000_000n,
    mtime: 1_700_000_000n,
    ctime: 1_700_000_000n,
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

function entry(ino: bigint, mode: number, size: bigint) {
  return {
    nodeid: ino,
    generation: 1n,
    entry_valid: 1n,
    attr_valid: 1n,
    entry_valid_nsec: 0,
    attr_valid_nsec: 0,
    attr: attr(ino, mode, size),
  };
}

/** The scripted session: each step is a request or a reply, as bytes. */
export function demoSession(): { direction: "request" | "reply"; bytes: Uint8Array }[] {
  const h = (unique: bigint, nodeid: bigint) => ({
    unique,
    nodeid,
    uid: 1000,
    gid: 1000,
    pid: 4242,
  });
  const file = entry(2n, 0o100644, BigInt(CONTENT.length));
  const flags = splitInitFlags(
    InitFlag.ASYNC_READ | InitFlag.BIG_WRITES | InitFlag.DO_READDIRPLUS | InitFlag.INIT_EXT |
      InitFlag.MAX_PAGES,
  );
  const steps: [("request" | "reply"), FuseRequestInit | FuseReplyInit | Uint8Array][] = [
    ["request", {
      op: "INIT",
      header: h(2n, 0n),
      body: { major: 7, minor: 45, max_readahead: 131072, flags: 0x73fffffb, flags2: 0x7ff },
    }],
    ["reply", {
      op: "INIT",
      header: { unique: 2n },
      body: {
        major: 7,
        minor: 45,
        max_readahead: 131072,
        ...flags,
        max_background: 16,
        congestion_threshold: 12,
        max_write: 131072,
        time_gran: 1,
        max_pages: 32,
        map_alignment: 0,
        max_stack_depth: 0,
        request_timeout: 0,
      },
    }],
    ["request", { op: "LOOKUP", header: h(4n, 1n), body: { name: "hello.txt" } }],
    ["reply", { op: "LOOKUP", header: { unique: 4n }, body: file }],
    ["request", { op: "GETATTR", header: h(6n, 2n), body: { getattr_flags: 0, dummy: 0, fh: 0n } }],
    ["reply", {
      op: "GETATTR",
      header: { unique: 6n },
      body: { attr_valid: 1n, attr_valid_nsec: 0, dummy: 0, attr: file.attr },
    }],
    ["request", { op: "OPEN", header: h(8n, 2n), body: { flags: 0o100000, open_flags: 0 } }],
    ["reply", {
      op: "OPEN",
      header: { unique: 8n },
      body: { fh: 1n, open_flags: 2, backing_id: 0 },
    }],
    ["request", {
      op: "READ",
      header: h(10n, 2n),
      body: {
        fh: 1n,
        offset: 0n,
        size: 4096,
        read_flags: 0,
        lock_owner: 0n,
        flags: 0o100000,
        padding: 0,
      },
    }],
    ["reply", { op: "READ", header: { unique: 10n }, body: { data: CONTENT } }],
    ["request", {
      op: "RELEASE",
      header: h(12n, 2n),
      body: { fh: 1n, flags: 0o100000, release_flags: 0, lock_owner: 0n },
    }],
    ["reply", { op: "RELEASE", header: { unique: 12n }, body: {} }],
    ["request", { op: "LOOKUP", header: h(14n, 1n), body: { name: "missing" } }],
    ["reply", encodeErrorReply(14n, 2)],
    ["request", { op: "OPENDIR", header: h(16n, 1n), body: { flags: 0o200000, open_flags: 0 } }],
    ["reply", {
      op: "OPENDIR",
      header: { unique: 16n },
      body: { fh: 2n, open_flags: 0, backing_id: 0 },
    }],
    ["request", {
      op: "READDIRPLUS",
      header: h(18n, 1n),
      body: { fh: 2n, offset: 0n, size: 4096, read_flags: 0, lock_owner: 0n, flags: 0, padding: 0 },
    }],
    ["reply", {
      op: "READDIRPLUS",
      header: { unique: 18n },
      body: {
        entries: [
          {
            entry_out: entry(2n, 0o100644, BigInt(CONTENT.length)),
            dirent: { ino: 2n, off: 1n, namelen: 9, type: 8, name: "hello.txt" },
          },
          {
            entry_out: entry(3n, 0o40755, 4096n),
            dirent: { ino: 3n, off: 2n, namelen: 3, type: 4, name: "sub" },
          },
        ],
      },
    }],
    ["request", {
      op: "READ",
      header: h(20n, 2n),
      body: { fh: 1n, offset: 0n, size: 4096, read_flags: 0, lock_owner: 0n, flags: 0, padding: 0 },
    }],
    ["request", { op: "INTERRUPT", header: h(21n, 0n), body: { unique: 20n } }],
    ["reply", encodeErrorReply(20n, 4)],
    ["request", {
      op: "RELEASEDIR",
      header: h(22n, 1n),
      body: { fh: 2n, flags: 0, release_flags: 0, lock_owner: 0n },
    }],
    ["reply", { op: "RELEASEDIR", header: { unique: 22n }, body: {} }],
    ["request", { op: "FORGET", header: h(24n, 2n), body: { nlookup: 2n } }],
  ];
  return steps.map(([direction, m]) => ({
    direction,
    bytes: m instanceof Uint8Array
      ? m
      : direction === "request"
      ? encodeRequest(m as FuseRequestInit)
      : encodeReply(m as FuseReplyInit),
  }));
}

/** One tcpdump-like line for a stream event. */
export function demoLine(index: number, ev: FuseStreamEvent, size: number): string {
  const n = String(index).padStart(3);
  switch (ev.kind) {
    case "request": {
      const m = ev.message;
      return `${n}  kernel -> server  unique ${String(m.header.unique).padEnd(4)} ${
        m.op.padEnd(12)
      } nodeid ${String(m.header.nodeid).padEnd(3)} ${summarizeRequest(m)}  (${size} bytes)`;
    }
    case "reply": {
      const m = ev.message;
      const note = ev.interrupted
        ? "  [interrupted]"
        : ev.request === undefined
        ? "  [no request]"
        : "";
      return `${n}  server -> kernel  unique ${String(m.header.unique).padEnd(4)} ${
        m.op.padEnd(12)
      }            ${summarizeReply(m)}${note}  (${size} bytes)`;
    }
    case "notification":
      return `${n}  server -> kernel  notify      ${ev.message.op.padEnd(12)} ${
        summarizeNotification(ev.message)
      }  (${size} bytes)`;
    case "invalid":
      return `${n}  ${
        ev.direction === "request" ? "kernel -> server" : "server -> kernel"
      }  INVALID ${ev.error.message}`;
  }
}

/** Runs the demo and returns its output lines. */
export function runDemo(): string[] {
  const stream = new FuseStream();
  const lines = [
    "ringside demo: a scripted FUSE session, encoded with the codec and decoded by the stream pairer",
    "",
  ];
  demoSession().forEach((step, i) => {
    lines.push(demoLine(i + 1, stream.push(step.direction, step.bytes), step.bytes.length));
  });
  lines.push("");
  lines.push(
    `negotiated 7.${stream.minor}; ${stream.pendingCount} request(s) still waiting for a reply`,
  );
  return lines;
}

/** Options of {@linkcode runTour}. */
export interface TourOptions {
  /** Where to put the temporary copies and the capture (default: a fresh temporary directory, removed after). */
  workDir?: string;
  /** Keep the work directory (its path is printed). */
  keep?: boolean;
}

const DEMO_TREE = new URL("../../testdata/demo-tree", import.meta.url).pathname;

/**
 * A FUSE request sender through real split rings in process: the driver side
 * (as a guest's virtio-fs driver) adds each request and a writable buffer, the
 * device side pops the chain, hands the bytes to `server` and writes the reply
 * back, and the driver collects the used buffer.
 */
export function ringSender(server: FuseServer): {
  send: (b: Uint8Array) => Promise<Uint8Array | null>;
  chains: () => number;
} {
  const size = 4 << 20;
  const mem = new GuestMemory([{ guestAddr: 0n, size, userAddr: 0n, bytes: new Uint8Array(size) }]);
  const config = { size: 64, desc: 0x0n, driver: 0x400n, device: 0x1000n, eventIdx: true };
  const driver = createDriverQueue("split", mem, config, {
    buffers: { addr: 0x10000n, size: size - 0x10000 },
  });
  const device = createDeviceQueue("split", mem, config);
  let chains = 0;
  return {
    chains: () => chains,
    async send(request: Uint8Array): Promise<Uint8Array | null> {
      const token = driver.add([request], [128 * 1024]);
      if (token === null) throw new Error("demo ring full");
      const chain = device.pop();
      if (chain === null) throw new Error("the device saw no chain");
      chains++;
      const reply = await server.handle(chain.readAll());
      device.push(chain, reply === null ? 0 : chain.write(reply));
      const used = driver.takeUsed();
      if (used.length !== 1 || used[0].token !== token) {
        throw new Error("unexpected used ring state");
      }
      return used[0].len === 0 ? null : used[0].written.subarray(0, used[0].len);
    },
  };
}

/**
 * The whole story on the built-in tree: serve a copy of testdata/demo-tree
 * (its snapshot taken first), drive a scripted guest session through split
 * rings into the engine while recording it (the final state written beside
 * the capture at the end), replay the capture into an empty directory (the
 * snapshot restored, the recorded final state compared: zero divergences),
 * try a directory with one file changed (refused), force it (the
 * divergences that change explains), and diff the capture with a second
 * recording made on the changed tree. Returns the output lines.
 */
export async function runTour(
  options: TourOptions = {},
): Promise<{ lines: string[]; divergences: number[] }> {
  const work = options.workDir ?? await Deno.makeTempDir({ prefix: "ringside-demo-" });
  const lines: string[] = [];
  const say = (l = "") => lines.push(l);
  const indent = (ls: string[]) => ls.forEach((l) => say(`   ${l}`));
  const divergences: number[] = [];
  /** Serves `dir`, runs the scripted session through split rings, records it with a snapshot. */
  const record = async (dir: string, capture: string) => {
    const snapshot = await snapshotForCapture(dir, capture);
    const recorder = Recorder.open(capture, { snapshot });
    const server = new RecordingServer(createPassthrough(dir), recorder, { channel: "vq1" });
    const ring = ringSender(server);
    const script = await runScriptedSession(new FuseScriptClient(ring.send));
    await server.close();
    await writeFinalManifest(dir, capture);
    return { script, chains: ring.chains() };
  };
  try {
    const served = `${work}/served`;
    const capture = `${work}/session.pcapng`;
    await copyTree(DEMO_TREE, served);
    say("ringside demo: record a guest session, replay it, diff it");
    say(`(working in ${work}; paths below are relative to it)`);
    say();
    say(
      "1. serve a copy of testdata/demo-tree; a scripted guest drives FUSE requests through split rings",
    );
    const { script, chains } = await record(served, capture);
    for (const step of script.steps) say(`     guest$ ${step}`);
    say(`   ${script.requests} requests in ${chains} descriptor chains, recorded to ${capture}`);
    say(`   before: the tree's snapshot in ${capture}.snapshot/ (named in the capture's header)`);
    say(
      `   after:  its final state (hashes, modes, links, xattrs) in ${finalManifestPath(capture)}`,
    );
    say();
    const fresh = `${work}/fresh`;
    say(`2. ringside replay session.pcapng --dir fresh   (fresh does not exist yet)`);
    const first = await runReplay(capture, { dir: fresh });
    divergences.push(first.input.report.divergences.length);
    indent(reportLines(first.input, { maxDivergences: 6 }));
    say();
    const changed = `${work}/changed`;
    await copyTree(DEMO_TREE, changed);
    await Deno.writeTextFile(`${changed}/src/main.c`, "int main(void) { return 42; }\n");
    say(
      "3. the same against a copy with src/main.c changed: refused, the tree is not the snapshot",
    );
    try {
      await runReplay(capture, { dir: changed });
      say("   (not refused)");
    } catch (e) {
      if (!(e instanceof UserError)) throw e;
      say(`   ringside: ${e.message}`);
    }
    say("   with --force it replays, and finds exactly what the change explains:");
    const forced = await runReplay(capture, { dir: changed, force: true });
    divergences.push(forced.input.report.divergences.length);
    indent(reportLines(forced.input, { maxDivergences: 6 }));
    say();
    const second = `${work}/second.pcapng`;
    const changedServed = `${work}/changed-served`;
    await copyTree(DEMO_TREE, changedServed);
    await Deno.writeTextFile(`${changedServed}/src/main.c`, "int main(void) { return 42; }\n");
    await record(changedServed, second);
    say("4. record the session again on the changed tree, and diff the two captures");
    say("   ringside diff session.pcapng second.pcapng");
    const d = await runDiff(capture, second, {});
    divergences.push(d.report.divergences.length);
    indent(reportLines(d, { maxDivergences: 6 }));
    say();
    say(
      options.keep
        ? `kept ${work}/: ringside decode ${capture}; ringside replay ${capture} --dir NEW_DIR`
        : "ringside demo --keep keeps the captures to decode, replay and diff yourself",
    );
  } finally {
    if (!options.keep && options.workDir === undefined) {
      await Deno.remove(work, { recursive: true });
    }
  }
  return { lines: lines.map((l, i) => (i === 1 ? l : l.replaceAll(`${work}/`, ""))), divergences };
}

/** Registers `demo` on `program`. */
export function registerDemo(program: Command<[], { debug?: true }>): void {
  program
    .command("demo")
    .description(
      "the guided tour on a built-in default: record a guest session through split rings, " +
        "replay it, diff it",
    )
    .option("--keep", "keep the temporary copies and the capture")
    .option("--decode-only", "only show a scripted FUSE session decoded by the stream pairer")
    .action(async (flags) => {
      if (flags.decodeOnly) {
        for (const line of runDemo()) console.log(line);
        return;
      }
      const { lines } = await runTour({ keep: flags.keep === true });
      for (const line of lines) console.log(line);
    });
}
