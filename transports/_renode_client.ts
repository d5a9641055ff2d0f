/**
 * A test client for the Unix-socket transport that frames messages exactly as
 * Renode's VirtIOFSDevice does (used by the transport and CLI tests).
 *
 * @module
 */
import assert from "node:assert/strict";

/**
 * A client that frames messages exactly as Renode's VirtIOFSDevice does: one
 * send of the 40-byte fuse_in_header, a second send of the len-40 body bytes,
 * then one receive of a 16-byte fuse_out_header and, when its len says more,
 * one receive of len-16 bytes. Renode does not loop on short receives, so the
 * client asserts that each receive got everything: ringside must write a whole
 * reply at once.
 */
export class RenodeClient {
  #conn: Deno.UnixConn;
  #unique = 0n;
  constructor(conn: Deno.UnixConn) {
    this.#conn = conn;
  }

  /** Connects to a listening socket. */
  static async connect(path: string): Promise<RenodeClient> {
    return new RenodeClient(await Deno.connect({ transport: "unix", path }));
  }

  /** Builds a request with the next unique (2, 4, ...), uid/gid 0, pid 4242. */
  request(opcode: number, nodeid: bigint, body: Uint8Array = new Uint8Array(0)): Uint8Array {
    const len = 40 + body.length;
    const header = new Uint8Array(40);
    const v = new DataView(header.buffer);
    v.setUint32(0, len, true);
    v.setUint32(4, opcode, true);
    v.setBigUint64(8, this.#unique += 2n, true);
    v.setBigUint64(16, nodeid, true);
    v.setUint32(24, 0, true);
    v.setUint32(28, 0, true);
    v.setUint32(32, 4242, true);
    return new Uint8Array([...header, ...body]);
  }

  /** The unique of the last request built. */
  get lastUnique(): bigint {
    return this.#unique;
  }

  /** Sends a request in two writes: the 40-byte header, then the body. */
  async send(message: Uint8Array): Promise<void> {
    await this.#writeAll(message.subarray(0, 40));
    await this.#writeAll(message.subarray(40));
  }

  async #writeAll(bytes: Uint8Array): Promise<void> {
    let done = 0;
    while (done < bytes.length) done += await this.#conn.write(bytes.subarray(done));
  }

  /** Reads one reply the way Renode does; returns header fields and body. */
  async receive(): Promise<{ len: number; error: number; unique: bigint; body: Uint8Array }> {
    const header = new Uint8Array(16);
    const n = await this.#conn.read(header);
    assert.equal(n, 16, "the reply header must arrive in one receive");
    const v = new DataView(header.buffer);
    const len = v.getUint32(0, true);
    let body = new Uint8Array(0);
    if (len > 16) {
      body = new Uint8Array(len - 16);
      const m = await this.#conn.read(body);
      assert.equal(m, len - 16, "the reply body must arrive in one receive");
    }
    return { len, error: v.getInt32(4, true), unique: v.getBigUint64(8, true), body };
  }

  /** Closes the connection. */
  close(): void {
    this.#conn.close();
  }
}
