meta:
  id: ringside
  title: ringside capture (pcapng carrying ringside records)
  file-extension: pcapng
  endian: le
doc: |
  A ringside capture is a pcapng file (draft-ietf-opsawg-pcapng) as the
  ringside recorder writes it: little-endian, one section, one Interface
  Description Block per channel (each virtqueue, /dev/fuse, the Unix socket,
  the vhost-user control channel) with if_name, if_description and
  if_tsresol = 9 (nanosecond timestamps), then one Enhanced Packet Block per
  message or ring event, with the direction in epb_flags bits 0-1
  (1 = inbound, to the backend; 2 = outbound, from it). This spec describes
  that layout; the TypeScript reader (codecs/pcapng/reader.ts) additionally
  reads big-endian sections, several sections, and any other block type.

  Every interface has link type LINKTYPE_WIRESHARK_UPPER_PDU (252,
  "Exported PDU"). The packet data starts with Exported-PDU tags (big-endian
  type/length/value) whose dissector-name tag (12) says "ringside", then the
  ringside record: a versioned little-endian header and the raw FUSE or
  vhost-user message.

  Why Exported PDU and not LINKTYPE_USER0..15 (147-162):
  - the USER link types are reserved for private use: nothing in a file says
    which private use it is, so another tool's capture on USER0 would be
    mistaken for ringside's and the reverse, and captures shipped in testdata
    or attached to bug reports travel between people;
  - Wireshark decodes a USER link type only after the user maps it to a
    protocol in the DLT_USER preferences table (or a Lua script takes the
    link type over for everyone); an Exported-PDU packet names its dissector
    itself, so the shipped Lua dissector only has to register a dissector
    called "ringside" (a Lua Proto named "ringside" does) and Wireshark's
    exported_pdu dissector hands it the bytes after the tags;
  - without the Lua script, `tshark -r` (Debian's 4.0 tested) reads the file
    without any complaint and shows each frame as "Exported PDU" with the
    dissector name visible, instead of an unhandled user encapsulation.
  The cost is 16 bytes of tags per packet.
seq:
  - id: blocks
    type: block
    repeat: eos
types:
  block:
    seq:
      - id: block_type
        type: u4
        enum: block_type
      - id: block_total_length
        type: u4
      - id: body
        size: block_total_length - 12
        type:
          switch-on: block_type
          cases:
            "block_type::section_header": section_header_body
            "block_type::interface_description": interface_description_body
            "block_type::enhanced_packet": enhanced_packet_body
      - id: block_total_length_trailer
        type: u4
        valid: block_total_length
  section_header_body:
    seq:
      - id: byte_order_magic
        contents: [0x4d, 0x3c, 0x2b, 0x1a]
      - id: major_version
        type: u2
        valid: 1
      - id: minor_version
        type: u2
      - id: section_length
        type: s8
        doc: -1 while streaming (the length is not known in advance)
      - id: options
        type: option
        repeat: eos
        doc: shb_hardware (2), shb_os (3), shb_userappl (4), opt_comment (1)
  interface_description_body:
    seq:
      - id: link_type
        type: u2
        enum: link_type
      - id: reserved
        type: u2
      - id: snap_len
        type: u4
        doc: 0 is no limit
      - id: options
        type: option
        repeat: eos
        doc: if_name (2), if_description (3), if_tsresol (9) = 9, opt_comment (1)
  enhanced_packet_body:
    seq:
      - id: interface_id
        type: u4
      - id: timestamp_high
        type: u4
        doc: upper 32 bits of nanoseconds since the Unix epoch
      - id: timestamp_low
        type: u4
        doc: lower 32 bits
      - id: captured_len
        type: u4
      - id: original_len
        type: u4
      - id: packet_data
        size: captured_len
        type: exported_pdu_packet
      - id: packet_padding
        size: (4 - captured_len % 4) % 4
      - id: options
        type: option
        repeat: eos
        doc: epb_flags (2, direction in bits 0-1), epb_queue (6), epb_packetid (5), opt_comment (1)
  option:
    seq:
      - id: code
        type: u2
      - id: length
        type: u2
      - id: value
        size: length
      - id: padding
        size: (4 - length % 4) % 4
  exported_pdu_packet:
    seq:
      - id: tags
        type: exported_pdu_tag
        repeat: until
        repeat-until: _.tag == exported_pdu_tag_type::end_of_opt
      - id: record
        type: ringside_record
        size-eos: true
  exported_pdu_tag:
    doc: Wireshark Exported-PDU TLV; integers in these tags are big-endian
    seq:
      - id: tag
        type: u2be
        enum: exported_pdu_tag_type
      - id: length
        type: u2be
        doc: value length; for strings it includes any NUL padding
      - id: value
        size: length
  ringside_record:
    seq:
      - id: version
        type: u1
        valid: 1
      - id: header_length
        type: u1
        doc: 24 in version 1; a reader skips any bytes past the fields it knows
      - id: kind
        type: u1
        enum: record_kind
      - id: fd_count
        type: u1
        doc: file descriptors passed with a vhost-user message (their numbers are meaningless)
      - id: flags
        type: u2
        doc: |
          bit 0: the chain fields are valid; bit 1: the chain was malformed and
          the request failed; bit 2: indirect descriptors; bit 3: packed ring
      - id: queue
        type: u2
        doc: virtqueue index; 0xffff when the channel is not a virtqueue
      - id: chain_head
        type: u2
        doc: head descriptor index (split ring) or buffer id (packed ring)
      - id: chain_descriptors
        type: u2
      - id: chain_readable
        type: u4
        doc: device-readable bytes in the chain (the request)
      - id: chain_writable
        type: u4
        doc: device-writable bytes in the chain (room for the reply)
      - id: fuse_minor
        type: u2
        doc: negotiated FUSE minor version (major is 7); 0 when unknown or not FUSE
      - id: malformation
        type: u1
        enum: malformation
        doc: |
          what was wrong with a malformed chain (flags bit 1); 0 when nothing
          was or the writer did not say (captures made before this field)
      - id: reserved
        type: u1
      - id: header_extension
        size: header_length - 24
      - id: payload
        size-eos: true
        doc: |
          the raw message: a FUSE request (fuse_in_header first), reply
          (fuse_out_header), notification, or vhost-user message (12-byte
          header first); for ring_kick the kick eventfd's counter (u8 LE)
          when the writer read it, for ring_chain the used length the device
          returned (u4 LE) when the chain went back used; otherwise empty
enums:
  block_type:
    0x0a0d0d0a: section_header
    0x00000001: interface_description
    0x00000003: simple_packet
    0x00000004: name_resolution
    0x00000005: interface_statistics
    0x00000006: enhanced_packet
    # local use (bit 31 set): fills the rest of a page after an O_DIRECT write; skipped by readers
    0x80000b5d: ringside_padding
  link_type:
    147: user0
    252: wireshark_upper_pdu
  exported_pdu_tag_type:
    0: end_of_opt
    12: dissector_name
    13: heur_dissector_name
    14: dissector_table_name
  record_kind:
    1: fuse_request
    2: fuse_reply
    3: fuse_notify
    4: vhost_user_front_to_back
    5: vhost_user_back_to_front
    6: ring_kick
    7: ring_call
    8: ring_chain
  malformation:
    0: none
    1: loop
    2: chain_too_long
    3: address_out_of_memory
    4: readable_after_writable
    5: nested_indirect
    6: indirect_with_next
    7: bad_indirect_length
    8: indirect_not_negotiated
    9: index_out_of_range
    10: avail_idx_jump
    11: reply_too_long
    12: bad_used_id
    13: bad_used_len
