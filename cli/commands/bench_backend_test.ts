import assert from "node:assert/strict";
import { benchTable, runBenchBackend } from "./bench_backend.ts";
import { main } from "../main.ts";
import { startVhostUserBackend } from "../../transports/vhost_user/backend.ts";

Deno.test("bench-backend --dir: one row per op and depth, every op answered, the file cleaned up", async () => {
  const dir = await Deno.makeTempDir({ prefix: "ringside-bench-backend-" });
  try {
    const { rows, label } = await runBenchBackend({ dir, depth: "1,4", duration: "0.05" });
    assert.deepEqual(rows.map((r) => `${r.name}@${r.depth}`), [
      "GETATTR@1",
      "READ 4k@1",
      "WRITE 4k@1",
      "GETATTR@4",
      "READ 4k@4",
      "WRITE 4k@4",
    ]);
    for (const r of rows) assert.ok(r.ops > 0 && r.opsPerSec > 0, `${r.name} ran`);
    assert.match(benchTable(label, rows), /^bench-backend engine:/);
    assert.deepEqual([...Deno.readDirSync(dir)], [], "the benchmark file is removed");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("bench-backend: 1 MiB reads and writes in pages through ringside's vhost-user back-end, every reply a success", async () => {
  const dir = await Deno.makeTempDir({ prefix: "ringside-bench-backend-" });
  const socket = `${dir}.sock`;
  const backend = await startVhostUserBackend(socket, dir, { log: () => {} });
  try {
    const { rows } = await runBenchBackend({
      target: `vhost-user:${socket}`,
      depth: "1,4",
      duration: "0.1",
      mix: "read1m,write1m",
    });
    assert.deepEqual(rows.map((r) => `${r.name}@${r.depth}`), [
      "READ 1M@1",
      "WRITE 1M@1",
      "READ 1M@4",
      "WRITE 1M@4",
    ]);
    for (const r of rows) assert.ok(r.ops > 0 && r.opsPerSec > 0, `${r.name} ran`);
  } finally {
    await backend.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("bench-backend: usage mistakes exit 2", async () => {
  const err = console.error;
  console.error = () => {};
  try {
    assert.equal(await main(["bench-backend"]), 2);
    assert.equal(await main(["bench-backend", "--dir", "/tmp", "--mix", "stat"]), 2);
    assert.equal(await main(["bench-backend", "--dir", "/tmp", "--depth", "0"]), 2);
  } finally {
    console.error = err;
  }
});
