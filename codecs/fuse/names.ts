/**
 * File names as FUSE carries them: bytes. A Linux name is any bytes but `/`
 * and NUL, not necessarily UTF-8, so decoders hand names out as
 * {@linkcode FuseName} (a `Uint8Array` view of the decoded buffer, like the
 * payloads) and encoders take a name as bytes or as a string (encoded as
 * UTF-8). For people, {@linkcode nameText} shows a name as text with every
 * byte of an invalid UTF-8 sequence as `\xNN`.
 *
 * @example
 * ```ts
 * import { FuseName, fuseName, nameText } from "./names.ts";
 * const n = fuseName(new Uint8Array([0x61, 0xff, 0xfe]));
 * console.log(n.text, `${n}`, JSON.stringify({ n })); // a\xff\xfe a\xff\xfe {"n":"a\\xff\\xfe"}
 * console.log(nameText("plain"), n instanceof FuseName);
 * ```
 *
 * @module
 */

const utf8 = new TextEncoder();
const strictUtf8 = new TextDecoder("utf-8", { fatal: true });

/** A name a decoder found: its bytes, with a cached text form for display (`text`, `toString`, `toJSON`). */
export class FuseName extends Uint8Array {
  #text: string | undefined = undefined;

  /** The name as text (see {@linkcode nameText}); computed once. */
  get text(): string {
    if (this.#text === undefined) this.#text = bytesText(this);
    return this.#text;
  }

  /** The name as text, so template strings and `String()` show it. */
  override toString(): string {
    return this.text;
  }

  /** The name as text in JSON. */
  toJSON(): string {
    return this.text;
  }
}

/** A name as an encoder takes it: bytes as they travel, or a string sent as UTF-8. */
export type NameInit = string | Uint8Array;

/** A {@linkcode FuseName} holding a copy of `name` (a string is encoded as UTF-8). */
export function fuseName(name: NameInit): FuseName {
  const bytes = typeof name === "string" ? utf8.encode(name) : name;
  const out = new FuseName(bytes.length);
  out.set(bytes);
  return out;
}

/** The bytes of `name`: itself when it is already bytes, else its UTF-8 encoding. */
export function nameBytes(name: NameInit): Uint8Array {
  return typeof name === "string" ? utf8.encode(name) : name;
}

/**
 * A name as text: valid UTF-8 decoded as is, and each byte of an invalid
 * sequence written `\xNN` (lower-case hex), as `ls --escape` would show it.
 * A string is returned unchanged.
 */
export function nameText(name: NameInit): string {
  if (typeof name === "string") return name;
  if (name instanceof FuseName) return name.text;
  return bytesText(name);
}

function bytesText(b: Uint8Array): string {
  const n = b.length;
  if (n <= 64) {
    let s = "";
    let i = 0;
    for (; i < n; i++) {
      const c = b[i];
      if (c >= 0x80) break;
      s += String.fromCharCode(c);
    }
    if (i === n) return s;
  }
  try {
    return strictUtf8.decode(b);
  } catch {
    return escapeInvalid(b);
  }
}

/** Decodes UTF-8 by hand, writing the bytes of every invalid sequence as `\xNN`. */
function escapeInvalid(b: Uint8Array): string {
  let s = "";
  let i = 0;
  const n = b.length;
  while (i < n) {
    const c = b[i];
    if (c < 0x80) {
      s += String.fromCharCode(c);
      i++;
      continue;
    }
    // sequence length and the smallest code point it may encode (no overlongs)
    const len = c >= 0xc2 && c <= 0xdf
      ? 2
      : c >= 0xe0 && c <= 0xef
      ? 3
      : c >= 0xf0 && c <= 0xf4
      ? 4
      : 0;
    let cp = len === 2 ? c & 0x1f : len === 3 ? c & 0x0f : c & 0x07;
    let ok = len !== 0 && i + len <= n;
    for (let k = 1; ok && k < len; k++) {
      const d = b[i + k];
      if ((d & 0xc0) !== 0x80) ok = false;
      else cp = (cp << 6) | (d & 0x3f);
    }
    if (ok) {
      const min = len === 2 ? 0x80 : len === 3 ? 0x800 : 0x10000;
      if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) ok = false;
    }
    if (ok) {
      s += String.fromCodePoint(cp);
      i += len;
    } else {
      s += `\\x${c.toString(16).padStart(2, "0")}`;
      i++;
    }
  }
  return s;
}
