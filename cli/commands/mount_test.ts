import assert from "node:assert/strict";
import { peerTest } from "../../testing/peers.ts";
import { isMounted } from "../../testing/mounts.ts";
import { parseMountArgs } from "./mount.ts";
import { UserError } from "../errors.ts";

const MAIN = new URL("../main.ts", import.meta.url).pathname;

function ringside(args: string[]): Deno.ChildProcess {
  return new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", MAIN, ...args],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
}

async function until(what: string, cond: () => boolean): Promise<void> {
  for (let i = 0; i < 400; i++) {
    if (cond()) return;
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error(`gave up waiting for ${what}`);
}

Deno.test("mount: one-line errors for missing or wrong directories and a bad --cache", () => {
  const dir = Deno.makeTempDirSync();
  const file = `${dir}/f`;
  Deno.writeTextFileSync(file, "");
  const err = (shared: string, mp: string, flags = {}) => {
    try {
      parseMountArgs(shared, mp, flags);
    } catch (e) {
      assert.ok(e instanceof UserError);
      assert.ok(!e.message.includes("\n"));
      return e.message;
    }
    return "no error";
  };
  assert.equal(err(`${dir}/nope`, dir), `mount: shared directory ${dir}/nope does not exist`);
  assert.equal(err(file, dir), `mount: shared directory ${file} is not a directory`);
  assert.equal(err(dir, `${dir}/nope`), `mount: mountpoint ${dir}/nope does not exist`);
  assert.equal(err(dir, file), `mount: mountpoint ${file} is not a directory`);
  assert.equal(
    err(dir, dir, { cache: "sometimes" }),
    "mount: --cache must be never, auto or always, not sometimes",
  );
  Deno.removeSync(dir, { recursive: true });
});

Deno.test("mount: not root is a one-line error", async () => {
  if (Deno.uid() !== 0) {
    const dir = Deno.makeTempDirSync();
    assert.throws(
      () => parseMountArgs(dir, dir, {}),
      /mount: mounting a FUSE file system needs root/,
    );
    return;
  }
  // as root: run the command as nobody (the project tree must be readable by it)
  const out = await new Deno.Command("setpriv", {
    args: [
      "--reuid",
      "65534",
      "--regid",
      "65534",
      "--clear-groups",
      Deno.execPath(),
      "eval",
      `import { parseMountArgs } from "${new URL("./mount.ts", import.meta.url).href}";
       try { parseMountArgs("/", "/", {}); } catch (e) { console.log(e.message); }`,
    ],
    env: { DENO_DIR: Deno.makeTempDirSync(), HOME: "/tmp" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder().decode(out.stdout).trim();
  if (out.code !== 0 || text === "") {
    // nobody cannot run deno from here (cache or tree not readable): say so, do not pass silently
    console.warn(
      `!!! not-root check could not run as uid 65534: ${
        new TextDecoder().decode(out.stderr).slice(0, 200)
      }`,
    );
    return;
  }
  assert.equal(text, "mount: mounting a FUSE file system needs root");
});

peerTest(
  "mount: background start, files written through the mount land in SHARED, umount ends it",
  {
    needs: ["fuse"],
  },
  async () => {
    const shared = Deno.makeTempDirSync({ prefix: "ringside-shared-" });
    const mp = Deno.makeTempDirSync({ prefix: "ringside-mp-" });
    Deno.writeTextFileSync(`${shared}/existing`, "from the host\n");
    const start = await ringside(["mount", shared, mp, "--cache", "never"]).output();
    assert.equal(start.code, 0, new TextDecoder().decode(start.stderr));
    assert.ok(isMounted(mp, "fuse.ringside"));
    assert.equal(await Deno.readTextFile(`${mp}/existing`), "from the host\n");
    await Deno.writeTextFile(`${mp}/new`, "through fuse\n");
    assert.equal(Deno.readTextFileSync(`${shared}/new`), "through fuse\n");
    const um = await new Deno.Command("umount", { args: [mp] }).output();
    assert.equal(um.code, 0, new TextDecoder().decode(um.stderr));
    assert.equal(isMounted(mp, "fuse.ringside"), false);
    Deno.removeSync(shared, { recursive: true });
    Deno.removeSync(mp);
  },
);

peerTest("mount: --foreground serves until SIGTERM, then unmounts and exits 0", {
  needs: ["fuse"],
}, async () => {
  const shared = Deno.makeTempDirSync({ prefix: "ringside-shared-" });
  const mp = Deno.makeTempDirSync({ prefix: "ringside-mp-" });
  const child = ringside(["mount", shared, mp, "--foreground", "--readonly"]);
  await until("the mount", () => isMounted(mp, "fuse.ringside"));
  await assert.rejects(
    Deno.writeTextFile(`${mp}/x`, "no"),
    (e: Error) => /read-only/i.test(e.message),
  );
  child.kill("SIGTERM");
  const out = await child.output();
  const err = new TextDecoder().decode(out.stderr);
  assert.equal(out.code, 0, err);
  assert.match(err, /unmounted after \d+ requests/);
  assert.equal(isMounted(mp, "fuse.ringside"), false);
  Deno.removeSync(shared, { recursive: true });
  Deno.removeSync(mp);
});

peerTest("mount: a mountpoint that does not exist fails in one line with status 1", {
  needs: ["fuse"],
}, async () => {
  const out = await ringside(["mount", "/", "/nonexistent-ringside-mp"]).output();
  assert.equal(out.code, 1);
  assert.equal(
    new TextDecoder().decode(out.stderr).trim(),
    "ringside: mount: mountpoint /nonexistent-ringside-mp does not exist",
  );
});
