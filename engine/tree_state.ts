/**
 * The state of a directory tree for the end-of-replay comparison: per path,
 * the file type, permission bits, size, link count, content hash (SHA-256),
 * symlink target and extended attribute names. Two states are compared entry
 * by entry; times and inode numbers never count.
 *
 * @example
 * ```ts ignore
 * import { compareTreeStates, treeState } from "./tree_state.ts";
 * const diffs = compareTreeStates(await treeState("/tmp/a"), await treeState("/tmp/b"));
 * for (const d of diffs) console.log(d.path, d.field, d.expected, d.actual);
 * ```
 *
 * @module
 */

/** One entry of a tree state. */
export interface TreeEntry {
  /** `file`, `dir`, `symlink` or `other`. */
  type: "file" | "dir" | "symlink" | "other";
  /** Permission bits (mode & 0o7777). */
  mode: number;
  /** Size in bytes (files and symlinks; 0 for directories). */
  size: number;
  /** Hard links (files only; directory link counts depend on the file system). */
  nlink: number;
  /** SHA-256 of the content (files), hex. */
  sha256?: string;
  /** Symlink target. */
  target?: string;
}

/** A tree state: relative path → entry, in sorted path order. */
export type TreeState = Map<string, TreeEntry>;

/** One difference between two tree states. */
export interface TreeDifference {
  /** Relative path. */
  path: string;
  /** `missing`, `extra`, `type`, `mode`, `size`, `nlink`, `content` or `target`. */
  field: string;
  /** The expected value. */
  expected: string;
  /** The value found. */
  actual: string;
}

async function sha256(path: string): Promise<string> {
  const data = await Deno.readFile(path);
  const h = new Uint8Array(await crypto.subtle.digest("SHA-256", data));
  return [...h].map((b) => b.toString(16).padStart(2, "0")).join("");
}

/** Reads the state of the tree under `dir` (symlinks are not followed). */
export async function treeState(dir: string): Promise<TreeState> {
  const out: [string, TreeEntry][] = [];
  const walk = async (rel: string) => {
    const names: string[] = [];
    for await (const e of Deno.readDir(rel === "" ? dir : `${dir}/${rel}`)) names.push(e.name);
    names.sort();
    for (const name of names) {
      const r = rel === "" ? name : `${rel}/${name}`;
      const p = `${dir}/${r}`;
      const st = await Deno.lstat(p);
      const mode = (st.mode ?? 0) & 0o7777;
      if (st.isDirectory) {
        out.push([r, { type: "dir", mode, size: 0, nlink: 0 }]);
        await walk(r);
      } else if (st.isSymlink) {
        const target = await Deno.readLink(p);
        out.push([r, { type: "symlink", mode: 0, size: st.size, nlink: 1, target }]);
      } else if (st.isFile) {
        out.push([r, {
          type: "file",
          mode,
          size: st.size,
          nlink: st.nlink ?? 1,
          sha256: await sha256(p),
        }]);
      } else {
        out.push([r, { type: "other", mode, size: 0, nlink: st.nlink ?? 1 }]);
      }
    }
  };
  await walk("");
  return new Map(out);
}

/** Compares two tree states; an empty list means the trees are equivalent. */
export function compareTreeStates(expected: TreeState, actual: TreeState): TreeDifference[] {
  const out: TreeDifference[] = [];
  const paths = [...new Set([...expected.keys(), ...actual.keys()])].sort();
  for (const path of paths) {
    const e = expected.get(path);
    const a = actual.get(path);
    if (a === undefined) {
      out.push({ path, field: "missing", expected: e!.type, actual: "-" });
      continue;
    }
    if (e === undefined) {
      out.push({ path, field: "extra", expected: "-", actual: a.type });
      continue;
    }
    if (e.type !== a.type) {
      out.push({ path, field: "type", expected: e.type, actual: a.type });
      continue;
    }
    if (e.mode !== a.mode) {
      out.push({ path, field: "mode", expected: e.mode.toString(8), actual: a.mode.toString(8) });
    }
    if (e.type === "file") {
      if (e.size !== a.size) {
        out.push({ path, field: "size", expected: String(e.size), actual: String(a.size) });
      }
      if (e.sha256 !== a.sha256) {
        out.push({
          path,
          field: "content",
          expected: `sha256 ${e.sha256!.slice(0, 16)}…`,
          actual: `sha256 ${a.sha256!.slice(0, 16)}…`,
        });
      }
      if (e.nlink !== a.nlink) {
        out.push({ path, field: "nlink", expected: String(e.nlink), actual: String(a.nlink) });
      }
    }
    if (e.type === "symlink" && e.target !== a.target) {
      out.push({ path, field: "target", expected: e.target!, actual: a.target! });
    }
  }
  return out;
}

/** A tree state as JSON-able rows (for `--json` and for storing beside a capture). */
export function treeStateToJson(state: TreeState): ({ path: string } & TreeEntry)[] {
  return [...state].map(([path, e]) => ({ path, ...e }));
}

/** Reads back {@linkcode treeStateToJson}'s rows. */
export function treeStateFromJson(rows: ({ path: string } & TreeEntry)[]): TreeState {
  return new Map(rows.map(({ path, ...e }) => [path, e]));
}

/** Copies the tree under `from` into `to` (created), keeping modes and symlinks. */
export async function copyTree(from: string, to: string): Promise<void> {
  await Deno.mkdir(to, { recursive: true });
  for await (const e of Deno.readDir(from)) {
    const a = `${from}/${e.name}`;
    const b = `${to}/${e.name}`;
    if (e.isSymlink) {
      await Deno.symlink(await Deno.readLink(a), b);
      continue;
    }
    if (e.isDirectory) await copyTree(a, b);
    else await Deno.copyFile(a, b);
    await Deno.chmod(b, ((await Deno.lstat(a)).mode ?? 0o644) & 0o7777);
  }
}
