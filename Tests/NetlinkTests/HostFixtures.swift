import Glibc
import NetTypes
import Testing

import Netlink

let isRoot = getuid() == 0

/// A fresh anonymous namespace holding veth pair `a` / `b` (both down). Everything in it vanishes when
/// the namespace descriptor closes at the end, so nothing is left on the host.
func withVethNamespace<R>(
    _ a: String = "nlt-a", _ b: String = "nlt-b",
    _ body: (borrowing NetNS, borrowing RouteSocket, Link, Link) throws -> R
) throws -> R {
    let ns = try NetNS.createAnonymous()
    let socket = try RouteSocket(in: ns)
    try socket.createVeth(name: a, peerName: b)
    let linkA = try #require(try socket.link(named: a))
    let linkB = try #require(try socket.link(named: b))
    return try body(ns, socket, linkA, linkB)
}

/// Both ends up, so the pair carries traffic.
func bringUp(_ socket: borrowing RouteSocket, _ links: Link...) throws {
    for link in links { try socket.setLink(index: link.index, LinkChange(up: true)) }
}

/// Waits (up to 2 s) until the kernel's link watch reports the link running: frames sent before its qdisc is
/// activated are dropped.
func waitRunning(_ socket: borrowing RouteSocket, _ link: Link) throws {
    for _ in 0..<400 {
        if let l = try socket.link(index: link.index), l.flags & UInt32(IFF_RUNNING) != 0 { return }
        usleep(5_000)
    }
}

/// Runs `body` and returns the NetlinkError it throws (recording an issue when it does not throw).
func expectNetlinkError(
    _ comment: String, sourceLocation: SourceLocation = #_sourceLocation, _ body: () throws -> Void
) -> NetlinkError? {
    do {
        try body()
        Issue.record("expected an error: \(comment)", sourceLocation: sourceLocation)
        return nil
    } catch let error as NetlinkError {
        return error
    } catch {
        Issue.record("expected a NetlinkError, got \(error): \(comment)", sourceLocation: sourceLocation)
        return nil
    }
}

/// An `AF_PACKET`/`SOCK_RAW` socket bound to `index` for `ethertype`, in the calling thread's netns,
/// with a 2 s receive timeout.
func openCapture(index: Int32, ethertype: UInt16) throws -> Int32 {
    let fd = socket(AF_PACKET, Int32(SOCK_RAW.rawValue) | Int32(SOCK_CLOEXEC.rawValue), Int32(ethertype.bigEndian))
    try #require(fd >= 0, "AF_PACKET socket: errno \(errno)")
    var sll = [UInt8](repeating: 0, count: 20)  // struct sockaddr_ll
    sll[0] = UInt8(AF_PACKET & 0xff); sll[1] = 0
    sll[2] = UInt8(ethertype >> 8); sll[3] = UInt8(ethertype & 0xff)  // network order
    withUnsafeBytes(of: index.littleEndian) { for i in 0..<4 { sll[4 + i] = $0[i] } }
    let rc = sll.withUnsafeBytes { raw in
        bind(fd, raw.baseAddress!.assumingMemoryBound(to: sockaddr.self), 20)
    }
    try #require(rc == 0, "bind AF_PACKET: errno \(errno)")
    var tv = timeval(tv_sec: 2, tv_usec: 0)
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
    return fd
}

/// Reads frames until `match` accepts one (returned) or `limit` frames / the timeout pass (nil).
func receiveFrame(_ fd: Int32, limit: Int = 50, where match: ([UInt8]) -> Bool) -> [UInt8]? {
    var buffer = [UInt8](repeating: 0, count: 2048)
    for _ in 0..<limit {
        let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
        if n < 0 { if errno == EINTR { continue } else { return nil } }
        let frame = Array(buffer[0..<n])
        if match(frame) { return frame }
    }
    return nil
}

/// The ICMPv6 checksum over the IPv6 pseudo-header; 0 for a correct packet.
func icmpv6ChecksumResidue(source: [UInt8], destination: [UInt8], body: [UInt8]) -> UInt16 {
    var data = source + destination
    data += [UInt8((body.count >> 24) & 0xff), UInt8((body.count >> 16) & 0xff), UInt8((body.count >> 8) & 0xff), UInt8(body.count & 0xff)]
    data += [0, 0, 0, 58] + body
    if data.count % 2 == 1 { data.append(0) }
    var sum: UInt32 = 0
    for i in stride(from: 0, to: data.count, by: 2) { sum += UInt32(data[i]) << 8 | UInt32(data[i + 1]) }
    while sum > 0xffff { sum = (sum & 0xffff) + (sum >> 16) }
    return ~UInt16(sum)
}
