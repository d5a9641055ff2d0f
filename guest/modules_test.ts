import assert from "node:assert/strict";
import { moduleName, parseModulesBuiltin, parseModulesDep, resolveModules } from "./modules.ts";
import { peerTest } from "../testing/peers.ts";
import { newestKernelVersion } from "./kernel.ts";

const DEP = `kernel/fs/fuse/fuse.ko.xz:
kernel/fs/fuse/virtiofs.ko.xz: kernel/drivers/virtio/virtio.ko.xz kernel/drivers/virtio/virtio_ring.ko.xz kernel/fs/fuse/fuse.ko.xz
kernel/drivers/virtio/virtio_ring.ko.xz:
kernel/drivers/virtio/virtio.ko.xz: kernel/drivers/virtio/virtio_ring.ko.xz
kernel/drivers/virtio/virtio_pci.ko.xz: kernel/drivers/virtio/virtio-pci-modern-dev.ko.xz kernel/drivers/virtio/virtio.ko.xz kernel/drivers/virtio/virtio_ring.ko.xz
kernel/drivers/virtio/virtio-pci-modern-dev.ko.xz:
kernel/net/9p/9p.ko: kernel/net/9p/missing.ko
`;

Deno.test("modules: names are canonical (dashes to underscores, any .ko suffix)", () => {
  assert.equal(
    moduleName("kernel/drivers/virtio/virtio-pci-modern-dev.ko.xz"),
    "virtio_pci_modern_dev",
  );
  assert.equal(moduleName("kernel/net/9p/9pnet_virtio.ko"), "9pnet_virtio");
  assert.equal(moduleName("fuse.ko.zst"), "fuse");
});

Deno.test("modules: dependencies load first, each once, built-ins skipped", () => {
  const deps = parseModulesDep(DEP);
  const names = (ms: { name: string }[]) => ms.map((m) => m.name);
  const base = resolveModules(deps, ["virtio_pci"]);
  assert.deepEqual(names(base), ["virtio_pci_modern_dev", "virtio_ring", "virtio", "virtio_pci"]);
  const loaded = new Set(names(base));
  assert.deepEqual(names(resolveModules(deps, ["virtiofs"], { loaded })), ["fuse", "virtiofs"]);
  const builtin = parseModulesBuiltin(
    "kernel/fs/fuse/fuse.ko\nkernel/drivers/virtio/virtio_ring.ko\n",
  );
  assert.deepEqual(names(resolveModules(deps, ["virtiofs"], { builtin })), ["virtio", "virtiofs"]);
  assert.equal(base[3].path, "kernel/drivers/virtio/virtio_pci.ko.xz");
});

Deno.test("modules: a missing module names who needs it", () => {
  const deps = parseModulesDep(DEP);
  assert.throws(() => resolveModules(deps, ["nope"]), /module nope is neither/);
  assert.throws(() => resolveModules(deps, ["9p"]), /module missing \(needed by 9p\)/);
});

peerTest(
  "modules: the host kernel has every module the guest loads",
  { needs: ["guest-kernel"] },
  async () => {
    const kver = newestKernelVersion()!;
    const dir = `/lib/modules/${kver}`;
    const deps = parseModulesDep(await Deno.readTextFile(`${dir}/modules.dep`));
    const builtin = parseModulesBuiltin(
      await Deno.readTextFile(`${dir}/modules.builtin`).catch(() => ""),
    );
    const all = resolveModules(deps, ["virtio_pci", "virtiofs", "9pnet_virtio", "9p"], { builtin });
    const names = all.map((m) => m.name);
    for (const m of ["virtiofs", "9p", "9pnet_virtio"]) assert.ok(names.includes(m), m);
    // every dependency comes before its user
    for (const [i, m] of all.entries()) {
      for (const d of m.deps) {
        if (!builtin.has(d)) assert.ok(names.indexOf(d) < i, `${d} before ${m.name}`);
      }
    }
  },
);
