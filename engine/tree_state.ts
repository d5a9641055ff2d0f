/**
 * The state of a directory tree for the end-of-replay comparison, as the
 * snapshot manifests of `snapshot.ts` hold it: per path, the file type,
 * permission bits, owner, size, content hash (SHA-256), hard-link group,
 * symlink target and extended attributes. Two states are compared entry by
 * entry; times and inode numbers never count. This module only shapes the
 * differences for reports; reading, comparing and copying trees is
 * `snapshot.ts`'s one implementation.
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
import {
  compareManifests,
  copyTree as copyTreeImpl,
  type SnapshotDifference,
  type SnapshotManifest,
  treeManifest,
} from "./snapshot.ts";

/** A tree state: a manifest of every entry (see `snapshot.ts`). */
export type TreeState = SnapshotManifest;

/** One difference between two tree states. */
export interface TreeDifference {
  /** Relative path (`.` is the root). */
  path: string;
  /** `missing`, `extra`, `type`, `mode`, `uid`, `gid`, `size`, `content`, `target`, `link_group`, `xattrs`, ... */
  field: string;
  /** The expected value (`-` when there is none). */
  expected: string;
  /** The value found (`-` when there is none). */
  actual: string;
}

/** Reads the state of the tree under `dir` (symlinks are not followed). */
export async function treeState(dir: string): Promise<TreeState> {
  return await treeManifest(dir);
}

function shown(d: SnapshotDifference, v: string | undefined): string {
  if (v === undefined) return "-";
  if (d.what === "content") return `sha256 ${v.slice(0, 16)}…`;
  return v;
}

/** Shapes snapshot differences for reports. */
export function treeDifferences(diffs: readonly SnapshotDifference[]): TreeDifference[] {
  return diffs.map((d) => ({
    path: d.path,
    field: d.what,
    expected: shown(d, d.expected),
    actual: shown(d, d.actual),
  }));
}

/**
 * Compares two tree states; an empty list means the trees are equivalent.
 * Owners count only when this process runs as root (otherwise a replay
 * cannot have made files as the recorded users).
 */
export function compareTreeStates(
  expected: TreeState,
  actual: TreeState,
  options: { owners?: boolean } = {},
): TreeDifference[] {
  return treeDifferences(
    compareManifests(expected, actual, { owners: options.owners ?? Deno.uid() === 0 }),
  );
}

/**
 * Copies the tree under `from` into `to` (created when missing; it must be
 * empty), keeping hard links, modes, owners (as root), symlinks, xattrs and
 * times: `snapshot.ts`'s `copyTree`.
 */
export async function copyTree(from: string, to: string): Promise<void> {
  await copyTreeImpl(from, to);
}
