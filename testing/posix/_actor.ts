/**
 * A helper process for the POSIX conformance cases: optionally becomes
 * another user (`--uid N --gid N`: supplementary groups cleared, then
 * setresgid and setresuid through glibc, which change every thread), then
 * runs operations from ops.ts read as JSON lines on stdin
 * (`{ "id", "op", "args" }`) and answers each with a JSON line
 * (`{ "id", "result" }`). Blocking operations (F_SETLKW) block only this
 * process.
 *
 * @module
 */
import { runOp } from "./ops.ts";
import { errno, openLibc, SysError } from "../../sys/libc.ts";

const uidAt = Deno.args.indexOf("--uid");
if (uidAt >= 0) {
  const uid = Number(Deno.args[uidAt + 1]);
  const gid = Number(Deno.args[Deno.args.indexOf("--gid") + 1]);
  const libc = openLibc(
    {
      setgroups: { parameters: ["usize", "pointer"], result: "i32" },
      setresgid: { parameters: ["u32", "u32", "u32"], result: "i32" },
      setresuid: { parameters: ["u32", "u32", "u32"], result: "i32" },
    } as const,
  );
  if (libc.setgroups(0n, null) < 0) throw new SysError("setgroups", errno());
  if (libc.setresgid(gid, gid, gid) < 0) throw new SysError("setresgid", errno());
  if (libc.setresuid(uid, uid, uid) < 0) throw new SysError("setresuid", errno());
}

const enc = new TextEncoder();
let text = "";
for await (const chunk of Deno.stdin.readable.pipeThrough(new TextDecoderStream())) {
  text += chunk;
  let nl;
  while ((nl = text.indexOf("\n")) >= 0) {
    const line = text.slice(0, nl);
    text = text.slice(nl + 1);
    const { id, op, args } = JSON.parse(line);
    let out;
    try {
      out = { id, result: runOp(op, args) };
    } catch (e) {
      out = { id, failure: (e as Error).message };
    }
    Deno.stdout.writeSync(enc.encode(JSON.stringify(out) + "\n"));
  }
}
