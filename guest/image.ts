/**
 * Builds and caches the guest image: the kernel to boot (the decompressed
 * `vmlinux` when it has a PVH entry, else the bzImage) and the base initramfs
 * (busybox-static with every applet linked, the kernel modules for virtio-pci,
 * virtio-fs and 9p, `/init`, and the static helpers `fsbench` and `rs-drain`).
 *
 * The cache lives in `<repo>/.cache/guest/<release>-<key>/` (or
 * `RINGSIDE_GUEST_CACHE`), where the key hashes the kernel, busybox and every
 * source that goes into the image, so a changed source rebuilds it. A build
 * goes to a temporary directory renamed into place, so concurrent builders
 * never see half an image.
 *
 * @module
 */

import {
  cpioCharDevice,
  cpioDir,
  type CpioEntry,
  cpioFile,
  cpioSymlink,
  encodeCpio,
} from "./cpio.ts";
import { extractVmlinux, hasPvhEntry, newestKernelVersion } from "./kernel.ts";
import { parseModulesBuiltin, parseModulesDep, readModule, resolveModules } from "./modules.ts";

/** A built guest image, ready to boot. */
export interface GuestImage {
  /** Directory holding the image files. */
  dir: string;
  /** Kernel release (`6.1.0-56-amd64`). */
  kernelVersion: string;
  /** The kernel file QEMU boots (`-kernel`). */
  kernel: string;
  /** True when `kernel` is the decompressed ELF booted through its PVH entry. */
  pvh: boolean;
  /** The base initramfs (uncompressed newc cpio). */
  initramfs: string;
  /** The static in-guest benchmark binary (also in the initramfs as `/bin/fsbench`). */
  fsbench: string;
  /** Module files per group, in load order (`base`, `virtiofs`, `9p`). */
  modules: Record<string, string[]>;
  /** Cache key (hex). */
  key: string;
}

/** Options for {@linkcode ensureGuestImage}. */
export interface EnsureGuestImageOptions {
  /** Cache directory (default `RINGSIDE_GUEST_CACHE` or `<repo>/.cache/guest`). */
  cacheDir?: string;
  /** Kernel release (default: the newest `/boot/vmlinuz-*`). */
  kernelVersion?: string;
  /** Static busybox binary (default `/bin/busybox`). */
  busybox?: string;
  /** C compiler (default `gcc`). */
  cc?: string;
  /** Progress messages (default: none). */
  log?: (line: string) => void;
}

/** The module groups of the initramfs: what each share mode loads. */
export const MODULE_GROUPS: Readonly<Record<string, readonly string[]>> = {
  base: ["virtio_pci"],
  virtiofs: ["virtiofs"],
  "9p": ["9pnet_virtio", "9p"],
};

const HERE = new URL(".", import.meta.url);
/** Files whose contents go into the cache key (they define the image). */
const SOURCES = [
  "init.sh",
  "fsbench.c",
  "rs_drain.c",
  "image.ts",
  "cpio.ts",
  "kernel.ts",
  "modules.ts",
];

/** The default cache directory: `RINGSIDE_GUEST_CACHE` or `.cache/guest` at the repository root. */
export function defaultCacheDir(): string {
  return Deno.env.get("RINGSIDE_GUEST_CACHE") ??
    decodeURIComponent(new URL("../.cache/guest", import.meta.url).pathname);
}

async function sha256Hex(parts: (string | Uint8Array)[]): Promise<string> {
  const enc = new TextEncoder();
  const chunks = parts.map((p) => (typeof p === "string" ? enc.encode(p) : p));
  const total = chunks.reduce((n, c) => n + c.length + 1, 0);
  const all = new Uint8Array(total);
  let off = 0;
  for (const c of chunks) {
    all.set(c, off);
    off += c.length + 1; // a zero separator keeps ("ab","c") apart from ("a","bc")
  }
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", all));
  return Array.from(digest, (b) => b.toString(16).padStart(2, "0")).join("");
}

function statSignature(path: string): string {
  const st = Deno.statSync(path);
  return `${path}:${st.size}:${st.mtime?.getTime() ?? 0}`;
}

async function run(cmd: string, args: string[]): Promise<string> {
  const out = await new Deno.Command(cmd, { args, stdout: "piped", stderr: "piped" }).output();
  if (!out.success) {
    const err = new TextDecoder().decode(out.stderr).trim();
    throw new Error(`${cmd} ${args.join(" ")} failed (status ${out.code}): ${err}`);
  }
  return new TextDecoder().decode(out.stdout);
}

async function readImage(dir: string): Promise<GuestImage | undefined> {
  try {
    return JSON.parse(await Deno.readTextFile(`${dir}/image.json`)) as GuestImage;
  } catch {
    return undefined;
  }
}

/**
 * Returns the cached guest image for the current kernel and sources, building
 * it first when needed (~3-5 s: two static gcc builds, an xz decompression of
 * the kernel). Throws with the reason when the kernel, its modules, busybox or
 * gcc are missing.
 */
export async function ensureGuestImage(options: EnsureGuestImageOptions = {}): Promise<GuestImage> {
  const kver = options.kernelVersion ?? newestKernelVersion();
  if (kver === undefined) throw new Error("no /boot/vmlinuz-* (apt-get install linux-image-amd64)");
  const bzImage = `/boot/vmlinuz-${kver}`;
  const modDir = `/lib/modules/${kver}`;
  const busybox = options.busybox ?? "/bin/busybox";
  const cc = options.cc ?? "gcc";
  for (
    const [path, hint] of [
      [bzImage, "linux-image-amd64"],
      [`${modDir}/modules.dep`, "linux-image-amd64"],
      [busybox, "busybox-static"],
    ]
  ) {
    try {
      Deno.statSync(path);
    } catch {
      throw new Error(`no ${path} (apt-get install ${hint})`);
    }
  }
  const sources = await Promise.all(SOURCES.map((f) => Deno.readFile(new URL(f, HERE))));
  const key = (await sha256Hex([
    "ringside-guest-image-1",
    kver,
    statSignature(bzImage),
    statSignature(`${modDir}/modules.dep`),
    statSignature(busybox),
    ...sources,
  ])).slice(0, 16);
  const cacheDir = options.cacheDir ?? defaultCacheDir();
  const dir = `${cacheDir}/${kver}-${key}`;
  const cached = await readImage(dir);
  if (cached !== undefined) return cached;

  const log = options.log ?? (() => {});
  log(`building the guest image for ${kver} in ${dir}`);
  await Deno.mkdir(cacheDir, { recursive: true });
  const tmp = await Deno.makeTempDir({ dir: cacheDir, prefix: ".build-" });
  try {
    const image = await buildInto(tmp, { kver, bzImage, modDir, busybox, cc, key, dir, log });
    try {
      await Deno.rename(tmp, dir);
    } catch (e) {
      // another builder won the race: use its image
      const other = await readImage(dir);
      if (other === undefined) throw e;
      return other;
    }
    return image;
  } finally {
    await Deno.remove(tmp, { recursive: true }).catch(() => {});
  }
}

/** True for a 64-bit ELF file without a PT_INTERP segment (no dynamic loader needed). */
export function isStaticElf(bytes: Uint8Array): boolean {
  if (bytes.length < 64 || bytes[0] !== 0x7f || bytes[1] !== 0x45 || bytes[4] !== 2) return false;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const phoff = Number(view.getBigUint64(0x20, true));
  const phentsize = view.getUint16(0x36, true);
  const phnum = view.getUint16(0x38, true);
  for (let i = 0; i < phnum; i++) {
    const ph = phoff + i * phentsize;
    if (ph + 4 > bytes.length) return false;
    if (view.getUint32(ph, true) === 3) return false; // PT_INTERP
  }
  return true;
}

interface BuildPlan {
  kver: string;
  bzImage: string;
  modDir: string;
  busybox: string;
  cc: string;
  key: string;
  dir: string;
  log: (line: string) => void;
}

async function buildInto(tmp: string, plan: BuildPlan): Promise<GuestImage> {
  const { kver, modDir, busybox, cc, log } = plan;
  const busyboxBytes = await Deno.readFile(busybox);
  if (!isStaticElf(busyboxBytes)) {
    throw new Error(`${busybox} is not a static ELF binary (apt-get install busybox-static)`);
  }

  // static helpers
  log("compiling fsbench and rs-drain");
  const fsbench = `${tmp}/fsbench`;
  const drain = `${tmp}/rs-drain`;
  await Promise.all([
    run(cc, [
      "-O2",
      "-Wall",
      "-Wextra",
      "-static",
      "-o",
      fsbench,
      new URL("fsbench.c", HERE).pathname,
    ]),
    run(cc, ["-O2", "-Wall", "-static", "-o", drain, new URL("rs_drain.c", HERE).pathname]),
  ]);

  const entries: CpioEntry[] = [];
  const dirs = [
    "bin",
    "sbin",
    "usr",
    "usr/bin",
    "usr/sbin",
    "usr/local",
    "usr/local/bin",
    "etc",
    "etc/ringside",
    "lib",
    "lib/modules",
    "dev",
    "proc",
    "sys",
    "tmp",
    "run",
    "mnt",
    "root",
    "ringside",
  ];
  for (const d of dirs) entries.push(cpioDir(d, d === "tmp" ? 0o1777 : 0o755));
  entries.push(cpioCharDevice("dev/console", { major: 5, minor: 1 }, { perm: 0o600 }));
  entries.push(cpioCharDevice("dev/null", { major: 1, minor: 3 }, { perm: 0o666 }));
  entries.push(cpioFile("bin/busybox", busyboxBytes, { perm: 0o755 }));
  entries.push(cpioFile("init", await Deno.readFile(new URL("init.sh", HERE)), { perm: 0o755 }));
  entries.push(cpioFile("bin/fsbench", await Deno.readFile(fsbench), { perm: 0o755 }));
  entries.push(cpioFile("bin/rs-drain", await Deno.readFile(drain), { perm: 0o755 }));
  const enc = new TextEncoder();
  entries.push(cpioFile("etc/passwd", enc.encode("root:x:0:0:root:/root:/bin/sh\n")));
  entries.push(cpioFile("etc/group", enc.encode("root:x:0:\n")));
  const taken = new Set(entries.map((e) => e.path));
  for (const applet of (await run(busybox, ["--list-full"])).split("\n")) {
    const path = applet.trim();
    if (path === "" || taken.has(path)) continue;
    taken.add(path);
    entries.push(cpioSymlink(path, "/bin/busybox"));
  }

  // kernel modules, grouped by share mode
  const deps = parseModulesDep(await Deno.readTextFile(`${modDir}/modules.dep`));
  let builtinText = "";
  try {
    builtinText = await Deno.readTextFile(`${modDir}/modules.builtin`);
  } catch {
    // no modules.builtin: everything is a module
  }
  const builtin = parseModulesBuiltin(builtinText);
  const loaded = new Set<string>();
  const modules: Record<string, string[]> = {};
  for (const [group, wanted] of Object.entries(MODULE_GROUPS)) {
    const order = resolveModules(deps, [...wanted], { builtin, loaded });
    modules[group] = [];
    for (const m of order) {
      loaded.add(m.name);
      const file = `${m.name}.ko`;
      entries.push(cpioFile(`lib/modules/${file}`, await readModule(`${modDir}/${m.path}`)));
      modules[group].push(file);
    }
    entries.push(
      cpioFile(`etc/ringside/modules-${group}`, enc.encode(modules[group].join("\n") + "\n")),
    );
  }
  await Deno.writeFile(`${tmp}/initramfs.cpio`, encodeCpio(entries));

  // kernel: the decompressed ELF when it has a PVH entry, else the bzImage
  log("extracting vmlinux");
  const bz = await Deno.readFile(plan.bzImage);
  await Deno.writeFile(`${tmp}/vmlinuz`, bz);
  let pvh = false;
  try {
    const elf = await extractVmlinux(bz);
    if (hasPvhEntry(elf)) {
      await Deno.writeFile(`${tmp}/vmlinux`, elf);
      pvh = true;
    }
  } catch (e) {
    log(`no bootable vmlinux (${e instanceof Error ? e.message : String(e)}); booting the bzImage`);
  }

  const image: GuestImage = {
    dir: plan.dir,
    kernelVersion: kver,
    kernel: `${plan.dir}/${pvh ? "vmlinux" : "vmlinuz"}`,
    pvh,
    initramfs: `${plan.dir}/initramfs.cpio`,
    fsbench: `${plan.dir}/fsbench`,
    modules,
    key: plan.key,
  };
  await Deno.writeTextFile(`${tmp}/image.json`, JSON.stringify(image, null, 2) + "\n");
  return image;
}
