/**
 * `ringside decode FILE [--json|--jsonl] [--filter EXPR...] [--no-progress]`:
 * print a capture (pcapng, classic pcap or a raw FUSE stream) one frame per
 * line, like tcpdump, or as JSON with stable keys (`fuse.opcode`,
 * `fuse.unique`, ...). Streams in constant memory; a truncated or corrupt
 * file decodes up to the damage and then says where and why (exit 1).
 *
 * Filters (`--filter`, repeatable, all must match; commas inside one mean "any of"):
 * `opcode=LOOKUP,1`, `nodeid=5`, `unique=42`, `channel=vq1`, `kind=fuse_reply`,
 * `errors` (replies with an error, and frames that did not decode),
 * `error=ENOENT`, `time=A..B` (seconds since the first frame; either end may be empty).
 *
 * @module
 */
import type { Command } from "@commander-js/extra-typings";
import cliProgress from "cli-progress";
import process from "node:process";
import { UserError } from "../errors.ts";
import {
  errorName,
  flagNames,
  FOPEN,
  Opcode,
  type OpName,
  READ,
  RELEASE,
  summarizeNotification,
  summarizeReply,
  summarizeRequest,
  toJsonValue,
  WRITE,
} from "../../codecs/fuse/mod.ts";
import { type CaptureEvent, type EventSummary, readEvents } from "../../analyzers/events.ts";

/** Output format of `decode`. */
export type DecodeFormat = "text" | "json" | "jsonl";

/** A parsed `--filter`: one predicate over an event and the capture's first timestamp. */
export type EventFilter = (ev: CaptureEvent, firstNs: bigint) => boolean;

const ERRNO_BY_NAME: Record<string, number> = {};
for (let n = 1; n < 200; n++) {
  const name = errorName(-n);
  if (!name.startsWith("E") || name === `E${n}`) continue;
  ERRNO_BY_NAME[name] = n;
}

function parseBig(key: string, text: string): bigint {
  try {
    const v = BigInt(text);
    if (v < 0n) throw new Error();
    return v;
  } catch {
    throw new UserError(`decode: --filter ${key}=${text}: expected a non-negative integer`, 2);
  }
}

function parseSeconds(text: string, expr: string): bigint | undefined {
  if (text === "") return undefined;
  const s = Number(text);
  if (!Number.isFinite(s) || s < 0) {
    throw new UserError(`decode: --filter ${expr}: '${text}' is not a number of seconds`, 2);
  }
  return BigInt(Math.round(s * 1e9));
}

/**
 * Parses one `--filter` expression (see the module doc); throws
 * {@linkcode UserError} naming the expression when it is not understood.
 */
export function parseFilter(expr: string): EventFilter {
  if (expr === "errors") {
    return (ev) => ev.error !== undefined || (ev.fuse?.error ?? 0) < 0;
  }
  const eq = expr.indexOf("=");
  if (eq < 0) {
    throw new UserError(
      `decode: --filter ${expr}: expected KEY=VALUE (opcode, nodeid, unique, channel, kind, error, time) or 'errors'`,
      2,
    );
  }
  const key = expr.slice(0, eq).trim().toLowerCase();
  const values = expr.slice(eq + 1).split(",").map((v) => v.trim()).filter((v) => v !== "");
  if (values.length === 0) throw new UserError(`decode: --filter ${expr}: no value`, 2);
  switch (key) {
    case "opcode":
    case "op": {
      const codes = new Set(values.map((v) => {
        const upper = v.toUpperCase().replace(/^FUSE_/, "");
        if (upper in Opcode) return Opcode[upper as OpName];
        const n = Number(v);
        if (Number.isInteger(n) && n >= 0) return n;
        throw new UserError(`decode: --filter ${expr}: '${v}' is not a FUSE opcode`, 2);
      }));
      return (ev) =>
        ev.fuse !== undefined && ev.kind !== "fuse_notify" && codes.has(ev.fuse.opcode);
    }
    case "nodeid": {
      const ids = new Set(values.map((v) => parseBig(key, v)));
      return (ev) => ev.fuse?.nodeid !== undefined && ids.has(ev.fuse.nodeid);
    }
    case "unique": {
      const ids = new Set(values.map((v) => parseBig(key, v)));
      return (ev) => ev.fuse !== undefined && ids.has(ev.fuse.unique);
    }
    case "channel": {
      const names = new Set(values);
      return (ev) => names.has(ev.channel);
    }
    case "kind": {
      const kinds = new Set(values);
      return (ev) => kinds.has(ev.kind);
    }
    case "error": {
      const errnos = new Set(values.map((v) => {
        const n = ERRNO_BY_NAME[v.toUpperCase()] ?? Number(v);
        if (!Number.isInteger(n) || n <= 0) {
          throw new UserError(`decode: --filter ${expr}: '${v}' is not an errno name or number`, 2);
        }
        return n;
      }));
      return (ev) => ev.fuse?.error !== undefined && errnos.has(-ev.fuse.error);
    }
    case "time": {
      const range = expr.slice(eq + 1);
      const dots = range.indexOf("..");
      if (dots < 0) {
        throw new UserError(`decode: --filter ${expr}: expected time=A..B (seconds)`, 2);
      }
      const from = parseSeconds(range.slice(0, dots).trim(), expr);
      const to = parseSeconds(range.slice(dots + 2).trim(), expr);
      return (ev, first) => {
        const t = ev.time_ns - first;
        return (from === undefined || t >= from) && (to === undefined || t <= to);
      };
    }
  }
  throw new UserError(
    `decode: --filter ${expr}: unknown key '${key}' (opcode, nodeid, unique, channel, kind, error, time, errors)`,
    2,
  );
}

const OPEN_ACCESS = ["O_RDONLY", "O_WRONLY", "O_RDWR", "O_ACCMODE"];
const OPEN_BITS: [number, string][] = [
  [0o100, "O_CREAT"],
  [0o200, "O_EXCL"],
  [0o400, "O_NOCTTY"],
  [0o1000, "O_TRUNC"],
  [0o2000, "O_APPEND"],
  [0o4000, "O_NONBLOCK"],
  [0o10000, "O_DSYNC"],
  [0o20000, "O_ASYNC"],
  [0o40000, "O_DIRECT"],
  [0o100000, "O_LARGEFILE"],
  [0o200000, "O_DIRECTORY"],
  [0o400000, "O_NOFOLLOW"],
  [0o1000000, "O_NOATIME"],
  [0o2000000, "O_CLOEXEC"],
  [0o4000000, "O_SYNC"],
  [0o10000000, "O_PATH"],
  [0o20000000, "O_TMPFILE"],
];

/** open(2) flags in words (`O_WRONLY|O_CREAT|O_TRUNC`), x86_64/aarch64 values. */
export function openFlagWords(flags: number): string {
  const words = [OPEN_ACCESS[flags & 3]];
  let rest = flags & ~3;
  for (const [bit, name] of OPEN_BITS) {
    if ((rest & bit) === bit) {
      words.push(name);
      rest &= ~bit;
    }
  }
  if (rest !== 0) words.push(`0${rest.toString(8)}`);
  return words.join("|");
}

/** The key arguments of a request, flags in words. */
function requestArgs(ev: CaptureEvent): string {
  const req = ev.fuse?.request;
  if (req === undefined) return "";
  let s = summarizeRequest(req);
  switch (req.op) {
    case "OPEN":
    case "OPENDIR":
      s = `flags=${openFlagWords(req.body.flags)}`;
      break;
    case "CREATE":
    case "TMPFILE":
      s = `name=${JSON.stringify(req.body.name)} flags=${openFlagWords(req.body.flags)} mode=0${
        req.body.mode.toString(8)
      }`;
      break;
    case "READ": {
      const w = flagNames(READ, req.body.read_flags);
      if (w.length > 0) s += ` ${w.join("|")}`;
      break;
    }
    case "WRITE": {
      const w = flagNames(WRITE, req.body.write_flags);
      if (w.length > 0) s += ` ${w.join("|")}`;
      break;
    }
    case "RELEASE": {
      const w = flagNames(RELEASE, req.body.release_flags);
      if (w.length > 0) s += ` ${w.join("|")}`;
      break;
    }
  }
  return s;
}

function replyArgs(ev: CaptureEvent): string {
  const reply = ev.fuse?.reply;
  if (reply === undefined) return ev.fuse?.error ? errorName(ev.fuse.error) : "";
  let s = summarizeReply(reply);
  if ((reply.op === "OPEN" || reply.op === "OPENDIR") && reply.body !== null) {
    const w = flagNames(FOPEN, reply.body.open_flags);
    s = `fh=${reply.body.fh}${w.length > 0 ? ` ${w.join("|")}` : ""}`;
  }
  return s;
}

/** `1234 ns`, `12.3 µs`, `4.56 ms`, `1.234 s`. */
export function formatDuration(ns: bigint): string {
  const n = Number(ns);
  if (n < 1000) return `${n} ns`;
  if (n < 1e6) return `${(n / 1e3).toFixed(1)} µs`;
  if (n < 1e9) return `${(n / 1e6).toFixed(2)} ms`;
  return `${(n / 1e9).toFixed(3)} s`;
}

/** `HH:MM:SS.nnnnnnnnn` (UTC) of a nanosecond timestamp, as tcpdump prints times of day. */
export function formatTime(ns: bigint): string {
  const secs = ns / 1_000_000_000n;
  const frac = (ns % 1_000_000_000n).toString().padStart(9, "0");
  const d = new Date(Number(secs) * 1000);
  const hh = String(d.getUTCHours()).padStart(2, "0");
  const mm = String(d.getUTCMinutes()).padStart(2, "0");
  const ss = String(d.getUTCSeconds()).padStart(2, "0");
  return `${hh}:${mm}:${ss}.${frac}`;
}

/** One event as a text line (no newline). */
export function formatEventText(ev: CaptureEvent): string {
  const where = ev.queue !== undefined ? `${ev.channel} q${ev.queue}` : ev.channel;
  const dir = ev.direction === "inbound" ? ">" : "<";
  const head = `${String(ev.frame).padStart(6)} ${formatTime(ev.time_ns)} ${where} ${dir}`;
  let body: string;
  const f = ev.fuse;
  switch (ev.kind) {
    case "fuse_request":
      body = f === undefined
        ? "FUSE request"
        : `unique ${f.unique} ${f.op} nodeid ${f.nodeid ?? "?"}${
          requestArgs(ev) ? ` ${requestArgs(ev)}` : ""
        }`;
      break;
    case "fuse_reply":
      if (f === undefined) {
        body = "FUSE reply";
      } else {
        const pair = f.request_frame !== undefined
          ? ` (${formatDuration(f.latency_ns ?? 0n)}, request #${f.request_frame})`
          : " (no request seen)";
        const args = replyArgs(ev);
        body = `unique ${f.unique} ${f.op} reply${
          f.nodeid !== undefined ? ` nodeid ${f.nodeid}` : ""
        }${args ? ` ${args}` : ""}${pair}`;
      }
      break;
    case "fuse_notify":
      body = f === undefined
        ? "FUSE notification"
        : `${f.op}${
          f.notification !== undefined ? ` ${summarizeNotification(f.notification)}` : ""
        }`;
      break;
    case "vhost_user_front_to_back":
    case "vhost_user_back_to_front": {
      const v = ev.vhost_user;
      body = v === undefined
        ? "vhost-user message"
        : `vhost-user ${v.name}${v.reply ? " reply" : ""} size ${v.size}${
          ev.fd_count ? ` fds ${ev.fd_count}` : ""
        }`;
      break;
    }
    case "ring_kick":
      body = "kick";
      break;
    case "ring_call":
      body = "call";
      break;
    case "ring_chain":
      body = "chain";
      break;
  }
  if (ev.chain !== undefined) {
    const c = ev.chain;
    body += ` [head ${c.head}, ${c.descriptors} desc, r ${c.readableBytes} w ${c.writableBytes}]`;
  }
  if (ev.error !== undefined) body += ` !! ${ev.error.message}`;
  return `${head} ${body}`;
}

/** One event as its JSON object: stable keys, bigints as decimal strings, bytes as hex. */
export function eventJson(ev: CaptureEvent): Record<string, unknown> {
  const out: Record<string, unknown> = {
    frame: ev.frame,
    offset: ev.offset,
    time_ns: ev.time_ns.toString(),
    channel: ev.channel,
    interface_id: ev.interface_id,
    kind: ev.kind,
    direction: ev.direction,
  };
  if (ev.queue !== undefined) out.queue = ev.queue;
  if (ev.fuse_minor !== undefined) out.fuse_minor = ev.fuse_minor;
  if (ev.fd_count !== undefined) out.fd_count = ev.fd_count;
  if (ev.chain !== undefined) {
    out.chain = {
      head: ev.chain.head,
      descriptors: ev.chain.descriptors,
      readable: ev.chain.readableBytes,
      writable: ev.chain.writableBytes,
    };
  }
  const f = ev.fuse;
  if (f !== undefined) {
    const fuse: Record<string, unknown> = {
      opcode: f.opcode,
      op: f.op,
      unique: f.unique.toString(),
      len: f.len,
    };
    if (f.nodeid !== undefined) fuse.nodeid = f.nodeid.toString();
    if (f.error !== undefined) {
      fuse.error = f.error;
      fuse.error_name = errorName(f.error);
    }
    if (f.request_frame !== undefined) fuse.request_frame = f.request_frame;
    if (f.latency_ns !== undefined) fuse.latency_ns = f.latency_ns.toString();
    if (f.interrupted) fuse.interrupted = true;
    const msg = f.request ?? f.reply ?? f.notification;
    if (msg !== undefined) fuse.body = toJsonValue(msg.body);
    if (f.request?.extensions !== undefined) fuse.extensions = toJsonValue(f.request.extensions);
    out.fuse = fuse;
  }
  if (ev.vhost_user !== undefined) out.vhost_user = { ...ev.vhost_user };
  if (ev.error !== undefined) {
    out.error = { field: ev.error.field, offset: ev.error.offset, message: ev.error.message };
  }
  return out;
}

/** Options for {@linkcode decodeCapture}. */
export interface DecodeOptions {
  /** Output format (default text). */
  format?: DecodeFormat;
  /** Filter expressions, all of which must match. */
  filters?: string[];
  /** Where lines go (default stdout). */
  write?: (text: string) => void;
  /** Show a progress bar on stderr (the CLI decides: only on a terminal). */
  progress?: boolean;
}

/** What {@linkcode decodeCapture} saw. */
export interface DecodeResult {
  /** Frames printed (after filtering). */
  printed: number;
  /** The read's summary (frames, damage, unanswered requests). */
  summary: EventSummary;
}

/**
 * Decodes the capture at `path` and writes it out; resolves with what was
 * seen even when the file is damaged (see `summary.damage`). Throws
 * {@linkcode UserError} for a file that cannot be opened or is not a capture.
 */
export async function decodeCapture(
  path: string,
  options: DecodeOptions = {},
): Promise<DecodeResult> {
  const filters = (options.filters ?? []).map(parseFilter);
  const format = options.format ?? "text";
  const write = options.write ?? stdoutWriter();
  let file: Deno.FsFile;
  try {
    file = await Deno.open(path, { read: true });
    if (!(await file.stat()).isFile) {
      file.close();
      throw new UserError(`decode: ${path} is not a regular file`);
    }
  } catch (e) {
    if (e instanceof UserError) throw e;
    if (e instanceof Deno.errors.NotFound) throw new UserError(`decode: ${path}: no such file`);
    if (e instanceof Deno.errors.PermissionDenied) {
      throw new UserError(`decode: ${path}: permission denied`);
    }
    throw new UserError(`decode: cannot open ${path}: ${(e as Error).message}`);
  }
  let bar: cliProgress.SingleBar | undefined;
  if (options.progress) {
    bar = new cliProgress.SingleBar({
      stream: process.stderr,
      format: "decoding [{bar}] {percentage}% | {value}/{total} bytes",
      hideCursor: true,
      clearOnComplete: true,
    }, cliProgress.Presets.shades_classic);
  }
  const stream = readEvents(file, {
    onDamage: "stop",
    // a body is decoded when it is printed: frames a filter drops cost their header only
    bodies: "lazy",
    onProgress: bar === undefined ? undefined : (n, total) => {
      if (total !== undefined && n <= total) {
        if (bar!.getTotal() !== total) bar!.start(total, 0);
        bar!.update(n);
      }
    },
  });
  let printed = 0;
  let first: bigint | undefined;
  if (format === "json") write("[");
  try {
    for await (const batch of stream.batches()) {
      for (const ev of batch) {
        first ??= ev.time_ns;
        if (!filters.every((f) => f(ev, first!))) continue;
        if (format === "text") write(`${formatEventText(ev)}\n`);
        else {
          const j = JSON.stringify(eventJson(ev));
          write(format === "jsonl" ? `${j}\n` : `${printed === 0 ? "\n" : ",\n"}${j}`);
        }
        printed++;
      }
    }
  } finally {
    bar?.stop();
    file.close();
  }
  if (format === "json") write(printed === 0 ? "]\n" : "\n]\n");
  const s = stream.summary;
  if (s.damage !== undefined && s.frames === 0 && s.damage.field === "capture") {
    throw new UserError(`decode: ${path}: ${s.damage.reason}`);
  }
  if (s.format === undefined && s.damage === undefined) {
    throw new UserError(`decode: ${path} is empty`);
  }
  return { printed, summary: s };
}

function stdoutWriter(): (text: string) => void {
  const enc = new TextEncoder();
  return (text) => {
    const b = enc.encode(text);
    let p = 0;
    while (p < b.length) p += Deno.stdout.writeSync(b.subarray(p));
  };
}

/**
 * Buffers writes to stdout (64 KiB at a time); `flush` at the end. A closed
 * pipe (`| head`) makes `write` throw BrokenPipe once and `flush` do nothing.
 */
function bufferedStdout(): { write: (t: string) => void; flush: () => void } {
  const raw = stdoutWriter();
  let parts: string[] = [];
  let size = 0;
  let broken = false;
  const out = (t: string) => {
    if (broken) return;
    try {
      raw(t);
    } catch (e) {
      if (e instanceof Deno.errors.BrokenPipe) broken = true;
      throw e;
    }
  };
  return {
    write(t) {
      parts.push(t);
      size += t.length;
      if (size >= 65536) {
        const text = parts.join("");
        parts = [];
        size = 0;
        out(text);
      }
    },
    flush() {
      const text = parts.join("");
      parts = [];
      size = 0;
      try {
        out(text);
      } catch (e) {
        if (!(e instanceof Deno.errors.BrokenPipe)) throw e;
      }
    },
  };
}

/** Registers `decode` on `program`. */
export function registerDecode(program: Command<[], { debug?: true }>): void {
  program
    .command("decode")
    .description(
      "print a capture (pcapng, pcap or a raw FUSE stream) frame by frame, like tcpdump, or as JSON",
    )
    .argument("<file>", "the capture")
    .option("--json", "one JSON array of frames (stable keys: fuse.opcode, fuse.unique, ...)")
    .option("--jsonl", "one JSON object per line")
    .option(
      "-f, --filter <expr>",
      "keep frames matching EXPR (repeatable; all must match): opcode=LOOKUP,1 nodeid=N " +
        "unique=N channel=NAME kind=KIND error=ENOENT errors time=A..B (seconds from the first frame)",
      (v: string, acc: string[]) => [...acc, v],
      [] as string[],
    )
    .option("--no-progress", "never show the progress bar (it shows only on a terminal)")
    .action(async (path, opts) => {
      if (opts.json && opts.jsonl) {
        throw new UserError("decode: --json and --jsonl exclude each other", 2);
      }
      const format: DecodeFormat = opts.json ? "json" : opts.jsonl ? "jsonl" : "text";
      const out = bufferedStdout();
      let result: DecodeResult;
      try {
        result = await decodeCapture(path, {
          format,
          filters: opts.filter,
          write: out.write,
          progress: opts.progress !== false && Deno.stderr.isTerminal(),
        });
      } catch (e) {
        if (e instanceof Deno.errors.BrokenPipe) return; // `| head`
        throw e;
      } finally {
        out.flush();
      }
      const s = result.summary;
      if (s.unansweredCount > 0 && format === "text") {
        const shown = s.unanswered.slice(0, 5).map((u) => `#${u.frame} ${u.op} unique ${u.unique}`);
        console.error(
          `ringside: ${s.unansweredCount} request(s) never answered: ${shown.join(", ")}${
            s.unansweredCount > shown.length ? ", ..." : ""
          }`,
        );
      }
      if (s.zeroTailBytes > 0) {
        // the space an O_DIRECT recording preallocates: zero when the recorder never closed
        console.error(
          `ringside: decode: ${path}: the capture ends in ${s.zeroTailBytes} bytes of preallocated zeros: the recording was interrupted`,
        );
      }
      if (s.damage !== undefined) {
        const d = s.damage;
        throw new UserError(
          `decode: ${path}: damaged at byte ${d.offset} after ${s.frames} good frame(s): ${d.field}: ${d.reason}`,
        );
      }
    });
}
