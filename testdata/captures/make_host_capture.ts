/**
 * Records testdata/captures/host_workload.pcapng: the host kernel, through
 * /dev/fuse, using a ringside passthrough mount while a shell runs a real
 * workload (untar of a few hundred files, grep -r, a small C build with make
 * and cc, renames, hard and symbolic links, xattrs, removals).
 *
 *   deno run -A testdata/captures/make_host_capture.ts [OUT.pcapng]
 *
 * Needs root, /dev/fuse, tar, make, cc and python3 (for the xattr calls).
 * The mount is served exactly as `ringside mount --record` serves it: the
 * engine's passthrough wrapped by `recordingServerSpec` in the /dev/fuse
 * reader Worker.
 *
 * @module
 */
import { mountDevFuse, passthroughSpec } from "../../transports/mod.ts";
import { recordingServerSpec } from "../../engine/recorder.ts";
import { takeSnapshot } from "../../engine/snapshot.ts";

const out = Deno.args[0] ?? new URL("./host_workload.pcapng", import.meta.url).pathname;
const work = await Deno.makeTempDir({ prefix: "ringside-capture-" });
const share = `${work}/share`;
const mnt = `${work}/mnt`;
const src = `${work}/src`;
await Deno.mkdir(share);
await Deno.mkdir(mnt);
await Deno.mkdir(`${src}/proj/include`, { recursive: true });

// the tarball: 300 small files in 10 directories, and a tiny C project
for (let d = 0; d < 10; d++) {
  await Deno.mkdir(`${src}/tree/d${d}`, { recursive: true });
  for (let f = 0; f < 30; f++) {
    const words = Array.from({ length: 8 }, (_, i) => `word${(d * 31 + f * 7 + i) % 97}`);
    await Deno.writeTextFile(
      `${src}/tree/d${d}/f${f}.txt`,
      `${words.join(" ")}\n${f % 5 === 0 ? "needle here\n" : ""}`,
    );
  }
}
await Deno.writeTextFile(
  `${src}/proj/include/greet.h`,
  "#pragma once\nconst char *greeting(void);\n",
);
await Deno.writeTextFile(
  `${src}/proj/greet.c`,
  '#include "greet.h"\nconst char *greeting(void) { return "hello from ringside"; }\n',
);
await Deno.writeTextFile(
  `${src}/proj/main.c`,
  '#include <stdio.h>\n#include "greet.h"\nint main(void) { puts(greeting()); return 0; }\n',
);
await Deno.writeTextFile(
  `${src}/proj/Makefile`,
  "CFLAGS = -O1 -Iinclude\nhello: main.o greet.o\n\t$(CC) -o $@ main.o greet.o\n" +
    "%.o: %.c include/greet.h\n\t$(CC) $(CFLAGS) -c -o $@ $<\nclean:\n\trm -f hello *.o\n",
);
const tar = new Deno.Command("tar", { args: ["-C", src, "-cf", `${work}/input.tar`, "tree", "proj"] });
if (!(await tar.output()).success) throw new Error("tar -c failed");
// the shared directory starts with one file, so the snapshot has something to hold
await Deno.writeTextFile(`${share}/README`, "initial state\n");

const snapshot = await takeSnapshot(share, `${out}.snapshot`);
const spec = recordingServerSpec(
  passthroughSpec(share, { cache: "auto", xattr: true }),
  {
    path: out,
    channel: "/dev/fuse",
    description: "host kernel FUSE device",
    snapshot: { path: snapshot.relativePath(out), manifestSha256: snapshot.manifestSha256 },
  },
);
const mount = await mountDevFuse(mnt, spec, { fsname: "ringside" });
const script = `
set -e
cd ${mnt}
tar -xf ${work}/input.tar
grep -rl needle tree | wc -l
make -C proj -s
./proj/hello
mv tree/d0/f0.txt tree/d1/moved.txt
mv tree/d2 tree/d2-renamed
ln tree/d3/f1.txt tree/d3/hardlink.txt
ln -s ../d3/f2.txt tree/d4/symlink.txt
cat tree/d4/symlink.txt > /dev/null
python3 -c 'import os; os.setxattr("tree/d5/f0.txt", "user.ringside", b"yes"); print(os.getxattr("tree/d5/f0.txt", "user.ringside")); print(os.listxattr("tree/d5/f0.txt"))'
ls -l tree/d3 > /dev/null
cat missing-file 2>/dev/null || true
rm -r tree/d9
make -C proj -s clean
`;
const run = await new Deno.Command("sh", { args: ["-c", script], stdout: "inherit", stderr: "inherit" })
  .output();
await mount.unmount();
const end = await mount.finished;
await Deno.remove(work, { recursive: true });
if (!run.success) throw new Error(`the workload failed (status ${run.code})`);
const size = (await Deno.stat(out)).size;
console.log(`wrote ${out}: ${size} bytes, ${end.requests} requests (${end.reason})`);
