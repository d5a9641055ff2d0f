/**
 * Kernel modules for the guest: which `.ko` files to put in the initramfs and
 * in which order to `insmod` them, resolved from the kernel's `modules.dep`
 * (lines `kernel/fs/fuse/virtiofs.ko: kernel/drivers/virtio/virtio.ko ...`)
 * and `modules.builtin` (modules compiled into the kernel need no file).
 *
 * @module
 */

import { decompress } from "./kernel.ts";

/** One module of `modules.dep`. */
export interface ModuleInfo {
  /** Canonical name (`virtio_pci`; dashes become underscores). */
  name: string;
  /** Path relative to `/lib/modules/<release>/`, possibly compressed (`.ko.xz`). */
  path: string;
  /** Canonical names of the modules it depends on. */
  deps: string[];
}

/** The module name of a path like `kernel/net/9p/9pnet_virtio.ko.xz`. */
export function moduleName(path: string): string {
  const base = path.slice(path.lastIndexOf("/") + 1);
  const dot = base.indexOf(".ko");
  return (dot >= 0 ? base.slice(0, dot) : base).replaceAll("-", "_");
}

/** Parses the text of `modules.dep` into a map by canonical module name. */
export function parseModulesDep(text: string): Map<string, ModuleInfo> {
  const out = new Map<string, ModuleInfo>();
  for (const raw of text.split("\n")) {
    const line = raw.trim();
    if (line === "" || line.startsWith("#")) continue;
    const colon = line.indexOf(":");
    if (colon < 0) continue;
    const path = line.slice(0, colon).trim();
    const deps = line.slice(colon + 1).trim().split(/\s+/).filter((d) => d !== "").map(moduleName);
    out.set(moduleName(path), { name: moduleName(path), path, deps });
  }
  return out;
}

/** Parses `modules.builtin` into the set of canonical names built into the kernel. */
export function parseModulesBuiltin(text: string): Set<string> {
  const out = new Set<string>();
  for (const line of text.split("\n")) {
    if (line.trim() !== "") out.add(moduleName(line.trim()));
  }
  return out;
}

/** Options for {@linkcode resolveModules}. */
export interface ResolveModulesOptions {
  /** Modules built into the kernel: they and their dependencies need no loading. */
  builtin?: Set<string>;
  /** Modules already placed by an earlier group: not repeated. */
  loaded?: Set<string>;
}

/**
 * The modules to load, dependencies first, so that `wanted` can be used.
 * Throws when a wanted module or a dependency is neither in `deps` nor built in.
 */
export function resolveModules(
  deps: Map<string, ModuleInfo>,
  wanted: string[],
  options: ResolveModulesOptions = {},
): ModuleInfo[] {
  const builtin = options.builtin ?? new Set<string>();
  const seen = new Set<string>(options.loaded ?? []);
  const order: ModuleInfo[] = [];
  const visit = (raw: string, from: string | undefined) => {
    const name = moduleName(raw);
    if (seen.has(name)) return;
    seen.add(name);
    if (builtin.has(name)) return;
    const info = deps.get(name);
    if (info === undefined) {
      throw new Error(
        `module ${name}${
          from ? ` (needed by ${from})` : ""
        } is neither in modules.dep nor built in`,
      );
    }
    for (const d of info.deps) visit(d, name);
    order.push(info);
  };
  for (const w of wanted) visit(w, undefined);
  return order;
}

/** Reads a module file and decompresses `.ko.xz`, `.ko.zst` and `.ko.gz`. */
export async function readModule(path: string): Promise<Uint8Array> {
  const bytes = await Deno.readFile(path);
  if (path.endsWith(".ko")) return bytes;
  if (path.endsWith(".ko.xz")) return await decompress(bytes, "xz");
  if (path.endsWith(".ko.zst")) return await decompress(bytes, "zstd");
  if (path.endsWith(".ko.gz")) return await decompress(bytes, "gzip");
  throw new Error(`unknown module format: ${path}`);
}
