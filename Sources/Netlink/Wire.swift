import CLibmnl
import Glibc
import NetTypes

/// Builds one netlink request in a buffer it owns, with libmnl's `mnl_nlmsg_put_header`,
/// `mnl_nlmsg_put_extra_header`, `mnl_attr_put*` and `mnl_attr_nest_start/end`.
/// The buffer is sized by the caller from the variable-length parts, so the unchecked puts cannot overflow.
struct MessageWriter: ~Copyable {
    private let buffer: UnsafeMutableRawPointer
    private let nlh: UnsafeMutablePointer<nlmsghdr>

    /// - Parameter extra: bytes of variable-length data (names, aliases) the message will carry.
    init(type: UInt16, flags: UInt16, seq: UInt32, extra: Int = 0) {
        let capacity = 1024 + 4 * extra
        buffer = UnsafeMutableRawPointer.allocate(byteCount: capacity, alignment: 16)
        buffer.initializeMemory(as: UInt8.self, repeating: 0, count: capacity)
        nlh = mnl_nlmsg_put_header(buffer)
        nlh.pointee.nlmsg_type = type
        nlh.pointee.nlmsg_flags = flags
        nlh.pointee.nlmsg_seq = seq
        nlh.pointee.nlmsg_pid = 0
    }

    deinit { buffer.deallocate() }

    /// Appends the family header (`ifinfomsg`, `ifaddrmsg`, `rtmsg`), aligned, zero padded.
    func putHeader<T>(_ value: T) {
        let p = mnl_nlmsg_put_extra_header(nlh, MemoryLayout<T>.size)!
        p.withMemoryRebound(to: UInt8.self, capacity: MemoryLayout<T>.size) { dst in
            withUnsafeBytes(of: value) { src in
                for i in 0..<src.count { dst[i] = src[i] }
            }
        }
    }

    func put(_ type: some BinaryInteger, u8 value: UInt8) { mnl_attr_put_u8(nlh, UInt16(type), value) }
    func put(_ type: some BinaryInteger, u16 value: UInt16) { mnl_attr_put_u16(nlh, UInt16(type), value) }
    func put(_ type: some BinaryInteger, u32 value: UInt32) { mnl_attr_put_u32(nlh, UInt16(type), value) }
    /// A string with its terminating NUL (`IFLA_IFNAME`).
    func put(_ type: some BinaryInteger, cString value: String) { mnl_attr_put_strz(nlh, UInt16(type), value) }
    /// A string without NUL (`IFLA_INFO_KIND`, `IFLA_IFALIAS`); `""` is a zero-length attribute.
    func put(_ type: some BinaryInteger, string value: String) {
        let bytes = Array(value.utf8)
        bytes.withUnsafeBytes { raw in mnl_attr_put(nlh, UInt16(type), raw.count, raw.baseAddress) }
    }
    func put(_ type: some BinaryInteger, bytes: [UInt8]) {
        bytes.withUnsafeBytes { raw in mnl_attr_put(nlh, UInt16(type), raw.count, raw.baseAddress) }
    }
    func put(_ type: some BinaryInteger, address: IPAddress) { put(type, bytes: address.bytes) }

    /// A nested attribute (`NLA_F_NESTED` set, as libmnl does).
    func nest(_ type: some BinaryInteger, _ body: () -> Void) {
        let start = mnl_attr_nest_start(nlh, UInt16(type))
        body()
        mnl_attr_nest_end(nlh, start)
    }

    /// A nested attribute whose payload begins with a family header (`VETH_INFO_PEER` carries an
    /// `ifinfomsg` followed by attributes).
    func nest<T>(_ type: some BinaryInteger, header: T, _ body: () -> Void) {
        let start = mnl_attr_nest_start(nlh, UInt16(type))!
        let size = Int(cmnl_align(MemoryLayout<T>.size))
        let tail = UnsafeMutableRawPointer(mnl_nlmsg_get_payload_tail(nlh))!
        tail.initializeMemory(as: UInt8.self, repeating: 0, count: size)
        withUnsafeBytes(of: header) { src in tail.copyMemory(from: src.baseAddress!, byteCount: src.count) }
        nlh.pointee.nlmsg_len += UInt32(size)
        body()
        mnl_attr_nest_end(nlh, start)
    }

    consuming func finish() -> [UInt8] {
        Array(UnsafeRawBufferPointer(start: buffer, count: Int(nlh.pointee.nlmsg_len)))
    }
}

/// The attributes of one message or nest, by type (the last one wins; flags masked off).
struct Attributes {
    var values: [UInt16: [UInt8]] = [:]

    init() {}

    /// Walks the attributes in `raw` with `mnl_attr_ok`/`mnl_attr_next`. `raw` must start 4-byte aligned.
    init(_ raw: UnsafeRawBufferPointer) {
        guard let base = raw.baseAddress, raw.count >= 4 else { return }
        var attr = base.assumingMemoryBound(to: nlattr.self)
        let end = base + raw.count
        while mnl_attr_ok(attr, Int32(end - UnsafeRawPointer(attr))) {
            let type = mnl_attr_get_type(attr)
            let length = Int(mnl_attr_get_payload_len(attr))
            let payload = UnsafeRawPointer(mnl_attr_get_payload(attr))!
            values[type] = Array(UnsafeRawBufferPointer(start: payload, count: length))
            guard let next = mnl_attr_next(attr) else { break }
            attr = UnsafePointer(next)
        }
    }

    /// The attributes following a family header of `headerSize` bytes in one whole netlink message.
    init(message: [UInt8], headerSize: Int) {
        let start = 16 + Int(cmnl_align(headerSize))
        guard message.count >= start else { self.init(); return }
        let length = min(message.count, Int(message.hostU32(at: 0)))
        self.init(bytes: Array(message[start..<max(start, length)]))
    }

    init(bytes: [UInt8]) {
        var out = Attributes()
        bytes.withUnsafeBytes { raw in out = Attributes(raw) }
        self = out
    }

    subscript(_ type: some BinaryInteger) -> [UInt8]? { values[UInt16(type)] }

    func u8(_ type: some BinaryInteger) -> UInt8? {
        guard let v = self[type], v.count >= 1 else { return nil }
        return v[0]
    }
    func u16(_ type: some BinaryInteger) -> UInt16? {
        guard let v = self[type], v.count >= 2 else { return nil }
        return UInt16(v[0]) | UInt16(v[1]) << 8
    }
    func u32(_ type: some BinaryInteger) -> UInt32? {
        guard let v = self[type], v.count >= 4 else { return nil }
        return v.hostU32(at: 0)
    }
    /// A string up to the first NUL (attributes may or may not carry one).
    func string(_ type: some BinaryInteger) -> String? {
        guard let v = self[type] else { return nil }
        let body = v.prefix { $0 != 0 }
        return String(decoding: body, as: UTF8.self)
    }
    func nested(_ type: some BinaryInteger) -> Attributes? {
        guard let v = self[type] else { return nil }
        return Attributes(bytes: v)
    }
    func address(_ type: some BinaryInteger) -> IPAddress? {
        guard let v = self[type] else { return nil }
        return IPAddress(bytes: v)
    }
}

extension Array where Element == UInt8 {
    /// A host-byte-order u32 at `offset` (netlink integers are host order).
    func hostU32(at offset: Int) -> UInt32 {
        withUnsafeBytes { $0.loadUnaligned(fromByteOffset: offset, as: UInt32.self) }
    }
    func hostU16(at offset: Int) -> UInt16 {
        withUnsafeBytes { $0.loadUnaligned(fromByteOffset: offset, as: UInt16.self) }
    }
}
