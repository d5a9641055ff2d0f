/**
 * `ringside decode-hex HEX... [--reply [--opcode OP]] [--minor N] [--setxattr-ext] [--json]`:
 * decode one FUSE message given as hex (spaces and colons allowed) and print
 * its fields, human-readably or as JSON.
 *
 * @module
 */
import { type Command, Option } from "@commander-js/extra-typings";
import { UserError } from "../errors.ts";
import { CodecError } from "../../codecs/errors.ts";
import {
  decodeNotification,
  decodeReply,
  decodeRequest,
  describeFlags,
  DirentList,
  DirentplusList,
  errorName,
  FUSE_KERNEL_MINOR_VERSION,
  FuseName,
  initFlagNames,
  initFlagsWord,
  modeString,
  Opcode,
  opcodeName,
  type OpName,
  toJsonValue,
} from "../../codecs/fuse/mod.ts";

/** Parses hex digits, allowing spaces, colons, dashes and a leading `0x`; throws UserError otherwise. */
export function parseHex(text: string): Uint8Array {
  const clean = text.replace(/^0x/i, "").replace(/[\s:-]/g, "");
  const bad = clean.search(/[^0-9a-fA-F]/);
  if (bad >= 0) throw new UserError(`decode-hex: '${clean[bad]}' is not a hex digit`, 2);
  if (clean.length % 2 !== 0) {
    throw new UserError(`decode-hex: odd number of hex digits (${clean.length})`, 2);
  }
  if (clean.length === 0) throw new UserError("decode-hex: no bytes given", 2);
  const out = new Uint8Array(clean.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(clean.slice(2 * i, 2 * i + 2), 16);
  return out;
}

function parseOpcode(text: string): number {
  const upper = text.toUpperCase().replace(/^FUSE_/, "");
  if (upper in Opcode) return Opcode[upper as OpName];
  const n = Number(text);
  if (Number.isInteger(n) && n >= 0) return n;
  throw new UserError(`decode-hex: --opcode ${text} is neither an opcode name nor a number`, 2);
}

function bytesText(b: Uint8Array): string {
  const shown = Array.from(b.subarray(0, 64), (x) => x.toString(16).padStart(2, "0")).join("");
  const printable = b.length > 0 && b.every((c) => (c >= 0x20 && c < 0x7f) || c === 10 || c === 0);
  const asText = printable
    ? `  ${JSON.stringify(new TextDecoder().decode(b.subarray(0, 64)))}`
    : "";
  return `${b.length} bytes ${shown}${b.length > 64 ? "…" : ""}${asText}`;
}

function fieldText(
  op: string,
  key: string,
  value: unknown,
  direction: "request" | "reply",
): string {
  if (typeof value === "number") {
    if (key === "mode") return `0${value.toString(8)} (${modeString(value)})`;
    if (key === "umask") return `0${value.toString(8)}`;
    if (key === "flags" && (op === "OPEN" || op === "OPENDIR" || op === "CREATE")) {
      return `0${value.toString(8)}`;
    }
    const names = describeFlags(op, key, value, direction);
    if (names !== undefined && value !== 0) return `0x${value.toString(16)} (${names.join("|")})`;
    if (key === "error") return value === 0 ? "0" : `${value} (${errorName(value)})`;
  }
  if (typeof value === "string") return JSON.stringify(value);
  if (value instanceof FuseName) return JSON.stringify(value.text);
  if (value instanceof Uint8Array) return bytesText(value);
  return String(value);
}

function printFields(
  lines: string[],
  op: string,
  value: object,
  indent: string,
  direction: "request" | "reply",
): void {
  const fields = value instanceof DirentList || value instanceof DirentplusList
    ? { entries: value.entries }
    : value;
  for (const [key, v] of Object.entries(fields)) {
    if (v === undefined) continue;
    if (Array.isArray(v)) {
      lines.push(`${indent}${key}: ${v.length} item${v.length === 1 ? "" : "s"}`);
      v.forEach((item, i) => {
        if (item !== null && typeof item === "object" && !(item instanceof Uint8Array)) {
          lines.push(`${indent}  [${i}]`);
          printFields(lines, op, item as Record<string, unknown>, `${indent}    `, direction);
        } else lines.push(`${indent}  [${i}] ${fieldText(op, key, item, direction)}`);
      });
    } else if (v !== null && typeof v === "object" && !(v instanceof Uint8Array)) {
      lines.push(`${indent}${key}:`);
      printFields(lines, op, v as Record<string, unknown>, `${indent}  `, direction);
    } else {
      lines.push(`${indent}${key}: ${fieldText(op, key, v, direction)}`);
    }
  }
}

/** Options of `decode-hex`. */
export interface DecodeHexOptions {
  reply?: true;
  opcode?: string;
  minor?: string;
  setxattrExt?: true;
  json?: true;
}

/** Decodes `hex` as the options say and returns the text to print. */
export function decodeHexCommand(hex: string, options: DecodeHexOptions): string {
  const bytes = parseHex(hex);
  const minor = options.minor === undefined ? FUSE_KERNEL_MINOR_VERSION : Number(options.minor);
  if (!Number.isInteger(minor) || minor < 0 || minor > 0xffff) {
    throw new UserError(`decode-hex: --minor ${options.minor} is not a minor version number`, 2);
  }
  const codec = { minor, setxattrExt: options.setxattrExt ?? false };
  let message: { op: string; header: object; body: unknown; extensions?: unknown };
  let title: string;
  const direction = options.reply ? "reply" : "request";
  try {
    if (!options.reply) {
      if (options.opcode !== undefined) {
        throw new UserError("decode-hex: --opcode only applies with --reply", 2);
      }
      const req = decodeRequest(bytes, codec);
      message = req;
      title = `request ${
        req.op === "UNKNOWN" ? opcodeName(req.header.opcode) : req.op
      }  unique ${req.header.unique}  nodeid ${req.header.nodeid}  ${bytes.length} bytes`;
    } else if (bytes.length >= 16 && new DataView(bytes.buffer).getBigUint64(8, true) === 0n) {
      const n = decodeNotification(bytes);
      message = n;
      title = `notification ${
        n.op === "NOTIFY_UNKNOWN" ? `code ${n.header.error}` : n.op
      }  ${bytes.length} bytes`;
    } else {
      const opcode = options.opcode === undefined ? undefined : parseOpcode(options.opcode);
      const rep = decodeReply(bytes, { ...codec, opcode });
      message = rep;
      title = `reply ${
        rep.op === "UNKNOWN" && opcode !== undefined ? opcodeName(opcode) : rep.op
      }  unique ${rep.header.unique}  ${errorName(rep.header.error)}  ${bytes.length} bytes`;
      if (rep.op === "UNKNOWN" && opcode === undefined && rep.body !== null) {
        title += "  (give --opcode to decode the body)";
      }
    }
  } catch (e) {
    if (e instanceof CodecError) {
      throw new UserError(`decode-hex: not a valid FUSE ${direction}: ${e.message}`);
    }
    throw e;
  }
  if (options.json) return JSON.stringify(toJsonValue(message), null, 2);
  const lines = [title, "  header:"];
  const op = message.op;
  printFields(lines, op, message.header, "    ", direction);
  if (op === "INIT" && message.body !== null) {
    const b = message.body as { flags: number; flags2: number };
    lines.push("  body:");
    printFields(lines, op, message.body as Record<string, unknown>, "    ", direction);
    lines.push(
      `    init flags: ${initFlagNames(initFlagsWord(b.flags, b.flags2)).join(" ") || "none"}`,
    );
  } else if (message.body === null) {
    lines.push("  body: none (error reply)");
  } else if (Object.keys(message.body as object).length === 0) {
    lines.push("  body: empty");
  } else {
    lines.push("  body:");
    printFields(lines, op, message.body as Record<string, unknown>, "    ", direction);
  }
  if (message.extensions !== undefined) {
    lines.push("  extensions:");
    printFields(lines, op, { list: message.extensions }, "    ", direction);
  }
  return lines.join("\n");
}

/** Registers `decode-hex` on `program`. */
export function registerDecodeHex(program: Command<[], { debug?: true }>): void {
  program
    .command("decode-hex")
    .description(
      "decode one FUSE message given as hex: a request by default, a reply or notification " +
        "with --reply",
    )
    .argument("<hex...>", "the message bytes as hex (spaces and colons allowed)")
    .option("--reply", "the bytes are a reply (or, with unique 0, a notification)")
    .addOption(
      new Option("--opcode <op>", "opcode of the request a reply answers (name or number)"),
    )
    .option("--minor <n>", "negotiated protocol minor version", String(FUSE_KERNEL_MINOR_VERSION))
    .option("--setxattr-ext", "FUSE_SETXATTR_EXT was negotiated (16-byte fuse_setxattr_in)")
    .option("--json", "print JSON (u64 as decimal strings, bytes as hex)")
    .action((hex, options) => {
      console.log(decodeHexCommand(hex.join(""), options));
    });
}
