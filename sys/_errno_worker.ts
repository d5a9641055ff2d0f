/**
 * Test helper Worker for libc_test.ts: looks up a missing name `n` times and
 * posts how often each errno came back.
 */
import { AT_FDCWD, O_DIRECTORY, O_NOFOLLOW, O_PATH, openat, tryOpenat } from "./fs.ts";

self.onmessage = (e: MessageEvent<{ dir: string; n: number }>) => {
  const dir = openat(AT_FDCWD, e.data.dir, { flags: O_PATH | O_DIRECTORY });
  const name = new TextEncoder().encode("missing");
  const counts: Record<number, number> = {};
  for (let i = 0; i < e.data.n; i++) {
    const r = tryOpenat(dir, name, { flags: O_PATH | O_NOFOLLOW });
    counts[-r] = (counts[-r] ?? 0) + 1;
  }
  self.postMessage(counts);
};
