/**
 * `ringside demo`: the guided tour on a built-in default.
 *
 * @module
 */
import type { Command } from "@commander-js/extra-typings";
import { UserError } from "../errors.ts";

/** Registers `decode-hex` on `program`. */
export function registerDemo(program: Command<[], { debug?: true }>): void {
  program
    .command("demo")
    .description("the guided tour on a built-in default")
    .action(() => {
      throw new UserError("demo is being built (issue 2)");
    });
}
