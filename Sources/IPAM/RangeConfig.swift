import CNI
import JSON
import NetTypes
import NodeState
import Platform

/// One host-local-compatible range: `subnet`, optional `rangeStart`, `rangeEnd`, `gateway`.
public struct IPRange: Sendable, Equatable {
    public var subnet: IPPrefix        // network address, host bits clear
    public var rangeStart: IPAddress
    public var rangeEnd: IPAddress
    public var gateway: IPAddress?

    public init(subnet: IPPrefix, rangeStart: IPAddress, rangeEnd: IPAddress, gateway: IPAddress?) {
        self.subnet = subnet
        self.rangeStart = rangeStart
        self.rangeEnd = rangeEnd
        self.gateway = gateway
    }

    public func contains(_ a: IPAddress) -> Bool {
        subnet.contains(a) && rangeStart <= a && a <= rangeEnd
    }

    /// Addresses this range may hand out: inside start...end, never the network address, the IPv4 broadcast
    /// address or the gateway.
    public func isAssignable(_ a: IPAddress) -> Bool {
        guard contains(a) else { return false }
        if a == subnet.networkAddress || a == gateway { return false }
        if a.isV4 && a == subnet.lastAddress { return false }
        return true
    }

    /// Number of addresses in start...end (saturated).
    public var size: Int64 {
        let d = rangeStart.distance(to: rangeEnd)
        return d == Int64.max ? d : d + 1
    }
}

/// A set of ranges of one family; an attachment gets one address from each set.
public struct RangeSet: Sendable, Equatable {
    public var ranges: [IPRange]
    public init(ranges: [IPRange]) { self.ranges = ranges }
    public var isV4: Bool { ranges[0].subnet.address.isV4 }

    public func range(containing a: IPAddress) -> IPRange? { ranges.first { $0.contains(a) } }
}

/// `"ipam": {"type": "eni-multus", …}`: the built-in IPAM's configuration.
public struct IPAMConfig: Sendable {
    /// `ranges`: host-local-style ranges from the config. `ec2`: EC2 chooses each address on the selected ENI.
    /// `prefix`: the node holds /28 (IPv4) and /80 (IPv6) prefixes on the ENI and allocates from them locally.
    public enum Mode: String, Sendable, CaseIterable { case ranges, ec2, prefix }
    public enum Family: String, Sendable {
        case ipv4, ipv6
        public var isV4: Bool { self == .ipv4 }
        public var label: String { isV4 ? "IPv4" : "IPv6" }
    }
    public static let defaultCooldownSeconds = 30

    public var mode: Mode
    public var rangeSets: [RangeSet]
    public var routes: [CNIResult.Route]
    public var dataDir: String
    /// A released address is not handed out again for this long (stale ARP and conntrack entries elsewhere).
    public var cooldownSeconds: Int
    /// `ec2`/`prefix`: the families each attachment gets an address of (`"families"`, default `["ipv4"]`).
    public var families: [Family]
    /// `ec2`/`prefix`: the IPv4 gateway (default: the ENI subnet's base + 1) and IPv6 gateway (default: the
    /// subnet's `::1`, the VPC router).
    public var gateway: IPAddress?
    public var gateway6: IPAddress?
    /// `prefix`: free addresses to keep on hand (`warmAddresses`, default 0: grow only when full). `ec2`: addresses
    /// assigned to the ENI and owned by no attachment, kept per family so that an ADD makes no EC2 call.
    public var warmAddresses: Int
    /// `ec2`: addresses per family the ENI keeps assigned at least, live plus warm (`minimumAddresses`, default 0).
    public var minimumAddresses: Int
    /// `prefix`: a prefix that has held no address for this long is returned to EC2 (`prefixReleaseSeconds`).
    public var prefixReleaseSeconds: Int
    /// `ec2`/`prefix`: an address or prefix on our ENI that no reservation of this node owns is unassigned by
    /// GC/reconcile once it has been seen unowned for this long (`reconcileGraceSeconds`).
    public var reconcileGraceSeconds: Int

    public init(mode: Mode, rangeSets: [RangeSet], routes: [CNIResult.Route] = [], dataDir: String,
                cooldownSeconds: Int = IPAMConfig.defaultCooldownSeconds, families: [Family] = [.ipv4]) {
        self.mode = mode
        self.rangeSets = rangeSets
        self.routes = routes
        self.dataDir = dataDir
        self.cooldownSeconds = cooldownSeconds
        self.families = families
        warmAddresses = 0
        minimumAddresses = 0
        prefixReleaseSeconds = 300
        reconcileGraceSeconds = 300
    }

    /// `defaultDataDir` is used when the config has no `ipam.dataDir` (injected: tests never touch /var/lib).
    public init(_ ipam: JSONObject, defaultDataDir: String = NodeStateLayout.defaultDataDir) throws(CNIError) {
        let r = ConfigReader(ipam, path: "ipam")
        let modeText = try r.string("mode") ?? "ranges"
        guard let m = Mode(rawValue: modeText) else {
            throw r.invalid("mode", "\"\(modeText)\" is not an IPAM mode (one of: ranges, ec2, prefix)")
        }
        mode = m
        dataDir = try r.string("dataDir") ?? defaultDataDir
        guard PathRules.isAbsoluteWithoutDotDot(dataDir) else {
            throw r.invalid("dataDir", "\"\(dataDir)\" must be an absolute path without \"..\"")
        }
        routes = []
        if let rt = ipam["routes"], !rt.isNull {
            routes = try CNIResult.Route.decodeList(rt, field: "ipam.routes", code: .invalidConfig)
        }
        cooldownSeconds = Int(try r.int("cooldownSeconds", in: 0...3600) ?? Int64(Self.defaultCooldownSeconds))
        warmAddresses = 0
        minimumAddresses = 0
        prefixReleaseSeconds = 300
        reconcileGraceSeconds = 300
        families = [.ipv4]
        gateway = nil
        gateway6 = nil

        if m != .ranges {
            for key in ["ranges", "subnet", "rangeStart", "rangeEnd"] where r.object[key] != nil {
                throw r.invalid(key, "belongs to mode \"ranges\"; mode \"\(m.rawValue)\" takes its addresses from EC2")
            }
            if let fs = try r.array("families") {
                var out: [Family] = []
                for (i, f) in fs.enumerated() {
                    guard let t = f.stringValue, let fam = Family(rawValue: t) else {
                        throw CNIError(.invalidConfig, "ipam.families[\(i)] must be \"ipv4\" or \"ipv6\"")
                    }
                    if out.contains(fam) { throw CNIError(.invalidConfig, "ipam.families lists \"\(t)\" twice") }
                    out.append(fam)
                }
                guard !out.isEmpty else { throw CNIError(.invalidConfig, "ipam.families is empty") }
                families = out
            }
            if let g = try r.string("gateway") {
                guard let a = IPAddress(g), a.isV4 else { throw r.invalid("gateway", "\"\(g)\" is not an IPv4 address") }
                gateway = a
            }
            if let g = try r.string("gateway6") {
                guard let a = IPAddress(g), !a.isV4 else { throw r.invalid("gateway6", "\"\(g)\" is not an IPv6 address") }
                gateway6 = a
            }
            reconcileGraceSeconds = Int(try r.int("reconcileGraceSeconds", in: 0...86400) ?? 300)
            warmAddresses = Int(try r.int("warmAddresses", in: 0...(m == .prefix ? 4096 : 256)) ?? 0)
            if m == .prefix {
                prefixReleaseSeconds = Int(try r.int("prefixReleaseSeconds", in: 0...86400) ?? 300)
                if r.object["minimumAddresses"] != nil { throw r.invalid("minimumAddresses", "belongs to mode \"ec2\"") }
            } else {
                minimumAddresses = Int(try r.int("minimumAddresses", in: 0...256) ?? 0)
                if r.object["prefixReleaseSeconds"] != nil { throw r.invalid("prefixReleaseSeconds", "belongs to mode \"prefix\"") }
            }
            rangeSets = []
            return
        }
        for key in ["families", "gateway6", "warmAddresses", "minimumAddresses", "prefixReleaseSeconds", "reconcileGraceSeconds"]
        where r.object[key] != nil {
            throw r.invalid(key, "belongs to modes \"ec2\" and \"prefix\", not \"ranges\"")
        }

        var sets: [RangeSet] = []
        if let rs = try r.array("ranges") {
            for (i, setJSON) in rs.enumerated() {
                guard let arr = setJSON.arrayValue else {
                    throw CNIError(.decodeFailure, "ipam.ranges[\(i)] must be an array of ranges, not \(setJSON.typeName)")
                }
                guard !arr.isEmpty else { throw CNIError(.invalidConfig, "ipam.ranges[\(i)] is an empty range set") }
                var ranges: [IPRange] = []
                for (j, rj) in arr.enumerated() {
                    ranges.append(try Self.parseRange(ConfigReader(rj, path: "ipam.ranges[\(i)][\(j)]")))
                }
                sets.append(RangeSet(ranges: ranges))
            }
        } else if (try r.string("subnet")) != nil {
            sets.append(RangeSet(ranges: [try Self.parseRange(r)]))
        }
        guard !sets.isEmpty else {
            throw CNIError(.invalidConfig, "ipam needs \"ranges\" (or a single \"subnet\") for mode \"ranges\"")
        }
        try Self.validate(sets)
        rangeSets = sets
    }

    static func parseRange(_ r: ConfigReader) throws(CNIError) -> IPRange {
        guard let st = try r.string("subnet") else { throw r.invalid("subnet", "is required") }
        guard let sub = IPPrefix(st) else { throw r.invalid("subnet", "\"\(st)\" is not a CIDR") }
        if sub.network.address != sub.address {
            throw r.invalid("subnet", "\"\(st)\" has host bits set: the network address for /\(sub.length) is \(sub.networkAddress)")
        }
        if sub.length > sub.address.bitWidth - 2 {
            throw r.invalid("subnet", "\"\(st)\" is too small to allocate from (at most /\(sub.address.bitWidth - 2))")
        }
        func addr(_ key: String) throws(CNIError) -> IPAddress? {
            guard let t = try r.string(key) else { return nil }
            guard let a = IPAddress(t) else { throw r.invalid(key, "\"\(t)\" is not an IP address") }
            guard sub.contains(a) else { throw r.invalid(key, "\(a) is outside subnet \(st)") }
            return a
        }
        let gateway = try addr("gateway") ?? sub.networkAddress.next()
        let start = try addr("rangeStart") ?? sub.networkAddress.next()
        var end = try addr("rangeEnd") ?? sub.lastAddress
        if r.object["rangeEnd"] == nil, sub.address.isV4 { end = end.previous() }
        if start > end { throw r.invalid("rangeStart", "\(start) is after rangeEnd \(end)") }
        return IPRange(subnet: sub, rangeStart: start, rangeEnd: end, gateway: gateway)
    }

    static func validate(_ sets: [RangeSet]) throws(CNIError) {
        var all: [(Int, IPRange)] = []
        for (i, s) in sets.enumerated() {
            let fam = s.isV4
            for r in s.ranges where r.subnet.address.isV4 != fam {
                throw CNIError(.invalidConfig, "ipam.ranges[\(i)] mixes IPv4 and IPv6 ranges (\(s.ranges[0].subnet) and \(r.subnet))")
            }
            for r in s.ranges {
                for (j, o) in all where r.rangeStart <= o.rangeEnd && o.rangeStart <= r.rangeEnd
                    && r.subnet.address.isV4 == o.subnet.address.isV4 {
                    throw CNIError(.invalidConfig,
                                   "ipam.ranges[\(i)]: range \(r.rangeStart)-\(r.rangeEnd) overlaps range \(o.rangeStart)-\(o.rangeEnd) of ipam.ranges[\(j)]")
                }
                all.append((i, r))
            }
        }
    }
}
