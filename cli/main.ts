/**
 * The `ringside` command: every sub-command lives in `cli/commands/` and
 * registers itself on the program here.
 *
 * @module
 */
import { Command, CommanderError } from "@commander-js/extra-typings";
import denoJson from "../deno.json" with { type: "json" };
import { ExitStatus, UserError } from "./errors.ts";
import { CodecError } from "../codecs/errors.ts";
import { registerDecodeHex } from "./commands/decode_hex.ts";
import { registerDemo } from "./commands/demo.ts";
import { registerVm } from "./commands/vm.ts";
import { registerRing } from "./commands/ring.ts";
import { registerStats } from "./commands/stats.ts";
import { registerCheck } from "./commands/check.ts";
import { registerReport } from "./commands/report.ts";
import { registerDecode } from "./commands/decode.ts";
import { registerServe } from "./commands/serve.ts";
import { registerMount } from "./commands/mount.ts";
import { registerReplay } from "./commands/replay.ts";
import { registerDiff } from "./commands/diff.ts";
import { registerBenchBackend } from "./commands/bench_backend.ts";

/** Builds the `ringside` program with every sub-command registered. */
export function buildProgram(): Command<[], { debug?: true }> {
  const program = new Command()
    .name("ringside")
    .description(
      "virtio-fs and FUSE at the packet level: decode, serve, record, replay, diff and analyse " +
        "FUSE sessions carried over virtqueues (vhost-user), /dev/fuse or a Unix socket.",
    )
    .version(denoJson.version, "-V, --version", "print the ringside version")
    .option("--debug", "show stack traces for errors")
    .showHelpAfterError("(run with --help for usage)")
    .configureHelp({ sortSubcommands: true })
    .addHelpText(
      "after",
      `
Start here:
  ringside demo                                     record, replay and diff a scripted guest session
  ringside serve --socket /tmp/vfs.sock --shared-dir /srv/share --record s.pcapng
                                                    be the virtio-fs back-end of a QEMU guest, recorded
  ringside vm --vhost-user /tmp/vfs.sock -- ls -la /mnt
                                                    boot a throw-away guest against that socket
  ringside mount /srv/share /mnt/share              the same server for the host kernel (/dev/fuse)
  ringside decode s.pcapng --filter errors          what happened, like tcpdump (--json, --jsonl)
  ringside stats s.pcapng; ringside check s.pcapng  latency, leaks, hangs; protocol violations
  ringside report s.pcapng --html report.html       the same as one self-contained page
  ringside replay s.pcapng --dir /tmp/copy          run it again elsewhere and say what differs

Run "ringside help COMMAND" for a command's options and examples.`,
    )
    // set before the sub-commands are added so that they inherit it: usage
    // errors anywhere end in main() with exit status 2, never process.exit
    .exitOverride();
  registerDecodeHex(program);
  registerDemo(program);
  registerVm(program);
  registerRing(program);
  registerStats(program);
  registerCheck(program);
  registerReport(program);
  registerDecode(program);
  registerServe(program);
  registerMount(program);
  registerReplay(program);
  registerDiff(program);
  registerBenchBackend(program);
  return program;
}

/** Runs the CLI with `args`; returns the exit code instead of exiting. */
export async function main(args: string[]): Promise<number> {
  const program = buildProgram();
  const debug = args.includes("--debug");
  try {
    await program.parseAsync(args, { from: "user" });
    return 0;
  } catch (e) {
    if (e instanceof ExitStatus) return e.code;
    if (e instanceof CommanderError) {
      // commander already printed help, version or the usage error
      return e.exitCode === 0 ? 0 : 2;
    }
    if (e instanceof UserError || e instanceof CodecError) {
      console.error(`ringside: ${e.message}`);
      if (debug) console.error(e.stack);
      return e instanceof UserError ? e.exitCode : 1;
    }
    if (e instanceof Deno.errors.NotFound || e instanceof Deno.errors.PermissionDenied) {
      console.error(`ringside: ${(e as Error).message}`);
      if (debug) console.error((e as Error).stack);
      return 1;
    }
    console.error(`ringside: internal error: ${e instanceof Error ? e.message : String(e)}`);
    if (debug) console.error(e instanceof Error ? e.stack : e);
    else console.error("(run with --debug for the stack trace)");
    return 70;
  }
}

if (import.meta.main) {
  Deno.exit(await main(Deno.args));
}
