/**
 * ringside `engine`: see ../shared/DESIGN.md for what this layer owns.
 *
 * @module
 */
export {
  createPassthrough,
  ENGINE_MAX_WRITE,
  ENGINE_MINOR,
  type Negotiated,
  PassthroughServer,
  type PassthroughServerOptions,
  type SessionObserver,
} from "./session.ts";
export {
  type CacheMode,
  Passthrough,
  type PassthroughOptions,
  type RequestContext,
} from "./passthrough.ts";
export type { FuseServer } from "./types.ts";
export {};
