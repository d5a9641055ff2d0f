/**
 * A test helper: a child process records READ requests through
 * `Recorder.open(path, options)` as fast as it can and is killed with
 * SIGKILL 400 ms in, leaving the capture as an interrupted recording leaves it.
 *
 * @module
 */
import assert from "node:assert/strict";
import type { RecorderOptions } from "./recorder.ts";

/** Records into `path` from a child until SIGKILL; resolves with whether the child's recorder used O_DIRECT. */
export async function killedRecording(
  path: string,
  options: RecorderOptions,
): Promise<{ directIo: boolean }> {
  const script = `
    import { Recorder } from ${JSON.stringify(new URL("./recorder.ts", import.meta.url).href)};
    const rec = Recorder.open(${JSON.stringify(path)}, ${JSON.stringify(options)});
    const ch = rec.channel("/dev/fuse");
    const msg = new Uint8Array(40 + 40); // READ: fuse_in_header, fuse_read_in
    new DataView(msg.buffer).setUint32(0, msg.length, true);
    new DataView(msg.buffer).setUint32(4, 15, true);
    let u = 2n;
    console.log("ready " + rec.directIo);
    for (;;) {
      new DataView(msg.buffer).setBigUint64(8, u, true);
      u += 2n;
      rec.fuseRequest(ch, msg);
      if (u % 512n === 0n) await new Promise((r) => setTimeout(r, 1));
    }
  `;
  const child = new Deno.Command(Deno.execPath(), {
    args: ["eval", "--ext=ts", script],
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const reader = child.stdout.getReader();
  let first = "";
  try {
    first = new TextDecoder().decode((await reader.read()).value).trim();
    await new Promise((r) => setTimeout(r, 400));
  } finally {
    child.kill("SIGKILL");
    reader.releaseLock();
    await child.stdout.cancel();
  }
  const status = await child.status;
  assert.equal(status.signal, "SIGKILL");
  return { directIo: first === "ready true" };
}
