/**
 * Cross-check: codecs/fuse/fuse.ksy, compiled by the npm kaitai-struct-compiler,
 * and the TypeScript decoder must read every message of the test corpus the
 * same way (u64 values above 2^53 excepted: Kaitai's JS runtime reads u64 as
 * numbers).
 */
import assert from "node:assert/strict";
import { loadKsy } from "../../testing/kaitai.ts";
import {
  decodeNotification,
  decodeReply,
  decodeRequest,
  encodeNotification,
  encodeReply,
  encodeRequest,
  type FuseReplyInit,
  type FuseRequestInit,
} from "./codec.ts";
import { Opcode, type OpName } from "./constants.ts";
import { notificationSamples, replyBodies, requestBodies } from "./_samples.ts";
import type { FuseExtension, FuseRequest } from "./types.ts";
import { FuseName } from "./names.ts";
import { DirentList, DirentplusList } from "./dirents.ts";

const parse = await loadKsy(new URL("./fuse.ksy", import.meta.url).pathname);

const IGNORED = /^(reserved|unused|spare)/;

/** Asserts the Kaitai reading `kt` agrees with the TypeScript reading `ts`. */
function agree(ts: unknown, kt: unknown, path: string): void {
  if (ts instanceof FuseName) {
    // Kaitai reads names as UTF-8 strings (the samples' names are valid UTF-8): same bytes
    assert.equal(typeof kt, "string", `${path}: Kaitai gave ${typeof kt}`);
    assert.deepEqual(Array.from(ts), Array.from(new TextEncoder().encode(kt as string)), path);
  } else if (ts instanceof DirentList || ts instanceof DirentplusList) {
    agree({ entries: ts.entries }, kt, path);
  } else if (typeof ts === "bigint") {
    if (ts > BigInt(Number.MAX_SAFE_INTEGER) || ts < BigInt(Number.MIN_SAFE_INTEGER)) return;
    assert.equal(kt, Number(ts), path);
  } else if (ts instanceof Uint8Array) {
    assert.ok(kt instanceof Uint8Array, `${path}: Kaitai gave ${typeof kt}`);
    assert.deepEqual(Array.from(kt), Array.from(ts), path);
  } else if (Array.isArray(ts)) {
    assert.ok(Array.isArray(kt), `${path}: Kaitai gave no array`);
    assert.equal(kt.length, ts.length, `${path}.length`);
    ts.forEach((x, i) => agree(x, kt[i], `${path}[${i}]`));
  } else if (ts !== null && typeof ts === "object") {
    if (Object.keys(ts).length === 0 && kt instanceof Uint8Array) {
      assert.equal(kt.length, 0, path);
      return;
    }
    assert.ok(kt !== null && typeof kt === "object", `${path}: Kaitai gave ${kt}`);
    const k = kt as Record<string, unknown>;
    for (const [key, value] of Object.entries(ts)) {
      if (value === undefined) continue;
      if (!(key in k)) {
        // a field this layout (minor) does not carry reads as 0 in TypeScript
        assert.ok(value === 0 || value === 0n, `${path}.${key} missing in Kaitai`);
        continue;
      }
      agree(value, k[key], `${path}.${key}`);
    }
    for (const key of Object.keys(k)) {
      if (!(key in ts)) assert.match(key, IGNORED, `${path}.${key} only in Kaitai`);
    }
  } else {
    assert.equal(kt, ts, path);
  }
}

function agreeExtensions(ts: FuseExtension[] | undefined, kt: unknown): void {
  const list = (kt as { list: { size: number; type: number; body: Record<string, unknown> }[] })
    .list;
  assert.equal(list.length, ts?.length ?? 0, "extensions");
  ts?.forEach((e, i) => {
    assert.equal(list[i].type, e.type);
    if (e.kind === "supp_groups") agree(e.groups, list[i].body.groups, "supp_groups");
    else if (e.kind === "security_context") {
      const contexts = list[i].body.contexts as Record<string, unknown>[];
      agree(e.contexts, contexts.map((c) => ({ name: c.name, context: c.context })), "secctx");
    }
  });
}

function checkRequest(bytes: Uint8Array, opts: { minor?: number; setxattrExt?: boolean }): void {
  const ts = decodeRequest(bytes, opts) as FuseRequest;
  const kt = parse(bytes);
  agree(ts.header, kt.header, `${ts.op}.header`);
  agree(ts.body, kt.body, `${ts.op}.body`);
  agreeExtensions(ts.extensions, kt.extensions);
}

/** The Kaitai type of each reply body at the newest minor. */
const REPLY_TYPE: Partial<Record<OpName, string>> = {
  LOOKUP: "fuse_entry_out",
  SYMLINK: "fuse_entry_out",
  MKNOD: "fuse_entry_out",
  MKDIR: "fuse_entry_out",
  LINK: "fuse_entry_out",
  GETATTR: "fuse_attr_out",
  SETATTR: "fuse_attr_out",
  READLINK: "readlink_out",
  OPEN: "fuse_open_out",
  OPENDIR: "fuse_open_out",
  READ: "data_out",
  WRITE: "fuse_write_out",
  COPY_FILE_RANGE: "fuse_write_out",
  STATFS: "fuse_statfs_out",
  INIT: "fuse_init_out",
  READDIR: "readdir_out",
  READDIRPLUS: "readdirplus_out",
  GETLK: "fuse_lk_out",
  CREATE: "create_out",
  TMPFILE: "create_out",
  BMAP: "fuse_bmap_out",
  IOCTL: "fuse_ioctl_out",
  POLL: "fuse_poll_out",
  LSEEK: "fuse_lseek_out",
  STATX: "fuse_statx_out",
  COPY_FILE_RANGE_64: "fuse_copy_file_range_out",
  CUSE_INIT: "cuse_init_out",
};

function checkReply(
  bytes: Uint8Array,
  op: OpName,
  minor: number,
  type: string | undefined,
): number {
  const request = decodeRequest(encodeRequest(requestBodies(minor)[op], { minor }), { minor });
  const ts = decodeReply(bytes, { minor, request });
  agree(ts.header, parse(bytes, "fuse_out_header"), `${op} reply header`);
  const body = bytes.subarray(16);
  if (ts.body === null) return 0;
  if (op === "GETXATTR" || op === "LISTXATTR") {
    const x = ts.body as { size: number; value: Uint8Array | null };
    if (x.value === null) agree({ size: x.size, padding: 0 }, parse(body, "fuse_getxattr_out"), op);
    else agree({ data: x.value }, parse(body, "data_out"), op);
    return 1;
  }
  if (type === undefined) {
    assert.equal(body.length, 0, `${op} reply has a body but no Kaitai type`);
    return 0;
  }
  agree(ts.body, parse(body, type), `${op} reply body`);
  return 1;
}

Deno.test("Kaitai and TypeScript agree on every request sample at 7.45, and with extensions", () => {
  let n = 0;
  // the top-level type reads fuse_setxattr_in without FUSE_SETXATTR_EXT
  for (const s of Object.values(requestBodies(45, false))) {
    checkRequest(encodeRequest(s as FuseRequestInit), {});
    n++;
  }
  // with extensions
  checkRequest(
    encodeRequest({
      ...requestBodies(45).MKNOD,
      extensions: [
        {
          kind: "security_context",
          type: 1,
          contexts: [{ name: "security.selinux", context: new TextEncoder().encode("u:r:x:s0\0") }],
        },
        { kind: "supp_groups", type: 32, groups: [27, 1001, 4] },
      ],
    }),
    {},
  );
  assert.equal(n, Object.keys(Opcode).length);
});

Deno.test("Kaitai and TypeScript agree on every reply sample at 7.45", () => {
  let n = 0;
  for (const [op, r] of Object.entries(replyBodies(45))) {
    n += checkReply(encodeReply(r as FuseReplyInit), op as OpName, 45, REPLY_TYPE[op as OpName]);
  }
  assert.equal(n, Object.keys(REPLY_TYPE).length + 2); // + GETXATTR, LISTXATTR
});

Deno.test("Kaitai and TypeScript agree on the older layouts", () => {
  // replies below 7.9: 120-byte entry_out, 96-byte attr_out
  for (const op of ["LOOKUP", "MKDIR", "GETATTR", "SETATTR", "CREATE"] as OpName[]) {
    const type = {
      GETATTR: "fuse_attr_out_compat",
      SETATTR: "fuse_attr_out_compat",
      CREATE: "create_out_compat",
    }[
      op as string
    ] ?? "fuse_entry_out_compat";
    checkReply(encodeReply(replyBodies(8)[op] as FuseReplyInit, { minor: 8 }), op, 8, type);
  }
  checkReply(
    encodeReply(replyBodies(3).STATFS!, { minor: 3 }),
    "STATFS",
    3,
    "fuse_statfs_out_compat",
  );
  checkReply(encodeReply(replyBodies(22).INIT!, { minor: 22 }), "INIT", 22, "fuse_init_out_compat");
  // requests: body types by name
  const body = (op: OpName, minor: number, setxattrExt = false) => {
    const bytes = encodeRequest(requestBodies(minor, setxattrExt)[op], { minor, setxattrExt });
    return { ts: decodeRequest(bytes, { minor, setxattrExt }).body, bytes: bytes.subarray(40) };
  };
  for (
    const [op, minor, type, ext] of [
      ["WRITE", 8, "fuse_write_in_compat", false],
      ["MKNOD", 11, "fuse_mknod_in_compat", false],
      ["CREATE", 11, "fuse_create_in_compat", false],
      ["TMPFILE", 11, "fuse_create_in_compat", false],
      ["INIT", 35, "fuse_init_in_compat", false],
      ["SETXATTR", 45, "fuse_setxattr_in", true],
    ] as [OpName, number, string, boolean][]
  ) {
    const { ts, bytes } = body(op, minor, ext);
    agree(ts, parse(bytes, type), `${op} at 7.${minor}`);
  }
});

Deno.test("Kaitai and TypeScript agree on every notification", () => {
  for (const s of notificationSamples()) {
    const bytes = encodeNotification(s);
    const ts = decodeNotification(bytes);
    const kt = parse(bytes, "fuse_notification");
    agree(ts.header, kt.header, `${s.op}.header`);
    agree(ts.body, kt.body, `${s.op}.body`);
  }
});
