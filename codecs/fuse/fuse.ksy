meta:
  id: fuse
  title: Linux FUSE protocol messages (7.45)
  endian: le
  license: CC0-1.0
doc: |
  The messages of the Linux FUSE protocol as in include/uapi/linux/fuse.h
  (protocol 7.45). The top-level type is a request (kernel to server):
  fuse_in_header, the body chosen by opcode, then the request extensions
  (total_extlen 8-byte units). A reply body can only be read knowing its
  request, so each reply body is its own type (fuse_entry_out, fuse_attr_out,
  ...) to be applied to the bytes after fuse_out_header; fuse_notification
  reads a whole notification (unique 0, error = notify code).
  Sizes are those of the newest minor; the *_compat types are the older
  layouts (fuse_entry_out 120 and fuse_attr_out 96 below 7.9, fuse_write_in
  24 below 7.9, fuse_mknod_in 8 and fuse_create_in 8 below 7.12, fuse_kstatfs
  48 below 7.4, fuse_init_in 16 below 7.36, fuse_init_out 24 below 7.23,
  fuse_setxattr_in 8 unless FUSE_SETXATTR_EXT).
seq:
  - id: header
    type: fuse_in_header
  - id: body
    size: header.len - 40 - header.total_extlen * 8
    type:
      switch-on: header.opcode
      cases:
        'opcode::lookup': name_only
        'opcode::forget': fuse_forget_in
        'opcode::getattr': fuse_getattr_in
        'opcode::setattr': fuse_setattr_in
        'opcode::symlink': symlink_in
        'opcode::mknod': fuse_mknod_in
        'opcode::mkdir': fuse_mkdir_in
        'opcode::unlink': name_only
        'opcode::rmdir': name_only
        'opcode::rename': fuse_rename_in
        'opcode::link': fuse_link_in
        'opcode::open': fuse_open_in
        'opcode::read': fuse_read_in
        'opcode::write': fuse_write_in
        'opcode::release': fuse_release_in
        'opcode::fsync': fuse_fsync_in
        'opcode::setxattr': fuse_setxattr_in_compat
        'opcode::getxattr': fuse_getxattr_in_named
        'opcode::listxattr': fuse_getxattr_in
        'opcode::removexattr': name_only
        'opcode::flush': fuse_flush_in
        'opcode::init': fuse_init_in
        'opcode::opendir': fuse_open_in
        'opcode::readdir': fuse_read_in
        'opcode::releasedir': fuse_release_in
        'opcode::fsyncdir': fuse_fsync_in
        'opcode::getlk': fuse_lk_in
        'opcode::setlk': fuse_lk_in
        'opcode::setlkw': fuse_lk_in
        'opcode::access': fuse_access_in
        'opcode::create': fuse_create_in
        'opcode::interrupt': fuse_interrupt_in
        'opcode::bmap': fuse_bmap_in
        'opcode::ioctl': fuse_ioctl_in
        'opcode::poll': fuse_poll_in
        'opcode::notify_reply': fuse_notify_retrieve_in
        'opcode::batch_forget': fuse_batch_forget_in
        'opcode::fallocate': fuse_fallocate_in
        'opcode::readdirplus': fuse_read_in
        'opcode::rename2': fuse_rename2_in
        'opcode::lseek': fuse_lseek_in
        'opcode::copy_file_range': fuse_copy_file_range_in
        'opcode::setupmapping': fuse_setupmapping_in
        'opcode::removemapping': fuse_removemapping_in
        'opcode::syncfs': fuse_syncfs_in
        'opcode::tmpfile': fuse_create_in
        'opcode::statx': fuse_statx_in
        'opcode::copy_file_range_64': fuse_copy_file_range_in
        'opcode::cuse_init': cuse_init_in
  - id: extensions
    size: header.total_extlen * 8
    type: fuse_extensions
enums:
  opcode:
    1: lookup
    2: forget
    3: getattr
    4: setattr
    5: readlink
    6: symlink
    8: mknod
    9: mkdir
    10: unlink
    11: rmdir
    12: rename
    13: link
    14: open
    15: read
    16: write
    17: statfs
    18: release
    20: fsync
    21: setxattr
    22: getxattr
    23: listxattr
    24: removexattr
    25: flush
    26: init
    27: opendir
    28: readdir
    29: releasedir
    30: fsyncdir
    31: getlk
    32: setlk
    33: setlkw
    34: access
    35: create
    36: interrupt
    37: bmap
    38: destroy
    39: ioctl
    40: poll
    41: notify_reply
    42: batch_forget
    43: fallocate
    44: readdirplus
    45: rename2
    46: lseek
    47: copy_file_range
    48: setupmapping
    49: removemapping
    50: syncfs
    51: tmpfile
    52: statx
    53: copy_file_range_64
    4096: cuse_init
  notify_code:
    1: poll
    2: inval_inode
    3: inval_entry
    4: store
    5: retrieve
    6: delete
    7: resend
    8: inc_epoch
    9: prune
types:
  fuse_in_header:
    seq:
      - id: len
        type: u4
      - id: opcode
        type: u4
        enum: opcode
      - id: unique
        type: u8
      - id: nodeid
        type: u8
      - id: uid
        type: u4
      - id: gid
        type: u4
      - id: pid
        type: u4
      - id: total_extlen
        type: u2
        doc: length of the extensions in 8-byte units (7.38)
      - id: reserved_padding
        type: u2
  fuse_out_header:
    seq:
      - id: len
        type: u4
      - id: error
        type: s4
      - id: unique
        type: u8
  # ---- request bodies ----
  name_only:
    seq:
      - id: name
        type: strz
        encoding: UTF-8
  symlink_in:
    seq:
      - id: name
        type: strz
        encoding: UTF-8
      - id: linkname
        type: strz
        encoding: UTF-8
  fuse_forget_in:
    seq:
      - id: nlookup
        type: u8
  fuse_forget_one:
    seq:
      - id: nodeid
        type: u8
      - id: nlookup
        type: u8
  fuse_batch_forget_in:
    seq:
      - id: count
        type: u4
      - id: dummy
        type: u4
      - id: forgets
        type: fuse_forget_one
        repeat: expr
        repeat-expr: count
  fuse_getattr_in:
    seq:
      - id: getattr_flags
        type: u4
      - id: dummy
        type: u4
      - id: fh
        type: u8
  fuse_setattr_in:
    seq:
      - id: valid
        type: u4
      - id: padding
        type: u4
      - id: fh
        type: u8
      - id: size
        type: u8
      - id: lock_owner
        type: u8
      - id: atime
        type: u8
      - id: mtime
        type: u8
      - id: ctime
        type: u8
      - id: atimensec
        type: u4
      - id: mtimensec
        type: u4
      - id: ctimensec
        type: u4
      - id: mode
        type: u4
      - id: unused4
        type: u4
      - id: uid
        type: u4
      - id: gid
        type: u4
      - id: unused5
        type: u4
  fuse_mknod_in:
    seq:
      - id: mode
        type: u4
      - id: rdev
        type: u4
      - id: umask
        type: u4
      - id: padding
        type: u4
      - id: name
        type: strz
        encoding: UTF-8
  fuse_mknod_in_compat:
    doc: below 7.12
    seq:
      - id: mode
        type: u4
      - id: rdev
        type: u4
      - id: name
        type: strz
        encoding: UTF-8
  fuse_mkdir_in:
    seq:
      - id: mode
        type: u4
      - id: umask
        type: u4
      - id: name
        type: strz
        encoding: UTF-8
  fuse_rename_in:
    seq:
      - id: newdir
        type: u8
      - id: oldname
        type: strz
        encoding: UTF-8
      - id: newname
        type: strz
        encoding: UTF-8
  fuse_rename2_in:
    seq:
      - id: newdir
        type: u8
      - id: flags
        type: u4
      - id: padding
        type: u4
      - id: oldname
        type: strz
        encoding: UTF-8
      - id: newname
        type: strz
        encoding: UTF-8
  fuse_link_in:
    seq:
      - id: oldnodeid
        type: u8
      - id: newname
        type: strz
        encoding: UTF-8
  fuse_open_in:
    seq:
      - id: flags
        type: u4
      - id: open_flags
        type: u4
  fuse_create_in:
    seq:
      - id: flags
        type: u4
      - id: mode
        type: u4
      - id: umask
        type: u4
      - id: open_flags
        type: u4
      - id: name
        type: strz
        encoding: UTF-8
  fuse_create_in_compat:
    doc: below 7.12 (the kernel sends a fuse_open_in-sized struct)
    seq:
      - id: flags
        type: u4
      - id: mode
        type: u4
      - id: name
        type: strz
        encoding: UTF-8
  fuse_read_in:
    seq:
      - id: fh
        type: u8
      - id: offset
        type: u8
      - id: size
        type: u4
      - id: read_flags
        type: u4
      - id: lock_owner
        type: u8
      - id: flags
        type: u4
      - id: padding
        type: u4
  fuse_write_in:
    seq:
      - id: fh
        type: u8
      - id: offset
        type: u8
      - id: size
        type: u4
      - id: write_flags
        type: u4
      - id: lock_owner
        type: u8
      - id: flags
        type: u4
      - id: padding
        type: u4
      - id: data
        size: size
  fuse_write_in_compat:
    doc: below 7.9 (FUSE_COMPAT_WRITE_IN_SIZE)
    seq:
      - id: fh
        type: u8
      - id: offset
        type: u8
      - id: size
        type: u4
      - id: write_flags
        type: u4
      - id: data
        size: size
  fuse_release_in:
    seq:
      - id: fh
        type: u8
      - id: flags
        type: u4
      - id: release_flags
        type: u4
      - id: lock_owner
        type: u8
  fuse_flush_in:
    seq:
      - id: fh
        type: u8
      - id: unused
        type: u4
      - id: padding
        type: u4
      - id: lock_owner
        type: u8
  fuse_fsync_in:
    seq:
      - id: fh
        type: u8
      - id: fsync_flags
        type: u4
      - id: padding
        type: u4
  fuse_setxattr_in:
    doc: with FUSE_SETXATTR_EXT
    seq:
      - id: size
        type: u4
      - id: flags
        type: u4
      - id: setxattr_flags
        type: u4
      - id: padding
        type: u4
      - id: name
        type: strz
        encoding: UTF-8
      - id: value
        size: size
  fuse_setxattr_in_compat:
    doc: without FUSE_SETXATTR_EXT (FUSE_COMPAT_SETXATTR_IN_SIZE)
    seq:
      - id: size
        type: u4
      - id: flags
        type: u4
      - id: name
        type: strz
        encoding: UTF-8
      - id: value
        size: size
  fuse_getxattr_in:
    seq:
      - id: size
        type: u4
      - id: padding
        type: u4
  fuse_getxattr_in_named:
    seq:
      - id: size
        type: u4
      - id: padding
        type: u4
      - id: name
        type: strz
        encoding: UTF-8
  fuse_file_lock:
    seq:
      - id: start
        type: u8
      - id: end
        type: u8
      - id: type
        type: u4
      - id: pid
        type: u4
  fuse_lk_in:
    seq:
      - id: fh
        type: u8
      - id: owner
        type: u8
      - id: lk
        type: fuse_file_lock
      - id: lk_flags
        type: u4
      - id: padding
        type: u4
  fuse_access_in:
    seq:
      - id: mask
        type: u4
      - id: padding
        type: u4
  fuse_init_in:
    seq:
      - id: major
        type: u4
      - id: minor
        type: u4
      - id: max_readahead
        type: u4
      - id: flags
        type: u4
      - id: flags2
        type: u4
      - id: unused
        size: 44
  fuse_init_in_compat:
    doc: below 7.36
    seq:
      - id: major
        type: u4
      - id: minor
        type: u4
      - id: max_readahead
        type: u4
      - id: flags
        type: u4
  cuse_init_in:
    seq:
      - id: major
        type: u4
      - id: minor
        type: u4
      - id: unused
        type: u4
      - id: flags
        type: u4
  fuse_interrupt_in:
    seq:
      - id: unique
        type: u8
  fuse_bmap_in:
    seq:
      - id: block
        type: u8
      - id: blocksize
        type: u4
      - id: padding
        type: u4
  fuse_ioctl_in:
    seq:
      - id: fh
        type: u8
      - id: flags
        type: u4
      - id: cmd
        type: u4
      - id: arg
        type: u8
      - id: in_size
        type: u4
      - id: out_size
        type: u4
      - id: data
        size: in_size
  fuse_poll_in:
    seq:
      - id: fh
        type: u8
      - id: kh
        type: u8
      - id: flags
        type: u4
      - id: events
        type: u4
  fuse_notify_retrieve_in:
    seq:
      - id: dummy1
        type: u8
      - id: offset
        type: u8
      - id: size
        type: u4
      - id: dummy2
        type: u4
      - id: dummy3
        type: u8
      - id: dummy4
        type: u8
      - id: data
        size: size
  fuse_fallocate_in:
    seq:
      - id: fh
        type: u8
      - id: offset
        type: u8
      - id: length
        type: u8
      - id: mode
        type: u4
      - id: padding
        type: u4
  fuse_lseek_in:
    seq:
      - id: fh
        type: u8
      - id: offset
        type: u8
      - id: whence
        type: u4
      - id: padding
        type: u4
  fuse_copy_file_range_in:
    seq:
      - id: fh_in
        type: u8
      - id: off_in
        type: u8
      - id: nodeid_out
        type: u8
      - id: fh_out
        type: u8
      - id: off_out
        type: u8
      - id: len
        type: u8
      - id: flags
        type: u8
  fuse_setupmapping_in:
    seq:
      - id: fh
        type: u8
      - id: foffset
        type: u8
      - id: len
        type: u8
      - id: flags
        type: u8
      - id: moffset
        type: u8
  fuse_removemapping_one:
    seq:
      - id: moffset
        type: u8
      - id: len
        type: u8
  fuse_removemapping_in:
    doc: a 4-byte count, then the entries (unaligned)
    seq:
      - id: count
        type: u4
      - id: mappings
        type: fuse_removemapping_one
        repeat: expr
        repeat-expr: count
  fuse_syncfs_in:
    seq:
      - id: padding
        type: u8
  fuse_statx_in:
    seq:
      - id: getattr_flags
        type: u4
      - id: reserved
        type: u4
      - id: fh
        type: u8
      - id: sx_flags
        type: u4
      - id: sx_mask
        type: u4
  # ---- request extensions (7.38) ----
  fuse_extensions:
    seq:
      - id: list
        type: fuse_ext
        repeat: eos
  fuse_ext:
    doc: fuse_ext_header; types 0..31 are a fuse_secctx_header whose type is the context count
    seq:
      - id: size
        type: u4
      - id: type
        type: u4
      - id: body
        size: size - 8
        type:
          switch-on: 'type > 31 ? type : 0'
          cases:
            0: fuse_secctx_list
            32: fuse_supp_groups
  fuse_secctx_list:
    seq:
      - id: contexts
        type: fuse_secctx
        repeat: expr
        repeat-expr: _parent.type
  fuse_secctx:
    seq:
      - id: size
        type: u4
      - id: padding
        type: u4
      - id: name
        type: strz
        encoding: UTF-8
      - id: context
        size: size
      - id: reserved_align
        size: (8 - _io.pos % 8) % 8
  fuse_supp_groups:
    seq:
      - id: nr_groups
        type: u4
      - id: groups
        type: u4
        repeat: expr
        repeat-expr: nr_groups
  # ---- reply bodies ----
  fuse_attr:
    seq:
      - id: ino
        type: u8
      - id: size
        type: u8
      - id: blocks
        type: u8
      - id: atime
        type: u8
      - id: mtime
        type: u8
      - id: ctime
        type: u8
      - id: atimensec
        type: u4
      - id: mtimensec
        type: u4
      - id: ctimensec
        type: u4
      - id: mode
        type: u4
      - id: nlink
        type: u4
      - id: uid
        type: u4
      - id: gid
        type: u4
      - id: rdev
        type: u4
      - id: blksize
        type: u4
      - id: flags
        type: u4
  fuse_attr_compat:
    doc: below 7.9 (no blksize, flags)
    seq:
      - id: ino
        type: u8
      - id: size
        type: u8
      - id: blocks
        type: u8
      - id: atime
        type: u8
      - id: mtime
        type: u8
      - id: ctime
        type: u8
      - id: atimensec
        type: u4
      - id: mtimensec
        type: u4
      - id: ctimensec
        type: u4
      - id: mode
        type: u4
      - id: nlink
        type: u4
      - id: uid
        type: u4
      - id: gid
        type: u4
      - id: rdev
        type: u4
  fuse_entry_out:
    seq:
      - id: nodeid
        type: u8
      - id: generation
        type: u8
      - id: entry_valid
        type: u8
      - id: attr_valid
        type: u8
      - id: entry_valid_nsec
        type: u4
      - id: attr_valid_nsec
        type: u4
      - id: attr
        type: fuse_attr
  fuse_entry_out_compat:
    doc: below 7.9 (FUSE_COMPAT_ENTRY_OUT_SIZE, 120 bytes)
    seq:
      - id: nodeid
        type: u8
      - id: generation
        type: u8
      - id: entry_valid
        type: u8
      - id: attr_valid
        type: u8
      - id: entry_valid_nsec
        type: u4
      - id: attr_valid_nsec
        type: u4
      - id: attr
        type: fuse_attr_compat
  fuse_attr_out:
    seq:
      - id: attr_valid
        type: u8
      - id: attr_valid_nsec
        type: u4
      - id: dummy
        type: u4
      - id: attr
        type: fuse_attr
  fuse_attr_out_compat:
    doc: below 7.9 (FUSE_COMPAT_ATTR_OUT_SIZE, 96 bytes)
    seq:
      - id: attr_valid
        type: u8
      - id: attr_valid_nsec
        type: u4
      - id: dummy
        type: u4
      - id: attr
        type: fuse_attr_compat
  fuse_open_out:
    seq:
      - id: fh
        type: u8
      - id: open_flags
        type: u4
      - id: backing_id
        type: s4
  create_out:
    doc: reply to CREATE and TMPFILE
    seq:
      - id: entry
        type: fuse_entry_out
      - id: open
        type: fuse_open_out
  create_out_compat:
    seq:
      - id: entry
        type: fuse_entry_out_compat
      - id: open
        type: fuse_open_out
  readlink_out:
    seq:
      - id: link
        type: str
        size-eos: true
        encoding: UTF-8
  data_out:
    doc: reply to READ
    seq:
      - id: data
        size-eos: true
  fuse_write_out:
    seq:
      - id: size
        type: u4
      - id: padding
        type: u4
  fuse_kstatfs:
    seq:
      - id: blocks
        type: u8
      - id: bfree
        type: u8
      - id: bavail
        type: u8
      - id: files
        type: u8
      - id: ffree
        type: u8
      - id: bsize
        type: u4
      - id: namelen
        type: u4
      - id: frsize
        type: u4
      - id: padding
        type: u4
      - id: spare
        size: 24
  fuse_kstatfs_compat:
    doc: below 7.4 (FUSE_COMPAT_STATFS_SIZE, 48 bytes)
    seq:
      - id: blocks
        type: u8
      - id: bfree
        type: u8
      - id: bavail
        type: u8
      - id: files
        type: u8
      - id: ffree
        type: u8
      - id: bsize
        type: u4
      - id: namelen
        type: u4
  fuse_statfs_out:
    seq:
      - id: st
        type: fuse_kstatfs
  fuse_statfs_out_compat:
    seq:
      - id: st
        type: fuse_kstatfs_compat
  fuse_getxattr_out:
    doc: reply to GETXATTR/LISTXATTR when the request asked with size 0
    seq:
      - id: size
        type: u4
      - id: padding
        type: u4
  fuse_init_out:
    seq:
      - id: major
        type: u4
      - id: minor
        type: u4
      - id: max_readahead
        type: u4
      - id: flags
        type: u4
      - id: max_background
        type: u2
      - id: congestion_threshold
        type: u2
      - id: max_write
        type: u4
      - id: time_gran
        type: u4
      - id: max_pages
        type: u2
      - id: map_alignment
        type: u2
      - id: flags2
        type: u4
      - id: max_stack_depth
        type: u4
      - id: request_timeout
        type: u2
      - id: unused
        size: 22
  fuse_init_out_compat:
    doc: from 7.5 to 7.22 (FUSE_COMPAT_22_INIT_OUT_SIZE, 24 bytes)
    seq:
      - id: major
        type: u4
      - id: minor
        type: u4
      - id: max_readahead
        type: u4
      - id: flags
        type: u4
      - id: max_background
        type: u2
      - id: congestion_threshold
        type: u2
      - id: max_write
        type: u4
  fuse_dirent:
    seq:
      - id: ino
        type: u8
      - id: off
        type: u8
      - id: namelen
        type: u4
      - id: type
        type: u4
      - id: name
        type: str
        size: namelen
        encoding: UTF-8
      - id: reserved_align
        size: (8 - _io.pos % 8) % 8
  fuse_direntplus:
    seq:
      - id: entry_out
        type: fuse_entry_out
      - id: dirent
        type: fuse_dirent
  readdir_out:
    seq:
      - id: entries
        type: fuse_dirent
        repeat: eos
  readdirplus_out:
    seq:
      - id: entries
        type: fuse_direntplus
        repeat: eos
  fuse_lk_out:
    seq:
      - id: lk
        type: fuse_file_lock
  fuse_bmap_out:
    seq:
      - id: block
        type: u8
  fuse_ioctl_out:
    seq:
      - id: result
        type: s4
      - id: flags
        type: u4
      - id: in_iovs
        type: u4
      - id: out_iovs
        type: u4
      - id: data
        size-eos: true
  fuse_poll_out:
    seq:
      - id: revents
        type: u4
      - id: padding
        type: u4
  fuse_lseek_out:
    seq:
      - id: offset
        type: u8
  fuse_copy_file_range_out:
    seq:
      - id: bytes_copied
        type: u8
  fuse_sx_time:
    seq:
      - id: tv_sec
        type: s8
      - id: tv_nsec
        type: u4
      - id: reserved
        type: s4
  fuse_statx:
    seq:
      - id: mask
        type: u4
      - id: blksize
        type: u4
      - id: attributes
        type: u8
      - id: nlink
        type: u4
      - id: uid
        type: u4
      - id: gid
        type: u4
      - id: mode
        type: u2
      - id: reserved_spare0
        type: u2
      - id: ino
        type: u8
      - id: size
        type: u8
      - id: blocks
        type: u8
      - id: attributes_mask
        type: u8
      - id: atime
        type: fuse_sx_time
      - id: btime
        type: fuse_sx_time
      - id: ctime
        type: fuse_sx_time
      - id: mtime
        type: fuse_sx_time
      - id: rdev_major
        type: u4
      - id: rdev_minor
        type: u4
      - id: dev_major
        type: u4
      - id: dev_minor
        type: u4
      - id: reserved_spare2
        size: 112
  fuse_statx_out:
    seq:
      - id: attr_valid
        type: u8
      - id: attr_valid_nsec
        type: u4
      - id: flags
        type: u4
      - id: reserved_spare
        size: 16
      - id: stat
        type: fuse_statx
  cuse_init_out:
    seq:
      - id: major
        type: u4
      - id: minor
        type: u4
      - id: unused
        type: u4
      - id: flags
        type: u4
      - id: max_read
        type: u4
      - id: max_write
        type: u4
      - id: dev_major
        type: u4
      - id: dev_minor
        type: u4
      - id: spare
        size: 40
      - id: info
        size-eos: true
  # ---- notifications (server to kernel, unique 0) ----
  fuse_notification:
    seq:
      - id: header
        type: fuse_out_header
      - id: body
        size: header.len - 16
        type:
          switch-on: header.error
          cases:
            1: fuse_notify_poll_wakeup_out
            2: fuse_notify_inval_inode_out
            3: fuse_notify_inval_entry_out
            4: fuse_notify_store_out
            5: fuse_notify_retrieve_out
            6: fuse_notify_delete_out
            9: fuse_notify_prune_out
  fuse_notify_poll_wakeup_out:
    seq:
      - id: kh
        type: u8
  fuse_notify_inval_inode_out:
    seq:
      - id: ino
        type: u8
      - id: off
        type: s8
      - id: len
        type: s8
  fuse_notify_inval_entry_out:
    seq:
      - id: parent
        type: u8
      - id: namelen
        type: u4
      - id: flags
        type: u4
      - id: name
        type: str
        size: namelen
        encoding: UTF-8
      - id: reserved_nul
        contents: [0]
  fuse_notify_store_out:
    seq:
      - id: nodeid
        type: u8
      - id: offset
        type: u8
      - id: size
        type: u4
      - id: padding
        type: u4
      - id: data
        size: size
  fuse_notify_retrieve_out:
    seq:
      - id: notify_unique
        type: u8
      - id: nodeid
        type: u8
      - id: offset
        type: u8
      - id: size
        type: u4
      - id: padding
        type: u4
  fuse_notify_delete_out:
    seq:
      - id: parent
        type: u8
      - id: child
        type: u8
      - id: namelen
        type: u4
      - id: padding
        type: u4
      - id: name
        type: str
        size: namelen
        encoding: UTF-8
      - id: reserved_nul
        contents: [0]
  fuse_notify_prune_out:
    seq:
      - id: count
        type: u4
      - id: padding
        type: u4
      - id: spare
        type: u8
      - id: nodeids
        type: u8
        repeat: expr
        repeat-expr: count
