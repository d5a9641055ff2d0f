/**
 * `ringside vm`: boot a throw-away Linux guest with a share at /mnt, run one
 * command in it, stream its stdout and stderr and exit with its status.
 *
 * @module
 */
import type { Command } from "@commander-js/extra-typings";
import { ExitStatus, UserError } from "../errors.ts";
import {
  ensureGuestImage,
  EXIT_HARNESS,
  EXIT_TIMEOUT,
  type GuestShare,
  runGuest,
  tailLines,
} from "../../guest/mod.ts";

/** The options `ringside vm` accepts, as commander parses them. */
export interface VmFlags {
  vhostUser?: string;
  virtiofsd?: string;
  "9p"?: string;
  none?: true;
  tag?: string;
  cache?: string;
  mountOpts?: string;
  mem?: string;
  smp?: string;
  timeout?: string;
  console?: string;
  c?: string;
  verbose?: true;
}

/** What {@linkcode parseVmArgs} makes of the flags and operands. */
export interface VmPlan {
  /** The share. */
  share: GuestShare;
  /** The command (argv or shell code). */
  command: string[] | { shell: string };
  /** Mount tag, when given. */
  tag?: string;
  /** Extra mount options. */
  mountOptions?: string;
  /** Guest memory. */
  mem: string;
  /** vCPUs. */
  smp: number;
  /** Timeout in milliseconds. */
  timeoutMs: number;
  /** File to save the console to. */
  console?: string;
  /** Stream the console and logs to stderr. */
  verbose: boolean;
}

function usage(message: string): UserError {
  return new UserError(`vm: ${message}`, 2);
}

/** Checks the flags and operands of `ringside vm`; throws a usage error (exit 2) when they are wrong. */
export function parseVmArgs(flags: VmFlags, operands: string[]): VmPlan {
  const shares: GuestShare[] = [];
  if (flags.vhostUser !== undefined) shares.push({ kind: "vhost-user", socket: flags.vhostUser });
  if (flags.virtiofsd !== undefined) {
    const cache = flags.cache ?? "auto";
    if (cache !== "auto" && cache !== "always" && cache !== "none") {
      throw usage(`--cache must be auto, always or none, got ${JSON.stringify(cache)}`);
    }
    shares.push({ kind: "virtiofsd", dir: flags.virtiofsd, cache });
  } else if (flags.cache !== undefined) {
    throw usage(
      "--cache applies to --virtiofsd only (a vhost-user backend picks its own cache mode)",
    );
  }
  if (flags["9p"] !== undefined) shares.push({ kind: "9p", dir: flags["9p"] });
  if (flags.none) shares.push({ kind: "none" });
  if (shares.length !== 1) {
    throw usage("give exactly one of --vhost-user SOCKET, --virtiofsd DIR, --9p DIR, --none");
  }
  if ((flags.c !== undefined) === (operands.length > 0)) {
    throw usage("give either a command after -- or -c 'shell code', not both or neither");
  }
  const mem = flags.mem ?? "1G";
  if (!/^[1-9][0-9]*[KMGT]?$/.test(mem)) {
    throw usage(`--mem wants a size like 512M or 1G, got ${JSON.stringify(mem)}`);
  }
  const smp = Number(flags.smp ?? "1");
  if (!Number.isInteger(smp) || smp < 1 || smp > 64) {
    throw usage(`--smp wants an integer from 1 to 64, got ${JSON.stringify(flags.smp)}`);
  }
  const timeout = Number(flags.timeout ?? "300");
  if (!Number.isFinite(timeout) || timeout <= 0) {
    throw usage(
      `--timeout wants a positive number of seconds, got ${JSON.stringify(flags.timeout)}`,
    );
  }
  return {
    share: shares[0],
    command: flags.c !== undefined ? { shell: flags.c } : operands,
    tag: flags.tag,
    mountOptions: flags.mountOpts,
    mem,
    smp,
    timeoutMs: Math.round(timeout * 1000),
    console: flags.console,
    verbose: flags.verbose === true,
  };
}

async function writeAll(file: { write(p: Uint8Array): Promise<number> }, chunk: Uint8Array) {
  for (let off = 0; off < chunk.length;) off += await file.write(chunk.subarray(off));
}

/** Runs the guest for `plan`, streaming its output; returns the exit status to use. */
export async function runVm(plan: VmPlan): Promise<number> {
  const err = (line: string) => writeAll(Deno.stderr, new TextEncoder().encode(line + "\n"));
  let image;
  try {
    image = await ensureGuestImage({
      log: plan.verbose ? (l) => console.error(`ringside vm: ${l}`) : undefined,
    });
  } catch (e) {
    await err(`ringside vm: cannot build the guest image: ${e instanceof Error ? e.message : e}`);
    return EXIT_HARNESS;
  }
  const r = await runGuest({
    image,
    share: plan.share,
    command: plan.command,
    tag: plan.tag,
    mountOptions: plan.mountOptions,
    mem: plan.mem,
    smp: plan.smp,
    timeoutMs: plan.timeoutMs,
    collect: false,
    onStdout: (c) => writeAll(Deno.stdout, c),
    onStderr: (c) => writeAll(Deno.stderr, c),
    onConsole: plan.verbose ? (c) => writeAll(Deno.stderr, c) : undefined,
  });
  if (plan.console !== undefined) await Deno.writeTextFile(plan.console, r.console);
  if (plan.verbose) {
    if (r.qemuLog.trim()) await err(`ringside vm: qemu: ${r.qemuLog.trim()}`);
    if (r.virtiofsdLog.trim()) await err(`ringside vm: virtiofsd: ${r.virtiofsdLog.trim()}`);
    if (r.bootMs !== undefined) {
      await err(`ringside vm: boot ${Math.round(r.bootMs)} ms, total ${Math.round(r.wallMs)} ms`);
    }
  }
  if (r.code === EXIT_HARNESS || r.code === EXIT_TIMEOUT) {
    if (r.failure !== undefined) {
      if (!plan.verbose) {
        if (r.console.trim()) {
          await err(`--- guest console (last 40 lines) ---\n${tailLines(r.console.trimEnd(), 40)}`);
        }
        if (r.qemuLog.trim()) await err(`--- qemu ---\n${r.qemuLog.trimEnd()}`);
        if (r.virtiofsdLog.trim()) {
          await err(`--- virtiofsd ---\n${tailLines(r.virtiofsdLog.trimEnd(), 20)}`);
        }
      }
      await err(`ringside vm: ${r.failure}`);
    }
  }
  return r.code;
}

/** Registers `vm` on `program`. */
export function registerVm(program: Command<[], { debug?: true }>): void {
  program
    .command("vm")
    .description(
      "boot a throw-away Linux guest with a share at /mnt, run one command in it and exit with " +
        "its status",
    )
    .argument("[command...]", "the command and its arguments (put them after --)")
    .option("--vhost-user <socket>", "virtio-fs through the vhost-user backend listening on SOCKET")
    .option(
      "--virtiofsd <dir>",
      "virtio-fs through /usr/lib/qemu/virtiofsd started on DIR for this run",
    )
    .option("--9p <dir>", "QEMU's virtio-9p on DIR")
    .option("--none", "no share: a guest tmpfs at /mnt")
    .option("--tag <tag>", "mount tag (default myfs for virtio-fs, hostshare for 9p)")
    .option("--cache <mode>", "--virtiofsd only: cache=auto|always|none (default auto)")
    .option("--mount-opts <opts>", "extra guest mount options")
    .option("--mem <size>", "guest memory (default 1G)")
    .option("--smp <n>", "guest vCPUs (default 1)")
    .option("--timeout <seconds>", "kill the guest after this long (default 300): exit 124")
    .option("--console <file>", "save the guest console (kernel log) to FILE")
    .option("-c <code>", "run shell code instead of a command")
    .option("-v, --verbose", "stream the guest console and QEMU/virtiofsd logs to stderr")
    .addHelpText(
      "after",
      "\nThe command's stdout and stderr are streamed separately and byte-exactly; stdin is /dev/null.\n" +
        "Example: ringside vm --virtiofsd /tmp/share -- ls -la /mnt",
    )
    .action(async (operands, flags) => {
      const plan = parseVmArgs(flags as VmFlags, operands);
      const code = await runVm(plan);
      // the guest command's status is ringside's status; nothing more to print
      if (code !== 0) throw new ExitStatus(code);
    });
}
