/**
 * ringside `sys`: see ../shared/DESIGN.md for what this layer owns.
 *
 * @module
 */
export * as fs from "./fs.ts";
export { type Caller, ThreadCredentials } from "./creds.ts";
export {};
