import CLibmnl
import Glibc
import NetTypes

/// An rtnetlink socket (libmnl `mnl_socket`), bound to the network namespace it was opened in.
///
/// Open one per namespace (`init(in:)`) and use it only there: later calls never switch namespaces.
/// Every request carries `NLM_F_ACK`; replies are checked against sequence number and port id by
/// `mnl_cb_run2`, with our own `NLMSG_ERROR`/`NLMSG_DONE` handlers so the kernel's extended-ack text
/// (`NETLINK_EXT_ACK`) reaches the thrown `NetlinkError`. Dumps interrupted by a concurrent change
/// (`NLM_F_DUMP_INTR`) are repeated. Not thread-safe: one thread at a time.
public struct RouteSocket: ~Copyable {
    /// Receive buffer size: 32 KiB, the most the kernel puts in one dump datagram.
    public static let receiveBufferSize = 32 * 1024
    static let maxDumpAttempts = 10

    private let socket: OpaquePointer
    private let portid: UInt32
    private let buffer: UnsafeMutableRawPointer
    private let state: UnsafeMutablePointer<SocketState>

    struct SocketState {
        var seq: UInt32
        /// A reply was not read to its end (an error mid-dump, an interrupted dump): discard what is
        /// queued before the next request.
        var needsDrain: Bool
        /// Dumps repeated because the kernel marked them `NLM_F_DUMP_INTR` (for tests and logs).
        var interruptedDumps: Int = 0
    }

    /// How many dumps this socket repeated because a concurrent change interrupted them.
    public var interruptedDumpCount: Int { state.pointee.interruptedDumps }

    /// Opens and binds a socket in the calling thread's current network namespace.
    public init() throws(NetlinkError) {
        guard let socket = mnl_socket_open2(NETLINK_ROUTE, Int32(SOCK_CLOEXEC.rawValue)) else {
            throw NetlinkError(errno: Glibc.errno, operation: "open rtnetlink socket")
        }
        var one: Int32 = 1
        // Both options are best effort: without them errors lose their text, nothing else.
        _ = mnl_socket_setsockopt(socket, NETLINK_EXT_ACK, &one, socklen_t(MemoryLayout<Int32>.size))
        _ = mnl_socket_setsockopt(socket, NETLINK_CAP_ACK, &one, socklen_t(MemoryLayout<Int32>.size))
        if mnl_socket_bind(socket, 0, pid_t(MNL_SOCKET_AUTOPID)) < 0 {
            let code = Glibc.errno
            mnl_socket_close(socket)
            throw NetlinkError(errno: code, operation: "bind rtnetlink socket")
        }
        self.socket = socket
        self.portid = mnl_socket_get_portid(socket)
        self.buffer = UnsafeMutableRawPointer.allocate(byteCount: RouteSocket.receiveBufferSize, alignment: 16)
        self.state = UnsafeMutablePointer<SocketState>.allocate(capacity: 1)
        self.state.initialize(to: SocketState(seq: UInt32.random(in: 1...0x3fff_ffff), needsDrain: false))
    }

    /// Opens the socket inside `ns`: `setns` there, open and bind, `setns` back. The socket stays in
    /// `ns` for its whole life.
    public init(in ns: borrowing NetNS) throws(NetlinkError) {
        let original = try NetNS.current()
        if cmnl_setns_net(ns.fd) != 0 {
            throw NetlinkError(errno: Glibc.errno, operation: "setns into network namespace (fd \(ns.fd))")
        }
        defer { original.switchBackOrDie() }
        try self.init()
    }

    deinit {
        mnl_socket_close(socket)
        buffer.deallocate()
        state.deinitialize(count: 1)
        state.deallocate()
    }

    // MARK: Links

    /// The link called `name`, or nil when there is none (ENODEV).
    public func link(named name: String) throws(NetlinkError) -> Link? {
        do {
            let replies = try transact("get link \"\(name)\"") { seq in NetlinkMessage.getLink(name: name, seq: seq) }
            return replies.lazy.compactMap(NetlinkMessage.parseLink).first
        } catch where error.errno == ENODEV {
            return nil
        }
    }

    /// The link with `index`, or nil when there is none (ENODEV).
    public func link(index: Int32) throws(NetlinkError) -> Link? {
        do {
            let replies = try transact("get link ifindex \(index)") { seq in NetlinkMessage.getLink(index: index, seq: seq) }
            return replies.lazy.compactMap(NetlinkMessage.parseLink).first
        } catch where error.errno == ENODEV {
            return nil
        }
    }

    /// Every link in the namespace (`RTM_GETLINK` dump).
    public func links() throws(NetlinkError) -> [Link] {
        try transact("list links", dump: true) { seq in NetlinkMessage.dumpLinks(seq: seq) }
            .compactMap(NetlinkMessage.parseLink)
    }

    /// Creates an ipvlan link on `parentIndex` (create + exclusive: EEXIST if the name is taken). With
    /// `namespaceFD` the link is created directly in that namespace.
    public func createIPVlan(
        name: String, parentIndex: Int32, mode: IPVlanMode, flag: IPVlanFlag, mtu: UInt32?, namespaceFD: Int32?
    ) throws(NetlinkError) {
        _ = try transact("create ipvlan \"\(name)\" on ifindex \(parentIndex)") { seq in
            NetlinkMessage.newIPVlan(
                name: name, parentIndex: parentIndex, mode: mode, flag: flag, mtu: mtu, namespaceFD: namespaceFD,
                seq: seq)
        }
    }

    /// Creates a veth pair `name` / `peerName`; with `peerNamespaceFD` the peer is created in that namespace.
    public func createVeth(name: String, peerName: String, peerNamespaceFD: Int32? = nil) throws(NetlinkError) {
        _ = try transact("create veth \"\(name)\" with peer \"\(peerName)\"") { seq in
            NetlinkMessage.newVeth(name: name, peerName: peerName, peerNamespaceFD: peerNamespaceFD, seq: seq)
        }
    }

    /// Creates a link of `kind` that needs no kind-specific attributes (bridge, dummy).
    public func createLink(name: String, kind: String) throws(NetlinkError) {
        _ = try transact("create \(kind) \"\(name)\"") { seq in
            NetlinkMessage.newLink(name: name, kind: kind, seq: seq)
        }
    }

    /// Deletes the link with `index` (ENODEV when there is none).
    public func deleteLink(index: Int32) throws(NetlinkError) {
        _ = try transact("delete link ifindex \(index)") { seq in NetlinkMessage.deleteLink(index: index, seq: seq) }
    }

    /// Applies `change` in one `RTM_NEWLINK`. The kernel moves namespaces first (renaming on arrival
    /// when `name` is set too), then sets address, MTU, name, alias and finally the up flag.
    public func setLink(index: Int32, _ change: LinkChange) throws(NetlinkError) {
        if change.isEmpty { return }
        _ = try transact("set link ifindex \(index) (\(RouteSocket.describe(change)))") { seq in
            NetlinkMessage.setLink(index: index, change, seq: seq)
        }
    }

    static func describe(_ change: LinkChange) -> String {
        var parts: [String] = []
        if let name = change.name { parts.append("name \"\(name)\"") }
        if let up = change.up { parts.append(up ? "up" : "down") }
        if let mtu = change.mtu { parts.append("mtu \(mtu)") }
        if let mac = change.hardwareAddress { parts.append("address \(mac)") }
        if let alias = change.alias { parts.append(alias.isEmpty ? "clear alias" : "alias \"\(alias)\"") }
        if let fd = change.namespaceFD { parts.append("netns fd \(fd)") }
        return parts.joined(separator: ", ")
    }

    // MARK: Addresses

    /// Adds `prefix` to `index` (EEXIST when present). `noDAD` skips IPv6 duplicate address detection,
    /// so the address is usable (bindable) at once.
    public func addAddress(_ prefix: IPPrefix, index: Int32, noDAD: Bool = false) throws(NetlinkError) {
        _ = try transact("add address \(prefix) on ifindex \(index)") { seq in
            NetlinkMessage.newAddress(prefix, index: index, noDAD: noDAD, seq: seq)
        }
    }

    /// Removes `prefix` from `index` (EADDRNOTAVAIL when absent).
    public func deleteAddress(_ prefix: IPPrefix, index: Int32) throws(NetlinkError) {
        _ = try transact("delete address \(prefix) from ifindex \(index)") { seq in
            NetlinkMessage.deleteAddress(prefix, index: index, seq: seq)
        }
    }

    /// IPv4 and IPv6 addresses, of one link when `index` is given.
    public func addresses(index: Int32? = nil) throws(NetlinkError) -> [InterfaceAddress] {
        try transact("list addresses", dump: true) { seq in NetlinkMessage.dumpAddresses(seq: seq) }
            .compactMap(NetlinkMessage.parseAddress)
            .filter { index == nil || $0.index == index }
    }

    // MARK: Routes

    /// Adds `route` (create + exclusive: EEXIST when an identical route exists), protocol boot, type unicast.
    public func addRoute(_ route: Route) throws(NetlinkError) {
        let operation = "add route \(RouteSocket.describe(route))"
        try RouteSocket.validate(route, operation)
        _ = try transact(operation) { seq in NetlinkMessage.newRoute(route, seq: seq) }
    }

    /// Deletes the route matching `route` (ESRCH when none matches). Unset fields match anything.
    public func deleteRoute(_ route: Route) throws(NetlinkError) {
        let operation = "delete route \(RouteSocket.describe(route))"
        try RouteSocket.validate(route, operation)
        _ = try transact(operation) { seq in NetlinkMessage.deleteRoute(route, seq: seq) }
    }

    /// Unicast IPv4 and IPv6 routes of one table (main when nil); local, broadcast, multicast,
    /// unreachable-type entries and cached clones are left out.
    public func routes(table: UInt32? = nil) throws(NetlinkError) -> [Route] {
        let wanted = table ?? UInt32(RT_TABLE_MAIN.rawValue)
        return try routeEntries()
            .filter { $0.table == wanted && $0.type == UInt8(RTN_UNICAST) && $0.flags & UInt32(RTM_F_CLONED) == 0 }
            .map(\.route)
    }

    /// Every route message of every table and family, with the header fields `routes(table:)` filters on.
    public func routeEntries() throws(NetlinkError) -> [NetlinkMessage.RouteEntry] {
        try transact("list routes", dump: true) { seq in NetlinkMessage.dumpRoutes(seq: seq) }
            .compactMap(NetlinkMessage.parseRoute)
    }

    static func validate(_ route: Route, _ operation: String) throws(NetlinkError) {
        let v4 = route.destination.address.isV4
        if let gateway = route.gateway, gateway.isV4 != v4 {
            throw NetlinkError(errno: EINVAL, operation: operation + " (gateway family differs from destination)")
        }
        if let source = route.source, source.isV4 != v4 {
            throw NetlinkError(errno: EINVAL, operation: operation + " (source family differs from destination)")
        }
    }

    static func describe(_ route: Route) -> String {
        var text = route.destination.description
        if let gateway = route.gateway { text += " via \(gateway)" }
        if let oif = route.outputIndex { text += " dev ifindex \(oif)" }
        if let table = route.table { text += " table \(table)" }
        if let priority = route.priority { text += " metric \(priority)" }
        if let source = route.source { text += " src \(source)" }
        return text
    }

    // MARK: Request / reply

    /// Sends the request `build(seq)` makes and collects the data messages of the reply up to the ack
    /// (or `NLMSG_DONE` for a dump). Throws the kernel's error with its extended ack.
    func transact(
        _ operation: @autoclosure () -> String, dump: Bool = false, _ build: (UInt32) -> [UInt8]
    ) throws(NetlinkError) -> [[UInt8]] {
        var attempt = 0
        while true {
            attempt += 1
            state.pointee.seq &+= 1
            let seq = state.pointee.seq
            if let replies = try exchange(build(seq), seq: seq, dump: dump, operation) {
                return replies
            }
            state.pointee.interruptedDumps += 1
            if attempt >= RouteSocket.maxDumpAttempts {
                throw NetlinkError(
                    errno: EAGAIN, operation: operation() + " (dump interrupted \(attempt) times by concurrent changes)")
            }
        }
    }

    /// One request and its reply; nil when a dump came back marked `NLM_F_DUMP_INTR`.
    private func exchange(
        _ request: [UInt8], seq: UInt32, dump: Bool, _ operation: () -> String
    ) throws(NetlinkError) -> [[UInt8]]? {
        if state.pointee.needsDrain { drain() }
        let sent = try syscallRetrying("\(operation()): send") {
            request.withUnsafeBytes { raw in mnl_socket_sendto(socket, raw.baseAddress, raw.count) }
        }
        if sent != request.count {
            throw NetlinkError(errno: EMSGSIZE, operation: "\(operation()): short send")
        }
        state.pointee.needsDrain = true
        let context = ReceiveContext()
        let contextPointer = Unmanaged.passUnretained(context).toOpaque()
        var control: [mnl_cb_t?] = [
            nil,                            // 0: unused
            { _, _ in MNL_CB_OK },          // NLMSG_NOOP
            ReceiveContext.onError,         // NLMSG_ERROR
            ReceiveContext.onDone,          // NLMSG_DONE
            ReceiveContext.onOverrun,       // NLMSG_OVERRUN
        ]
        while true {
            let received = try syscallRetrying("\(operation()): receive") {
                mnl_socket_recvfrom(socket, buffer, RouteSocket.receiveBufferSize)
            }
            let result = withExtendedLifetime(context) {
                mnl_cb_run2(
                    buffer, received, seq, portid, ReceiveContext.onData, contextPointer, &control,
                    UInt32(control.count))
            }
            if result == MNL_CB_OK { continue }
            if result == MNL_CB_STOP {
                state.pointee.needsDrain = false
                return context.interrupted && dump ? nil : context.messages
            }
            if let code = context.errorCode {
                // NLMSG_ERROR / NLMSG_DONE end the reply: nothing is left queued.
                state.pointee.needsDrain = false
                throw NetlinkError(errno: code, operation: operation(), extAck: context.extAck)
            }
            let code = Glibc.errno
            if code == EINTR && dump {
                // libmnl versions that check NLM_F_DUMP_INTR stop at the first marked message; the
                // rest of the dump is drained before the next request.
                return nil
            }
            throw NetlinkError(errno: code, operation: "\(operation()): reply")
        }
    }

    /// Discards whatever is queued on the socket (the remains of an abandoned reply).
    private func drain() {
        let fd = mnl_socket_get_fd(socket)
        while true {
            let n = recv(fd, buffer, RouteSocket.receiveBufferSize, Int32(MSG_DONTWAIT))
            if n > 0 || (n < 0 && Glibc.errno == EINTR) { continue }
            break
        }
        state.pointee.needsDrain = false
    }
}

/// What the libmnl callbacks collect for one reply. Passed to them as the `data` pointer.
final class ReceiveContext {
    var messages: [[UInt8]] = []
    var errorCode: Int32?
    var extAck: String?
    /// A message carried `NLM_F_DUMP_INTR`: the dump may be inconsistent and is repeated.
    var interrupted = false

    static func from(_ data: UnsafeMutableRawPointer?) -> ReceiveContext {
        Unmanaged<ReceiveContext>.fromOpaque(data!).takeUnretainedValue()
    }

    static func bytes(_ nlh: UnsafePointer<nlmsghdr>?) -> [UInt8] {
        guard let nlh else { return [] }
        return Array(UnsafeRawBufferPointer(start: nlh, count: Int(nlh.pointee.nlmsg_len)))
    }

    static let onData: mnl_cb_t = { nlh, data in
        let context = ReceiveContext.from(data)
        if let nlh, Int32(nlh.pointee.nlmsg_flags) & NLM_F_DUMP_INTR != 0 { context.interrupted = true }
        context.messages.append(ReceiveContext.bytes(nlh))
        return MNL_CB_OK
    }

    /// `NLMSG_ERROR`: error 0 is the ack that ends the reply; anything else is the request's failure,
    /// with the extended-ack TLVs that libmnl 1.0.4's own handler would drop.
    static let onError: mnl_cb_t = { nlh, data in
        let context = ReceiveContext.from(data)
        guard let (code, extAck) = NetlinkMessage.parseError(ReceiveContext.bytes(nlh)) else {
            context.errorCode = EBADMSG
            return MNL_CB_ERROR
        }
        if code == 0 { return MNL_CB_STOP }
        context.errorCode = code
        context.extAck = extAck
        return MNL_CB_ERROR
    }

    /// `NLMSG_DONE`: ends a dump; a negative error int in it means the dump failed part way.
    static let onDone: mnl_cb_t = { nlh, data in
        let context = ReceiveContext.from(data)
        if let nlh, Int32(nlh.pointee.nlmsg_flags) & NLM_F_DUMP_INTR != 0 { context.interrupted = true }
        if let (code, extAck) = NetlinkMessage.parseError(ReceiveContext.bytes(nlh)), code != 0 {
            context.errorCode = code
            context.extAck = extAck
            return MNL_CB_ERROR
        }
        return MNL_CB_STOP
    }

    static let onOverrun: mnl_cb_t = { _, data in
        ReceiveContext.from(data).errorCode = EOVERFLOW
        return MNL_CB_ERROR
    }
}
