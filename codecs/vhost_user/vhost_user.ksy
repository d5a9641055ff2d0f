meta:
  id: vhost_user
  title: vhost-user message on the main socket (front-end requests, back-end replies)
  endian: le
doc: |
  One vhost-user message: a 12-byte header (request, flags, size) and a payload
  whose layout depends on the request code and on whether the REPLY flag
  (0x4) is set. Layouts follow QEMU docs/interop/vhost-user.rst, "Message
  Specification"; numbers are in the machine's byte order (little-endian on
  x86_64). The back-end channel (SET_BACKEND_REQ_FD) uses the type
  `backend_msg` below. Memory regions are the 32-byte layout (without the
  XEN_MMAP extension). A reply of 8 bytes to a request without an explicit
  reply body is a REPLY_ACK u64.
seq:
  - id: request
    type: u4
    enum: frontend_request
  - id: flags
    type: u4
  - id: size
    type: u4
  - id: payload
    size: size
    type:
      switch-on: "(flags & 4) != 0 ? 1000 + request.to_i : request.to_i"
      cases:
        2: u64_payload
        5: memory
        6: log_base
        8: vring_state
        9: vring_addr
        10: vring_state
        11: vring_state
        12: u64_payload
        13: u64_payload
        14: u64_payload
        16: u64_payload
        18: vring_state
        19: u64_payload
        20: u64_payload
        22: iotlb
        23: vring_state
        24: config
        25: config
        26: opaque
        27: u64_payload
        31: inflight
        32: inflight
        35: vring_state
        37: mem_reg
        38: mem_reg
        39: u64_payload
        41: shared_object
        42: device_state
        1005: memory_or_ack
        1011: vring_state
        1024: config_or_ack
        1026: opaque
        1031: inflight_or_ack
        1037: mem_reg_or_ack
        1038: mem_reg_or_ack
        1044: shmem_config_or_ack
        _: ack
instances:
  version:
    value: flags & 3
  is_reply:
    value: (flags & 4) != 0
  need_reply:
    value: (flags & 8) != 0
types:
  backend_msg:
    doc: A message on the back-end channel (back-end requests, front-end replies).
    seq:
      - id: request
        type: u4
        enum: backend_request
      - id: flags
        type: u4
      - id: size
        type: u4
      - id: payload
        size: size
        type:
          switch-on: "(flags & 4) != 0 ? 1000 + request.to_i : request.to_i"
          cases:
            1: iotlb
            3: vring_area
            4: vring_state
            5: vring_state
            6: shared_object
            7: shared_object
            8: shared_object
            9: mmap
            10: mmap
            _: ack
  ack:
    doc: No payload, or a u64 (REPLY_ACK status, 0 is success).
    seq:
      - id: u64
        type: u8
        if: _io.size == 8
  u64_payload:
    seq:
      - id: u64
        type: u8
    instances:
      vring_index:
        value: u64 & 0xff
        doc: "SET_VRING_KICK/CALL/ERR: the ring index."
      nofd:
        value: (u64 & 0x100) != 0
        doc: "SET_VRING_KICK/CALL/ERR: no fd comes with the message."
  vring_state:
    seq:
      - id: index
        type: u4
      - id: num
        type: u4
  vring_addr:
    seq:
      - id: index
        type: u4
      - id: flags
        type: u4
      - id: desc_user_addr
        type: u8
      - id: used_user_addr
        type: u8
      - id: avail_user_addr
        type: u8
      - id: log_guest_addr
        type: u8
  memory_region:
    seq:
      - id: guest_phys_addr
        type: u8
      - id: memory_size
        type: u8
      - id: userspace_addr
        type: u8
      - id: mmap_offset
        type: u8
  memory:
    doc: Multiple memory regions description; QEMU sends only the used regions.
    seq:
      - id: nregions
        type: u4
        valid:
          max: 8
      - id: padding
        type: u4
      - id: regions
        type: memory_region
        repeat: expr
        repeat-expr: nregions
  memory_or_ack:
    seq:
      - id: u64
        type: u8
        if: _io.size == 8
      - id: memory
        type: memory
        if: _io.size > 8
  mem_reg:
    doc: Single memory region description (ADD_MEM_REG, REM_MEM_REG).
    seq:
      - id: padding
        type: u8
      - id: region
        type: memory_region
  mem_reg_or_ack:
    seq:
      - id: u64
        type: u8
        if: _io.size == 8
      - id: mem_reg
        type: mem_reg
        if: _io.size > 8
  log:
    seq:
      - id: mmap_size
        type: u8
      - id: mmap_offset
        type: u8
  log_base:
    doc: SET_LOG_BASE carries a u64 (old peers) or a log description.
    seq:
      - id: u64
        type: u8
        if: _io.size == 8
      - id: log
        type: log
        if: _io.size == 16
  iotlb:
    doc: struct vhost_iotlb_msg, 26 bytes of fields padded to 32.
    seq:
      - id: iova
        type: u8
      - id: size
        type: u8
      - id: uaddr
        type: u8
      - id: perm
        type: u1
      - id: type
        type: u1
  config:
    seq:
      - id: offset
        type: u4
      - id: size
        type: u4
        valid:
          max: 256
      - id: flags
        type: u4
      - id: region
        size: size
  config_or_ack:
    seq:
      - id: u64
        type: u8
        if: _io.size == 8
      - id: config
        type: config
        if: _io.size > 8
  vring_area:
    seq:
      - id: u64
        type: u8
      - id: size
        type: u8
      - id: offset
        type: u8
  inflight:
    doc: VhostUserInflight, 20 bytes of fields (QEMU sends 24 with padding).
    seq:
      - id: mmap_size
        type: u8
      - id: mmap_offset
        type: u8
      - id: num_queues
        type: u2
      - id: queue_size
        type: u2
  inflight_or_ack:
    seq:
      - id: u64
        type: u8
        if: _io.size == 8
      - id: inflight
        type: inflight
        if: _io.size > 8
  shared_object:
    seq:
      - id: uuid
        size: 16
  device_state:
    seq:
      - id: direction
        type: u4
        enum: transfer_direction
      - id: phase
        type: u4
  mmap:
    seq:
      - id: shmid
        type: u1
      - id: padding
        size: 7
      - id: fd_offset
        type: u8
      - id: shm_offset
        type: u8
      - id: len
        type: u8
      - id: flags
        type: u8
  shmem_config:
    seq:
      - id: nregions
        type: u4
      - id: padding
        type: u4
      - id: memory_sizes
        type: u8
        repeat: eos
  shmem_config_or_ack:
    seq:
      - id: u64
        type: u8
        if: _io.size == 8
      - id: shmem_config
        type: shmem_config
        if: _io.size > 8
  opaque:
    seq:
      - id: bytes
        size-eos: true
enums:
  transfer_direction:
    0: save
    1: load
  frontend_request:
    1: get_features
    2: set_features
    3: set_owner
    4: reset_owner
    5: set_mem_table
    6: set_log_base
    7: set_log_fd
    8: set_vring_num
    9: set_vring_addr
    10: set_vring_base
    11: get_vring_base
    12: set_vring_kick
    13: set_vring_call
    14: set_vring_err
    15: get_protocol_features
    16: set_protocol_features
    17: get_queue_num
    18: set_vring_enable
    19: send_rarp
    20: net_set_mtu
    21: set_backend_req_fd
    22: iotlb_msg
    23: set_vring_endian
    24: get_config
    25: set_config
    26: create_crypto_session
    27: close_crypto_session
    28: postcopy_advise
    29: postcopy_listen
    30: postcopy_end
    31: get_inflight_fd
    32: set_inflight_fd
    33: gpu_set_socket
    34: reset_device
    35: vring_kick
    36: get_max_mem_slots
    37: add_mem_reg
    38: rem_mem_reg
    39: set_status
    40: get_status
    41: get_shared_object
    42: set_device_state_fd
    43: check_device_state
    44: get_shmem_config
  backend_request:
    1: iotlb_msg
    2: config_change_msg
    3: vring_host_notifier_msg
    4: vring_call
    5: vring_err
    6: shared_object_add
    7: shared_object_remove
    8: shared_object_lookup
    9: shmem_map
    10: shmem_unmap
