/**
 * The runner of the POSIX conformance suite: actors that perform operations
 * (the test's own thread, a second root process, a uid 65534 process), and a
 * case context that performs each step, records a trace (operation, paths
 * relative to the case directory, result or errno) and ends with a snapshot
 * of the resulting tree. A case runs once on the ringside mount and once on a
 * plain directory; the two records must be identical.
 *
 * @module
 */
import { type OpResult, runOp } from "./ops.ts";

/** Something that performs operations from ops.ts. */
export interface Actor {
  /** Name used in traces (`me`, `other`, `nobody`). */
  readonly name: string;
  /** Performs `op`. */
  call(op: string, args: unknown[]): Promise<OpResult>;
  /** Ends the actor. */
  close(): Promise<void>;
}

/** The test's own thread (never the thread that serves the mount). */
export function localActor(): Actor {
  return {
    name: "me",
    call: (op, args) => Promise.resolve(runOp(op, args)),
    close: () => Promise.resolve(),
  };
}

/** A helper subprocess (see _actor.ts), as root or as `uid`/`gid`. */
export function processActor(name: string, ids?: { uid: number; gid: number }): Actor {
  const args = ["run", "-A", new URL("./_actor.ts", import.meta.url).pathname];
  if (ids) args.push("--uid", String(ids.uid), "--gid", String(ids.gid));
  const child = new Deno.Command(Deno.execPath(), {
    args,
    stdin: "piped",
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const writer = child.stdin.getWriter();
  const waiting = new Map<number, (r: OpResult | Error) => void>();
  let next = 1;
  const enc = new TextEncoder();
  const reading = (async () => {
    let text = "";
    for await (const chunk of child.stdout.pipeThrough(new TextDecoderStream())) {
      text += chunk;
      let nl;
      while ((nl = text.indexOf("\n")) >= 0) {
        const msg = JSON.parse(text.slice(0, nl));
        text = text.slice(nl + 1);
        const w = waiting.get(msg.id);
        waiting.delete(msg.id);
        w?.(msg.failure ? new Error(`${name}: ${msg.failure}`) : msg.result);
      }
    }
    for (const w of waiting.values()) w(new Error(`${name} process ended`));
  })();
  return {
    name,
    async call(op, callArgs) {
      const id = next++;
      const p = new Promise<OpResult | Error>((resolve) => waiting.set(id, resolve));
      await writer.write(enc.encode(JSON.stringify({ id, op, args: callArgs }) + "\n"));
      const r = await p;
      if (r instanceof Error) throw r;
      return r;
    },
    async close() {
      await writer.close();
      await reading;
      await child.status;
    },
  };
}

const FD_OPS = new Set([
  "close",
  "write",
  "pwrite",
  "pread",
  "pwriteAligned",
  "preadAligned",
  "lseek",
  "ftruncate",
  "fstat",
  "lock",
]);

/** One step of a trace. */
export interface Step {
  who: string;
  op: string;
  args: unknown[];
  result: OpResult;
}

/** The actors a case can use. */
export interface Actors {
  me: Actor;
  other: Actor;
  nobody: Actor;
}

/** What a case gets: its directory, actors, and recording helpers. */
export class CaseContext {
  /** Absolute path of the case's directory (created empty, mode 0755). */
  readonly root: string;
  /** Everything done so far. */
  readonly trace: Step[] = [];
  readonly #actors: Actors;
  readonly #pids = new Map<number, string>();

  /** Builds the context for a case in `root`. */
  constructor(root: string, actors: Actors) {
    this.root = root;
    this.#actors = actors;
  }

  /** Learns the actors' pids so lock holders can be named in traces. */
  async init(): Promise<void> {
    for (const a of Object.values(this.#actors) as Actor[]) {
      const r = await a.call("pid", []);
      if ("ret" in r) this.#pids.set(r.ret as number, a.name);
    }
  }

  /** `rel` as an absolute path in the case directory. */
  p(rel: string): string {
    return rel === "" ? this.root : `${this.root}/${rel}`;
  }

  #normalise(op: string, r: OpResult): OpResult {
    if (!("ret" in r)) return r;
    if (op === "open" && typeof r.ret === "number") return { ret: "fd" };
    if (op === "lock" && typeof r.ret === "object" && r.ret !== null) {
      const l = r.ret as { pid: number };
      return { ret: { ...l, pid: l.pid === 0 ? 0 : this.#pids.get(l.pid) ?? "unknown pid" } };
    }
    if (typeof r.ret === "object" && r.ret !== null && "ino" in r.ret) {
      const { ino: _, ...rest } = r.ret as Record<string, unknown>;
      return { ret: rest };
    }
    return r;
  }

  /**
   * Runs `op` as `who`; arguments named in `paths` (indices) are relative
   * paths made absolute. Records and returns the raw result.
   */
  async run(
    who: keyof Actors,
    op: string,
    args: unknown[],
    paths: number[] = [0],
  ): Promise<OpResult> {
    const abs = args.map((a, i) => paths.includes(i) ? this.p(a as string) : a);
    const result = await this.#actors[who].call(op, abs);
    // descriptor numbers legitimately differ between runs
    const shown = FD_OPS.has(op) ? ["fd", ...args.slice(1)] : args;
    this.trace.push({ who, op, args: shown, result: this.#normalise(op, result) });
    return result;
  }

  /** Like {@linkcode run} by `me`, returning the value and throwing when the call failed. */
  async ok<T = unknown>(op: string, args: unknown[], paths: number[] = [0]): Promise<T> {
    const r = await this.run("me", op, args, paths);
    if (!("ret" in r)) throw new Error(`${op} ${JSON.stringify(args)} failed: ${r.errno}`);
    return r.ret as T;
  }

  /** Records a value the case computed (a comparison, a derived fact). */
  note(label: string, value: unknown): void {
    this.trace.push({ who: "note", op: label, args: [], result: { ret: value } });
  }

  /** The tree under the case directory, with inode numbers replaced by first-seen labels. */
  async snapshot(): Promise<unknown> {
    const r = await this.#actors.me.call("snapshot", [this.root]);
    if (!("ret" in r)) throw new Error(`snapshot failed: ${r.errno}`);
    const labels = new Map<string, string>();
    return (r.ret as Record<string, unknown>[]).map((e) => {
      const ino = e.ino as string;
      if (!labels.has(ino)) labels.set(ino, `inode-of:${e.path}`);
      return { ...e, ino: labels.get(ino) };
    });
  }
}

/** A conformance case. */
export interface PosixCase {
  /** Short name, also the case directory's name. */
  name: string;
  /** Snapshot the tree at the end (default true; off for huge trees, whose listing is in the trace). */
  snapshot?: boolean;
  /** Runs the steps; the trace and the final snapshot are compared. */
  run(t: CaseContext): Promise<void>;
}

/** What one run of a case produced. */
export interface CaseRecord {
  trace: Step[];
  snapshot: unknown;
}

/** Runs `c` in a fresh directory under `base`. */
export async function runCase(c: PosixCase, base: string, actors: Actors): Promise<CaseRecord> {
  const root = `${base}/${c.name}`;
  await Deno.mkdir(root);
  await Deno.chmod(root, 0o755);
  const t = new CaseContext(root, actors);
  await t.init();
  await c.run(t);
  return { trace: t.trace, snapshot: c.snapshot === false ? null : await t.snapshot() };
}

/**
 * The differences between two records, one line each (step number, actor,
 * operation, both results; snapshot entries by path); empty when equal.
 */
export function differences(mount: CaseRecord, plain: CaseRecord): string[] {
  const out: string[] = [];
  const j = (v: unknown) => JSON.stringify(v);
  const n = Math.max(mount.trace.length, plain.trace.length);
  for (let i = 0; i < n; i++) {
    const a = mount.trace[i];
    const b = plain.trace[i];
    if (j(a) === j(b)) continue;
    const s = b ?? a;
    out.push(
      `step ${i} ${s.who} ${s.op} ${j(s.args)}: mount ${j(a?.result)} / plain ${j(b?.result)}`,
    );
  }
  const snapA = (mount.snapshot ?? []) as Record<string, unknown>[];
  const snapB = (plain.snapshot ?? []) as Record<string, unknown>[];
  const byPath = (s: Record<string, unknown>[]) => new Map(s.map((e) => [e.path as string, e]));
  const ma = byPath(snapA);
  const mb = byPath(snapB);
  for (const path of new Set([...ma.keys(), ...mb.keys()])) {
    const a = ma.get(path);
    const b = mb.get(path);
    if (j(a) === j(b)) continue;
    if (!a || !b) {
      out.push(
        `tree ${path}: mount ${a ? "has it" : "lacks it"}, plain ${b ? "has it" : "lacks it"}`,
      );
      continue;
    }
    for (const k of new Set([...Object.keys(a), ...Object.keys(b)])) {
      if (j(a[k]) !== j(b[k])) out.push(`tree ${path} ${k}: mount ${j(a[k])} / plain ${j(b[k])}`);
    }
  }
  return out;
}
