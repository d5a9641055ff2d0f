/**
 * Private: notification body layouts (server to kernel, unique 0), one table
 * row per `enum fuse_notify_code`.
 *
 * @module
 */
import { CodecError } from "../errors.ts";
import { FUSE_NAME_MAX, type NotifyName } from "./constants.ts";
import { atLeast, exact, nameAt, nameLength, writeCName } from "./_layout.ts";
import type { FuseName } from "./names.ts";
import type { EmptyBody, NotifyBodies, NotifyBodiesInit } from "./types.ts";

/** One row of the notification table. */
export interface NotifyLayout<B, I = B> {
  decode(v: DataView, b: Uint8Array, o: number, end: number): B;
  size(body: I): number;
  encode(v: DataView, b: Uint8Array, o: number, body: I): void;
}

type Table = { [K in NotifyName]: NotifyLayout<NotifyBodies[K], NotifyBodiesInit[K]> };

const emptyBody: NotifyLayout<EmptyBody> = {
  decode(_v, _b, o, end) {
    exact(end - o, 0, "body", o);
    return {};
  },
  size: () => 0,
  encode() {},
};

/** A name of `namelen` bytes and a NUL that must end the message exactly (as the kernel checks). */
function namedTail(
  b: Uint8Array,
  at: number,
  end: number,
  namelen: number,
  field: string,
  lenOffset: number,
): FuseName {
  if (namelen > FUSE_NAME_MAX) {
    throw new CodecError(field, lenOffset, `${namelen} exceeds FUSE_NAME_MAX (${FUSE_NAME_MAX})`);
  }
  if (end - at !== namelen + 1) {
    throw new CodecError(
      field,
      lenOffset,
      `says ${namelen} bytes of name plus a NUL, the message carries ${end - at}`,
    );
  }
  if (b[at + namelen] !== 0) throw new CodecError("name", at + namelen, "no NUL terminator");
  return nameAt(b, at, at + namelen);
}

/** The notification table. */
export const NOTIFICATIONS: Table = {
  POLL: {
    decode(v, _b, o, end) {
      exact(end - o, 8, "fuse_notify_poll_wakeup_out", o);
      return { kh: v.getBigUint64(o, true) };
    },
    size: () => 8,
    encode(v, _b, o, x) {
      v.setBigUint64(o, x.kh, true);
    },
  },
  INVAL_INODE: {
    decode(v, _b, o, end) {
      exact(end - o, 24, "fuse_notify_inval_inode_out", o);
      return {
        ino: v.getBigUint64(o, true),
        off: v.getBigInt64(o + 8, true),
        len: v.getBigInt64(o + 16, true),
      };
    },
    size: () => 24,
    encode(v, _b, o, x) {
      v.setBigUint64(o, x.ino, true);
      v.setBigInt64(o + 8, x.off, true);
      v.setBigInt64(o + 16, x.len, true);
    },
  },
  INVAL_ENTRY: {
    decode(v, b, o, end) {
      atLeast(end - o, 16, "fuse_notify_inval_entry_out", o);
      const namelen = v.getUint32(o + 8, true);
      const name = namedTail(b, o + 16, end, namelen, "fuse_notify_inval_entry_out.namelen", o + 8);
      return { parent: v.getBigUint64(o, true), namelen, flags: v.getUint32(o + 12, true), name };
    },
    size: (x) => 16 + nameLength(x.name) + 1,
    encode(v, b, o, x) {
      v.setBigUint64(o, x.parent, true);
      v.setUint32(o + 8, nameLength(x.name), true);
      v.setUint32(o + 12, x.flags, true);
      writeCName(b, o + 16, x.name);
    },
  },
  STORE: {
    decode(v, b, o, end) {
      atLeast(end - o, 24, "fuse_notify_store_out", o);
      const size = v.getUint32(o + 16, true);
      if (size !== end - o - 24) {
        throw new CodecError(
          "fuse_notify_store_out.size",
          o + 16,
          `says ${size} bytes of data, the message carries ${end - o - 24}`,
        );
      }
      return {
        nodeid: v.getBigUint64(o, true),
        offset: v.getBigUint64(o + 8, true),
        size,
        padding: v.getUint32(o + 20, true),
        data: b.subarray(o + 24, end),
      };
    },
    size: (x) => 24 + x.data.length,
    encode(v, b, o, x) {
      v.setBigUint64(o, x.nodeid, true);
      v.setBigUint64(o + 8, x.offset, true);
      v.setUint32(o + 16, x.data.length, true);
      v.setUint32(o + 20, x.padding, true);
      b.set(x.data, o + 24);
    },
  },
  RETRIEVE: {
    decode(v, _b, o, end) {
      exact(end - o, 32, "fuse_notify_retrieve_out", o);
      return {
        notify_unique: v.getBigUint64(o, true),
        nodeid: v.getBigUint64(o + 8, true),
        offset: v.getBigUint64(o + 16, true),
        size: v.getUint32(o + 24, true),
        padding: v.getUint32(o + 28, true),
      };
    },
    size: () => 32,
    encode(v, _b, o, x) {
      v.setBigUint64(o, x.notify_unique, true);
      v.setBigUint64(o + 8, x.nodeid, true);
      v.setBigUint64(o + 16, x.offset, true);
      v.setUint32(o + 24, x.size, true);
      v.setUint32(o + 28, x.padding, true);
    },
  },
  DELETE: {
    decode(v, b, o, end) {
      atLeast(end - o, 24, "fuse_notify_delete_out", o);
      const namelen = v.getUint32(o + 16, true);
      const name = namedTail(b, o + 24, end, namelen, "fuse_notify_delete_out.namelen", o + 16);
      return {
        parent: v.getBigUint64(o, true),
        child: v.getBigUint64(o + 8, true),
        namelen,
        padding: v.getUint32(o + 20, true),
        name,
      };
    },
    size: (x) => 24 + nameLength(x.name) + 1,
    encode(v, b, o, x) {
      v.setBigUint64(o, x.parent, true);
      v.setBigUint64(o + 8, x.child, true);
      v.setUint32(o + 16, nameLength(x.name), true);
      v.setUint32(o + 20, x.padding, true);
      writeCName(b, o + 24, x.name);
    },
  },
  RESEND: emptyBody,
  INC_EPOCH: emptyBody,
  // fuse_notify_prune_out: 16 bytes, then count node ids
  PRUNE: {
    decode(v, _b, o, end) {
      atLeast(end - o, 16, "fuse_notify_prune_out", o);
      const count = v.getUint32(o, true);
      if (count * 8 !== end - o - 16) {
        throw new CodecError(
          "fuse_notify_prune_out.count",
          o,
          `says ${count} node ids (${count * 8} bytes), the message carries ${end - o - 16} bytes`,
        );
      }
      const nodeids = new Array<bigint>(count);
      for (let i = 0; i < count; i++) nodeids[i] = v.getBigUint64(o + 16 + 8 * i, true);
      return {
        count,
        padding: v.getUint32(o + 4, true),
        spare: v.getBigUint64(o + 8, true),
        nodeids,
      };
    },
    size: (x) => 16 + 8 * x.nodeids.length,
    encode(v, _b, o, x) {
      v.setUint32(o, x.nodeids.length, true);
      v.setUint32(o + 4, x.padding, true);
      v.setBigUint64(o + 8, x.spare, true);
      for (let i = 0; i < x.nodeids.length; i++) v.setBigUint64(o + 16 + 8 * i, x.nodeids[i], true);
    },
  },
};
