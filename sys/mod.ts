/**
 * ringside `sys`: see ../shared/DESIGN.md for what this layer owns.
 *
 * @module
 */
export * as fs from "./fs.ts";
export * as socket from "./socket.ts";
export * as mmap from "./mmap.ts";
export * as eventfd from "./eventfd.ts";
export * as poll from "./poll.ts";
export { type Caller, ThreadCredentials } from "./creds.ts";
export { SPLIT_READ_MIN, SplitReadIoVecList, type SplitReadOptions } from "./split_read.ts";
export {};
