import assert from "node:assert/strict";
import { demoSession, runDemo } from "./demo.ts";

Deno.test("demo: every scripted message decodes and pairs; one line each", () => {
  const lines = runDemo();
  const body = lines.filter((l) => /^ *\d+ {2}/.test(l));
  assert.equal(body.length, demoSession().length);
  assert.ok(body.every((l) => !l.includes("INVALID")), lines.join("\n"));
  assert.ok(body.every((l) => !l.includes("[no request]")), lines.join("\n"));
  assert.match(lines.join("\n"), /LOOKUP +ENOENT/);
  assert.match(lines.join("\n"), /READ +EINTR {2}\[interrupted\]/);
  assert.match(lines.join("\n"), /READDIRPLUS +2 entries/);
  assert.match(lines.at(-1)!, /^negotiated 7\.45; 0 request\(s\) still waiting/);
});
