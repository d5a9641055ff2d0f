import assert from "node:assert/strict";
import { kernelCommandLine, qemuArgs, qemuValue } from "./qemu.ts";

const serial = { console: "/r/con.sock", stdout: "/r/out.sock", stderr: "/r/err.sock" };

function after(args: string[], flag: string): string[] {
  return args.flatMap((a, i) => (a === flag ? [args[i + 1]] : []));
}

Deno.test("qemu: guest RAM is a shared memfd, so a vhost-user backend can map it", () => {
  const args = qemuArgs({
    kernel: "/k",
    initrd: "/i",
    append: kernelCommandLine(),
    accel: "tcg",
    mem: "512M",
    smp: 2,
    serial,
    share: { kind: "vhost-user", socket: "/tmp/a,b.sock", tag: "myfs" },
  });
  assert.deepEqual(after(args, "-object"), ["memory-backend-memfd,id=mem,size=512M,share=on"]);
  assert.deepEqual(after(args, "-numa"), ["node,memdev=mem"]);
  assert.deepEqual(after(args, "-machine"), ["q35,accel=tcg"]);
  assert.deepEqual(after(args, "-cpu"), ["max"]);
  assert.deepEqual(after(args, "-smp"), ["2"]);
  assert.deepEqual(after(args, "-chardev"), [
    "socket,id=con,path=/r/con.sock",
    "socket,id=out,path=/r/out.sock",
    "socket,id=err,path=/r/err.sock",
    "socket,id=vfs,path=/tmp/a,,b.sock",
  ]);
  assert.deepEqual(after(args, "-serial"), ["chardev:con", "chardev:out", "chardev:err"]);
  assert.deepEqual(after(args, "-device"), [
    "vhost-user-fs-pci,chardev=vfs,tag=myfs,queue-size=1024",
  ]);
  assert.ok(after(args, "-append")[0].includes("console=ttyS0"));
});

Deno.test("qemu: 9p and no-share variants", () => {
  const base = {
    kernel: "/k",
    initrd: "/i",
    append: "x",
    accel: "kvm" as const,
    mem: "1G",
    smp: 1,
    serial,
  };
  const p9 = qemuArgs({
    ...base,
    share: { kind: "9p", dir: "/srv", tag: "hostshare" },
    bios: "/q.rom",
  });
  assert.deepEqual(after(p9, "-fsdev"), ["local,id=fs0,path=/srv,security_model=none"]);
  assert.deepEqual(after(p9, "-device"), ["virtio-9p-pci,fsdev=fs0,mount_tag=hostshare"]);
  assert.deepEqual(after(p9, "-bios"), ["/q.rom"]);
  assert.deepEqual(after(p9, "-cpu"), ["host"]);
  const none = qemuArgs({ ...base, share: { kind: "none" }, extra: ["-d", "guest_errors"] });
  assert.deepEqual(after(none, "-device"), []);
  assert.deepEqual(none.slice(-2), ["-d", "guest_errors"]);
});

Deno.test("qemu: option values double their commas; command line extras are appended", () => {
  assert.equal(qemuValue("a,b,,c"), "a,,b,,,,c");
  assert.ok(kernelCommandLine("loglevel=7").endsWith("rdinit=/init loglevel=7"));
});
