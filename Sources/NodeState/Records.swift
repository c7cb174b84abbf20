import NetTypes

// Every record format of the node's state, in one place: `key=value` lines, one per field, each ending in a
// newline. A record without its final newline, or with a field that does not parse, is torn (a power cut under a
// build without the fsync policy, or a lying disk) and owns nothing: decoders return nil, and the readers' recovery
// is stated where they read (docs/state-format.md, "Durability").

/// `attachments/<containerID>:<ifname>`: the addresses an attachment holds in the ranges store.
public enum AttachmentRecord {
    public static let header = "eni-multus-ipam 1\n"

    public static func encode(_ k: AttachmentKey, _ ips: [IPAddress]) -> [UInt8] {
        var s = header + "container=\(k.containerID)\nifname=\(k.ifname)\n"
        for ip in ips { s += "ip=\(ip)\n" }
        return Array(s.utf8)
    }

    /// The addresses of a record; nil for a torn one (not our header, no final newline, an address that does not
    /// parse).
    public static func decode(_ bytes: [UInt8]) -> [IPAddress]? {
        let text = String(decoding: bytes, as: UTF8.self)
        guard text.hasPrefix(header), text.hasSuffix("\n") else { return nil }
        var out: [IPAddress] = []
        for line in text.split(separator: "\n") where line.hasPrefix("ip=") {
            guard let a = IPAddress(line.dropFirst(3)) else { return nil }
            out.append(a)
        }
        return out
    }
}

extension AttachmentKey {
    /// The owner named by an address file (`ownerBytes`); nil when it names nobody (empty, torn).
    public init?(ownerBytes b: [UInt8]) {
        let parts = String(decoding: b, as: UTF8.self).split(separator: "\n", omittingEmptySubsequences: false)
        guard parts.count == 3, parts[2].isEmpty, !parts[0].isEmpty, !parts[1].isEmpty else { return nil }
        self.init(containerID: String(parts[0]), ifname: String(parts[1]))
    }
}

/// `cooling/<address>`: the wall-clock second a released address's cooldown ends.
public enum CoolingMark {
    public static func encode(until: Int64) -> [UInt8] { Array("\(until)\n".utf8) }
    public static func decode(_ b: [UInt8]) -> Int64? { Int64(String(decoding: b, as: UTF8.self).trimmingSpaces()) }
}

/// `last_reserved_ip.<set>`: the last address handed out in a range set.
public enum RangeCursor {
    public static func encode(_ a: IPAddress) -> [UInt8] { Array(a.description.utf8) }
    public static func decode(_ b: [UInt8]) -> IPAddress? { IPAddress(String(decoding: b, as: UTF8.self).trimmingSpaces()) }
}

/// An entry of EC2 registration: a ledger entry (what an attachment registered, written before EC2 is asked), a
/// queued release, or a warm-pool address.
public struct RegistrationEntry: Equatable, Sendable {
    public var eni: String
    public var addresses: [IPAddress]
    /// `namespace/name/uid` of the pod (ledger entries).
    public var pod: String
    /// The ENI's MAC, when known: "still ours" is then read from IMDS on release. Releases queued for an
    /// assignment that may have just landed carry none, so the release asks EC2 (IMDS can lag behind it).
    public var mac: MACAddress?
    /// Queue only: not released before this wall-clock second (cooldown).
    public var notBefore: Int64

    public init(eni: String, addresses: [IPAddress], pod: String = "", mac: MACAddress? = nil, notBefore: Int64 = 0) {
        self.eni = eni; self.addresses = addresses; self.pod = pod; self.mac = mac; self.notBefore = notBefore
    }

    public var bytes: [UInt8] {
        var s = "eni=\(eni)\n"
        if let mac { s += "mac=\(mac)\n" }
        if !pod.isEmpty { s += "pod=\(pod)\n" }
        if notBefore > 0 { s += "after=\(notBefore)\n" }
        for a in addresses { s += "ip=\(a)\n" }
        return Array(s.utf8)
    }

    /// Nil for a torn entry (no final newline, no ENI, an address that does not parse).
    public init?(_ b: [UInt8]) {
        guard b.last == UInt8(ascii: "\n") else { return nil }
        var e: String?, ips: [IPAddress] = [], p = "", m: MACAddress?, after: Int64 = 0
        for line in String(decoding: b, as: UTF8.self).split(separator: "\n") {
            if line.hasPrefix("eni=") { e = String(line.dropFirst(4)) }
            if line.hasPrefix("ip=") {
                guard let a = IPAddress(line.dropFirst(3)) else { return nil }
                ips.append(a)
            }
            if line.hasPrefix("pod=") { p = String(line.dropFirst(4)) }
            if line.hasPrefix("mac=") { m = MACAddress(String(line.dropFirst(4))) }
            if line.hasPrefix("after=") { after = Int64(line.dropFirst(6)) ?? 0 }
        }
        guard let e else { return nil }
        eni = e; addresses = ips; pod = p; mac = m; notBefore = after
    }
}

/// `ec2/prefixes`: `prefix` mode's held prefixes, one line each (`p=<prefix> eni=<id> empty=<since>`).
public struct HeldPrefix: Equatable, Sendable {
    public var prefix: IPPrefix
    public var eni: String
    /// Wall-clock second since which it holds no address (0: in use).
    public var emptySince: Int64

    public init(prefix: IPPrefix, eni: String, emptySince: Int64) {
        self.prefix = prefix; self.eni = eni; self.emptySince = emptySince
    }

    public static func encode(_ held: [HeldPrefix]) -> [UInt8] {
        Array(held.map { "p=\($0.prefix) eni=\($0.eni) empty=\($0.emptySince)\n" }.joined().utf8)
    }

    public static func decode(_ b: [UInt8]) -> [HeldPrefix] {
        String(decoding: b, as: UTF8.self).split(separator: "\n").compactMap { line in
            var f: [Substring: Substring] = [:]
            for part in line.split(separator: " ") {
                let kv = part.split(separator: "=", maxSplits: 1)
                if kv.count == 2 { f[kv[0]] = kv[1] }
            }
            guard let p = f["p"].flatMap({ IPPrefix(String($0)) }), let e = f["eni"] else { return nil }
            return HeldPrefix(prefix: p, eni: String(e), emptySince: f["empty"].flatMap { Int64($0) } ?? 0)
        }
    }
}

/// `links/<containerID>:<ifname>`: the name and MAC a host device had before it was moved into a pod.
public struct LinkRecord: Equatable, Sendable {
    public var name: String
    public var mac: MACAddress?

    public init(name: String, mac: MACAddress?) { self.name = name; self.mac = mac }
    public var bytes: [UInt8] { Array("name=\(name)\nmac=\(mac.map { "\($0)" } ?? "")\n".utf8) }
    public init?(_ bytes: [UInt8]) {
        var n: String?, m: MACAddress?
        for line in String(decoding: bytes, as: UTF8.self).split(separator: "\n") {
            if line.hasPrefix("name=") { n = String(line.dropFirst(5)) }
            if line.hasPrefix("mac=") { m = MACAddress(line.dropFirst(4)) }
        }
        guard let n, !n.isEmpty else { return nil }
        name = n
        mac = m
    }
}

/// `.instance-limits`: the instance type and its per-ENI address limits.
public struct InstanceLimitsRecord: Equatable, Sendable {
    public var instanceType: String
    public var ipv4PerENI: Int
    public var ipv6PerENI: Int

    public init(instanceType: String, ipv4PerENI: Int, ipv6PerENI: Int) {
        self.instanceType = instanceType; self.ipv4PerENI = ipv4PerENI; self.ipv6PerENI = ipv6PerENI
    }
    public var bytes: [UInt8] { Array("type=\(instanceType)\nipv4=\(ipv4PerENI)\nipv6=\(ipv6PerENI)\n".utf8) }
    public init?(_ b: [UInt8]) {
        var f: [String: String] = [:]
        for line in String(decoding: b, as: UTF8.self).split(separator: "\n") {
            let kv = line.split(separator: "=", maxSplits: 1)
            if kv.count == 2 { f[String(kv[0])] = String(kv[1]) }
        }
        guard let t = f["type"], let v4 = f["ipv4"].flatMap({ Int($0) }), let v6 = f["ipv6"].flatMap({ Int($0) }) else { return nil }
        self.init(instanceType: t, ipv4PerENI: v4, ipv6PerENI: v6)
    }
}

/// `.reconcile-seen`: when reconcile first saw each unowned address or stale pool entry (`<eni> <what> <second>`).
public enum ReconcileSightings {
    public static func encode(_ seen: [String: Int64]) -> [UInt8] {
        Array(seen.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)\n" }.joined().utf8)
    }

    /// Torn (no final newline): empty, so every grace period starts again.
    public static func decode(_ b: [UInt8]) -> [String: Int64] {
        guard b.last == UInt8(ascii: "\n") else { return [:] }
        var out: [String: Int64] = [:]
        for line in String(decoding: b, as: UTF8.self).split(separator: "\n") {
            let parts = line.split(separator: " ")
            if parts.count == 3, let t = Int64(parts[2]) { out["\(parts[0]) \(parts[1])"] = t }
        }
        return out
    }
}

extension String {
    /// Without leading and trailing spaces, tabs and newlines.
    func trimmingSpaces() -> Substring {
        let ws: (Character) -> Bool = { $0 == " " || $0 == "\n" || $0 == "\t" || $0 == "\r" }
        guard let first = firstIndex(where: { !ws($0) }), let last = lastIndex(where: { !ws($0) }) else { return "" }
        return self[first...last]
    }
}
