/**
 * User-facing errors: one clear line naming the input and what is wrong.
 *
 * @module
 */

/** A mistake in what the user asked for (bad argument, missing file): printed as one line, never a stack. */
export class UserError extends Error {
  /** Process exit code to use (2 for usage mistakes, 1 otherwise). */
  readonly exitCode: number;
  /** Builds an error with `message` (lower-case, no trailing period) and an exit code. */
  constructor(message: string, exitCode = 1) {
    super(message);
    this.name = "UserError";
    this.exitCode = exitCode;
  }
}

/**
 * Ends a command with a given exit status and nothing more printed: for
 * commands whose status is a result (a guest command's status, a daemon's
 * clean stop), not an error.
 */
export class ExitStatus extends Error {
  /** The process exit status. */
  readonly code: number;
  /** Builds the signal for exit status `code`. */
  constructor(code: number) {
    super(`exit status ${code}`);
    this.name = "ExitStatus";
    this.code = code;
  }
}
