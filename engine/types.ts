/**
 * The contract between transports and the engine: a transport reads whole FUSE
 * request messages from its channel and hands each to a {@linkcode FuseServer};
 * the server returns the whole reply message, or `null` when the request has
 * none (FORGET, BATCH_FORGET, an INTERRUPT that needs no answer).
 *
 * @module
 */

import type { IoVecList } from "../sys/fs.ts";

/**
 * FUSE passthrough (Linux 6.9+, /dev/fuse only): registers host files with
 * the kernel connection so that reads and writes of an open file go to the
 * host file directly, without a request to the server.
 */
export interface BackingFiles {
  /** Registers an open host descriptor; returns its backing id (throws a SysError on failure). */
  open(fd: number): number;
  /** Drops a backing id. */
  close(id: number): void;
}

/** Something that answers FUSE requests given and returned as raw messages. */
export interface FuseServer {
  /**
   * Answers one request: `request` is the complete message (fuse_in_header
   * then the body). Returns the complete reply (fuse_out_header then the
   * body), `null` for no reply, or a promise of either when the answer has to
   * wait (a blocking lock); other requests may be handled meanwhile.
   * `request` may be lent from memory the transport reuses (guest memory, a
   * gather buffer): it is valid until `handle` returns, so a server that
   * answers through a promise copies whatever bytes it still needs.
   */
  handle(request: Uint8Array): Uint8Array | null | Promise<Uint8Array | null>;
  /**
   * Set to true by a transport that is done with every reply returned
   * synchronously before it calls `handle` again (it writes the reply out at
   * once and keeps no reference): the server may then answer from buffers it
   * reuses, sparing an allocation per large READ reply. Servers that do not
   * know the flag ignore it; replies delivered through a promise are never
   * reused.
   */
  repliesConsumedAtOnce?: boolean;
  /**
   * Optional zero-copy READ and WRITE for a transport whose data sits in
   * scattered memory it maps (engine/session.ts `handleVectored` documents
   * the contract): returns the reply, or null to use `handle` instead.
   */
  handleVectored?(head: Uint8Array, iov: IoVecList): Uint8Array | null;
  /**
   * Set by a transport that can register backing files with the kernel (the
   * /dev/fuse reader, before INIT): the server may then negotiate FUSE
   * passthrough. Servers that do not know it ignore it.
   */
  backingFiles?: BackingFiles;
}
