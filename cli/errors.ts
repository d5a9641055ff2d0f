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
