/**
 * Kaitai Struct cross-checks: compiles a `.ksy` spec with the npm
 * kaitai-struct-compiler into its JavaScript parser, evaluates that parser in
 * Deno against the kaitai-struct runtime, and hands back a function that
 * parses bytes into a plain object, so tests can compare a codec's decoder
 * with an independent reading of the same spec.
 *
 * Field names in the result are the `.ksy` ids (`snake_case`), not the
 * generated parser's camelCase properties. Nested types become nested
 * objects, repeated fields arrays, byte fields `Uint8Array`; `instances` are
 * evaluated and included. Kaitai reads `u8` as a JS number, so values above
 * 2^53 lose precision.
 *
 * @module
 */
import YAML from "yaml";
import compiler from "kaitai-struct-compiler";
import runtime from "kaitai-struct";

/** A parser made from a `.ksy`: `typeName` picks a type of its `types` (snake_case) instead of the top-level one. */
export type KaitaiParser = (bytes: Uint8Array, typeName?: string) => Record<string, unknown>;

// deno-lint-ignore no-explicit-any
type AnyClass = any;

const KaitaiStream: AnyClass = (runtime as AnyClass).KaitaiStream ?? runtime;

function upperCamel(id: string): string {
  return id.split("_").map((p) => p.charAt(0).toUpperCase() + p.slice(1)).join("");
}

function snake(name: string): string {
  return name.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);
}

function isStruct(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && "_io" in v;
}

function plain(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(plain);
  if (!isStruct(v)) return v;
  const out: Record<string, unknown> = {};
  for (const key of Object.keys(v)) {
    if (key.startsWith("_")) continue;
    out[snake(key)] = plain(v[key]);
  }
  // instances are getters on the prototype, cached in `_m_<name>`
  const proto = Object.getPrototypeOf(v);
  for (const key of Object.getOwnPropertyNames(proto)) {
    const d = Object.getOwnPropertyDescriptor(proto, key);
    if (d?.get === undefined || key.startsWith("_")) continue;
    out[snake(key)] = plain((v as Record<string, unknown>)[key]);
  }
  return out;
}

/** Compiles a parsed `.ksy` object and evaluates the generated module; returns its exports. */
async function build(path: string): Promise<Record<string, AnyClass>> {
  const ksy = YAML.parse(await Deno.readTextFile(path));
  const dir = path.includes("/") ? path.slice(0, path.lastIndexOf("/") + 1) : "";
  const importer = {
    async importYaml(name: string) {
      return YAML.parse(await Deno.readTextFile(`${dir}${name}.ksy`));
    },
  };
  const files: Record<string, string> = await compiler.compile("javascript", ksy, importer, false);
  const modules: Record<string, Record<string, AnyClass>> = {};
  const pending = new Map(Object.entries(files));
  function load(file: string): Record<string, AnyClass> {
    if (modules[file]) return modules[file];
    const code = pending.get(file);
    if (code === undefined) throw new Error(`kaitai: generated parser needs missing ${file}`);
    const exports: Record<string, AnyClass> = {};
    modules[file] = exports;
    const require = (name: string) => {
      if (name === "kaitai-struct/KaitaiStream") return KaitaiStream;
      return load(`${name.replace(/^\.\//, "")}.js`);
    };
    // The generated code is a UMD module: give it CommonJS-style exports and require.
    new Function("exports", "require", "define", code)(exports, require, undefined);
    return exports;
  }
  const top = `${upperCamel(ksy.meta.id)}.js`;
  for (const file of pending.keys()) load(file);
  return modules[top];
}

/** Options for {@linkcode loadKsy}. */
export interface LoadKsyOptions {
  /**
   * Return the generated parser's own object (camelCase properties, `_io`)
   * instead of converting it to a plain snake_case object: what a benchmark
   * of the generated parser should measure.
   */
  raw?: boolean;
}

/**
 * Compiles the `.ksy` at `path` and returns a parser for it.
 *
 * @example
 * ```ts ignore
 * import { loadKsy } from "./kaitai.ts";
 * const parse = await loadKsy("codecs/vhost_user/vhost_user.ksy");
 * const msg = parse(new Uint8Array([1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0]));
 * console.log(msg.request);
 * ```
 */
export async function loadKsy(path: string, options: LoadKsyOptions = {}): Promise<KaitaiParser> {
  const exports = await build(path);
  const ksyId = Object.keys(exports)[0];
  const Top = exports[ksyId];
  return function parse(bytes: Uint8Array, typeName?: string): Record<string, unknown> {
    let Cls = Top;
    if (typeName !== undefined) {
      Cls = Top[upperCamel(typeName)];
      if (Cls === undefined) throw new Error(`kaitai: ${path} has no type ${typeName}`);
    }
    const io = new KaitaiStream(bytes);
    const parsed = new Cls(io, undefined, undefined);
    return (options.raw ? parsed : plain(parsed)) as Record<string, unknown>;
  };
}
