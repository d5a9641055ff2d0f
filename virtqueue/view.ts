/**
 * A read-only look at a ring in guest memory for people: the descriptor
 * table with flags and chains, the available and used rings (split) or the
 * event suppression structures (packed), and the chains in flight. Used by
 * `ringside ring`; a pure function of memory and ring parameters.
 *
 * @module
 */
import type { GuestMemory } from "./guest_memory.ts";
import type { RingLayout } from "./types.ts";
import {
  checkPackedQueueSize,
  checkSplitQueueSize,
  PACKED_DESC_F,
  packedDescFlagNames,
  RING_EVENT_FLAGS,
  splitDescFlagNames,
  splitRingSizes,
  VIRTQ_DESC_F,
} from "../codecs/virtio/mod.ts";

/** Where the ring is and how it is laid out. */
export interface RingViewParams {
  /** Ring layout. */
  layout: RingLayout;
  /** Queue size. */
  size: number;
  /** Descriptor table / ring address. */
  desc: bigint;
  /** Driver area: available ring (split) or driver event suppression (packed). */
  driver: bigint;
  /** Device area: used ring (split) or device event suppression (packed). */
  device: bigint;
}

/** One descriptor as shown. */
export interface DescriptorRow {
  /** Index in the table (split) or position in the ring (packed). */
  index: number;
  /** Buffer address, hex. */
  addr: string;
  /** Buffer length. */
  len: number;
  /** Raw flags. */
  flags: number;
  /** Flag names. */
  flagNames: string[];
  /** Split: `next` when NEXT is set. */
  next?: number;
  /** Packed: buffer id. */
  id?: number;
  /** Packed: `available` or `used` with the wrap counter it belongs to, or `empty`. */
  state?: string;
}

/** A chain in flight as shown. */
export interface ChainRow {
  /** Split: head index; packed: ring position of the first descriptor. */
  head: number;
  /** Packed: the buffer id (from the last descriptor). */
  id?: number;
  /** Descriptor indices (or ring positions) in order; `i3.1` is entry 1 of the indirect table at descriptor 3. */
  descriptors: string[];
  /** Device-readable bytes. */
  readable: number;
  /** Device-writable bytes. */
  writable: number;
  /** Why the chain is malformed, when it is. */
  error?: string;
}

/** The whole picture of one ring. */
export interface RingReport {
  /** Ring layout. */
  layout: RingLayout;
  /** Queue size. */
  size: number;
  /** Ring part addresses, hex. */
  addresses: { desc: string; driver: string; device: string };
  /** Every descriptor; `empty` ones (all zero) are included. */
  descriptors: DescriptorRow[];
  /** Split: the available ring. */
  avail?: { flags: number; idx: number; ring: number[]; used_event: number };
  /** Split: the used ring. */
  used?: { flags: number; idx: number; ring: { id: number; len: number }[]; avail_event: number };
  /** Packed: the driver and device event suppression structures. */
  events?: {
    driver: { offset: number; wrap: number; flags: string };
    device: { offset: number; wrap: number; flags: string };
  };
  /** Buffers the driver made available that the device has not used. */
  inFlight: ChainRow[];
}

const hex = (v: bigint | number) => `0x${v.toString(16)}`;

function check(mem: GuestMemory, addr: bigint, len: number, what: string): number {
  if (!mem.contains(addr, len)) {
    throw new RangeError(`${what} at ${hex(addr)} (+${len}) is outside the memory given`);
  }
  return Number(addr);
}

function eventFlagName(f: number): string {
  if (f === RING_EVENT_FLAGS.ENABLE) return "ENABLE";
  if (f === RING_EVENT_FLAGS.DISABLE) return "DISABLE";
  if (f === RING_EVENT_FLAGS.DESC) return "DESC";
  return `reserved(${f})`;
}

/**
 * Reads a ring out of `mem`. Throws a RangeError naming the part when a ring
 * part is outside memory; malformed chains are reported, not thrown.
 */
export function inspectRing(mem: GuestMemory, params: RingViewParams): RingReport {
  const { layout, size } = params;
  const report: RingReport = {
    layout,
    size,
    addresses: { desc: hex(params.desc), driver: hex(params.driver), device: hex(params.device) },
    descriptors: [],
    inFlight: [],
  };
  if (layout === "split") inspectSplit(mem, params, report);
  else inspectPacked(mem, params, report);
  return report;
}

function readDesc(mem: GuestMemory, at: number) {
  return {
    addr: mem.readU64(at),
    len: mem.readU32(at + 8),
    f12: mem.readU16(at + 12),
    f14: mem.readU16(at + 14),
  };
}

function inspectSplit(mem: GuestMemory, p: RingViewParams, report: RingReport): void {
  checkSplitQueueSize(p.size);
  const sizes = splitRingSizes(p.size);
  const desc = check(mem, p.desc, sizes.desc, "descriptor table");
  const avail = check(mem, p.driver, sizes.avail, "available ring");
  const used = check(mem, p.device, sizes.used, "used ring");
  for (let i = 0; i < p.size; i++) {
    const d = readDesc(mem, desc + 16 * i);
    const row: DescriptorRow = {
      index: i,
      addr: hex(d.addr),
      len: d.len,
      flags: d.f12,
      flagNames: splitDescFlagNames(d.f12),
    };
    if (d.f12 & VIRTQ_DESC_F.NEXT) row.next = d.f14;
    report.descriptors.push(row);
  }
  const ring: number[] = [];
  for (let i = 0; i < p.size; i++) ring.push(mem.readU16(avail + 4 + 2 * i));
  report.avail = {
    flags: mem.readU16(avail),
    idx: mem.readU16(avail + 2),
    ring,
    used_event: mem.readU16(avail + 4 + 2 * p.size),
  };
  const uring: { id: number; len: number }[] = [];
  for (let i = 0; i < p.size; i++) {
    uring.push({ id: mem.readU32(used + 4 + 8 * i), len: mem.readU32(used + 8 + 8 * i) });
  }
  report.used = {
    flags: mem.readU16(used),
    idx: mem.readU16(used + 2),
    ring: uring,
    avail_event: mem.readU16(used + 4 + 8 * p.size),
  };
  const pending = (report.avail.idx - report.used.idx) & 0xffff;
  if (pending > p.size) {
    report.inFlight.push({
      head: -1,
      descriptors: [],
      readable: 0,
      writable: 0,
      error:
        `avail idx ${report.avail.idx} is more than the queue size ahead of used idx ${report.used.idx}`,
    });
    return;
  }
  for (let k = 0; k < pending; k++) {
    const head = ring[(report.used.idx + k) & (p.size - 1)];
    report.inFlight.push(walkSplit(mem, desc, p.size, head));
  }
}

function walkSplit(mem: GuestMemory, desc: number, size: number, head: number): ChainRow {
  const row: ChainRow = { head, descriptors: [], readable: 0, writable: 0 };
  let table = desc;
  let entries = size;
  let prefix = "";
  let i = head;
  let steps = 0;
  for (;;) {
    if (i >= entries) {
      row.error = `descriptor index ${i} is past ${entries}`;
      return row;
    }
    if (++steps > 2 * size + 1) {
      row.error = "the chain loops or is longer than the queue";
      return row;
    }
    const d = readDesc(mem, table + 16 * i);
    row.descriptors.push(`${prefix}${i}`);
    if (d.f12 & VIRTQ_DESC_F.INDIRECT) {
      if (prefix !== "") {
        row.error = "INDIRECT inside an indirect table";
        return row;
      }
      if (d.len === 0 || d.len % 16 !== 0 || !mem.contains(d.addr, d.len)) {
        row.error = `indirect table ${hex(d.addr)} (+${d.len}) is empty, ragged or outside memory`;
        return row;
      }
      table = Number(d.addr);
      entries = d.len / 16;
      prefix = `i${i}.`;
      i = 0;
      continue;
    }
    if (d.f12 & VIRTQ_DESC_F.WRITE) row.writable += d.len;
    else row.readable += d.len;
    if (!(d.f12 & VIRTQ_DESC_F.NEXT)) return row;
    i = d.f14;
  }
}

function inspectPacked(mem: GuestMemory, p: RingViewParams, report: RingReport): void {
  checkPackedQueueSize(p.size);
  const desc = check(mem, p.desc, 16 * p.size, "descriptor ring");
  const drv = check(mem, p.driver, 4, "driver event suppression");
  const dev = check(mem, p.device, 4, "device event suppression");
  const { AVAIL, USED, NEXT, WRITE, INDIRECT } = PACKED_DESC_F;
  const rows: { d: ReturnType<typeof readDesc>; avail: boolean; wrap: number }[] = [];
  for (let i = 0; i < p.size; i++) {
    const d = readDesc(mem, desc + 16 * i);
    const a = (d.f14 & AVAIL) !== 0;
    const u = (d.f14 & USED) !== 0;
    const empty = d.addr === 0n && d.len === 0 && d.f12 === 0 && d.f14 === 0;
    const state = empty
      ? "empty"
      : a !== u
      ? `available(wrap ${a ? 1 : 0})`
      : `used(wrap ${a ? 1 : 0})`;
    rows.push({ d, avail: !empty && a !== u, wrap: a ? 1 : 0 });
    report.descriptors.push({
      index: i,
      addr: hex(d.addr),
      len: d.len,
      flags: d.f14,
      flagNames: packedDescFlagNames(d.f14),
      id: d.f12,
      state,
    });
  }
  const ev = (at: number) => {
    const ow = mem.readU16(at);
    return { offset: ow & 0x7fff, wrap: ow >> 15, flags: eventFlagName(mem.readU16(at + 2) & 3) };
  };
  report.events = { driver: ev(drv), device: ev(dev) };
  // A used descriptor covers its whole chain, but only its first slot is
  // rewritten: the remaining slots still look available. Drivers write the
  // buffer id into every descriptor of a chain, so an available slot right
  // after a used one (same lap) with the same id is that chain's tail.
  const tail: boolean[] = new Array(p.size).fill(false);
  for (let i = 1; i < p.size; i++) {
    const prev = rows[i - 1];
    const r = rows[i];
    if (!r.avail || prev.d.f12 !== r.d.f12 || prev.wrap !== r.wrap) continue;
    const prevUsed = !prev.avail && report.descriptors[i - 1].state !== "empty";
    if (prevUsed || (tail[i - 1] && (prev.d.f14 & NEXT))) {
      tail[i] = true;
      r.avail = false;
      report.descriptors[i].state = `tail of used id ${r.d.f12}`;
    }
  }
  // chains start at an available descriptor whose predecessor is not an available NEXT of the same lap
  for (let i = 0; i < p.size; i++) {
    if (!rows[i].avail) continue;
    const prev = rows[(i + p.size - 1) % p.size];
    const prevWrap = i === 0 ? 1 - rows[i].wrap : rows[i].wrap;
    if (prev.avail && (prev.d.f14 & NEXT) && prev.wrap === prevWrap) continue;
    const row: ChainRow = { head: i, descriptors: [], readable: 0, writable: 0 };
    let pos = i;
    for (let n = 0; n < p.size; n++) {
      const r = rows[pos];
      row.descriptors.push(String(pos));
      row.id = r.d.f12;
      if (r.d.f14 & INDIRECT) {
        if (r.d.len === 0 || r.d.len % 16 !== 0 || !mem.contains(r.d.addr, r.d.len)) {
          row.error = `indirect table ${
            hex(r.d.addr)
          } (+${r.d.len}) is empty, ragged or outside memory`;
        } else {
          const t = Number(r.d.addr);
          for (let k = 0; k < r.d.len / 16; k++) {
            const e = readDesc(mem, t + 16 * k);
            row.descriptors.push(`i${pos}.${k}`);
            if (e.f14 & WRITE) row.writable += e.len;
            else row.readable += e.len;
          }
        }
      } else if (r.d.f14 & WRITE) row.writable += r.d.len;
      else row.readable += r.d.len;
      if (!(r.d.f14 & NEXT)) break;
      pos = (pos + 1) % p.size;
      if (n === p.size - 1) row.error = "the chain never ends within the queue size";
    }
    report.inFlight.push(row);
  }
}

/** Renders a report as the text `ringside ring` prints. */
export function renderRingReport(r: RingReport): string {
  const out: string[] = [];
  const pad = (s: string | number, n: number) => String(s).padEnd(n);
  if (r.layout === "split") {
    out.push(
      `split virtqueue, size ${r.size}: descriptor table ${r.addresses.desc}, available ring ${r.addresses.driver}, used ring ${r.addresses.device}`,
    );
  } else {
    out.push(
      `packed virtqueue, size ${r.size}: descriptor ring ${r.addresses.desc}, driver event ${r.addresses.driver}, device event ${r.addresses.device}`,
    );
  }
  out.push("");
  const shown = r.descriptors.filter((d) => d.addr !== "0x0" || d.len !== 0 || d.flags !== 0);
  out.push(
    `descriptor ${
      r.layout === "split" ? "table" : "ring"
    } (${shown.length} of ${r.size} non-empty)`,
  );
  if (r.layout === "split") {
    out.push(`  ${pad("idx", 5)} ${pad("addr", 18)} ${pad("len", 10)} ${pad("flags", 20)} next`);
    for (const d of shown) {
      out.push(
        `  ${pad(d.index, 5)} ${pad(d.addr, 18)} ${pad(hex(d.len), 10)} ${
          pad(d.flagNames.join("|") || "-", 20)
        } ${d.next ?? "-"}`,
      );
    }
  } else {
    out.push(
      `  ${pad("pos", 5)} ${pad("addr", 18)} ${pad("len", 10)} ${pad("id", 5)} ${
        pad("flags", 26)
      } state`,
    );
    for (const d of shown) {
      out.push(
        `  ${pad(d.index, 5)} ${pad(d.addr, 18)} ${pad(hex(d.len), 10)} ${pad(d.id ?? "", 5)} ${
          pad(d.flagNames.join("|") || "-", 26)
        } ${d.state}`,
      );
    }
  }
  out.push("");
  if (r.avail && r.used) {
    const a = r.avail;
    out.push(
      `available ring: flags ${hex(a.flags)}${
        a.flags & 1 ? " (NO_INTERRUPT)" : ""
      }, idx ${a.idx}, used_event ${a.used_event}`,
    );
    out.push(...rowsOf(a.ring.map((h, i) => `[${i}] ${h}`), 8));
    const u = r.used;
    out.push(
      `used ring: flags ${hex(u.flags)}${
        u.flags & 1 ? " (NO_NOTIFY)" : ""
      }, idx ${u.idx}, avail_event ${u.avail_event}`,
    );
    const n = Math.min(r.size, u.idx); // entries written so far (all, once the index wrapped)
    out.push(...rowsOf(u.ring.slice(0, n).map((e, i) => `[${i}] id ${e.id} len ${hex(e.len)}`), 4));
    out.push("");
    out.push(
      `in flight: ${r.inFlight.length} chain${
        r.inFlight.length === 1 ? "" : "s"
      } (avail idx ${a.idx} - used idx ${u.idx})`,
    );
  } else if (r.events) {
    const e = r.events;
    out.push(
      `driver event suppression: flags ${e.driver.flags}, offset ${e.driver.offset}, wrap ${e.driver.wrap}`,
    );
    out.push(
      `device event suppression: flags ${e.device.flags}, offset ${e.device.offset}, wrap ${e.device.wrap}`,
    );
    out.push("");
    out.push(`available chains: ${r.inFlight.length}`);
  }
  for (const c of r.inFlight) {
    const who = r.layout === "split" ? `head ${c.head}` : `pos ${c.head} id ${c.id}`;
    out.push(
      `  ${who}: ${c.descriptors.join(" -> ") || "-"}   readable ${hex(c.readable)}, writable ${
        hex(c.writable)
      }${c.error ? `   MALFORMED: ${c.error}` : ""}`,
    );
  }
  return out.join("\n") + "\n";
}

function rowsOf(items: string[], per: number): string[] {
  const lines: string[] = [];
  for (let i = 0; i < items.length; i += per) {
    lines.push(
      "  " + items.slice(i, i + per).map((s) => s.padEnd(per === 8 ? 9 : 22)).join(" ").trimEnd(),
    );
  }
  return lines;
}
