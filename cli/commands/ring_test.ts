import assert from "node:assert/strict";
import { parseRingFlags } from "./ring.ts";
import { UserError } from "../errors.ts";

const root = new URL("../../", import.meta.url).pathname;

async function ringside(...args: string[]) {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "cli/main.ts", "ring", ...args],
    cwd: root,
    env: { NO_COLOR: "1" },
  }).output();
  return {
    code: out.code,
    stdout: new TextDecoder().decode(out.stdout),
    stderr: new TextDecoder().decode(out.stderr),
  };
}

Deno.test("ring CLI: prints the split fixture", async () => {
  const r = await ringside(
    "testdata/rings/split.bin",
    "--base",
    "0x10000",
    "--size",
    "8",
    "--desc",
    "0x10000",
  );
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /available ring: flags 0x0, idx 3, used_event 0/);
  assert.match(r.stdout, /head 5: 5 {3}readable 0x0, writable 0x80/);
});

Deno.test("ring CLI: --json for a packed ring", async () => {
  const r = await ringside(
    "testdata/rings/packed.bin",
    "--layout",
    "packed",
    "--base",
    "65536",
    "--size",
    "8",
    "--desc",
    "0x10000",
    "--json",
  );
  assert.equal(r.code, 0, r.stderr);
  const j = JSON.parse(r.stdout);
  assert.equal(j.layout, "packed");
  assert.equal(j.addresses.driver, "0x10080");
  assert.equal(j.inFlight.length, 2);
  assert.equal(j.descriptors[0].state, "used(wrap 1)");
});

Deno.test("ring CLI: bad input is one line and a non-zero status", async () => {
  const cases: [string[], number, RegExp][] = [
    [
      ["testdata/rings/split.bin", "--size", "8", "--desc", "0x10000"],
      1,
      /outside the memory given: the dump .* covers 0x0\.\.0x4000/,
    ],
    [["no-such.bin", "--size", "8", "--desc", "0"], 1, /cannot read dump no-such\.bin/],
    [
      ["testdata/rings/split.bin", "--size", "6", "--desc", "0"],
      2,
      /--size: expected a power of two/,
    ],
    [["testdata/rings/split.bin", "--size", "8", "--desc", "zz"], 2, /--desc must be a number/],
  ];
  for (const [args, code, re] of cases) {
    const r = await ringside(...args);
    assert.equal(r.code, code, args.join(" "));
    assert.equal(r.stdout, "");
    const lines = r.stderr.trim().split("\n");
    assert.equal(lines.length, 1, r.stderr);
    assert.match(lines[0], re);
  }
});

Deno.test("ring flags: defaults follow the layouts", () => {
  const s = parseRingFlags({ size: "256", desc: "0x10000", align: "4096" });
  assert.equal(s.params.driver, 0x11000n);
  assert.equal(s.params.device, 0x12000n);
  const p = parseRingFlags({ layout: "packed", size: "100", desc: "0x1000" });
  assert.equal(p.params.driver, 0x1000n + 1600n);
  assert.equal(p.params.device, 0x1000n + 1604n);
  assert.throws(() => parseRingFlags({ layout: "ring", size: "8", desc: "0" }), UserError);
  assert.throws(() => parseRingFlags({ desc: "0" }), /--size is required/);
  assert.throws(() => parseRingFlags({ size: "8" }), /--desc is required/);
});
