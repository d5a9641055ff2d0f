import assert from "node:assert/strict";
import { decodeRequest, encodeRequest } from "../codecs/fuse/mod.ts";
import { createPassthrough } from "./session.ts";
import { engineTarget, type RecordedExchange, replay } from "./replayer.ts";
import { diffExchanges } from "./differ.ts";
import { FuseScriptClient, runScriptedSession } from "./scripted_session.ts";
import { IdentityMap, translateRequest } from "./identity.ts";
import type { FuseServer } from "./types.ts";

const TREE = new URL("../testdata/demo-tree", import.meta.url).pathname;

function copyTree(from: string, to: string): void {
  Deno.mkdirSync(to, { recursive: true });
  for (const e of Deno.readDirSync(from)) {
    const a = `${from}/${e.name}`;
    const b = `${to}/${e.name}`;
    if (e.isDirectory) copyTree(a, b);
    else if (e.isSymlink) Deno.symlinkSync(Deno.readLinkSync(a), b);
    else Deno.copyFileSync(a, b);
    Deno.chmodSync(b, Deno.lstatSync(a).mode! & 0o7777);
  }
}

/** path → "mode size nlink content" for every entry under `dir`. */
function treeState(dir: string, prefix = ""): Map<string, string> {
  const out = new Map<string, string>();
  for (const e of Deno.readDirSync(`${dir}/${prefix}`)) {
    const rel = `${prefix}${e.name}`;
    const st = Deno.lstatSync(`${dir}/${rel}`);
    let content = "";
    if (e.isFile) content = new TextDecoder().decode(Deno.readFileSync(`${dir}/${rel}`));
    if (e.isSymlink) content = `-> ${Deno.readLinkSync(`${dir}/${rel}`)}`;
    out.set(rel, `${st.mode!.toString(8)} ${e.isDirectory ? "" : st.size} ${st.nlink} ${content}`);
    if (e.isDirectory) { for (const [k, v] of treeState(dir, `${rel}/`)) out.set(k, v); }
  }
  return out;
}

/** Wraps a server so every exchange is kept as a RecordedExchange. */
function recording(
  server: FuseServer,
): { send: (b: Uint8Array) => Promise<Uint8Array | null>; log: RecordedExchange[] } {
  const log: RecordedExchange[] = [];
  let t = 1_000_000n;
  return {
    log,
    async send(b: Uint8Array) {
      const time = t;
      t += 1000n;
      const reply = await server.handle(b);
      log.push({
        seq: log.length + 1,
        time,
        request: b.slice(),
        reply: reply?.slice() ?? null,
        replyTime: t,
      });
      t += 1000n;
      return reply;
    },
  };
}

async function recordSession(dir: string): Promise<RecordedExchange[]> {
  const rec = recording(createPassthrough(dir));
  await runScriptedSession(new FuseScriptClient(rec.send));
  return rec.log;
}

function tempCopy(): string {
  const d = Deno.makeTempDirSync({ prefix: "ringside-replay-" });
  copyTree(TREE, d);
  return d;
}

Deno.test("replay of a recorded session against a fresh copy: zero divergences, same final tree", async () => {
  const a = tempCopy();
  const b = tempCopy();
  try {
    const log = await recordSession(a);
    assert.ok(log.length > 40, `a real session (${log.length} requests)`);
    const result = await replay(log, engineTarget(createPassthrough(b)));
    assert.equal(result.exchanges.length, log.length);
    assert.equal(result.targetMinor, 45);
    const report = diffExchanges(result.exchanges);
    assert.deepEqual(report.divergences, []);
    assert.deepEqual(report.missingList, []);
    assert.equal(report.equivalent, true);
    assert.equal(report.matched, log.length);
    assert.deepEqual(treeState(b), treeState(a));
    assert.equal(result.unmapped.nodes, 0);
    assert.equal(result.unmapped.handles, 0);
  } finally {
    Deno.removeSync(a, { recursive: true });
    Deno.removeSync(b, { recursive: true });
  }
});

Deno.test("replay against a copy with one file changed: exactly the divergences that change explains", async () => {
  const a = tempCopy();
  const b = tempCopy();
  try {
    const log = await recordSession(a);
    Deno.writeTextFileSync(`${b}/src/main.c`, "int main(void) { return 1; }\n");
    const result = await replay(log, engineTarget(createPassthrough(b)));
    const report = diffExchanges(result.exchanges);
    const seen = report.divergences.map((d) => `${d.op} ${d.args} ${d.field}`);
    assert.deepEqual(
      seen,
      [
        'LOOKUP name="main.c" attr.size',
        "READ fh=FH offset=0 size=65536 size",
        "READ fh=FH offset=0 size=65536 data",
      ].map((s) => s.replace("FH", String(report.divergences[2]?.args.match(/fh=(\d+)/)?.[1]))),
    );
    const data = report.divergences.find((d) => d.field === "data")!;
    assert.match(data.expected, /^66 bytes, at 0: "#include/);
    assert.match(data.actual, /^29 bytes, at 0: "int main/);
    // context: the operations on main.c before the READ
    assert.deepEqual(data.context.map((l) => l.replace(/^#\d+ /, "")).map((l) => l.split(" ")[0]), [
      "LOOKUP",
      "OPEN",
    ]);
    assert.equal(report.diverged, 2);
    assert.equal(report.equivalent, false);
  } finally {
    Deno.removeSync(a, { recursive: true });
    Deno.removeSync(b, { recursive: true });
  }
});

Deno.test("--concurrency replay gives the same final state and replies as serial replay", async () => {
  const a = tempCopy();
  const serial = tempCopy();
  const parallel = tempCopy();
  try {
    const log = await recordSession(a);
    const r1 = await replay(log, engineTarget(createPassthrough(serial)));
    const r8 = await replay(log, engineTarget(createPassthrough(parallel)), { concurrency: 8 });
    assert.equal(diffExchanges(r1.exchanges).equivalent, true);
    assert.equal(diffExchanges(r8.exchanges).equivalent, true);
    assert.deepEqual(treeState(parallel), treeState(serial));
    assert.deepEqual(treeState(parallel), treeState(a));
  } finally {
    for (const d of [a, serial, parallel]) Deno.removeSync(d, { recursive: true });
  }
});

Deno.test("concurrency: independent requests overlap, requests on one inode keep their order", async () => {
  const a = tempCopy();
  const b = tempCopy();
  try {
    const log = await recordSession(a);
    const inner = createPassthrough(b);
    // a target that answers each request a little later, so requests can overlap
    const events: string[] = [];
    let inFlight = 0;
    let maxInFlight = 0;
    const target = {
      description: "delayed engine",
      send(bytes: Uint8Array): Promise<Uint8Array | null> {
        const unique = decodeRequest(bytes).header.unique;
        events.push(`start ${unique}`);
        inFlight++;
        maxInFlight = Math.max(maxInFlight, inFlight);
        return new Promise((resolve) =>
          setTimeout(() => {
            inFlight--;
            events.push(`end ${unique}`);
            resolve(inner.handle(bytes) as Uint8Array | null);
          }, 1)
        );
      },
    };
    const result = await replay(log, target, { concurrency: 4 });
    assert.ok(maxInFlight > 1, `requests overlapped (${maxInFlight} at most)`);
    assert.ok(maxInFlight <= 4 + 1, "the concurrency bound holds (+1 for a blocked-lock slot)");
    assert.equal(diffExchanges(result.exchanges).equivalent, true);
    // every two requests on the same recorded node: the later starts after the earlier ended
    const at = (e: string) => events.indexOf(e);
    const sent = result.exchanges.filter((x) => x.sent !== null && x.recorded.header.nodeid > 1n);
    let pairs = 0;
    for (let i = 0; i < sent.length; i++) {
      for (let j = i + 1; j < sent.length; j++) {
        if (sent[i].recorded.header.nodeid !== sent[j].recorded.header.nodeid) continue;
        pairs++;
        assert.ok(
          at(`end ${sent[i].sent!.header.unique}`) < at(`start ${sent[j].sent!.header.unique}`),
          `${sent[j].recorded.op} #${sent[j].seq} waited for ${sent[i].recorded.op} #${
            sent[i].seq
          }`,
        );
      }
    }
    assert.ok(pairs > 20);
    assert.deepEqual(treeState(b), treeState(a));
  } finally {
    Deno.removeSync(a, { recursive: true });
    Deno.removeSync(b, { recursive: true });
  }
});

Deno.test("identity map: FORGET counts follow what the target counted", () => {
  const ids = new IdentityMap();
  ids.learnEntry(7n, 42n);
  ids.learnEntry(7n, 42n);
  ids.learnEntry(7n, null); // the target failed the third lookup
  assert.equal(ids.node(7n), 42n);
  // recorded forgets 1 of 3: one target reference goes
  assert.deepEqual(ids.forget(7n, 1n), [{ nodeid: 42n, nlookup: 1n }]);
  // recorded forgets the last 2: the target had only 1 left
  assert.deepEqual(ids.forget(7n, 2n), [{ nodeid: 42n, nlookup: 1n }]);
  assert.equal(ids.hasNode(7n), false);
  // a recorded id the target never gave: FORGET translates to nothing
  assert.equal(
    translateRequest(
      decodeRequest(
        encodeRequest({ op: "FORGET", header: { unique: 9n, nodeid: 99n }, body: { nlookup: 1n } }),
      ),
      ids,
      { unique: 3n },
    ),
    null,
  );
  // the recorded server reused id 7 for another file: a fresh binding
  ids.learnEntry(7n, 50n);
  assert.equal(ids.node(7n), 50n);
});

Deno.test("identity map: handles, owners, cookies and node ids in bodies are translated", () => {
  const ids = new IdentityMap();
  ids.learnEntry(5n, 105n);
  ids.learnEntry(6n, 106n);
  ids.learnHandle(3n, 1003n);
  ids.learnCookie(3n, 77n, 12n);
  const t = (op: Parameters<typeof encodeRequest>[0]) =>
    translateRequest(decodeRequest(encodeRequest(op)), ids, { unique: 500n })!;
  const rd = t({
    op: "READDIRPLUS",
    header: { unique: 1n, nodeid: 5n },
    body: { fh: 3n, offset: 77n, size: 4096, read_flags: 0, lock_owner: 0n, flags: 0, padding: 0 },
  });
  assert.equal(rd.header.nodeid, 105n);
  assert.equal(rd.header.unique, 500n);
  assert.deepEqual([(rd.body as { fh: bigint }).fh, (rd.body as { offset: bigint }).offset], [
    1003n,
    12n,
  ]);
  const rn = t({
    op: "RENAME2",
    header: { unique: 1n, nodeid: 5n },
    body: { newdir: 6n, flags: 0, padding: 0, oldname: "a", newname: "b" },
  });
  assert.equal((rn.body as { newdir: bigint }).newdir, 106n);
  const lk = t({
    op: "SETLK",
    header: { unique: 1n, nodeid: 6n },
    body: {
      fh: 3n,
      owner: 0xdeadbeefn,
      lk: { start: 0n, end: 10n, type: 1, pid: 3 },
      lk_flags: 0,
      padding: 0,
    },
  });
  const owner = (lk.body as { owner: bigint }).owner;
  assert.notEqual(owner, 0xdeadbeefn);
  assert.equal(ids.owner(0xdeadbeefn), owner, "the same owner translates the same way");
  const bf = t({
    op: "BATCH_FORGET",
    header: { unique: 1n, nodeid: 0n },
    body: {
      count: 2,
      dummy: 0,
      forgets: [{ nodeid: 5n, nlookup: 1n }, { nodeid: 6n, nlookup: 1n }],
    },
  });
  assert.deepEqual((bf.body as { forgets: unknown }).forgets, [
    { nodeid: 105n, nlookup: 1n },
    { nodeid: 106n, nlookup: 1n },
  ]);
});

Deno.test("original timing keeps the recorded order and reports the timing error", async () => {
  const a = tempCopy();
  const b = tempCopy();
  try {
    const log = (await recordSession(a)).slice(0, 12);
    const result = await replay(log, engineTarget(createPassthrough(b)), {
      timing: "original",
      speed: 1000,
    });
    assert.ok(result.timing !== undefined);
    const issued = result.exchanges.map((x) => x.issuedNs);
    assert.deepEqual([...issued].sort((p, q) => p - q), issued, "issued in recorded order");
    assert.ok(
      result.timing.p99Ns >= result.timing.meanNs || result.timing.p99Ns === result.timing.maxNs,
    );
  } finally {
    Deno.removeSync(a, { recursive: true });
    Deno.removeSync(b, { recursive: true });
  }
});
