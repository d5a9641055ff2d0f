/**
 * The flags every command that serves a directory shares (`mount`, `serve`
 * for vhost-user and for the unix transport): the engine's options and
 * recording. One place checks them, so the three commands say the same
 * things about the same mistakes.
 *
 * @module
 */
import { UserError } from "../errors.ts";

/**
 * `--help` text of `--max-inode-fds`, the same for every command that
 * serves a directory.
 */
export const MAX_INODE_FDS_HELP =
  "descriptors the engine may hold for files the client knows; past it the least recently " +
  "used are parked as file handles and reopened when needed (default: half the open-file " +
  "limit; parking needs CAP_DAC_READ_SEARCH)";

/** The shared flags as commander hands them over. */
export interface ServerFlags {
  cache?: string;
  readonly?: true;
  xattr?: true;
  writeback?: true;
  record?: string;
  snapshot?: true;
  maxInodeFds?: string;
}

/** The engine's options that the flags choose. */
export type PassthroughChoice = {
  cache: "never" | "auto" | "always";
  readonly: boolean;
  xattr: boolean;
  writeback: boolean;
  /** `--max-inode-fds N`: the engine's descriptor budget (absent: its default). */
  maxInodeFds?: number;
};

/** What {@linkcode parseServerFlags} makes of the shared flags. */
export interface ServerChoice {
  /** Options for the passthrough engine. */
  passthrough: PassthroughChoice;
  /** `--record FILE`, and whether to take a `--snapshot` first. */
  record?: { path: string; snapshot: boolean };
}

/** A usage mistake of `command` (exit status 2). */
export function usageError(command: string, message: string): UserError {
  return new UserError(`${command}: ${message}`, 2);
}

/**
 * Checks the shared flags of `command`; throws a one-line usage
 * {@linkcode UserError} for a bad `--cache` or `--max-inode-fds`, or a
 * `--snapshot` without `--record`.
 */
export function parseServerFlags(command: string, flags: ServerFlags): ServerChoice {
  const cacheWord = flags.cache ?? "auto";
  const cache = cacheWord === "none" ? "never" : cacheWord;
  if (cache !== "never" && cache !== "auto" && cache !== "always") {
    throw usageError(command, `--cache must be never, auto or always, not ${cacheWord}`);
  }
  if (flags.snapshot && flags.record === undefined) {
    throw usageError(command, "--snapshot needs --record FILE");
  }
  const passthrough: PassthroughChoice = {
    cache,
    readonly: flags.readonly ?? false,
    xattr: flags.xattr ?? false,
    writeback: flags.writeback ?? false,
  };
  if (flags.maxInodeFds !== undefined) {
    const n = /^[0-9]+$/.test(flags.maxInodeFds) ? Number(flags.maxInodeFds) : NaN;
    if (!(n >= 2 && n <= 0x7fffffff)) {
      throw usageError(
        command,
        `--max-inode-fds must be a whole number from 2 up, not ${flags.maxInodeFds}`,
      );
    }
    passthrough.maxInodeFds = n;
  }
  return {
    passthrough,
    record: flags.record === undefined
      ? undefined
      : { path: flags.record, snapshot: flags.snapshot ?? false },
  };
}

/** Throws a one-line {@linkcode UserError} unless `path` is an existing directory. */
export function requireDirectory(command: string, path: string, what: string): void {
  let st: Deno.FileInfo;
  try {
    st = Deno.statSync(path);
  } catch {
    throw new UserError(`${command}: ${what} ${path} does not exist`);
  }
  if (!st.isDirectory) throw new UserError(`${command}: ${what} ${path} is not a directory`);
}
