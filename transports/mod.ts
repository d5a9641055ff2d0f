/**
 * ringside `transports`: see ../shared/DESIGN.md for what this layer owns.
 *
 * @module
 */
export {};
export * from "./vhost_user/mod.ts";
