/**
 * The flags every command that serves a directory shares (`mount`, `serve`
 * for vhost-user and for the unix transport): the engine's options and
 * recording. One place checks them, so the three commands say the same
 * things about the same mistakes.
 *
 * @module
 */
import { UserError } from "../errors.ts";

/** The shared flags as commander hands them over. */
export interface ServerFlags {
  cache?: string;
  readonly?: true;
  xattr?: true;
  writeback?: true;
  record?: string;
  snapshot?: true;
}

/** The engine's options that the flags choose. */
export type PassthroughChoice = {
  cache: "never" | "auto" | "always";
  readonly: boolean;
  xattr: boolean;
  writeback: boolean;
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
 * {@linkcode UserError} for a bad `--cache` or a `--snapshot` without `--record`.
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
  return {
    passthrough: {
      cache,
      readonly: flags.readonly ?? false,
      xattr: flags.xattr ?? false,
      writeback: flags.writeback ?? false,
    },
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
