/**
 * Serialisable descriptions of a {@linkcode FuseServer}, so that a server can
 * be built inside a Worker: FuseServer objects hold state (inode tables, open
 * descriptors) that cannot cross threads, but a spec (a module URL, the name
 * of a factory it exports, and structured-cloneable arguments) can.
 *
 * @module
 */
import type { FuseServer } from "../engine/types.ts";
import type { IoVecList } from "../sys/fs.ts";

/** How to build a server: `import(module)[factory](...args)`. */
export interface ServerSpec {
  /** Absolute URL of the module that exports the factory (`file:///.../engine/mod.ts`). */
  module: string;
  /** Name of the exported factory function. */
  factory: string;
  /** Arguments for the factory; must survive `structuredClone`. */
  args: unknown[];
}

/** Options of the engine's passthrough server, passed through unchanged. */
export type PassthroughOptions = Record<string, unknown>;

/**
 * The spec of the engine's passthrough server over `sharedDir`
 * (`createPassthrough(sharedDir, options)` exported by `engine/mod.ts`).
 *
 * @example
 * ```ts
 * const spec = passthroughSpec("/srv/share", { cache: "auto" });
 * ```
 */
export function passthroughSpec(sharedDir: string, options: PassthroughOptions = {}): ServerSpec {
  return {
    module: new URL("../engine/mod.ts", import.meta.url).href,
    factory: "createPassthrough",
    args: [sharedDir, options],
  };
}

/** A server that can release what it holds (descriptors, threads) when its session ends. */
interface Closable {
  close?: () => void | Promise<void>;
}

/**
 * Builds the server a spec describes, in the calling thread. Throws an Error
 * naming the module and factory when the factory is missing or returns
 * something that is not a {@linkcode FuseServer}.
 */
export async function instantiateServer(spec: ServerSpec): Promise<FuseServer> {
  const mod = await import(spec.module) as Record<string, unknown>;
  const factory = mod[spec.factory];
  if (typeof factory !== "function") {
    throw new Error(`server factory ${spec.factory} is not exported by ${spec.module}`);
  }
  const server = await factory(...spec.args);
  if (server === null || typeof server !== "object" || typeof server.handle !== "function") {
    throw new Error(`server factory ${spec.factory} of ${spec.module} did not return a FuseServer`);
  }
  return server as FuseServer;
}

/** Factories whose servers run the engine's passthrough code. */
const ENGINE_FACTORIES = new Set(["createPassthrough", "createRecordingServer"]);

/**
 * For a spec whose server is the engine's, runs engine/warmup.ts so that a
 * transport's first requests meet compiled code; returns why it was skipped
 * when it could not run (no temporary directory), undefined otherwise.
 * `iov`: the I/O list the transport passes to `handleVectored` (its class
 * is what the compiled in-place READ and WRITE paths are specialised for).
 */
export async function warmUpEngine(
  spec: ServerSpec,
  iov?: IoVecList,
): Promise<string | undefined> {
  if (!ENGINE_FACTORIES.has(spec.factory)) return undefined;
  try {
    (await import("../engine/warmup.ts")).warmUp(undefined, { iov });
    return undefined;
  } catch (e) {
    return (e as Error).message;
  }
}

/** Calls the server's `close()` when it has one (end of a session). */
export async function closeServer(server: FuseServer): Promise<void> {
  const c = server as FuseServer & Closable;
  if (typeof c.close === "function") await c.close();
}
