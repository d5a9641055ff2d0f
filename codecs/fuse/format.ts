/**
 * Printing FUSE messages for people: errno names, flag words, one-line
 * summaries (for tcpdump-like listings) and a JSON-safe form (bigint as
 * decimal strings, bytes as hex).
 *
 * @example
 * ```ts
 * import { summarizeRequest } from "./format.ts";
 * import { decodeRequest, encodeRequest } from "./codec.ts";
 * const req = decodeRequest(encodeRequest({
 *   op: "LOOKUP", header: { unique: 2n, nodeid: 1n }, body: { name: "a" },
 * }));
 * console.log(summarizeRequest(req)); // name="a"
 * ```
 *
 * @module
 */
import {
  FATTR,
  flagNames,
  FOPEN,
  FSYNC,
  FUSE_OPEN,
  GETATTR,
  initFlagNames,
  initFlagsWord,
  LK,
  READ,
  RELEASE,
  SETXATTR,
  WRITE,
} from "./constants.ts";
import type { FuseNotification, FuseReply, FuseRequest } from "./types.ts";
import { FuseName, type NameInit, nameText } from "./names.ts";
import { DirentList, DirentplusList } from "./dirents.ts";

/** Linux errno names (x86_64 and aarch64 share them) for the errors FUSE replies carry. */
const ERRNO: Readonly<Record<number, string>> = {
  1: "EPERM",
  2: "ENOENT",
  3: "ESRCH",
  4: "EINTR",
  5: "EIO",
  6: "ENXIO",
  7: "E2BIG",
  9: "EBADF",
  11: "EAGAIN",
  12: "ENOMEM",
  13: "EACCES",
  14: "EFAULT",
  16: "EBUSY",
  17: "EEXIST",
  18: "EXDEV",
  19: "ENODEV",
  20: "ENOTDIR",
  21: "EISDIR",
  22: "EINVAL",
  23: "ENFILE",
  24: "EMFILE",
  25: "ENOTTY",
  26: "ETXTBSY",
  27: "EFBIG",
  28: "ENOSPC",
  29: "ESPIPE",
  30: "EROFS",
  31: "EMLINK",
  32: "EPIPE",
  34: "ERANGE",
  35: "EDEADLK",
  36: "ENAMETOOLONG",
  37: "ENOLCK",
  38: "ENOSYS",
  39: "ENOTEMPTY",
  40: "ELOOP",
  61: "ENODATA",
  75: "EOVERFLOW",
  95: "EOPNOTSUPP",
  103: "ECONNABORTED",
  107: "ENOTCONN",
  110: "ETIMEDOUT",
  116: "ESTALE",
  122: "EDQUOT",
  125: "ECANCELED",
};

/** The name of a FUSE reply error (`-2` or `2` → `"ENOENT"`), `"OK"` for 0, `E<n>` when unknown. */
export function errorName(error: number): string {
  if (error === 0) return "OK";
  const n = Math.abs(error);
  return ERRNO[n] ?? `E${n}`;
}

/** `fuse_attr.mode` as `ls` shows it (`-rw-r--r--`, `drwxr-xr-x`). */
export function modeString(mode: number): string {
  const types: Record<number, string> = {
    0o140000: "s",
    0o120000: "l",
    0o100000: "-",
    0o060000: "b",
    0o040000: "d",
    0o020000: "c",
    0o010000: "p",
  };
  let s = types[mode & 0o170000] ?? "?";
  const rwx = "rwxrwxrwx";
  for (let i = 0; i < 9; i++) s += (mode & (0o400 >> i)) !== 0 ? rwx[i] : "-";
  return s;
}

/** The named flags of `field` in a message of `op`, or undefined when the field is not a flag word. */
export function describeFlags(
  op: string,
  field: string,
  value: number,
  direction: "request" | "reply",
): string[] | undefined {
  switch (field) {
    case "valid":
      return op === "SETATTR" ? flagNames(FATTR, value) : undefined;
    case "open_flags":
      return flagNames(direction === "reply" ? FOPEN : FUSE_OPEN, value);
    case "release_flags":
      return flagNames(RELEASE, value);
    case "write_flags":
      return flagNames(WRITE, value);
    case "read_flags":
      return flagNames(READ, value);
    case "fsync_flags":
      return flagNames(FSYNC, value);
    case "getattr_flags":
      return flagNames(GETATTR, value);
    case "lk_flags":
      return flagNames(LK, value);
    case "setxattr_flags":
      return flagNames(SETXATTR, value);
  }
  return undefined;
}

function hex(b: Uint8Array, max = 32): string {
  let s = "";
  for (let i = 0; i < Math.min(b.length, max); i++) s += b[i].toString(16).padStart(2, "0");
  return b.length > max ? `${s}…` : s;
}

/**
 * A JSON-safe copy of a decoded message: bigint as decimal strings, names
 * as text ({@linkcode nameText}: invalid UTF-8 bytes as `\xNN`), other
 * `Uint8Array` as hex strings, directory listings as `{ entries }`,
 * everything else as is.
 */
export function toJsonValue(value: unknown): unknown {
  if (typeof value === "bigint") return value.toString();
  if (value instanceof FuseName) return value.text;
  if (value instanceof Uint8Array) return hex(value, Infinity);
  if (value instanceof DirentList || value instanceof DirentplusList) {
    return { entries: toJsonValue(value.entries) };
  }
  if (Array.isArray(value)) return value.map(toJsonValue);
  if (value !== null && typeof value === "object") {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) {
      if (v !== undefined) out[k] = toJsonValue(v);
    }
    return out;
  }
  return value;
}

function q(s: NameInit): string {
  return JSON.stringify(nameText(s));
}

/** The key arguments of a request in one short line (`name="a.txt"`, `fh=3 offset=0 size=4096`). */
export function summarizeRequest(req: FuseRequest): string {
  switch (req.op) {
    case "LOOKUP":
    case "UNLINK":
    case "RMDIR":
    case "REMOVEXATTR":
      return `name=${q(req.body.name)}`;
    case "FORGET":
      return `nlookup=${req.body.nlookup}`;
    case "BATCH_FORGET":
      return `count=${req.body.count}`;
    case "GETATTR":
      return (req.body.getattr_flags & 1) !== 0 ? `fh=${req.body.fh}` : "";
    case "SETATTR":
      return `valid=${flagNames(FATTR, req.body.valid).join("|") || "0"}`;
    case "SYMLINK":
      return `name=${q(req.body.name)} -> ${q(req.body.linkname)}`;
    case "MKNOD":
    case "MKDIR":
      return `name=${q(req.body.name)} mode=${req.body.mode.toString(8)}`;
    case "CREATE":
    case "TMPFILE":
      return `name=${q(req.body.name)} flags=0${req.body.flags.toString(8)} mode=${
        req.body.mode.toString(8)
      }`;
    case "RENAME":
    case "RENAME2":
      return `${q(req.body.oldname)} -> newdir=${req.body.newdir} ${q(req.body.newname)}`;
    case "LINK":
      return `oldnodeid=${req.body.oldnodeid} newname=${q(req.body.newname)}`;
    case "OPEN":
    case "OPENDIR":
      return `flags=0${req.body.flags.toString(8)}`;
    case "READ":
    case "READDIR":
    case "READDIRPLUS":
      return `fh=${req.body.fh} offset=${req.body.offset} size=${req.body.size}`;
    case "WRITE":
      return `fh=${req.body.fh} offset=${req.body.offset} size=${req.body.size}`;
    case "RELEASE":
    case "RELEASEDIR":
    case "FLUSH":
    case "FSYNC":
    case "FSYNCDIR":
      return `fh=${req.body.fh}`;
    case "SETXATTR":
      return `name=${q(req.body.name)} size=${req.body.size}`;
    case "GETXATTR":
      return `name=${q(req.body.name)} size=${req.body.size}`;
    case "LISTXATTR":
      return `size=${req.body.size}`;
    case "INIT":
      // the kernel offers some 40 flags: their names are in the reply, which says what was agreed
      return `${req.body.major}.${req.body.minor} max_readahead=${req.body.max_readahead} offers ${
        initFlagNames(initFlagsWord(req.body.flags, req.body.flags2)).length
      } flags`;
    case "ACCESS":
      return `mask=${req.body.mask}`;
    case "INTERRUPT":
      return `unique=${req.body.unique}`;
    case "GETLK":
    case "SETLK":
    case "SETLKW":
      return `fh=${req.body.fh} type=${req.body.lk.type} ${req.body.lk.start}-${req.body.lk.end}`;
    case "LSEEK":
      return `fh=${req.body.fh} offset=${req.body.offset} whence=${req.body.whence}`;
    case "FALLOCATE":
      return `fh=${req.body.fh} offset=${req.body.offset} length=${req.body.length}`;
    case "UNKNOWN":
      return `${req.body.raw.length} body bytes`;
    default:
      return "";
  }
}

/** The key results of a reply in one short line (`ENOENT`, `nodeid=5 size=20`, `4096 bytes`). */
export function summarizeReply(reply: FuseReply): string {
  if (reply.header.error !== 0 || reply.body === null) return errorName(reply.header.error);
  switch (reply.op) {
    case "LOOKUP":
    case "MKNOD":
    case "MKDIR":
    case "SYMLINK":
    case "LINK":
      return `nodeid=${reply.body.nodeid} ${
        modeString(reply.body.attr.mode)
      } size=${reply.body.attr.size}`;
    case "CREATE":
    case "TMPFILE":
      return `nodeid=${reply.body.entry.nodeid} fh=${reply.body.open.fh}`;
    case "GETATTR":
    case "SETATTR":
      return `${modeString(reply.body.attr.mode)} size=${reply.body.attr.size}`;
    case "OPEN":
    case "OPENDIR":
      return `fh=${reply.body.fh}${
        reply.body.open_flags ? ` ${flagNames(FOPEN, reply.body.open_flags).join("|")}` : ""
      }`;
    case "READ":
      return `${reply.body.data.length} bytes`;
    case "WRITE":
    case "COPY_FILE_RANGE":
      return `size=${reply.body.size}`;
    case "READLINK":
      return q(reply.body.link);
    case "READDIR":
      return `${reply.body.entries.length} entries`;
    case "READDIRPLUS":
      return `${reply.body.entries.length} entries`;
    case "INIT":
      return `${reply.body.major}.${reply.body.minor} max_write=${reply.body.max_write} flags=${
        initFlagNames(initFlagsWord(reply.body.flags, reply.body.flags2 ?? 0)).join("|") || "none"
      }`;
    case "STATFS":
      return `blocks=${reply.body.st.blocks} bfree=${reply.body.st.bfree}`;
    case "GETXATTR":
    case "LISTXATTR":
      return reply.body.value === null ? `size=${reply.body.size}` : `${reply.body.size} bytes`;
    case "LSEEK":
      return `offset=${reply.body.offset}`;
    case "UNKNOWN":
      return `${reply.body.raw.length} body bytes`;
    default:
      return "OK";
  }
}

/** The key fields of a notification in one short line. */
export function summarizeNotification(n: FuseNotification): string {
  switch (n.op) {
    case "NOTIFY_INVAL_INODE":
      return `ino=${n.body.ino} off=${n.body.off} len=${n.body.len}`;
    case "NOTIFY_INVAL_ENTRY":
      return `parent=${n.body.parent} name=${q(n.body.name)}`;
    case "NOTIFY_DELETE":
      return `parent=${n.body.parent} child=${n.body.child} name=${q(n.body.name)}`;
    case "NOTIFY_STORE":
      return `nodeid=${n.body.nodeid} offset=${n.body.offset} size=${n.body.size}`;
    case "NOTIFY_RETRIEVE":
      return `nodeid=${n.body.nodeid} offset=${n.body.offset} size=${n.body.size}`;
    case "NOTIFY_POLL":
      return `kh=${n.body.kh}`;
    case "NOTIFY_PRUNE":
      return `${n.body.count} nodes`;
    default:
      return "";
  }
}
