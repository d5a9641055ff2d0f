/**
 * ringside `codecs/pcapng`: the capture container layer. A streaming pcapng
 * writer (one interface per channel, nanosecond timestamps, direction in
 * epb_flags), streaming pcapng and classic pcap readers, format detection,
 * and the ringside record that every packet carries (Exported-PDU tags
 * naming the `ringside` dissector, a versioned header, the raw message).
 * The layout is specified in `ringside.ksy`. Pure codecs: no I/O.
 *
 * @module
 */
export * from "./types.ts";
export * from "./writer.ts";
export * from "./reader.ts";
export * from "./record.ts";
export * from "./pcap.ts";
export * from "./detect.ts";
