/**
 * `ringside decode-hex`: decode one FUSE message given as hex.
 *
 * @module
 */
import type { Command } from "@commander-js/extra-typings";
import { UserError } from "../errors.ts";

/** Registers `decode-hex` on `program`. */
export function registerDecodeHex(program: Command<[], { debug?: true }>): void {
  program
    .command("decode-hex")
    .description("decode one FUSE message given as hex")
    .argument("<hex>", "the message bytes as hex")
    .action(() => {
      throw new UserError("decode-hex is being built (issue 2)");
    });
}
