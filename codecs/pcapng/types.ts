/**
 * pcapng and pcap constants and the block types the readers return.
 *
 * Block and option codes come from the pcapng specification
 * (draft-ietf-opsawg-pcapng, sections 4 and 3.5), link types from the
 * tcpdump.org LINKTYPE registry.
 *
 * @module
 */

/** Section Header Block type; a byte palindrome, so it reads the same in either byte order. */
export const BLOCK_SECTION_HEADER = 0x0a0d0d0a;
/** Interface Description Block type. */
export const BLOCK_INTERFACE_DESCRIPTION = 0x00000001;
/** Simple Packet Block type (read as an `other` block: it has no timestamp). */
export const BLOCK_SIMPLE_PACKET = 0x00000003;
/** Name Resolution Block type. */
export const BLOCK_NAME_RESOLUTION = 0x00000004;
/** Interface Statistics Block type. */
export const BLOCK_INTERFACE_STATISTICS = 0x00000005;
/** Enhanced Packet Block type. */
export const BLOCK_ENHANCED_PACKET = 0x00000006;
/**
 * ringside's padding block: a block type of the local-use range (bit 31 set,
 * pcapng section 11.1) with no body of meaning, which readers skip (tshark
 * does without complaint). A capture written with O_DIRECT ends each write at
 * a page boundary, and this block fills the rest of the page.
 */
export const BLOCK_RINGSIDE_PADDING = 0x80000b5d;
/** The byte-order magic in a Section Header Block, as written in the section's own order. */
export const BYTE_ORDER_MAGIC = 0x1a2b3c4d;

/** opt_endofopt: ends an option list. */
export const OPT_ENDOFOPT = 0;
/** opt_comment: UTF-8 comment, valid in every block. */
export const OPT_COMMENT = 1;
/** shb_hardware: UTF-8 description of the capturing hardware. */
export const OPT_SHB_HARDWARE = 2;
/** shb_os: UTF-8 name of the capturing operating system. */
export const OPT_SHB_OS = 3;
/** shb_userappl: UTF-8 name of the capturing application. */
export const OPT_SHB_USERAPPL = 4;
/** if_name: UTF-8 interface name. */
export const OPT_IF_NAME = 2;
/** if_description: UTF-8 interface description. */
export const OPT_IF_DESCRIPTION = 3;
/** if_tsresol: one byte, timestamp units (MSB 0: 10^-n s, MSB 1: 2^-n s); default 6. */
export const OPT_IF_TSRESOL = 9;
/** if_os: UTF-8 operating system of the interface's machine. */
export const OPT_IF_OS = 12;
/** if_tsoffset: signed 64-bit seconds added to every timestamp of the interface. */
export const OPT_IF_TSOFFSET = 14;
/** if_hardware: UTF-8 description of the interface hardware. */
export const OPT_IF_HARDWARE = 15;
/** epb_flags: 32-bit flags word; bits 0-1 are the direction. */
export const OPT_EPB_FLAGS = 2;
/** epb_dropcount: 64-bit count of packets lost between this one and the previous. */
export const OPT_EPB_DROPCOUNT = 4;
/** epb_packetid: 64-bit packet identifier. */
export const OPT_EPB_PACKETID = 5;
/** epb_queue: 32-bit queue the packet was received on. */
export const OPT_EPB_QUEUE = 6;

/** epb_flags direction bits (0-1): inbound. */
export const EPB_FLAGS_INBOUND = 0x1;
/** epb_flags direction bits (0-1): outbound. */
export const EPB_FLAGS_OUTBOUND = 0x2;

/**
 * LINKTYPE_WIRESHARK_UPPER_PDU (252): packet data starts with Exported-PDU
 * tags, one of which names the dissector for the rest. ringside captures use
 * it on every interface (see ringside.ksy for why).
 */
export const LINKTYPE_WIRESHARK_UPPER_PDU = 252;
/** LINKTYPE_USER0; USER1..USER15 follow up to 162. */
export const LINKTYPE_USER0 = 147;

/** Classic pcap magic, microsecond timestamps, as read in the file's own byte order. */
export const PCAP_MAGIC_MICROSECONDS = 0xa1b2c3d4;
/** Classic pcap magic, nanosecond timestamps, as read in the file's own byte order. */
export const PCAP_MAGIC_NANOSECONDS = 0xa1b23c4d;

/**
 * Direction of a packet relative to the backend: `inbound` travels to the
 * backend (FUSE requests, kicks, front-end vhost-user messages), `outbound`
 * comes from it (replies, notifications, calls).
 */
export type Direction = "inbound" | "outbound";

/** One option of a block, value undecoded (a view into the block). */
export interface PcapngOption {
  /** Option code. */
  code: number;
  /** Option value without padding. */
  value: Uint8Array;
}

/** A Section Header Block: starts a section and fixes its byte order. */
export interface SectionBlock {
  /** Block kind. */
  kind: "section";
  /** Byte offset of the block in the stream. */
  offset: number;
  /** Byte order of every block in this section. */
  byteOrder: "little" | "big";
  /** Major version (1). */
  majorVersion: number;
  /** Minor version (0). */
  minorVersion: number;
  /** Section length in bytes, -1n when not given. */
  sectionLength: bigint;
  /** shb_hardware, when present. */
  hardware?: string;
  /** shb_os, when present. */
  os?: string;
  /** shb_userappl, when present. */
  userappl?: string;
  /** opt_comment (the first), when present. */
  comment?: string;
  /** Every option, in order. */
  options: PcapngOption[];
}

/** An Interface Description Block (or a classic pcap file header, as interface 0). */
export interface InterfaceBlock {
  /** Block kind. */
  kind: "interface";
  /** Byte offset of the block in the stream. */
  offset: number;
  /** Index of this interface within its section, as packets refer to it. */
  interfaceId: number;
  /** LINKTYPE_ value. */
  linkType: number;
  /** Maximum captured bytes per packet, 0 for no limit. */
  snapLen: number;
  /** if_name, when present. */
  name?: string;
  /** if_description, when present. */
  description?: string;
  /** if_tsresol byte (6 when absent: microseconds; 9 is nanoseconds). */
  tsresol: number;
  /** if_tsoffset in seconds (0n when absent). */
  tsoffset: bigint;
  /** if_os, when present. */
  os?: string;
  /** if_hardware, when present. */
  hardware?: string;
  /** opt_comment (the first), when present. */
  comment?: string;
  /** Every option, in order. */
  options: PcapngOption[];
}

/** A captured packet: an Enhanced Packet Block, or a classic pcap record. */
export interface CapturePacket {
  /** Block kind. */
  kind: "packet";
  /** Byte offset of the block (or pcap record header) in the stream. */
  offset: number;
  /** The interface it was captured on (0 for classic pcap). */
  interfaceId: number;
  /** Time since the Unix epoch in nanoseconds, with the interface's resolution and offset applied. */
  timestampNs: bigint;
  /** Bytes captured (`data.length`). */
  capturedLength: number;
  /** Bytes the packet had on the wire. */
  originalLength: number;
  /** The captured bytes: a view into the pushed input, do not modify. */
  data: Uint8Array;
  /** epb_flags (0 when absent). */
  flags: number;
  /** Direction from epb_flags bits 0-1, when given. */
  direction?: Direction;
  /** opt_comment (the first), when present. */
  comment?: string;
  /** Every option, in order. */
  options: PcapngOption[];
}

/** Any other block (name resolution, statistics, simple packet, custom, unknown): skipped over. */
export interface OtherBlock {
  /** Block kind. */
  kind: "other";
  /** Byte offset of the block in the stream. */
  offset: number;
  /** The block type code. */
  blockType: number;
  /** Block body between the length fields. */
  body: Uint8Array;
}

/** Everything a pcapng reader returns. */
export type PcapngBlock = SectionBlock | InterfaceBlock | CapturePacket | OtherBlock;
