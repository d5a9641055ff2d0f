/**
 * Snapshots of a shared directory, so a recorded session can be replayed
 * from exactly the state it started in (`--snapshot`). A snapshot is a
 * sidecar directory (`FILE.pcapng.snapshot/`) holding `manifest.json` (every
 * entry's path, type, permission bits, owner, size, SHA-256 of the content,
 * symlink target, hard-link group, extended attributes and mtime) and the
 * file contents once each under `objects/<sha256>`. The capture names it in
 * its section comment with the manifest's SHA-256 (see
 * `snapshotComment` in recorder.ts).
 *
 * {@linkcode restoreSnapshot} rebuilds the tree in a directory;
 * {@linkcode verifySnapshot} lists how a directory differs from it.
 *
 * @example
 * ```ts
 * import { restoreSnapshot, takeSnapshot, verifySnapshot } from "./snapshot.ts";
 * const snap = await takeSnapshot("/srv/share", "/tmp/s.pcapng.snapshot");
 * await restoreSnapshot(snap, "/tmp/replay-root");
 * console.log(await verifySnapshot(snap, "/tmp/replay-root")); // []
 * ```
 *
 * @module
 */
import { createHash } from "node:crypto";
import {
  AT_FDCWD,
  AT_SYMLINK_NOFOLLOW,
  fchownat,
  getxattr,
  listxattr,
  mknodat,
  S_IFBLK,
  S_IFCHR,
  S_IFDIR,
  S_IFIFO,
  S_IFLNK,
  S_IFMT,
  S_IFREG,
  S_IFSOCK,
  setxattr,
  type Stat,
  statx,
  utimensat,
} from "../sys/fs.ts";
import { SysError } from "../sys/libc.ts";

/** Manifest format version. */
export const SNAPSHOT_VERSION = 1;

/** What kind of file an entry is. */
export type EntryType = "dir" | "file" | "symlink" | "fifo" | "socket" | "chardev" | "blockdev";

/** One file, directory or link of the snapshot. */
export interface SnapshotEntry {
  /** Path relative to the shared directory, `/`-separated; `.` for the root itself. */
  path: string;
  /** Its type. */
  type: EntryType;
  /** Permission bits, with set-id and sticky bits (`mode & 0o7777`). */
  mode: number;
  /** Owner. */
  uid: number;
  /** Group. */
  gid: number;
  /** Size in bytes (regular files). */
  size?: number;
  /** SHA-256 of the content, hex (regular files). */
  sha256?: string;
  /** Symlink target. */
  target?: string;
  /** Device number (character and block devices). */
  rdev?: number;
  /** Hard-link group: entries with the same number are one inode (files with nlink > 1 only). */
  link_group?: number;
  /** Extended attributes, values in base64 (when any could be read). */
  xattrs?: Record<string, string>;
  /** Modification time, ns since the epoch, as a decimal string. */
  mtime_ns: string;
}

/** `manifest.json`. */
export interface SnapshotManifest {
  /** {@linkcode SNAPSHOT_VERSION}. */
  version: number;
  /** When it was taken (ISO 8601). */
  created: string;
  /** The directory it was taken of. */
  source: string;
  /** Every entry, sorted by path. */
  entries: SnapshotEntry[];
}

/** An opened snapshot. */
export interface Snapshot {
  /** The snapshot directory. */
  dir: string;
  /** Its manifest. */
  manifest: SnapshotManifest;
  /** SHA-256 (hex) of `manifest.json` as stored. */
  manifestSha256: string;
  /** The snapshot directory's path relative to `capturePath`'s directory (for the capture's comment). */
  relativePath(capturePath: string): string;
}

/** One way a directory differs from a snapshot. */
export interface SnapshotDifference {
  /** Entry path (relative, `/`-separated). */
  path: string;
  /** What differs: `missing` and `extra` entries, or a field. */
  what:
    | "missing"
    | "extra"
    | "type"
    | "mode"
    | "uid"
    | "gid"
    | "size"
    | "content"
    | "target"
    | "rdev"
    | "link_group"
    | "xattrs"
    | "mtime";
  /** The snapshot's value. */
  expected?: string;
  /** The directory's value. */
  actual?: string;
}

/** Options of {@linkcode takeSnapshot}. */
export interface TakeSnapshotOptions {
  /** Read extended attributes (default true). */
  xattrs?: boolean;
}

/** Options of {@linkcode verifySnapshot}. */
export interface VerifyOptions {
  /** Compare owners (default true). */
  owners?: boolean;
  /** Compare modification times (default false: replays change them legitimately). */
  mtime?: boolean;
  /** Compare extended attributes (default true). */
  xattrs?: boolean;
}

function typeOf(mode: number): EntryType {
  switch (mode & S_IFMT) {
    case S_IFDIR:
      return "dir";
    case S_IFREG:
      return "file";
    case S_IFLNK:
      return "symlink";
    case S_IFIFO:
      return "fifo";
    case S_IFSOCK:
      return "socket";
    case S_IFCHR:
      return "chardev";
    case S_IFBLK:
      return "blockdev";
  }
  return "file";
}

const TYPE_BITS: Record<EntryType, number> = {
  dir: S_IFDIR,
  file: S_IFREG,
  symlink: S_IFLNK,
  fifo: S_IFIFO,
  socket: S_IFSOCK,
  chardev: S_IFCHR,
  blockdev: S_IFBLK,
};

function lstat(path: string): Stat {
  return statx(AT_FDCWD, path, { flags: AT_SYMLINK_NOFOLLOW });
}

function b64(b: Uint8Array): string {
  let s = "";
  for (let i = 0; i < b.length; i++) s += String.fromCharCode(b[i]);
  return btoa(s);
}

function unb64(s: string): Uint8Array {
  return Uint8Array.from(atob(s), (c) => c.charCodeAt(0));
}

/** The extended attributes of `path` (never follows a symlink: none are read for symlinks). */
function readXattrs(path: string): Record<string, string> | undefined {
  let size: number;
  try {
    size = listxattr(path, new Uint8Array(0));
  } catch (e) {
    if (e instanceof SysError) return undefined; // ENOTSUP and friends: none
    throw e;
  }
  if (size === 0) return undefined;
  const buf = new Uint8Array(size);
  const n = listxattr(path, buf);
  const names = new TextDecoder().decode(buf.subarray(0, n)).split("\0").filter((x) => x !== "");
  const out: Record<string, string> = {};
  for (const name of names.sort()) {
    try {
      const len = getxattr(path, name, new Uint8Array(0));
      const value = new Uint8Array(len);
      const got = getxattr(path, name, value);
      out[name] = b64(value.subarray(0, got));
    } catch (e) {
      if (!(e instanceof SysError)) throw e;
    }
  }
  return Object.keys(out).length > 0 ? out : undefined;
}

async function hashFile(path: string, copyTo?: (chunk: Uint8Array) => Promise<void>) {
  const h = createHash("sha256");
  using f = await Deno.open(path, { read: true });
  const buf = new Uint8Array(1 << 16);
  let size = 0;
  for (;;) {
    const n = await f.read(buf);
    if (n === null) break;
    h.update(buf.subarray(0, n));
    if (copyTo) await copyTo(buf.slice(0, n));
    size += n;
  }
  return { sha256: h.digest("hex") as string, size };
}

function join(dir: string, rel: string): string {
  return rel === "." ? dir : `${dir}/${rel}`;
}

/** Walks `root` (not following symlinks), calling `visit` with paths relative to it, sorted. */
async function walk(root: string, visit: (rel: string, st: Stat) => Promise<void>) {
  const stack = ["."];
  while (stack.length > 0) {
    const rel = stack.pop()!;
    const st = lstat(join(root, rel));
    await visit(rel, st);
    if ((st.mode & S_IFMT) === S_IFDIR) {
      const names: string[] = [];
      for await (const e of Deno.readDir(join(root, rel))) names.push(e.name);
      names.sort().reverse();
      for (const n of names) stack.push(rel === "." ? n : `${rel}/${n}`);
    }
  }
}

interface Scanned {
  entries: SnapshotEntry[];
}

/** Reads the tree under `dir` into entries; `store` receives each regular file to keep. */
async function scan(
  dir: string,
  options: {
    xattrs: boolean;
    store?: (path: string) => Promise<{ sha256: string; size: number }>;
    /** Hash regular files (default true; a plain copy needs no hashes). */
    hash?: boolean;
  },
): Promise<Scanned> {
  const entries: SnapshotEntry[] = [];
  const inodes = new Map<string, { count: number; entries: SnapshotEntry[] }>();
  await walk(dir, async (rel, st) => {
    const full = join(dir, rel);
    const type = typeOf(st.mode);
    const e: SnapshotEntry = {
      path: rel,
      type,
      mode: st.mode & 0o7777,
      uid: st.uid,
      gid: st.gid,
      mtime_ns: (BigInt(st.mtimeSec) * 1_000_000_000n + BigInt(st.mtimeNsec)).toString(),
    };
    if (type === "file") {
      if (options.hash === false) e.size = Number(st.size);
      else {
        const h = options.store ? await options.store(full) : await hashFile(full);
        e.size = h.size;
        e.sha256 = h.sha256;
      }
      if (st.nlink > 1) {
        const key = `${st.dev}:${st.ino}`;
        const g = inodes.get(key) ?? { count: 0, entries: [] };
        g.entries.push(e);
        inodes.set(key, g);
      }
    } else if (type === "symlink") {
      e.target = await Deno.readLink(full);
    } else if (type === "chardev" || type === "blockdev") {
      e.rdev = st.rdev;
    }
    if (options.xattrs && type !== "symlink") {
      const x = readXattrs(full);
      if (x !== undefined) e.xattrs = x;
    }
    entries.push(e);
  });
  entries.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  // number hard-link groups in path order, only where two or more paths share an inode here
  const groups = [...inodes.values()].filter((g) => g.entries.length > 1);
  groups.sort((a, b) => (a.entries[0].path < b.entries[0].path ? -1 : 1));
  groups.forEach((g, i) => {
    for (const e of g.entries) e.link_group = i + 1;
  });
  return { entries };
}

function relativeTo(from: string, to: string): string {
  const a = from.split("/").filter((x) => x !== "");
  const b = to.split("/").filter((x) => x !== "");
  let i = 0;
  while (i < a.length && i < b.length && a[i] === b[i]) i++;
  return [...a.slice(i).map(() => ".."), ...b.slice(i)].join("/") || ".";
}

function absolute(path: string): string {
  return path.startsWith("/") ? path : `${Deno.cwd()}/${path}`;
}

function opened(dir: string, manifest: SnapshotManifest, manifestSha256: string): Snapshot {
  return {
    dir,
    manifest,
    manifestSha256,
    relativePath(capturePath: string): string {
      const capDir = absolute(capturePath).replace(/\/[^/]*$/, "") || "/";
      return relativeTo(capDir, absolute(dir));
    },
  };
}

function sha256Hex(bytes: Uint8Array): string {
  return createHash("sha256").update(bytes).digest("hex") as string;
}

/**
 * Takes a snapshot of `sharedDir` into `snapshotDir` (created; must not
 * exist): the manifest, and every regular file's content once by hash.
 */
export async function takeSnapshot(
  sharedDir: string,
  snapshotDir: string,
  options: TakeSnapshotOptions = {},
): Promise<Snapshot> {
  await Deno.mkdir(snapshotDir);
  await Deno.mkdir(`${snapshotDir}/objects`);
  const store = async (path: string) => {
    const tmp = `${snapshotDir}/objects/.incoming`;
    const out = await Deno.open(tmp, { write: true, create: true, truncate: true });
    let h;
    try {
      h = await hashFile(path, async (c) => {
        let p = 0;
        while (p < c.length) p += await out.write(c.subarray(p));
      });
    } finally {
      out.close();
    }
    const obj = `${snapshotDir}/objects/${h.sha256}`;
    try {
      await Deno.lstat(obj);
      await Deno.remove(tmp); // already stored
    } catch {
      await Deno.rename(tmp, obj);
    }
    return h;
  };
  const { entries } = await scan(sharedDir, { xattrs: options.xattrs ?? true, store });
  const manifest: SnapshotManifest = {
    version: SNAPSHOT_VERSION,
    created: new Date().toISOString(),
    source: absolute(sharedDir),
    entries,
  };
  const bytes = new TextEncoder().encode(JSON.stringify(manifest, null, 1) + "\n");
  await Deno.writeFile(`${snapshotDir}/manifest.json`, bytes);
  return opened(snapshotDir, manifest, sha256Hex(bytes));
}

/**
 * Opens the snapshot in `snapshotDir`; with `expectSha256` (from the
 * capture) a manifest that changed since is an error.
 */
export async function openSnapshot(
  snapshotDir: string,
  options: { expectSha256?: string } = {},
): Promise<Snapshot> {
  const bytes = await Deno.readFile(`${snapshotDir}/manifest.json`);
  const sha = sha256Hex(bytes);
  if (options.expectSha256 !== undefined && options.expectSha256 !== sha) {
    throw new Error(
      `snapshot ${snapshotDir}: manifest.json has SHA-256 ${sha}, the capture expects ${options.expectSha256}`,
    );
  }
  const manifest = JSON.parse(new TextDecoder().decode(bytes)) as SnapshotManifest;
  if (manifest.version !== SNAPSHOT_VERSION) {
    throw new Error(
      `snapshot ${snapshotDir}: manifest version ${manifest.version} is not ${SNAPSHOT_VERSION}`,
    );
  }
  return opened(snapshotDir, manifest, sha);
}

async function resolve(snapshot: Snapshot | string): Promise<Snapshot> {
  return typeof snapshot === "string" ? await openSnapshot(snapshot) : snapshot;
}

function setTimes(path: string, mtimeNs: string): void {
  const ns = BigInt(mtimeNs);
  utimensat(AT_FDCWD, path, {
    mtime: { sec: Number(ns / 1_000_000_000n), nsec: Number(ns % 1_000_000_000n) },
    flags: AT_SYMLINK_NOFOLLOW,
  });
}

/**
 * Builds `entries` (sorted by path, as a manifest holds them) in `dir`, which
 * must be empty or absent: `contentOf` says where each regular file's bytes
 * are. Hard-link groups become one inode again; attributes go on after all
 * contents, deepest first, so a read-only directory is filled before it
 * closes. The one tree builder: {@linkcode restoreSnapshot} and
 * {@linkcode copyTree} both come here.
 */
async function materialize(
  entries: readonly SnapshotEntry[],
  dir: string,
  contentOf: (e: SnapshotEntry) => string,
  what: string,
): Promise<void> {
  await Deno.mkdir(dir, { recursive: true });
  for await (const _ of Deno.readDir(dir)) throw new Error(`${what}: ${dir} is not empty`);
  const root = Deno.uid() === 0;
  const firstOfGroup = new Map<number, string>();
  for (const e of entries) {
    const full = join(dir, e.path);
    switch (e.type) {
      case "dir":
        if (e.path !== ".") await Deno.mkdir(full);
        break;
      case "file": {
        const first = e.link_group === undefined ? undefined : firstOfGroup.get(e.link_group);
        if (first !== undefined) {
          await Deno.link(first, full);
          break;
        }
        await Deno.copyFile(contentOf(e), full);
        if (e.link_group !== undefined) firstOfGroup.set(e.link_group, full);
        break;
      }
      case "symlink":
        await Deno.symlink(e.target!, full);
        break;
      default:
        mknodat(AT_FDCWD, full, { mode: TYPE_BITS[e.type] | (e.mode & 0o777), dev: e.rdev ?? 0 });
    }
  }
  for (const e of [...entries].reverse()) {
    const full = join(dir, e.path);
    if (e.xattrs !== undefined) {
      for (const [name, value] of Object.entries(e.xattrs)) {
        setxattr(full, name, { value: unb64(value) });
      }
    }
    if (root) fchownat(AT_FDCWD, full, { uid: e.uid, gid: e.gid, flags: AT_SYMLINK_NOFOLLOW });
    if (e.type !== "symlink") await Deno.chmod(full, e.mode);
    setTimes(full, e.mtime_ns);
  }
}

/**
 * Rebuilds the snapshot's tree in `dir` (created when missing; it must be
 * empty): contents, types, modes, owners (when running as root), symlink
 * targets, hard links, xattrs and modification times.
 */
export async function restoreSnapshot(snapshot: Snapshot | string, dir: string): Promise<void> {
  const snap = await resolve(snapshot);
  await materialize(
    snap.manifest.entries,
    dir,
    (e) => `${snap.dir}/objects/${e.sha256}`,
    "restore",
  );
}

/**
 * Copies the tree under `from` into `to` (created when missing; it must be
 * empty) as {@linkcode restoreSnapshot} rebuilds a snapshot: hard links stay
 * links, and types, modes, owners (as root), symlink targets, xattrs and
 * modification times are kept.
 */
export async function copyTree(from: string, to: string): Promise<void> {
  const { entries } = await scan(from, { xattrs: true, hash: false });
  await materialize(entries, to, (e) => join(from, e.path), "copy");
}

/**
 * Lists how the tree in `dir` differs from the snapshot: missing and extra
 * entries, then per entry every differing field. An empty list means `dir`
 * is exactly the snapshot's state.
 */
export async function verifySnapshot(
  snapshot: Snapshot | string,
  dir: string,
  options: VerifyOptions = {},
): Promise<SnapshotDifference[]> {
  const snap = await resolve(snapshot);
  const { entries } = await scan(dir, { xattrs: options.xattrs ?? true });
  return compareEntries(snap.manifest.entries, entries, options);
}

/**
 * Lists how the `actual` tree state differs from the `expected` one (both
 * manifests: a snapshot's, a recording's final state, or
 * {@linkcode treeManifest} of a directory), as {@linkcode verifySnapshot}
 * does. Regular files compare by size and SHA-256.
 */
export function compareManifests(
  expected: SnapshotManifest,
  actual: SnapshotManifest,
  options: VerifyOptions = {},
): SnapshotDifference[] {
  return compareEntries(expected.entries, actual.entries, options);
}

function compareEntries(
  wanted: readonly SnapshotEntry[],
  entries: readonly SnapshotEntry[],
  options: VerifyOptions,
): SnapshotDifference[] {
  const owners = options.owners ?? true;
  const xattrs = options.xattrs ?? true;
  const actual = new Map(entries.map((e) => [e.path, e]));
  const out: SnapshotDifference[] = [];
  const actualGroupOf = new Map(entries.map((e) => [e.path, e.link_group]));
  const actualGroupSize = new Map<number, number>();
  for (const e of entries) {
    if (e.link_group !== undefined) {
      actualGroupSize.set(e.link_group, (actualGroupSize.get(e.link_group) ?? 0) + 1);
    }
  }
  for (const want of wanted) {
    const have = actual.get(want.path);
    if (have === undefined) {
      out.push({ path: want.path, what: "missing", expected: want.type });
      continue;
    }
    actual.delete(want.path);
    const diff = (what: SnapshotDifference["what"], expected: unknown, got: unknown) => {
      if (expected !== got) {
        out.push({
          path: want.path,
          what,
          expected: expected === undefined ? undefined : String(expected),
          actual: got === undefined ? undefined : String(got),
        });
      }
    };
    if (want.type !== have.type) {
      diff("type", want.type, have.type);
      continue;
    }
    if (want.type !== "symlink") {
      diff("mode", `0${want.mode.toString(8)}`, `0${have.mode.toString(8)}`);
    }
    if (owners) {
      diff("uid", want.uid, have.uid);
      diff("gid", want.gid, have.gid);
    }
    if (want.type === "file") {
      diff("size", want.size, have.size);
      diff("content", want.sha256, have.sha256);
      if (want.link_group === undefined && have.link_group !== undefined) {
        diff("link_group", "1 link", `${actualGroupSize.get(have.link_group)} links`);
      }
    }
    if (want.type === "symlink") diff("target", want.target, have.target);
    if (want.type === "chardev" || want.type === "blockdev") diff("rdev", want.rdev, have.rdev);
    if (xattrs) {
      diff("xattrs", JSON.stringify(want.xattrs ?? {}), JSON.stringify(have.xattrs ?? {}));
    }
    if (options.mtime) diff("mtime", want.mtime_ns, have.mtime_ns);
  }
  // hard-link groups compare as partitions: each expected group is exactly one actual group
  const expectedGroups = new Map<number, string[]>();
  for (const e of wanted) {
    if (e.link_group === undefined) continue;
    const g = expectedGroups.get(e.link_group) ?? [];
    g.push(e.path);
    expectedGroups.set(e.link_group, g);
  }
  for (const paths of expectedGroups.values()) {
    const ids = paths.map((p) => actualGroupOf.get(p));
    const same = ids[0] !== undefined && ids.every((id) => id === ids[0]) &&
      actualGroupSize.get(ids[0]) === paths.length;
    if (same) continue;
    for (const p of paths) {
      if (!actualGroupOf.has(p)) continue; // reported missing
      const id = actualGroupOf.get(p);
      out.push({
        path: p,
        what: "link_group",
        expected: `${paths.length} links (${paths.join(", ")})`,
        actual: id === undefined ? "1 link" : `${actualGroupSize.get(id)} links`,
      });
    }
  }
  for (const extra of actual.values()) {
    out.push({ path: extra.path, what: "extra", actual: extra.type });
  }
  return out;
}

/**
 * Takes the `--snapshot` of `sharedDir` for the capture at `capturePath`
 * (into `capturePath.snapshot/`) and returns the reference the capture's
 * section comment carries.
 */
export async function snapshotForCapture(
  sharedDir: string,
  capturePath: string,
): Promise<{ path: string; manifestSha256: string }> {
  const snap = await takeSnapshot(sharedDir, `${capturePath}.snapshot`);
  return { path: snap.relativePath(capturePath), manifestSha256: snap.manifestSha256 };
}

/**
 * The state of the tree under `dir` as a manifest (hashes, no contents kept):
 * what {@linkcode compareManifests} compares.
 */
export async function treeManifest(
  dir: string,
  options: TakeSnapshotOptions = {},
): Promise<SnapshotManifest> {
  const { entries } = await scan(dir, { xattrs: options.xattrs ?? true });
  return {
    version: SNAPSHOT_VERSION,
    created: new Date().toISOString(),
    source: absolute(dir),
    entries,
  };
}

/** A recording's final state: a manifest, and the capture size it was written for. */
export interface FinalManifest extends SnapshotManifest {
  /** Always `final`. */
  kind: "final";
  /** The capture's size in bytes when its recording ended (a later recording makes this stale). */
  capture_bytes: number;
}

/**
 * Where a capture's final-state manifest lives: `CAPTURE.final.json`, beside
 * it. A naming convention rather than a reference inside the capture,
 * because the capture's section header is written before the final state
 * exists.
 */
export function finalManifestPath(capturePath: string): string {
  return `${capturePath}.final.json`;
}

/**
 * Writes the final state of `sharedDir` for the capture at `capturePath`
 * (to {@linkcode finalManifestPath}): every entry's type, mode, owner, size,
 * SHA-256, hard-link group, symlink target and xattrs, no contents. Called
 * when a recording ends (`ringside mount --record` after unmount,
 * `ringside serve --record` at daemon stop), after the capture is closed.
 */
export async function writeFinalManifest(
  sharedDir: string,
  capturePath: string,
): Promise<FinalManifest> {
  const state = await treeManifest(sharedDir);
  const manifest: FinalManifest = {
    ...state,
    kind: "final",
    capture_bytes: (await Deno.stat(capturePath)).size,
  };
  const path = finalManifestPath(capturePath);
  const tmp = `${path}.tmp`;
  await Deno.writeTextFile(tmp, JSON.stringify(manifest, null, 1) + "\n");
  await Deno.rename(tmp, path);
  return manifest;
}

/**
 * Reads the final-state manifest of the capture at `capturePath`:
 * `undefined` when there is none, `stale` set (and the manifest still
 * returned) when the capture's size is not the one the manifest was written
 * for (the capture was recorded again, or appended to, without a new one).
 */
export async function readFinalManifest(
  capturePath: string,
): Promise<{ manifest: FinalManifest; stale?: string } | undefined> {
  const path = finalManifestPath(capturePath);
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return undefined;
    throw e;
  }
  const manifest = JSON.parse(text) as FinalManifest;
  if (manifest.kind !== "final" || manifest.version !== SNAPSHOT_VERSION) {
    throw new Error(`${path}: not a version ${SNAPSHOT_VERSION} final-state manifest`);
  }
  const size = (await Deno.stat(capturePath)).size;
  return size === manifest.capture_bytes ? { manifest } : {
    manifest,
    stale:
      `${path} was written for a ${manifest.capture_bytes}-byte capture, ${capturePath} has ${size} bytes`,
  };
}
