/**
 * Errors shared by every codec: a decoder that meets short, oversized or
 * inconsistent input throws a {@linkcode CodecError} naming the field and the
 * byte offset where the problem is, never a RangeError.
 *
 * @module
 */

/**
 * A decoding or encoding failure at a known place in the input.
 *
 * @example
 * ```ts
 * import { CodecError } from "./errors.ts";
 * try {
 *   throw new CodecError("fuse_in_header.len", 0, "expected at least 40 bytes, found 12");
 * } catch (e) {
 *   if (e instanceof CodecError) console.log(e.field, e.offset);
 * }
 * ```
 */
export class CodecError extends Error {
  /** Dotted name of the field being read, in the protocol's own words (`fuse_in_header.len`). */
  readonly field: string;
  /** Byte offset of that field from the start of the decoded input. */
  readonly offset: number;
  /** What was wrong, without the field and offset. */
  readonly reason: string;

  /** Builds an error for `field` at byte `offset`; `reason` says what was expected and found. */
  constructor(field: string, offset: number, reason: string) {
    super(`${field} at byte ${offset}: ${reason}`);
    this.name = "CodecError";
    this.field = field;
    this.offset = offset;
    this.reason = reason;
  }
}
