import CLibmnl
import Glibc
import NetTypes

/// Tells the segment about an address that moved: one gratuitous ARP (IPv4) or one unsolicited
/// neighbour advertisement (IPv6). Sockets open in the calling thread's current namespace, so call
/// these inside `NetNS.run` for a pod namespace.
public enum Announce {
    /// Sends one gratuitous ARP request (`ARPOP_REQUEST`, sender IP = target IP = `address`, target MAC
    /// zero) to ff:ff:ff:ff:ff:ff through an `AF_PACKET`/`SOCK_DGRAM` socket on `index`.
    public static func gratuitousARP(index: Int32, hardwareAddress: MACAddress, address: IPAddress) throws(NetlinkError) {
        let operation = "send gratuitous ARP for \(address) on ifindex \(index)"
        guard address.isV4 else { throw NetlinkError(errno: EAFNOSUPPORT, operation: operation + " (not IPv4)") }
        // Protocol 0: this socket only sends, it never receives.
        let fd = try syscallRetrying(operation + ": socket") {
            socket(AF_PACKET, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        }
        defer { close(fd) }
        var to = sockaddr_ll()
        to.sll_family = UInt16(AF_PACKET)
        to.sll_protocol = UInt16(ETH_P_ARP).bigEndian
        to.sll_ifindex = index
        to.sll_halen = 6
        to.sll_addr = (0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0, 0)
        let packet = arpPacket(hardwareAddress: hardwareAddress, address: address)
        let sent = try syscallRetrying(operation) {
            packet.withUnsafeBytes { raw in
                withUnsafePointer(to: &to) { p in
                    p.withMemoryRebound(to: sockaddr.self, capacity: 1) { sa in
                        sendto(fd, raw.baseAddress, raw.count, 0, sa, socklen_t(MemoryLayout<sockaddr_ll>.size))
                    }
                }
            }
        }
        if sent != packet.count { throw NetlinkError(errno: EIO, operation: operation + " (short send)") }
    }

    /// Sends one unsolicited neighbour advertisement for `address` (ICMPv6 type 136, Override flag,
    /// target link-layer address option with `hardwareAddress`) from `address` to ff02::1 with hop
    /// limit 255, through a raw ICMPv6 socket whose multicast interface is `index`. The kernel fills in
    /// the checksum. `IPV6_FREEBIND` lets the source be an address still doing DAD.
    public static func unsolicitedNA(index: Int32, hardwareAddress: MACAddress, address: IPAddress) throws(NetlinkError) {
        let operation = "send unsolicited neighbour advertisement for \(address) on ifindex \(index)"
        guard !address.isV4 else { throw NetlinkError(errno: EAFNOSUPPORT, operation: operation + " (not IPv6)") }
        let fd = try syscallRetrying(operation + ": socket") {
            socket(AF_INET6, Int32(SOCK_RAW.rawValue) | Int32(SOCK_CLOEXEC.rawValue), Int32(IPPROTO_ICMPV6))
        }
        defer { close(fd) }
        try setIPv6Option(fd, IPV6_MULTICAST_HOPS, 255, operation)
        try setIPv6Option(fd, IPV6_UNICAST_HOPS, 255, operation)
        try setIPv6Option(fd, IPV6_MULTICAST_IF, index, operation)
        _ = try? setIPv6Option(fd, IPV6_FREEBIND, 1, operation)

        let linkLocal = address.bytes[0] == 0xfe && address.bytes[1] & 0xc0 == 0x80
        var from = socketAddress(address, scope: linkLocal ? UInt32(bitPattern: index) : 0)
        _ = try syscallRetrying(operation + ": bind to \(address)") {
            withUnsafePointer(to: &from) { p in
                p.withMemoryRebound(to: sockaddr.self, capacity: 1) { sa in
                    bind(fd, sa, socklen_t(MemoryLayout<sockaddr_in6>.size))
                }
            }
        }
        var to = socketAddress(.v6(high: 0xff02_0000_0000_0000, low: 1), scope: UInt32(bitPattern: index))
        let packet = neighborAdvertisement(hardwareAddress: hardwareAddress, target: address)
        let sent = try syscallRetrying(operation) {
            packet.withUnsafeBytes { raw in
                withUnsafePointer(to: &to) { p in
                    p.withMemoryRebound(to: sockaddr.self, capacity: 1) { sa in
                        sendto(fd, raw.baseAddress, raw.count, 0, sa, socklen_t(MemoryLayout<sockaddr_in6>.size))
                    }
                }
            }
        }
        if sent != packet.count { throw NetlinkError(errno: EIO, operation: operation + " (short send)") }
    }

    /// The 28-byte ARP body (after the Ethernet header) of a gratuitous ARP request.
    public static func arpPacket(hardwareAddress: MACAddress, address: IPAddress) -> [UInt8] {
        var p: [UInt8] = [
            0x00, 0x01,  // htype: Ethernet (ARPHRD_ETHER)
            0x08, 0x00,  // ptype: IPv4 (ETH_P_IP)
            6, 4,  // hlen, plen
            0x00, 0x01,  // ARPOP_REQUEST
        ]
        p += hardwareAddress.bytes  // sender MAC
        p += address.bytes  // sender IP
        p += [UInt8](repeating: 0, count: 6)  // target MAC
        p += address.bytes  // target IP
        return p
    }

    /// The 32-byte ICMPv6 body of an unsolicited neighbour advertisement, checksum left zero for the
    /// kernel: type 136, code 0, flags Override (R=0, S=0, O=1), target, option 2 (target link-layer
    /// address, length 1 = 8 bytes) with the MAC.
    public static func neighborAdvertisement(hardwareAddress: MACAddress, target: IPAddress) -> [UInt8] {
        var p: [UInt8] = [136, 0, 0, 0, 0x20, 0, 0, 0]
        p += target.bytes
        p += [2, 1]
        p += hardwareAddress.bytes
        return p
    }

    static func socketAddress(_ address: IPAddress, scope: UInt32) -> sockaddr_in6 {
        var sa = sockaddr_in6()
        sa.sin6_family = sa_family_t(AF_INET6)
        sa.sin6_scope_id = scope
        let bytes = address.bytes
        withUnsafeMutableBytes(of: &sa.sin6_addr) { raw in
            for i in 0..<16 { raw[i] = bytes[i] }
        }
        return sa
    }

    static func setIPv6Option(_ fd: Int32, _ option: Int32, _ value: Int32, _ operation: String) throws(NetlinkError) {
        var v = value
        _ = try syscallRetrying(operation + ": setsockopt \(option)") {
            setsockopt(fd, Int32(IPPROTO_IPV6), option, &v, socklen_t(MemoryLayout<Int32>.size))
        }
    }
}
