import Glibc
import NetTypes

// An independent, deliberately naive netlink encoder for building expected bytes and parser inputs.
// Integers little-endian (the test hosts are x86-64 and arm64).

func le16(_ v: UInt16) -> [UInt8] { [UInt8(v & 0xff), UInt8(v >> 8)] }
func le32(_ v: UInt32) -> [UInt8] { [UInt8(v & 0xff), UInt8((v >> 8) & 0xff), UInt8((v >> 16) & 0xff), UInt8(v >> 24)] }
func le32(_ v: Int32) -> [UInt8] { le32(UInt32(bitPattern: v)) }

/// One attribute: length (header + payload, unpadded), type, payload, zero padding to 4.
func attr(_ type: UInt16, _ payload: [UInt8]) -> [UInt8] {
    var out = le16(UInt16(4 + payload.count)) + le16(type) + payload
    while out.count % 4 != 0 { out.append(0) }
    return out
}

func nested(_ type: UInt16, _ children: [UInt8]...) -> [UInt8] {
    attr(type | 0x8000, children.flatMap { $0 })
}

func cstr(_ s: String) -> [UInt8] { Array(s.utf8) + [0] }
func str(_ s: String) -> [UInt8] { Array(s.utf8) }

func message(type: UInt16, flags: UInt16, seq: UInt32, pid: UInt32 = 0, header: [UInt8], _ attrs: [UInt8]...) -> [UInt8] {
    let body = header + attrs.flatMap { $0 }
    return le32(UInt32(16 + body.count)) + le16(type) + le16(flags) + le32(seq) + le32(pid) + body
}

/// struct ifinfomsg { u8 family; u8 pad; u16 type; s32 index; u32 flags; u32 change; }
func ifinfo(family: UInt8 = 0, type: UInt16 = 0, index: Int32 = 0, flags: UInt32 = 0, change: UInt32 = 0) -> [UInt8] {
    [family, 0] + le16(type) + le32(index) + le32(flags) + le32(change)
}

/// struct ifaddrmsg { u8 family, prefixlen, flags, scope; u32 index; }
func ifaddr(family: UInt8, prefixlen: UInt8, flags: UInt8 = 0, scope: UInt8 = 0, index: Int32) -> [UInt8] {
    [family, prefixlen, flags, scope] + le32(index)
}

/// struct rtmsg { u8 family, dst_len, src_len, tos, table, protocol, scope, type; u32 flags; }
func rtmsgBytes(
    family: UInt8, dstLen: UInt8, table: UInt8, proto: UInt8, scope: UInt8, type: UInt8, flags: UInt32 = 0
) -> [UInt8] {
    [family, dstLen, 0, 0, table, proto, scope, type] + le32(flags)
}

func ip(_ s: String) -> IPAddress { IPAddress(s)! }
func pfx(_ s: String) -> IPPrefix { IPPrefix(s)! }
func mac(_ s: String) -> MACAddress { MACAddress(s)! }

func hex(_ bytes: [UInt8]) -> String {
    bytes.map { b in (b < 16 ? "0" : "") + String(b, radix: 16) }.joined(separator: " ")
}

// Kernel constants, spelled out so the tests do not trust the headers the code uses.
enum K {
    static let RTM_NEWLINK: UInt16 = 16, RTM_DELLINK: UInt16 = 17, RTM_GETLINK: UInt16 = 18
    static let RTM_NEWADDR: UInt16 = 20, RTM_DELADDR: UInt16 = 21, RTM_GETADDR: UInt16 = 22
    static let RTM_NEWROUTE: UInt16 = 24, RTM_DELROUTE: UInt16 = 25, RTM_GETROUTE: UInt16 = 26
    static let NLMSG_ERROR: UInt16 = 2, NLMSG_DONE: UInt16 = 3
    static let REQUEST_ACK: UInt16 = 0x0005
    static let CREATE: UInt16 = 0x0605  // REQUEST | ACK | EXCL | CREATE
    static let DUMP: UInt16 = 0x0305  // REQUEST | ACK | DUMP (ROOT | MATCH)
    static let IFLA_ADDRESS: UInt16 = 1, IFLA_IFNAME: UInt16 = 3, IFLA_MTU: UInt16 = 4, IFLA_LINK: UInt16 = 5
    static let IFLA_LINKINFO: UInt16 = 18, IFLA_IFALIAS: UInt16 = 20, IFLA_NET_NS_FD: UInt16 = 28
    static let IFLA_EXT_MASK: UInt16 = 29, IFLA_PERM_ADDRESS: UInt16 = 54
    static let IFLA_INFO_KIND: UInt16 = 1, IFLA_INFO_DATA: UInt16 = 2
    static let IFLA_IPVLAN_MODE: UInt16 = 1, IFLA_IPVLAN_FLAGS: UInt16 = 2
    static let VETH_INFO_PEER: UInt16 = 1
    static let IFA_ADDRESS: UInt16 = 1, IFA_LOCAL: UInt16 = 2, IFA_BROADCAST: UInt16 = 4, IFA_FLAGS: UInt16 = 8
    static let RTA_DST: UInt16 = 1, RTA_OIF: UInt16 = 4, RTA_GATEWAY: UInt16 = 5, RTA_PRIORITY: UInt16 = 6
    static let RTA_PREFSRC: UInt16 = 7, RTA_METRICS: UInt16 = 8, RTA_TABLE: UInt16 = 15
    static let RTAX_MTU: UInt16 = 2, RTAX_ADVMSS: UInt16 = 8
    static let NLMSGERR_ATTR_MSG: UInt16 = 1, NLMSGERR_ATTR_OFFS: UInt16 = 2
}
