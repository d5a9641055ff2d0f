import assert from "node:assert/strict";
import { warmUp } from "./warmup.ts";

Deno.test("warm-up answers its requests through real sessions and leaves nothing behind", () => {
  const tmp = Deno.makeTempDirSync({ prefix: "ringside-warmup-test-" });
  const before = Deno.env.get("TMPDIR");
  Deno.env.set("TMPDIR", tmp);
  // each descriptor as number and target: other test files in this process may close
  // theirs meanwhile (a count fell by one once), so only new ones count
  const fds = () => {
    const out = new Set<string>();
    for (const e of Deno.readDirSync("/proc/self/fd")) {
      try {
        out.add(`${e.name} -> ${Deno.readLinkSync(`/proc/self/fd/${e.name}`)}`);
      } catch { /* closed meanwhile (or the directory's own descriptor) */ }
    }
    return out;
  };
  try {
    const open = fds();
    const r = warmUp(20);
    const left = [...fds()].filter((f) => !open.has(f));
    assert.deepEqual(left, [], "every descriptor it opened is closed");
    // every reply is checked inside (an error throws); per round at least 11 requests, two cache modes
    assert.ok(r.requests >= 2 * 20 * 11, `${r.requests} requests`);
    assert.deepEqual([...Deno.readDirSync(tmp)], [], "its directories are removed");
  } finally {
    if (before === undefined) Deno.env.delete("TMPDIR");
    else Deno.env.set("TMPDIR", before);
    Deno.removeSync(tmp, { recursive: true });
  }
});
