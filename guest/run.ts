/**
 * Boots a throw-away guest, runs one command in it and returns what it did:
 * exit status, stdout and stderr (byte-exact, kept apart on their own serial
 * ports), the console log and the boot time.
 *
 * The command and a small config file travel in a second cpio archive appended
 * to the cached base initramfs, so nothing is written into the shared
 * directory and there is no quoting or length limit. The guest's `/init`
 * (guest/init.sh) prints nonce-tagged markers on the console; the exit status
 * comes from the END marker.
 *
 * Every call is independent: calling it twice with the same `vhost-user`
 * socket boots a second guest against the same running backend (a guest
 * reboot as far as the backend is concerned).
 *
 * @module
 */

import { cpioDir, type CpioEntry, cpioFile, encodeCpio } from "./cpio.ts";
import { ensureGuestImage, type GuestImage } from "./image.ts";
import {
  chooseAccel,
  defaultBios,
  type GuestShareDevice,
  kernelCommandLine,
  qemuArgs,
} from "./qemu.ts";

/** Exit status when the timeout killed the guest. */
export const EXIT_TIMEOUT = 124;
/** Exit status when the harness failed (boot, module, mount, QEMU or virtiofsd error). */
export const EXIT_HARNESS = 125;

/** The path of the C virtiofsd shipped with Debian's QEMU. */
export const DEFAULT_VIRTIOFSD = "/usr/lib/qemu/virtiofsd";

/** What the guest mounts at `/mnt`. */
export type GuestShare =
  /** vhost-user-fs-pci on an already listening vhost-user socket (ringside serve, a virtiofsd). */
  | { kind: "vhost-user"; socket: string }
  /** Starts the C virtiofsd on `dir` for this run (it serves one guest and exits). */
  | { kind: "virtiofsd"; dir: string; cache?: "auto" | "always" | "none"; args?: string[] }
  /** QEMU's built-in virtio-9p server on `dir`. */
  | { kind: "9p"; dir: string }
  /** No device: a guest tmpfs at `/mnt`. */
  | { kind: "none" };

/** A file placed into the guest's root file system for this run. */
export interface GuestFile {
  /** Absolute guest path (`/usr/local/bin/tool`). */
  path: string;
  /** Contents. */
  data: Uint8Array | string;
  /** Permission bits (default 0o644). */
  mode?: number;
}

/** A sink for one output channel; awaited, so it can apply back-pressure. */
export type ChunkSink = (chunk: Uint8Array) => void | Promise<void>;

/** Options for {@linkcode runGuest}. */
export interface RunGuestOptions {
  /** What `/mnt` is. */
  share: GuestShare;
  /** The command: an argv executed as given, or `{ shell }` code for `sh`. */
  command: string[] | { shell: string };
  /** Mount tag (default `myfs` for virtio-fs, `hostshare` for 9p). */
  tag?: string;
  /** Extra guest mount options. */
  mountOptions?: string;
  /** Guest memory (default `1G`). */
  mem?: string;
  /** vCPUs (default 1). */
  smp?: number;
  /** Kill the guest after this many milliseconds (default 300 000): status 124. */
  timeoutMs?: number;
  /** virtqueue size of vhost-user-fs-pci (default 1024). */
  queueSize?: number;
  /** Working directory of the command in the guest (default `/mnt`). */
  cwd?: string;
  /** Files to add to the guest for this run. */
  files?: GuestFile[];
  /** Extra kernel command line. */
  append?: string;
  /** Extra QEMU arguments. */
  qemuArgs?: string[];
  /** Called with the command's stdout as it arrives. */
  onStdout?: ChunkSink;
  /** Called with the command's stderr as it arrives. */
  onStderr?: ChunkSink;
  /** Called with the guest console (kernel log, markers) as it arrives. */
  onConsole?: ChunkSink;
  /** Keep stdout and stderr in the result (default true). */
  collect?: boolean;
  /** A prebuilt image (default: {@linkcode ensureGuestImage}). */
  image?: GuestImage;
  /** QEMU binary (default `qemu-system-x86_64`). */
  qemu?: string;
  /** virtiofsd binary (default {@linkcode DEFAULT_VIRTIOFSD}). */
  virtiofsd?: string;
  /** `tcg`, `kvm` or `auto` (default; TCG on PVM hosts). */
  accel?: "tcg" | "kvm" | "auto";
  /** Aborting kills the guest (status 124 is not used: the result says `aborted`). */
  signal?: AbortSignal;
}

/** What a guest run did. */
export interface GuestResult {
  /** The command's exit status, or 124 (timeout) or 125 (harness failure). */
  code: number;
  /** The command's stdout (empty when `collect` is false). */
  stdout: Uint8Array;
  /** The command's stderr (empty when `collect` is false). */
  stderr: Uint8Array;
  /** The guest console: kernel messages and the harness markers. */
  console: string;
  /** Milliseconds from starting QEMU to the command starting, when it started. */
  bootMs?: number;
  /** Milliseconds from starting QEMU to its exit. */
  wallMs: number;
  /** True when the timeout killed the guest. */
  timedOut: boolean;
  /** Why the harness failed (code 125), in one line. */
  failure?: string;
  /** QEMU's own stdout and stderr. */
  qemuLog: string;
  /** virtiofsd's output, when this run started one. */
  virtiofsdLog: string;
}

function shellQuote(s: string): string {
  return `'${s.replaceAll("'", `'\\''`)}'`;
}

function randomHex(bytes: number): string {
  return Array.from(
    crypto.getRandomValues(new Uint8Array(bytes)),
    (b) => b.toString(16).padStart(2, "0"),
  ).join("");
}

function concat(chunks: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
  let off = 0;
  for (const c of chunks) {
    out.set(c, off);
    off += c.length;
  }
  return out;
}

function isDirectory(path: string): boolean {
  try {
    return Deno.statSync(path).isDirectory;
  } catch {
    return false;
  }
}

/** Whether `path` is a Unix socket now (false when it does not exist). */
export function isSocket(path: string): boolean {
  try {
    return Deno.statSync(path).isSocket === true;
  } catch {
    return false;
  }
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** The per-run cpio archive: run.conf, cmd.sh and the extra files. */
function runArchive(
  options: RunGuestOptions,
  mode: string,
  tag: string,
  nonce: string,
): Uint8Array {
  const enc = new TextEncoder();
  const conf = [
    `RS_MODE=${shellQuote(mode)}`,
    `RS_TAG=${shellQuote(tag)}`,
    `RS_MOPTS=${shellQuote(options.mountOptions ?? "")}`,
    `RS_NONCE=${shellQuote(nonce)}`,
    `RS_CWD=${shellQuote(options.cwd ?? "/mnt")}`,
    "",
  ].join("\n");
  const cmd = Array.isArray(options.command)
    ? `exec ${options.command.map(shellQuote).join(" ")}\n`
    : `${options.command.shell}\n`;
  const entries: CpioEntry[] = [
    cpioFile("ringside/run.conf", enc.encode(conf)),
    cpioFile("ringside/cmd.sh", enc.encode(cmd)),
  ];
  const dirs = new Set<string>();
  for (const f of options.files ?? []) {
    const path = f.path.replace(/^\/+/, "");
    const parts = path.split("/");
    for (let i = 1; i < parts.length; i++) {
      const d = parts.slice(0, i).join("/");
      if (!dirs.has(d)) {
        dirs.add(d);
        entries.push(cpioDir(d));
      }
    }
    const data = typeof f.data === "string" ? enc.encode(f.data) : f.data;
    entries.push(cpioFile(path, data, { perm: f.mode ?? 0o644 }));
  }
  return encodeCpio(entries, { firstInode: 1_000_000 });
}

/** Collects a child's piped output as text without blocking its exit. */
async function drainText(stream: ReadableStream<Uint8Array>): Promise<string> {
  const chunks: Uint8Array[] = [];
  try {
    for await (const c of stream) chunks.push(c);
  } catch {
    // the child went away
  }
  return new TextDecoder().decode(concat(chunks));
}

/** Accepts one connection on `listener` and feeds everything it sends to `sink`. */
async function pump(listener: Deno.Listener, sink: ChunkSink): Promise<void> {
  let conn: Deno.Conn;
  try {
    conn = await listener.accept();
  } catch {
    return; // closed before QEMU connected
  }
  let sinkBroken = false;
  try {
    for await (const chunk of conn.readable) {
      if (sinkBroken) continue; // keep draining so the guest never blocks on a full UART
      try {
        await sink(chunk);
      } catch {
        sinkBroken = true; // e.g. our stdout was closed
      }
    }
  } catch {
    // QEMU was killed: what arrived is kept
  }
}

/** Returns the last `n` lines of `text`. */
export function tailLines(text: string, n: number): string {
  const lines = text.replace(/\r/g, "").split("\n");
  return lines.slice(Math.max(0, lines.length - n)).join("\n");
}

/**
 * Boots a guest with `options.share` at `/mnt`, runs `options.command` and
 * resolves with its status and output. Never rejects for guest-side problems:
 * a harness failure is `code` 125 with `failure` saying why, a timeout is 124.
 * Rejects only when the guest image cannot be built.
 *
 * ```ts
 * const r = await runGuest({ share: { kind: "9p", dir: "/tmp/x" }, command: ["ls", "/mnt"] });
 * console.log(r.code, new TextDecoder().decode(r.stdout));
 * ```
 */
export async function runGuest(options: RunGuestOptions): Promise<GuestResult> {
  const image = options.image ?? await ensureGuestImage();
  const share = options.share;
  const collect = options.collect ?? true;
  const result: GuestResult = {
    code: EXIT_HARNESS,
    stdout: new Uint8Array(0),
    stderr: new Uint8Array(0),
    console: "",
    wallMs: 0,
    timedOut: false,
    qemuLog: "",
    virtiofsdLog: "",
  };
  const harness = (failure: string): GuestResult => {
    result.code = EXIT_HARNESS;
    result.failure = failure;
    return result;
  };
  if ((share.kind === "9p" || share.kind === "virtiofsd") && !isDirectory(share.dir)) {
    return harness(`no directory ${share.dir}`);
  }
  if (share.kind === "vhost-user" && !isSocket(share.socket)) {
    return harness(`no vhost-user socket at ${share.socket}`);
  }
  const mode = share.kind === "9p" ? "9p" : share.kind === "none" ? "none" : "virtiofs";
  const tag = options.tag ?? (mode === "9p" ? "hostshare" : mode === "none" ? "none" : "myfs");
  const nonce = randomHex(8);

  const runDir = await Deno.makeTempDir({ prefix: "ringside-vm-" });
  const listeners: Deno.Listener[] = [];
  let virtiofsd: Deno.ChildProcess | undefined;
  let virtiofsdLog: Promise<string> = Promise.resolve("");
  try {
    const base = await Deno.readFile(image.initramfs);
    const initrd = `${runDir}/initrd`;
    await Deno.writeFile(initrd, concat([base, runArchive(options, mode, tag, nonce)]));

    let device: GuestShareDevice = { kind: "none" };
    if (share.kind === "vhost-user") {
      device = { kind: "vhost-user", socket: share.socket, tag, queueSize: options.queueSize };
    } else if (share.kind === "9p") {
      device = { kind: "9p", dir: await Deno.realPath(share.dir), tag };
    } else if (share.kind === "virtiofsd") {
      const socket = `${runDir}/virtiofsd.sock`;
      const source = (await Deno.realPath(share.dir)).replaceAll(",", "\\,");
      try {
        virtiofsd = new Deno.Command(options.virtiofsd ?? DEFAULT_VIRTIOFSD, {
          args: [
            `--socket-path=${socket}`,
            "-o",
            `source=${source}`,
            "-o",
            `cache=${share.cache ?? "auto"}`,
            ...(share.args ?? []),
          ],
          stdin: "null",
          stdout: "piped",
          stderr: "piped",
        }).spawn();
      } catch (e) {
        return harness(`cannot start virtiofsd: ${e instanceof Error ? e.message : String(e)}`);
      }
      const out = drainText(virtiofsd.stdout);
      const err = drainText(virtiofsd.stderr);
      virtiofsdLog = Promise.all([out, err]).then(([o, e]) => o + e);
      let exited = false;
      virtiofsd.status.then(() => (exited = true));
      for (let i = 0; i < 500 && !exited && !isSocket(socket); i++) await sleep(10);
      if (!isSocket(socket)) {
        if (!exited) virtiofsd.kill("SIGKILL");
        await virtiofsd.status;
        virtiofsd = undefined;
        result.virtiofsdLog = await virtiofsdLog;
        return harness(`virtiofsd did not create its socket: ${tailLines(result.virtiofsdLog, 3)}`);
      }
      device = { kind: "vhost-user", socket, tag, queueSize: options.queueSize };
    }

    const serial = {
      console: `${runDir}/console.sock`,
      stdout: `${runDir}/stdout.sock`,
      stderr: `${runDir}/stderr.sock`,
    };
    const outChunks: Uint8Array[] = [];
    const errChunks: Uint8Array[] = [];
    const conChunks: Uint8Array[] = [];
    const begin = `===RINGSIDE-BEGIN ${nonce} `;
    let conText = "";
    const conDecoder = new TextDecoder();
    let started = 0;
    const pumps = [
      [serial.stdout, async (c: Uint8Array) => {
        if (collect) outChunks.push(c);
        await options.onStdout?.(c);
      }],
      [serial.stderr, async (c: Uint8Array) => {
        if (collect) errChunks.push(c);
        await options.onStderr?.(c);
      }],
      [serial.console, async (c: Uint8Array) => {
        conChunks.push(c);
        if (result.bootMs === undefined) {
          const from = Math.max(0, conText.length - begin.length);
          conText += conDecoder.decode(c, { stream: true });
          if (conText.indexOf(begin, from) >= 0) result.bootMs = performance.now() - started;
        }
        await options.onConsole?.(c);
      }],
    ] as const;
    const pumping: Promise<void>[] = [];
    for (const [path, sink] of pumps) {
      const l = Deno.listen({ transport: "unix", path });
      listeners.push(l);
      pumping.push(pump(l, sink));
    }

    const accel = options.accel === undefined || options.accel === "auto"
      ? chooseAccel()
      : options.accel;
    const args = qemuArgs({
      kernel: image.kernel,
      initrd,
      append: kernelCommandLine(options.append),
      accel,
      mem: options.mem ?? "1G",
      smp: options.smp ?? 1,
      serial,
      share: device,
      bios: defaultBios(),
      extra: options.qemuArgs,
    });
    started = performance.now();
    let qemu: Deno.ChildProcess;
    try {
      qemu = new Deno.Command(options.qemu ?? "qemu-system-x86_64", {
        args,
        stdin: "null",
        stdout: "piped",
        stderr: "piped",
      }).spawn();
    } catch (e) {
      return harness(`cannot start QEMU: ${e instanceof Error ? e.message : String(e)}`);
    }
    const qemuOut = drainText(qemu.stdout);
    const qemuErr = drainText(qemu.stderr);
    let aborted = false;
    const timer = setTimeout(() => {
      result.timedOut = true;
      try {
        qemu.kill("SIGKILL");
      } catch {
        // already gone
      }
    }, options.timeoutMs ?? 300_000);
    const onAbort = () => {
      aborted = true;
      try {
        qemu.kill("SIGKILL");
      } catch {
        // already gone
      }
    };
    options.signal?.addEventListener("abort", onAbort);
    const status = await qemu.status;
    clearTimeout(timer);
    options.signal?.removeEventListener("abort", onAbort);
    result.wallMs = performance.now() - started;
    for (const l of listeners.splice(0)) l.close();
    await Promise.all(pumping);
    result.qemuLog = (await qemuOut) + (await qemuErr);
    result.stdout = concat(outChunks);
    result.stderr = concat(errChunks);
    result.console = new TextDecoder().decode(concat(conChunks)).replaceAll("\r\n", "\n");

    const end = new RegExp(`===RINGSIDE-END ${nonce} rc=(\\d+) `).exec(result.console);
    const error = new RegExp(`===RINGSIDE-ERROR ${nonce} (.*)===`).exec(result.console);
    if (end !== null && !aborted) {
      result.code = Number(end[1]);
      result.failure = undefined;
    } else if (result.timedOut) {
      result.code = EXIT_TIMEOUT;
      result.failure = `timeout: guest killed after ${(options.timeoutMs ?? 300_000) / 1000} s`;
    } else if (aborted) {
      harness("aborted");
    } else if (error !== null) {
      harness(`guest harness error: ${error[1]}`);
    } else {
      harness(
        `guest did not report an exit status (QEMU ${
          status.signal ? `killed by ${status.signal}` : `exit status ${status.code}`
        }${result.qemuLog.trim() ? `: ${tailLines(result.qemuLog.trim(), 1)}` : ""})`,
      );
    }
    return result;
  } finally {
    for (const l of listeners) l.close();
    if (virtiofsd !== undefined) {
      // the C virtiofsd exits by itself when QEMU disconnects
      const proc = virtiofsd;
      let timer: ReturnType<typeof setTimeout> | undefined;
      const done = await Promise.race([
        proc.status.then(() => true),
        new Promise<boolean>((r) => (timer = setTimeout(() => r(false), 3000))),
      ]);
      clearTimeout(timer);
      if (!done) {
        try {
          proc.kill("SIGKILL");
        } catch {
          // already gone
        }
        await proc.status;
      }
      result.virtiofsdLog = await virtiofsdLog;
    }
    await Deno.remove(runDir, { recursive: true }).catch(() => {});
  }
}
