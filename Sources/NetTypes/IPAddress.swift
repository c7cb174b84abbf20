/// An IPv4 or IPv6 address as a value. Parsing is strict (no zone ids, no leading-zero octets).
public enum IPAddress: Hashable, Sendable, Comparable, CustomStringConvertible {
    case v4(UInt32)
    /// Network byte order: `high` holds bytes 0...7, `low` bytes 8...15.
    case v6(high: UInt64, low: UInt64)

    public var isV4: Bool { if case .v4 = self { return true } else { return false } }
    /// 4 for IPv4, 6 for IPv6 (what CNI 0.3.x/0.4.0 results print as `ips[].version`).
    public var version: Int { isV4 ? 4 : 6 }
    public var bitWidth: Int { isV4 ? 32 : 128 }

    /// The address in network byte order (4 or 16 bytes).
    public var bytes: [UInt8] {
        switch self {
        case .v4(let v):
            return [UInt8(v >> 24), UInt8((v >> 16) & 0xff), UInt8((v >> 8) & 0xff), UInt8(v & 0xff)]
        case .v6(let hi, let lo):
            var out = [UInt8](repeating: 0, count: 16)
            for i in 0..<8 {
                out[i] = UInt8((hi >> (56 - 8 * UInt64(i))) & 0xff)
                out[8 + i] = UInt8((lo >> (56 - 8 * UInt64(i))) & 0xff)
            }
            return out
        }
    }

    public init?(bytes: [UInt8]) {
        if bytes.count == 4 {
            self = .v4(UInt32(bytes[0]) << 24 | UInt32(bytes[1]) << 16 | UInt32(bytes[2]) << 8 | UInt32(bytes[3]))
        } else if bytes.count == 16 {
            var hi: UInt64 = 0, lo: UInt64 = 0
            for i in 0..<8 {
                hi = hi << 8 | UInt64(bytes[i])
                lo = lo << 8 | UInt64(bytes[8 + i])
            }
            self = .v6(high: hi, low: lo)
        } else {
            return nil
        }
    }

    /// Parses dotted-quad IPv4 or RFC 4291 IPv6 text (including `::` and an embedded dotted quad).
    public init?(_ text: some StringProtocol) {
        let s = String(text)
        if s.contains(":") {
            guard let v = IPAddress.parseV6(Array(s.utf8)) else { return nil }
            self = v
        } else {
            guard let v = IPAddress.parseV4(Array(s.utf8)) else { return nil }
            self = .v4(v)
        }
    }

    static func parseV4(_ u: [UInt8]) -> UInt32? {
        var result: UInt32 = 0
        var octets = 0
        var i = 0
        while i <= u.count {
            var value: UInt32 = 0
            var digits = 0
            let start = i
            while i < u.count, u[i] >= 48, u[i] <= 57 {
                value = value * 10 + UInt32(u[i] - 48)
                digits += 1
                i += 1
                if digits > 3 { return nil }
            }
            if digits == 0 || value > 255 { return nil }
            if digits > 1 && u[start] == 48 { return nil }
            result = result << 8 | value
            octets += 1
            if i == u.count { break }
            if u[i] != 46 || octets == 4 { return nil }
            i += 1
        }
        return octets == 4 ? result : nil
    }

    static func parseV6(_ u: [UInt8]) -> IPAddress? {
        if u.isEmpty || u.count > 45 { return nil }
        var groups: [UInt16] = []
        var gapAt: Int? = nil
        var i = 0
        if u.count >= 2 && u[0] == 58 && u[1] == 58 {
            gapAt = 0
            i = 2
            if i == u.count { return .v6(high: 0, low: 0) }
        } else if u[0] == 58 {
            return nil
        }
        while i < u.count {
            // Embedded IPv4 in the last 32 bits.
            var j = i
            while j < u.count, u[j] != 58 { j += 1 }
            let piece = Array(u[i..<j])
            if j == u.count && piece.contains(46) {
                guard let v4 = parseV4(piece) else { return nil }
                groups.append(UInt16(v4 >> 16))
                groups.append(UInt16(v4 & 0xffff))
                i = j
                break
            }
            if piece.isEmpty || piece.count > 4 { return nil }
            var value: UInt16 = 0
            for c in piece {
                guard let h = hexValue(c) else { return nil }
                value = value << 4 | UInt16(h)
            }
            groups.append(value)
            i = j
            if i == u.count { break }
            // u[i] == ':'
            i += 1
            if i < u.count && u[i] == 58 {
                if gapAt != nil { return nil }
                gapAt = groups.count
                i += 1
                if i == u.count { break }
            } else if i == u.count {
                return nil
            }
        }
        if let gap = gapAt {
            if groups.count > 7 { return nil }
            let fill = [UInt16](repeating: 0, count: 8 - groups.count)
            groups.insert(contentsOf: fill, at: gap)
        }
        guard groups.count == 8 else { return nil }
        var hi: UInt64 = 0, lo: UInt64 = 0
        for k in 0..<4 { hi = hi << 16 | UInt64(groups[k]) }
        for k in 4..<8 { lo = lo << 16 | UInt64(groups[k]) }
        return .v6(high: hi, low: lo)
    }

    private static func hexValue(_ c: UInt8) -> UInt8? {
        switch c {
        case 48...57: return c - 48
        case 65...70: return c - 55
        case 97...102: return c - 87
        default: return nil
        }
    }

    /// Canonical text: dotted quad, or RFC 5952 IPv6 (lower case, longest zero run compressed).
    public var description: String {
        switch self {
        case .v4(let v):
            return "\(v >> 24).\((v >> 16) & 0xff).\((v >> 8) & 0xff).\(v & 0xff)"
        case .v6(let hi, let lo):
            var g = [UInt16](repeating: 0, count: 8)
            for k in 0..<4 {
                g[k] = UInt16((hi >> (48 - 16 * UInt64(k))) & 0xffff)
                g[4 + k] = UInt16((lo >> (48 - 16 * UInt64(k))) & 0xffff)
            }
            var bestStart = -1, bestLen = 0, curStart = -1, curLen = 0
            for k in 0..<8 {
                if g[k] == 0 {
                    if curStart < 0 { curStart = k; curLen = 0 }
                    curLen += 1
                    if curLen > bestLen { bestStart = curStart; bestLen = curLen }
                } else {
                    curStart = -1
                }
            }
            if bestLen < 2 { bestStart = -1 }
            var out = ""
            var k = 0
            while k < 8 {
                if k == bestStart {
                    out += "::"
                    k += bestLen
                    continue
                }
                if !out.isEmpty && !out.hasSuffix(":") { out += ":" }
                out += String(g[k], radix: 16)
                k += 1
            }
            return out
        }
    }

    public static func < (a: IPAddress, b: IPAddress) -> Bool {
        switch (a, b) {
        case (.v4(let x), .v4(let y)): return x < y
        case (.v4, .v6): return true
        case (.v6, .v4): return false
        case (.v6(let ah, let al), .v6(let bh, let bl)): return ah < bh || (ah == bh && al < bl)
        }
    }

    /// The address `n` positions further on (wrapping within the family's width).
    public func advanced(by n: Int64) -> IPAddress {
        switch self {
        case .v4(let v):
            return .v4(UInt32(truncatingIfNeeded: Int64(v) &+ n))
        case .v6(let hi, let lo):
            if n >= 0 {
                let (nl, o) = lo.addingReportingOverflow(UInt64(n))
                return .v6(high: o ? hi &+ 1 : hi, low: nl)
            } else {
                let (nl, o) = lo.subtractingReportingOverflow(UInt64(-n))
                return .v6(high: o ? hi &- 1 : hi, low: nl)
            }
        }
    }

    public func next() -> IPAddress { advanced(by: 1) }
    public func previous() -> IPAddress { advanced(by: -1) }

    /// Number of addresses from `self` to `other` inclusive, saturated at `Int64.max`.
    public func distance(to other: IPAddress) -> Int64 {
        switch (self, other) {
        case (.v4(let a), .v4(let b)): return Int64(b) - Int64(a)
        case (.v6(let ah, let al), .v6(let bh, let bl)):
            if ah == bh { return bl >= al ? Int64(clamping: bl - al) : -Int64(clamping: al - bl) }
            return bh > ah ? Int64.max : Int64.min
        default: return Int64.max
        }
    }
}

/// An address with a prefix length, e.g. `10.0.0.5/24`. The address part keeps its host bits.
public struct IPPrefix: Hashable, Sendable, CustomStringConvertible {
    public var address: IPAddress
    public var length: Int

    public init?(address: IPAddress, length: Int) {
        guard length >= 0, length <= address.bitWidth else { return nil }
        self.address = address
        self.length = length
    }

    /// Parses `ADDR/LEN`. `LEN` is required.
    public init?(_ text: some StringProtocol) {
        let s = String(text)
        guard let slash = s.firstIndex(of: "/") else { return nil }
        guard let a = IPAddress(s[..<slash]) else { return nil }
        let lenText = s[s.index(after: slash)...]
        guard !lenText.isEmpty, lenText.count <= 3, lenText.allSatisfy({ $0.isASCII && $0.isNumber }),
              let len = Int(lenText), !(lenText.count > 1 && lenText.first == "0") else { return nil }
        self.init(address: a, length: len)
    }

    public var description: String { "\(address)/\(length)" }

    /// The prefix with host bits cleared.
    public var network: IPPrefix { IPPrefix(address: networkAddress, length: length)! }

    public var networkAddress: IPAddress {
        switch address {
        case .v4(let v):
            let mask: UInt32 = length == 0 ? 0 : ~UInt32(0) << UInt32(32 - length)
            return .v4(v & mask)
        case .v6(let hi, let lo):
            let (mh, ml) = IPPrefix.v6Mask(length)
            return .v6(high: hi & mh, low: lo & ml)
        }
    }

    /// The last address in the prefix (the broadcast address for IPv4).
    public var lastAddress: IPAddress {
        switch address {
        case .v4(let v):
            let mask: UInt32 = length == 0 ? 0 : ~UInt32(0) << UInt32(32 - length)
            return .v4(v | ~mask)
        case .v6(let hi, let lo):
            let (mh, ml) = IPPrefix.v6Mask(length)
            return .v6(high: hi | ~mh, low: lo | ~ml)
        }
    }

    static func v6Mask(_ length: Int) -> (UInt64, UInt64) {
        let mh: UInt64 = length == 0 ? 0 : (length >= 64 ? ~0 : ~UInt64(0) << UInt64(64 - length))
        let ml: UInt64 = length <= 64 ? 0 : (length >= 128 ? ~0 : ~UInt64(0) << UInt64(128 - length))
        return (mh, ml)
    }

    public func contains(_ a: IPAddress) -> Bool {
        guard a.isV4 == address.isV4 else { return false }
        return IPPrefix(address: a, length: length)!.networkAddress == networkAddress
    }

    public func overlaps(_ other: IPPrefix) -> Bool {
        contains(other.networkAddress) || other.contains(networkAddress)
    }

    /// True for a /32 (IPv4) or /128 (IPv6): a single address.
    public var isHostPrefix: Bool { length == address.bitWidth }
}

/// A 6-byte Ethernet hardware address.
public struct MACAddress: Hashable, Sendable, CustomStringConvertible {
    public var bytes: [UInt8]

    public init?(bytes: [UInt8]) {
        guard bytes.count == 6 else { return nil }
        self.bytes = bytes
    }

    /// Parses `aa:bb:cc:dd:ee:ff` or `aa-bb-cc-dd-ee-ff` (either case).
    public init?(_ text: some StringProtocol) {
        let s = String(text)
        let sep: Character = s.contains("-") ? "-" : ":"
        let parts = s.split(separator: sep, omittingEmptySubsequences: false)
        guard parts.count == 6 else { return nil }
        var out: [UInt8] = []
        for p in parts {
            guard p.utf8.count == 2, p.utf8.allSatisfy({ ($0 >= 48 && $0 <= 57) || ($0 >= 65 && $0 <= 70) || ($0 >= 97 && $0 <= 102) }),
                  let b = UInt8(p, radix: 16) else { return nil }
            out.append(b)
        }
        bytes = out
    }

    public var description: String {
        bytes.map { b in
            let h = String(b, radix: 16)
            return h.count == 1 ? "0" + h : h
        }.joined(separator: ":")
    }
}
