/**
 * `ringside ring`: print a virtqueue's state from a guest memory dump, as
 * descriptor table, available and used rings and chains in flight.
 *
 * @module
 */
import type { Command } from "@commander-js/extra-typings";
import { UserError } from "../errors.ts";
import { GuestMemory } from "../../virtqueue/guest_memory.ts";
import { inspectRing, renderRingReport, type RingViewParams } from "../../virtqueue/view.ts";
import {
  checkPackedQueueSize,
  checkSplitQueueSize,
  PACKED_DESC_SIZE,
  splitRingLayout,
} from "../../codecs/virtio/mod.ts";
import { CodecError } from "../../codecs/errors.ts";

/** The flags of `ringside ring` as commander gives them. */
export interface RingFlags {
  /** `split` or `packed`. */
  layout?: string;
  /** Queue size. */
  size?: string;
  /** Descriptor table address. */
  desc?: string;
  /** Driver area (available ring) address. */
  driver?: string;
  /** Device area (used ring) address. */
  device?: string;
  /** Guest address of the dump's first byte. */
  base?: string;
  /** Used ring alignment when `--driver`/`--device` are left out (split). */
  align?: string;
  /** Print JSON. */
  json?: true;
}

function parseNumber(flag: string, v: string | undefined): bigint | undefined {
  if (v === undefined) return undefined;
  const t = v.trim().replaceAll("_", "");
  if (!/^(0x[0-9a-f]+|[0-9]+)$/i.test(t)) {
    throw new UserError(`${flag} must be a number (decimal or 0x hex), got "${v}"`, 2);
  }
  return BigInt(t);
}

/** Turns the flags into ring parameters and the dump's base address; usage mistakes are UserErrors. */
export function parseRingFlags(flags: RingFlags): { params: RingViewParams; base: bigint } {
  const layout = flags.layout ?? "split";
  if (layout !== "split" && layout !== "packed") {
    throw new UserError(`--layout must be split or packed, got "${layout}"`, 2);
  }
  const sizeBig = parseNumber("--size", flags.size);
  if (sizeBig === undefined) throw new UserError("--size is required (the queue size)", 2);
  const size = Number(sizeBig);
  try {
    if (layout === "split") checkSplitQueueSize(size);
    else checkPackedQueueSize(size);
  } catch (e) {
    if (e instanceof CodecError) throw new UserError(`--size: ${e.reason}`, 2);
    throw e;
  }
  const desc = parseNumber("--desc", flags.desc);
  if (desc === undefined) {
    throw new UserError("--desc is required (the descriptor table address)", 2);
  }
  const base = parseNumber("--base", flags.base) ?? 0n;
  let driver = parseNumber("--driver", flags.driver);
  let device = parseNumber("--device", flags.device);
  if (layout === "split") {
    const align = Number(parseNumber("--align", flags.align) ?? 4n);
    if (align < 1 || (align & (align - 1)) !== 0) {
      throw new UserError(`--align must be a power of two, got ${flags.align}`, 2);
    }
    const l = splitRingLayout(desc, size, { align });
    driver ??= l.avail;
    device ??= l.used;
  } else {
    driver ??= desc + BigInt(PACKED_DESC_SIZE * size);
    device ??= driver + 4n;
  }
  return { params: { layout, size, desc, driver, device }, base };
}

/** Reads the dump and returns what `ringside ring` prints (text, or JSON with `json`). */
export async function ringCommand(file: string, flags: RingFlags): Promise<string> {
  const { params, base } = parseRingFlags(flags);
  let bytes: Uint8Array;
  try {
    bytes = await Deno.readFile(file);
  } catch (e) {
    throw new UserError(`cannot read dump ${file}: ${e instanceof Error ? e.message : e}`);
  }
  if (bytes.length === 0) throw new UserError(`dump ${file} is empty`);
  const mem = new GuestMemory([{ guestAddr: base, size: bytes.length, userAddr: 0n, bytes }]);
  let report;
  try {
    report = inspectRing(mem, params);
  } catch (e) {
    if (e instanceof RangeError) {
      const end = base + BigInt(bytes.length);
      throw new UserError(
        `${e.message}: the dump ${file} covers 0x${base.toString(16)}..0x${end.toString(16)}`,
      );
    }
    throw e;
  }
  return flags.json ? JSON.stringify(report, null, 2) + "\n" : renderRingReport(report);
}

/** Registers `ring` on `program`. */
export function registerRing(program: Command<[], { debug?: true }>): void {
  program
    .command("ring")
    .description(
      "print a virtqueue from a guest memory dump: descriptors with flags and chains, " +
        "available and used rings, chains in flight",
    )
    .argument("<dump>", "file holding guest memory (raw bytes)")
    .option("--layout <layout>", "split or packed", "split")
    .option("--size <n>", "queue size")
    .option("--desc <addr>", "descriptor table (area) guest address")
    .option(
      "--driver <addr>",
      "available ring / driver event suppression address (default: right after the descriptors)",
    )
    .option(
      "--device <addr>",
      "used ring / device event suppression address (default: right after the driver area)",
    )
    .option("--base <addr>", "guest address of the dump's first byte", "0")
    .option("--align <n>", "split: used ring alignment for the default layout (4; legacy 4096)")
    .option("--json", "print the report as JSON")
    .addHelpText(
      "after",
      "\nexample:\n  ringside ring testdata/rings/split.bin --base 0x10000 --size 8 --desc 0x10000",
    )
    .action(async (dump, opts) => {
      Deno.stdout.writeSync(new TextEncoder().encode(await ringCommand(dump, opts)));
    });
}
