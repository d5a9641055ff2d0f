-- ringside.lua: Wireshark/tshark dissector for ringside captures.
--
-- A ringside capture (pcapng, LINKTYPE_WIRESHARK_UPPER_PDU) carries, in
-- every packet, Exported-PDU tags naming the dissector "ringside", then a
-- versioned ringside record header, then the raw FUSE or vhost-user message
-- (layout: codecs/pcapng/ringside.ksy). This script registers the
-- "ringside" dissector that the Exported-PDU dissector looks up by that
-- name, and a FUSE dissector for the messages: requests and replies are
-- paired by unique, so replies show their opcode, the request's frame and
-- the latency.
--
-- Use:  tshark -X lua_script:wireshark/ringside.lua -r capture.pcapng
--       tshark -X lua_script:wireshark/ringside.lua -r c.pcapng -Y "fuse.opcode == 1"
-- or copy it to ~/.local/lib/wireshark/plugins/ (Wireshark >= 3.x).
--
-- Field names are the keys of `ringside decode --json`: fuse.opcode,
-- fuse.unique, fuse.nodeid, fuse.error, fuse.request_frame, fuse.latency_ns,
-- ringside.kind, ringside.queue, ...

local ringside = Proto("ringside", "ringside capture record")
local fuse = Proto("fuse", "FUSE")
local vhost_user = Proto("vhost_user", "vhost-user")

local KIND = {
  [1] = "fuse_request", [2] = "fuse_reply", [3] = "fuse_notify",
  [4] = "vhost_user_front_to_back", [5] = "vhost_user_back_to_front",
  [6] = "ring_kick", [7] = "ring_call", [8] = "ring_chain",
}

local MALFORMATION = {
  [1] = "loop", [2] = "chain-too-long", [3] = "address-out-of-memory",
  [4] = "readable-after-writable", [5] = "nested-indirect", [6] = "indirect-with-next",
  [7] = "bad-indirect-length", [8] = "indirect-not-negotiated", [9] = "index-out-of-range",
  [10] = "avail-idx-jump", [11] = "reply-too-long", [12] = "bad-used-id", [13] = "bad-used-len",
}

local OPCODE = {
  [1] = "LOOKUP", [2] = "FORGET", [3] = "GETATTR", [4] = "SETATTR", [5] = "READLINK",
  [6] = "SYMLINK", [8] = "MKNOD", [9] = "MKDIR", [10] = "UNLINK", [11] = "RMDIR",
  [12] = "RENAME", [13] = "LINK", [14] = "OPEN", [15] = "READ", [16] = "WRITE",
  [17] = "STATFS", [18] = "RELEASE", [20] = "FSYNC", [21] = "SETXATTR", [22] = "GETXATTR",
  [23] = "LISTXATTR", [24] = "REMOVEXATTR", [25] = "FLUSH", [26] = "INIT", [27] = "OPENDIR",
  [28] = "READDIR", [29] = "RELEASEDIR", [30] = "FSYNCDIR", [31] = "GETLK", [32] = "SETLK",
  [33] = "SETLKW", [34] = "ACCESS", [35] = "CREATE", [36] = "INTERRUPT", [37] = "BMAP",
  [38] = "DESTROY", [39] = "IOCTL", [40] = "POLL", [41] = "NOTIFY_REPLY",
  [42] = "BATCH_FORGET", [43] = "FALLOCATE", [44] = "READDIRPLUS", [45] = "RENAME2",
  [46] = "LSEEK", [47] = "COPY_FILE_RANGE", [48] = "SETUPMAPPING", [49] = "REMOVEMAPPING",
  [50] = "SYNCFS", [51] = "TMPFILE", [52] = "STATX", [53] = "COPY_FILE_RANGE_64",
  [4096] = "CUSE_INIT",
}

local NOTIFY = {
  [1] = "NOTIFY_POLL", [2] = "NOTIFY_INVAL_INODE", [3] = "NOTIFY_INVAL_ENTRY",
  [4] = "NOTIFY_STORE", [5] = "NOTIFY_RETRIEVE", [6] = "NOTIFY_DELETE", [7] = "NOTIFY_RESEND",
  [8] = "NOTIFY_INC_EPOCH", [9] = "NOTIFY_PRUNE",
}

local ERRNO = {
  [1] = "EPERM", [2] = "ENOENT", [3] = "ESRCH", [4] = "EINTR", [5] = "EIO", [6] = "ENXIO",
  [7] = "E2BIG", [9] = "EBADF", [11] = "EAGAIN", [12] = "ENOMEM", [13] = "EACCES",
  [14] = "EFAULT", [16] = "EBUSY", [17] = "EEXIST", [18] = "EXDEV", [19] = "ENODEV",
  [20] = "ENOTDIR", [21] = "EISDIR", [22] = "EINVAL", [23] = "ENFILE", [24] = "EMFILE",
  [25] = "ENOTTY", [26] = "ETXTBSY", [27] = "EFBIG", [28] = "ENOSPC", [29] = "ESPIPE",
  [30] = "EROFS", [31] = "EMLINK", [32] = "EPIPE", [34] = "ERANGE", [35] = "EDEADLK",
  [36] = "ENAMETOOLONG", [37] = "ENOLCK", [38] = "ENOSYS", [39] = "ENOTEMPTY", [40] = "ELOOP",
  [61] = "ENODATA", [75] = "EOVERFLOW", [95] = "EOPNOTSUPP", [107] = "ENOTCONN",
  [110] = "ETIMEDOUT", [116] = "ESTALE", [122] = "EDQUOT", [125] = "ECANCELED",
}

local ERROR_VALS = { [0] = "OK" }
for n, name in pairs(ERRNO) do ERROR_VALS[-n] = name end

local VHOST_USER_FRONTEND = {
  [1] = "GET_FEATURES", [2] = "SET_FEATURES", [3] = "SET_OWNER", [4] = "RESET_OWNER",
  [5] = "SET_MEM_TABLE", [6] = "SET_LOG_BASE", [7] = "SET_LOG_FD", [8] = "SET_VRING_NUM",
  [9] = "SET_VRING_ADDR", [10] = "SET_VRING_BASE", [11] = "GET_VRING_BASE",
  [12] = "SET_VRING_KICK", [13] = "SET_VRING_CALL", [14] = "SET_VRING_ERR",
  [15] = "GET_PROTOCOL_FEATURES", [16] = "SET_PROTOCOL_FEATURES", [17] = "GET_QUEUE_NUM",
  [18] = "SET_VRING_ENABLE", [19] = "SEND_RARP", [20] = "NET_SET_MTU",
  [21] = "SET_BACKEND_REQ_FD", [22] = "IOTLB_MSG", [23] = "SET_VRING_ENDIAN",
  [24] = "GET_CONFIG", [25] = "SET_CONFIG", [26] = "CREATE_CRYPTO_SESSION",
  [27] = "CLOSE_CRYPTO_SESSION", [28] = "POSTCOPY_ADVISE", [29] = "POSTCOPY_LISTEN",
  [30] = "POSTCOPY_END", [31] = "GET_INFLIGHT_FD", [32] = "SET_INFLIGHT_FD",
  [33] = "GPU_SET_SOCKET", [34] = "RESET_DEVICE", [36] = "GET_MAX_MEM_SLOTS",
  [37] = "ADD_MEM_REG", [38] = "REM_MEM_REG", [39] = "SET_STATUS", [40] = "GET_STATUS",
  [41] = "GET_SHARED_OBJECT", [42] = "SET_DEVICE_STATE_FD", [43] = "CHECK_DEVICE_STATE",
  [44] = "GET_SHMEM_CONFIG",
}

local pf = {
  version = ProtoField.uint8("ringside.version", "Version"),
  header_length = ProtoField.uint8("ringside.header_length", "Header length"),
  kind = ProtoField.uint8("ringside.kind", "Kind", base.DEC, KIND),
  fd_count = ProtoField.uint8("ringside.fd_count", "File descriptors"),
  flags = ProtoField.uint16("ringside.flags", "Flags", base.HEX),
  flag_chain = ProtoField.bool("ringside.flags.chain", "Chain fields valid", 16, nil, 0x0001),
  flag_malformed = ProtoField.bool("ringside.flags.malformed", "Malformed chain", 16, nil, 0x0002),
  flag_indirect = ProtoField.bool("ringside.flags.indirect", "Indirect descriptors", 16, nil, 0x0004),
  flag_packed = ProtoField.bool("ringside.flags.packed", "Packed ring", 16, nil, 0x0008),
  queue = ProtoField.uint16("ringside.queue", "Queue"),
  chain_head = ProtoField.uint16("ringside.chain_head", "Chain head"),
  chain_descriptors = ProtoField.uint16("ringside.chain_descriptors", "Chain descriptors"),
  chain_readable = ProtoField.uint32("ringside.chain_readable", "Chain readable bytes"),
  chain_writable = ProtoField.uint32("ringside.chain_writable", "Chain writable bytes"),
  fuse_minor = ProtoField.uint16("ringside.fuse_minor", "FUSE minor"),
  malformation = ProtoField.uint8("ringside.malformation", "Malformation", base.DEC, MALFORMATION),
  kick_count = ProtoField.uint64("ringside.kick_count", "Kick eventfd counter"),
  used_len = ProtoField.uint32("ringside.used_len", "Used length"),
}
ringside.fields = {
  pf.version, pf.header_length, pf.kind, pf.fd_count, pf.flags, pf.flag_chain,
  pf.flag_malformed, pf.flag_indirect, pf.flag_packed, pf.queue, pf.chain_head,
  pf.chain_descriptors, pf.chain_readable, pf.chain_writable, pf.fuse_minor, pf.malformation,
  pf.kick_count, pf.used_len,
}

local ff = {
  len = ProtoField.uint32("fuse.len", "Length"),
  opcode = ProtoField.uint32("fuse.opcode", "Opcode", base.DEC, OPCODE),
  op = ProtoField.string("fuse.op", "Operation"),
  unique = ProtoField.uint64("fuse.unique", "Unique"),
  nodeid = ProtoField.uint64("fuse.nodeid", "Node id"),
  uid = ProtoField.uint32("fuse.uid", "uid"),
  gid = ProtoField.uint32("fuse.gid", "gid"),
  pid = ProtoField.uint32("fuse.pid", "pid"),
  total_extlen = ProtoField.uint16("fuse.total_extlen", "Extension length (8-byte units)"),
  error = ProtoField.int32("fuse.error", "Error", base.DEC, ERROR_VALS),
  notify = ProtoField.int32("fuse.notify_code", "Notification", base.DEC, NOTIFY),
  request_frame = ProtoField.framenum("fuse.request_frame", "Request in frame", base.NONE, frametype.REQUEST),
  reply_frame = ProtoField.framenum("fuse.reply_frame", "Reply in frame", base.NONE, frametype.RESPONSE),
  latency_ns = ProtoField.uint64("fuse.latency_ns", "Latency (ns)"),
  name = ProtoField.string("fuse.name", "Name"),
  newname = ProtoField.string("fuse.newname", "New name"),
  linkname = ProtoField.string("fuse.linkname", "Link target"),
  fh = ProtoField.uint64("fuse.fh", "File handle", base.HEX),
  offset = ProtoField.uint64("fuse.offset", "Offset"),
  size = ProtoField.uint32("fuse.size", "Size"),
  flags = ProtoField.uint32("fuse.flags", "Flags", base.OCT),
  mode = ProtoField.uint32("fuse.mode", "Mode", base.OCT),
  newdir = ProtoField.uint64("fuse.newdir", "New directory node id"),
  oldnodeid = ProtoField.uint64("fuse.oldnodeid", "Old node id"),
  major = ProtoField.uint32("fuse.major", "Major"),
  minor = ProtoField.uint32("fuse.minor", "Minor"),
  entry_nodeid = ProtoField.uint64("fuse.entry.nodeid", "Entry node id"),
  attr_size = ProtoField.uint64("fuse.attr.size", "Attribute size"),
  attr_mode = ProtoField.uint32("fuse.attr.mode", "Attribute mode", base.OCT),
  body = ProtoField.bytes("fuse.body", "Body"),
}
fuse.fields = {
  ff.len, ff.opcode, ff.op, ff.unique, ff.nodeid, ff.uid, ff.gid, ff.pid, ff.total_extlen,
  ff.error, ff.notify, ff.request_frame, ff.reply_frame, ff.latency_ns, ff.name, ff.newname,
  ff.linkname, ff.fh, ff.offset, ff.size, ff.flags, ff.mode, ff.newdir, ff.oldnodeid,
  ff.major, ff.minor, ff.entry_nodeid, ff.attr_size, ff.attr_mode, ff.body,
}

local vf = {
  request = ProtoField.uint32("vhost_user.request", "Request", base.DEC, VHOST_USER_FRONTEND),
  backend_request = ProtoField.uint32("vhost_user.backend_request", "Back-end request"),
  flags = ProtoField.uint32("vhost_user.flags", "Flags", base.HEX),
  reply = ProtoField.bool("vhost_user.reply", "Reply", 32, nil, 0x4),
  need_reply = ProtoField.bool("vhost_user.need_reply", "Need reply", 32, nil, 0x8),
  size = ProtoField.uint32("vhost_user.size", "Payload size"),
  payload = ProtoField.bytes("vhost_user.payload", "Payload"),
}
vhost_user.fields = {
  vf.request, vf.backend_request, vf.flags, vf.reply, vf.need_reply, vf.size, vf.payload,
}

local ef_short = ProtoExpert.new("ringside.short", "Message shorter than its header", expert.group.MALFORMED, expert.severity.ERROR)
local ef_unpaired = ProtoExpert.new("fuse.unpaired", "Reply without a request in this capture", expert.group.SEQUENCE, expert.severity.NOTE)
local ef_error = ProtoExpert.new("fuse.error_reply", "Error reply", expert.group.RESPONSE_CODE, expert.severity.NOTE)
ringside.experts = { ef_short }
fuse.experts = { ef_unpaired, ef_error }

-- Pairing state, rebuilt whenever the file is (re)loaded.
-- pending[unique] = { frame, time, opcode, nodeid } for requests seen on the first pass;
-- per_frame[frame] = what the first pass decided (so later passes and the GUI agree).
local pending = {}
local per_frame = {}

function fuse.init()
  pending = {}
  per_frame = {}
end

local f_frame_time = Field.new("frame.time")

-- The frame's time in ns as a UInt64, exactly (pinfo.abs_ts is a double: ~200 ns steps today).
local function time_ns(pinfo)
  local fi = f_frame_time()
  if fi ~= nil then
    local t = fi.value
    return UInt64(t.secs) * UInt64(1000000000) + UInt64(t.nsecs)
  end
  local t = pinfo.abs_ts
  return UInt64(math.floor(t)) * UInt64(1000000000) + UInt64(math.floor((t - math.floor(t)) * 1e9 + 0.5))
end

local function cstring(tvb, off, limit)
  local n = tvb:len()
  if limit ~= nil and limit < n then n = limit end
  if off >= n then return nil, off end
  local s = tvb:range(off, n - off):stringz()
  return s, off + #s + 1
end

local function le32(tvb, off) return tvb:range(off, 4):le_uint() end
local function le64(tvb, off) return tvb:range(off, 8):le_uint64() end

-- Adds the key arguments of a request body (at byte 40) to tree; returns an info string.
local function dissect_request_body(tvb, tree, opcode)
  local n = tvb:len()
  local body = 40
  if n <= body then return "" end
  local op = OPCODE[opcode]
  local function name_at(off, field)
    local s, after = cstring(tvb, off)
    if s ~= nil then tree:add(field or ff.name, tvb:range(off, math.min(#s + 1, n - off)), s) end
    return s, after
  end
  if op == "LOOKUP" or op == "UNLINK" or op == "RMDIR" or op == "REMOVEXATTR" then
    local s = name_at(body)
    return string.format(' name="%s"', s or "")
  elseif op == "MKDIR" and n >= body + 8 then
    tree:add_le(ff.mode, tvb:range(body, 4))
    local s = name_at(body + 8)
    return string.format(' name="%s" mode=0%o', s or "", le32(tvb, body))
  elseif (op == "MKNOD" or op == "CREATE" or op == "TMPFILE") and n >= body + 16 then
    if op == "MKNOD" then
      tree:add_le(ff.mode, tvb:range(body, 4))
    else
      tree:add_le(ff.flags, tvb:range(body, 4))
      tree:add_le(ff.mode, tvb:range(body + 4, 4))
    end
    local s = name_at(body + 16)
    return string.format(' name="%s"', s or "")
  elseif op == "SYMLINK" then
    local s, after = name_at(body)
    local l = name_at(after, ff.linkname)
    return string.format(' name="%s" -> "%s"', s or "", l or "")
  elseif (op == "RENAME" or op == "RENAME2") then
    local fixed = op == "RENAME" and 8 or 16
    if n < body + fixed then return "" end
    tree:add_le(ff.newdir, tvb:range(body, 8))
    local s, after = name_at(body + fixed)
    local t = name_at(after, ff.newname)
    return string.format(' "%s" -> newdir=%s "%s"', s or "", tostring(le64(tvb, body)), t or "")
  elseif op == "LINK" and n >= body + 8 then
    tree:add_le(ff.oldnodeid, tvb:range(body, 8))
    local s = name_at(body + 8, ff.newname)
    return string.format(' oldnodeid=%s newname="%s"', tostring(le64(tvb, body)), s or "")
  elseif (op == "OPEN" or op == "OPENDIR") and n >= body + 4 then
    tree:add_le(ff.flags, tvb:range(body, 4))
    return string.format(" flags=0%o", le32(tvb, body))
  elseif (op == "READ" or op == "WRITE" or op == "READDIR" or op == "READDIRPLUS") and n >= body + 20 then
    tree:add_le(ff.fh, tvb:range(body, 8))
    tree:add_le(ff.offset, tvb:range(body + 8, 8))
    tree:add_le(ff.size, tvb:range(body + 16, 4))
    return string.format(" fh=%s offset=%s size=%d", tostring(le64(tvb, body)),
      tostring(le64(tvb, body + 8)), le32(tvb, body + 16))
  elseif (op == "RELEASE" or op == "RELEASEDIR" or op == "FLUSH" or op == "FSYNC" or op == "FSYNCDIR") and n >= body + 8 then
    tree:add_le(ff.fh, tvb:range(body, 8))
    return string.format(" fh=%s", tostring(le64(tvb, body)))
  elseif op == "INIT" and n >= body + 8 then
    tree:add_le(ff.major, tvb:range(body, 4))
    tree:add_le(ff.minor, tvb:range(body + 4, 4))
    return string.format(" %d.%d", le32(tvb, body), le32(tvb, body + 4))
  elseif (op == "GETXATTR" or op == "SETXATTR") and n >= body + 8 then
    local fixed = 8
    if op == "SETXATTR" then fixed = 8 end -- setxattr_ext (16) is marked in INIT flags; names start after 8 below it
    tree:add_le(ff.size, tvb:range(body, 4))
    local s = name_at(body + fixed)
    return string.format(' name="%s"', s or "")
  end
  if n > body then tree:add(ff.body, tvb:range(body, n - body)) end
  return ""
end

local function dissect_reply_body(tvb, tree, opcode)
  local n = tvb:len()
  local body = 16
  if n <= body then return "" end
  local op = OPCODE[opcode]
  if (op == "LOOKUP" or op == "MKNOD" or op == "MKDIR" or op == "SYMLINK" or op == "LINK" or op == "CREATE" or op == "TMPFILE") and n >= body + 40 + 88 then
    tree:add_le(ff.entry_nodeid, tvb:range(body, 8))
    tree:add_le(ff.attr_size, tvb:range(body + 40 + 8, 8))
    tree:add_le(ff.attr_mode, tvb:range(body + 40 + 60, 4))
    return string.format(" nodeid=%s", tostring(le64(tvb, body)))
  elseif (op == "GETATTR" or op == "SETATTR") and n >= body + 16 + 88 then
    tree:add_le(ff.attr_size, tvb:range(body + 16 + 8, 8))
    tree:add_le(ff.attr_mode, tvb:range(body + 16 + 60, 4))
    return string.format(" size=%s", tostring(le64(tvb, body + 16 + 8)))
  elseif (op == "OPEN" or op == "OPENDIR") and n >= body + 8 then
    tree:add_le(ff.fh, tvb:range(body, 8))
    return string.format(" fh=%s", tostring(le64(tvb, body)))
  elseif op == "WRITE" and n >= body + 4 then
    tree:add_le(ff.size, tvb:range(body, 4))
    return string.format(" size=%d", le32(tvb, body))
  elseif op == "READ" then
    tree:add(ff.body, tvb:range(body, n - body))
    return string.format(" %d bytes", n - body)
  elseif op == "INIT" and n >= body + 8 then
    tree:add_le(ff.major, tvb:range(body, 4))
    tree:add_le(ff.minor, tvb:range(body + 4, 4))
    return string.format(" %d.%d", le32(tvb, body), le32(tvb, body + 4))
  end
  tree:add(ff.body, tvb:range(body, n - body))
  return ""
end

local function dissect_fuse(tvb, pinfo, root, kind)
  local n = tvb:len()
  local tree = root:add(fuse, tvb:range(0, n))
  pinfo.cols.protocol:set("FUSE")
  if kind == "fuse_request" then
    if n < 40 then
      tree:add_proto_expert_info(ef_short)
      pinfo.cols.info:set("FUSE request, short")
      return
    end
    local opcode = le32(tvb, 4)
    local unique = le64(tvb, 8)
    local nodeid = le64(tvb, 16)
    local opname = OPCODE[opcode] or ("OPCODE_" .. opcode)
    tree:add_le(ff.len, tvb:range(0, 4))
    tree:add_le(ff.opcode, tvb:range(4, 4))
    tree:add(ff.op, opname):set_generated()
    tree:add_le(ff.unique, tvb:range(8, 8))
    tree:add_le(ff.nodeid, tvb:range(16, 8))
    tree:add_le(ff.uid, tvb:range(24, 4))
    tree:add_le(ff.gid, tvb:range(28, 4))
    tree:add_le(ff.pid, tvb:range(32, 4))
    tree:add_le(ff.total_extlen, tvb:range(36, 2))
    if not pinfo.visited and opcode ~= 2 and opcode ~= 42 and opcode ~= 41 then
      pending[tostring(unique)] = { frame = pinfo.number, time = time_ns(pinfo), opcode = opcode, nodeid = nodeid }
    end
    local st = per_frame[pinfo.number]
    if st ~= nil and st.reply_frame ~= nil then
      tree:add(ff.reply_frame, st.reply_frame):set_generated()
    end
    local args = dissect_request_body(tvb, tree, opcode)
    tree:append_text(string.format(", %s unique %s", opname, tostring(unique)))
    pinfo.cols.info:set(string.format("%s unique=%s nodeid=%s%s", opname, tostring(unique), tostring(nodeid), args))
    return
  end
  -- replies and notifications: fuse_out_header
  if n < 16 then
    tree:add_proto_expert_info(ef_short)
    pinfo.cols.info:set("FUSE reply, short")
    return
  end
  local err = tvb:range(4, 4):le_int()
  local unique = le64(tvb, 8)
  tree:add_le(ff.len, tvb:range(0, 4))
  if unique == UInt64(0) then
    tree:add_le(ff.notify, tvb:range(4, 4))
    tree:add_le(ff.unique, tvb:range(8, 8))
    local name = NOTIFY[err] or ("NOTIFY_" .. err)
    tree:add(ff.op, name):set_generated()
    if n > 16 then tree:add(ff.body, tvb:range(16, n - 16)) end
    pinfo.cols.info:set(name)
    return
  end
  local st = per_frame[pinfo.number]
  if st == nil then
    st = {}
    local key = tostring(unique)
    local req = pending[key]
    if req == nil and unique:higher() >= 0x80000000 then
      -- FUSE_UNIQUE_RESEND: the request was resent with the top bit set
      key = tostring(unique - UInt64(0, 0x80000000))
      req = pending[key]
    end
    if req ~= nil then
      st.request_frame = req.frame
      st.opcode = req.opcode
      st.nodeid = req.nodeid
      st.latency = time_ns(pinfo) - req.time
      pending[key] = nil
      local rs = per_frame[req.frame] or {}
      rs.reply_frame = pinfo.number
      per_frame[req.frame] = rs
    end
    per_frame[pinfo.number] = st
  end
  local opname = "UNKNOWN"
  if st.opcode ~= nil then
    opname = OPCODE[st.opcode] or ("OPCODE_" .. st.opcode)
    tree:add(ff.opcode, st.opcode):set_generated()
  end
  tree:add(ff.op, opname):set_generated()
  tree:add_le(ff.error, tvb:range(4, 4))
  tree:add_le(ff.unique, tvb:range(8, 8))
  if st.nodeid ~= nil then tree:add(ff.nodeid, st.nodeid):set_generated() end
  if st.request_frame ~= nil then
    tree:add(ff.request_frame, st.request_frame):set_generated()
    tree:add(ff.latency_ns, st.latency):set_generated()
  else
    tree:add_proto_expert_info(ef_unpaired)
  end
  local args = ""
  if err ~= 0 then
    tree:add_proto_expert_info(ef_error)
    args = " " .. (ERROR_VALS[err] or ("E" .. -err))
  elseif st.opcode ~= nil then
    args = dissect_reply_body(tvb, tree, st.opcode)
  elseif n > 16 then
    tree:add(ff.body, tvb:range(16, n - 16))
  end
  local lat = ""
  if st.latency ~= nil then lat = string.format(" (%s ns, request #%d)", tostring(st.latency), st.request_frame) end
  tree:append_text(string.format(", %s reply unique %s", opname, tostring(unique)))
  pinfo.cols.info:set(string.format("%s reply unique=%s%s%s", opname, tostring(unique), args, lat))
end

local function dissect_vhost_user(tvb, pinfo, root, backend)
  local n = tvb:len()
  local tree = root:add(vhost_user, tvb:range(0, n))
  pinfo.cols.protocol:set("vhost-user")
  if n < 12 then
    tree:add_proto_expert_info(ef_short)
    return
  end
  local req = le32(tvb, 0)
  local flags = le32(tvb, 4)
  local is_reply = bit.band(flags, 0x4) ~= 0
  local name
  if backend ~= is_reply then
    tree:add_le(vf.backend_request, tvb:range(0, 4))
    name = "BACKEND_REQUEST_" .. req
  else
    tree:add_le(vf.request, tvb:range(0, 4))
    name = VHOST_USER_FRONTEND[req] or ("REQUEST_" .. req)
  end
  local ft = tree:add_le(vf.flags, tvb:range(4, 4))
  ft:add_le(vf.reply, tvb:range(4, 4))
  ft:add_le(vf.need_reply, tvb:range(4, 4))
  tree:add_le(vf.size, tvb:range(8, 4))
  if n > 12 then tree:add(vf.payload, tvb:range(12, n - 12)) end
  pinfo.cols.info:set(string.format("%s%s size=%d", name, is_reply and " reply" or "", le32(tvb, 8)))
end

function ringside.dissector(tvb, pinfo, root)
  local n = tvb:len()
  pinfo.cols.protocol:set("ringside")
  local tree = root:add(ringside, tvb:range(0, math.min(n, 24)))
  if n < 24 then
    tree:add_proto_expert_info(ef_short)
    pinfo.cols.info:set("ringside record, short")
    return n
  end
  local hlen = tvb:range(1, 1):uint()
  local kind_code = tvb:range(2, 1):uint()
  local kind = KIND[kind_code] or ("kind " .. kind_code)
  tree:add(pf.version, tvb:range(0, 1))
  tree:add(pf.header_length, tvb:range(1, 1))
  tree:add(pf.kind, tvb:range(2, 1))
  tree:add(pf.fd_count, tvb:range(3, 1))
  local flags = tvb:range(4, 2):le_uint()
  local ft = tree:add_le(pf.flags, tvb:range(4, 2))
  ft:add_le(pf.flag_chain, tvb:range(4, 2))
  ft:add_le(pf.flag_malformed, tvb:range(4, 2))
  ft:add_le(pf.flag_indirect, tvb:range(4, 2))
  ft:add_le(pf.flag_packed, tvb:range(4, 2))
  local queue = tvb:range(6, 2):le_uint()
  if queue ~= 0xffff then tree:add_le(pf.queue, tvb:range(6, 2)) end
  if bit.band(flags, 1) ~= 0 then
    tree:add_le(pf.chain_head, tvb:range(8, 2))
    tree:add_le(pf.chain_descriptors, tvb:range(10, 2))
    tree:add_le(pf.chain_readable, tvb:range(12, 4))
    tree:add_le(pf.chain_writable, tvb:range(16, 4))
  end
  local minor = tvb:range(20, 2):le_uint()
  if minor ~= 0 then tree:add_le(pf.fuse_minor, tvb:range(20, 2)) end
  local malformation = tvb:range(22, 1):uint()
  if malformation ~= 0 then tree:add(pf.malformation, tvb:range(22, 1)) end
  tree:append_text(", " .. kind)
  if hlen < 24 or hlen > n then
    tree:add_proto_expert_info(ef_short)
    return n
  end
  local payload = tvb:range(hlen, n - hlen)
  local qtext = queue ~= 0xffff and (" q" .. queue) or ""
  if kind == "fuse_request" or kind == "fuse_reply" or kind == "fuse_notify" then
    if n > hlen then
      dissect_fuse(payload:tvb(), pinfo, root, kind)
    end
  elseif kind == "vhost_user_front_to_back" or kind == "vhost_user_back_to_front" then
    if n > hlen then dissect_vhost_user(payload:tvb(), pinfo, root, kind == "vhost_user_back_to_front") end
  elseif kind == "ring_kick" or kind == "ring_call" or kind == "ring_chain" then
    local info = string.sub(kind, 6) .. qtext
    if bit.band(flags, 1) ~= 0 then
      info = info .. string.format(" head=%d desc=%d readable=%d writable=%d", tvb:range(8, 2):le_uint(),
        tvb:range(10, 2):le_uint(), tvb:range(12, 4):le_uint(), tvb:range(16, 4):le_uint())
    end
    if kind == "ring_kick" and n - hlen >= 8 then
      tree:add_le(pf.kick_count, tvb:range(hlen, 8))
      info = info .. " count=" .. tostring(tvb:range(hlen, 8):le_uint64())
    elseif kind == "ring_chain" and n - hlen >= 4 then
      tree:add_le(pf.used_len, tvb:range(hlen, 4))
      info = info .. " used=" .. tvb:range(hlen, 4):le_uint()
    end
    if malformation ~= 0 then
      info = info .. " malformed: " .. (MALFORMATION[malformation] or tostring(malformation))
    elseif bit.band(flags, 2) ~= 0 then
      info = info .. " malformed"
    end
    pinfo.cols.info:set(info)
  end
  return n
end
