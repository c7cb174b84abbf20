// Network-namespace fixtures for the Host/Kernel/Peer tiers.  Everything is
// done with iproute2 (`ip`), so the fixtures never depend on the code under
// test.

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import Foundation

/// A named network namespace (`ip netns add emt-<random>`), deleted by
/// `delete()` or, at the latest, when the object goes away.
///
///     let ns = try TestNetns()
///     try ns.check(["ip", "link", "set", "lo", "up"])
///     ns.path  // "/run/netns/emt-1a2b3c4d", for CNI_NETNS
///
/// Deleting a netns destroys the veth/macvlan/ipvlan links in it; a real NIC
/// (UML's eth0) goes back to the root netns, possibly after a short delay.
public final class TestNetns: @unchecked Sendable, CustomStringConvertible {
    public let name: String
    private let lock = NSLock()
    private var deleted = false

    /// - Parameters:
    ///   - prefix: name prefix; a random suffix is appended.
    ///   - loopbackUp: bring `lo` up inside (CNI runtimes do).
    public init(prefix: String = "emt", loopbackUp: Bool = true) throws {
        name = uniqueName(prefix: prefix)
        try Shell.check(["ip", "netns", "add", name])
        if loopbackUp {
            do {
                try Shell.check(["ip", "-n", name, "link", "set", "lo", "up"])
            } catch {
                delete()
                throw error
            }
        }
    }

    deinit { delete() }

    /// The bind-mounted namespace file, e.g. for CNI_NETNS.
    public var path: String { "/run/netns/\(name)" }

    public var description: String { name }

    /// Runs argv inside the namespace (`ip netns exec NAME argv…`).
    public func exec(_ argv: [String], stdin: [UInt8]? = nil, env: [String: String]? = nil,
                     timeout: Double? = nil) -> ShellResult {
        Shell.run(["ip", "netns", "exec", name] + argv, stdin: stdin, env: env, timeout: timeout)
    }

    /// `exec` that throws `ShellError` on a non-zero status; returns stdout.
    @discardableResult
    public func check(_ argv: [String], stdin: [UInt8]? = nil, env: [String: String]? = nil,
                      timeout: Double? = nil) throws -> String {
        try Shell.check(["ip", "netns", "exec", name] + argv, stdin: stdin, env: env, timeout: timeout)
    }

    /// `ip -n NAME args…` (cheaper than exec: no mount namespace).
    @discardableResult
    public func ip(_ args: String...) throws -> String {
        try Shell.check(["ip", "-n", name] + args)
    }

    /// `ip -j -n NAME args…`, parsed.
    public func ipJSON(_ args: [String]) throws -> [[String: Any]] {
        try TestSupport.ipJSON(netns: name, args)
    }

    /// `snapshot(netns:)` of this namespace.
    public func snapshot(includeIPv6LinkLocal: Bool = false, ignoringMACOf: [String] = []) throws -> String {
        try TestSupport.snapshot(netns: name, includeIPv6LinkLocal: includeIPv6LinkLocal, ignoringMACOf: ignoringMACOf)
    }

    /// Whether the namespace still exists.
    public var exists: Bool { FileManager.default.fileExists(atPath: path) }

    /// Deletes the namespace; idempotent, never throws.
    public func delete() {
        lock.lock()
        defer { lock.unlock() }
        if deleted { return }
        deleted = true
        _ = Shell.run(["ip", "netns", "del", name])
    }
}

/// A veth pair made by `makeVeth`.
public struct Veth: Sendable, CustomStringConvertible {
    /// The end left in the root netns (or `hostNetns`).
    public let hostName: String
    /// The end moved into `peerNetns` (or left beside hostName).
    public let peerName: String
    public let hostNetns: String?
    public let peerNetns: String?

    public var description: String { "\(hostName)<->\(peerName)" }

    /// Deletes the pair (through the host end); ignores errors, since deleting
    /// either netns already destroys it.
    public func delete() {
        _ = Shell.run(["ip"] + (hostNetns.map { ["-n", $0] } ?? []) + ["link", "del", hostName])
    }
}

/// Creates a veth pair: `hostName` in `hostNetns` (nil: the current/root
/// netns), `peerName` in `peerNetns` (nil: the same netns as hostName).  Both
/// ends are brought up unless `up` is false.  Names must be at most 15
/// characters; `uniqueIfName()` makes some.  Root-netns pairs are not deleted
/// automatically: call `delete()` (deleting a namespace deletes its pairs).
@discardableResult
public func makeVeth(
    hostName: String = uniqueIfName(prefix: "emth"),
    peerName: String = uniqueIfName(prefix: "emtp"),
    peerNetns: TestNetns? = nil,
    hostNetns: TestNetns? = nil,
    mtu: Int? = nil,
    up: Bool = true
) throws -> Veth {
    let hostNS = hostNetns?.name
    let peerNS = peerNetns?.name
    var argv = ["ip"] + (hostNS.map { ["-n", $0] } ?? []) + ["link", "add", hostName]
    if let mtu { argv += ["mtu", String(mtu)] }
    argv += ["type", "veth", "peer", "name", peerName]
    if let mtu { argv += ["mtu", String(mtu)] }
    if let peerNS { argv += ["netns", peerNS] }
    try Shell.check(argv)
    let veth = Veth(hostName: hostName, peerName: peerName, hostNetns: hostNS, peerNetns: peerNS ?? hostNS)
    if up {
        do {
            try Shell.check(["ip"] + (hostNS.map { ["-n", $0] } ?? []) + ["link", "set", hostName, "up"])
            try Shell.check(["ip"] + ((peerNS ?? hostNS).map { ["-n", $0] } ?? []) + ["link", "set", peerName, "up"])
        } catch {
            veth.delete()
            throw error
        }
    }
    return veth
}

/// Runs `ip -j [-n NETNS] args…` and returns the parsed JSON array (`ip`
/// prints `[]` or nothing when there is nothing to show).
///
///     try ipJSON(netns: ns.name, ["addr", "show", "dev", "eth0"])
public func ipJSON(netns: String? = nil, _ args: [String]) throws -> [[String: Any]] {
    let argv = ["ip", "-j"] + (netns.map { ["-n", $0] } ?? []) + args
    let out = try Shell.check(argv)
    let trimmed = out.trimmingCharacters(in: .whitespacesAndNewlines)
    if trimmed.isEmpty { return [] }
    let value = try JSONSerialization.jsonObject(with: Data(trimmed.utf8), options: [.fragmentsAllowed])
    guard let array = value as? [[String: Any]] else {
        throw ShellError(argv: argv, status: 0, stdout: out, stderr: "ip -j did not print a JSON array of objects")
    }
    return array
}

/// `ipJSON` taking a `TestNetns`.
public func ipJSON(netns: TestNetns?, _ args: [String]) throws -> [[String: Any]] {
    try ipJSON(netns: netns?.name, args)
}

/// A deterministic text picture of a namespace's network state: links,
/// addresses, routes (all tables, both families) and policy rules, one sorted
/// line each.  Compare snapshots taken before ADD and after DEL, or ours
/// against the reference plugin's.
///
/// Left out because they change on their own: ifindex numbers, statistics,
/// operstate / carrier, address lifetimes and flags such as tentative, and
/// (unless asked for) IPv6 link-local addresses, their fe80::/64 routes and
/// multicast routes.  Link lines name the peer / parent link by name
/// (`link=<other-netns>` when it lives in another namespace).
///
/// `ignoringMACOf` lists links whose MAC is shown as `mac=*`: for comparing
/// two fixtures whose veth peers got random MACs (or set the MACs yourself).
public func snapshot(netns: String? = nil, includeIPv6LinkLocal: Bool = false,
                     ignoringMACOf: [String] = []) throws -> String {
    let links = try ipJSON(netns: netns, ["-d", "link", "show"])
    var names: [Int: String] = [:]
    for l in links {
        if let i = l["ifindex"] as? Int, let n = l["ifname"] as? String { names[i] = n }
    }
    var lines: [String] = []

    for l in links {
        let name = l["ifname"] as? String ?? "?"
        var parts = ["link", name]
        let info = l["linkinfo"] as? [String: Any]
        let kind = info?["info_kind"] as? String ?? (l["link_type"] as? String ?? "?")
        parts.append("kind=\(kind)")
        if let data = info?["info_data"] as? [String: Any] {
            for key in ["mode", "flags", "macaddr_mode"] {
                if let v = data[key] { parts.append("\(key)=\(v)") }
            }
        }
        if let mtu = l["mtu"] { parts.append("mtu=\(mtu)") }
        if let flags = l["flags"] as? [String] {
            let stable = flags.filter { ["UP", "NOARP", "LOOPBACK", "POINTOPOINT", "MULTICAST", "BROADCAST"].contains($0) }
            parts.append("flags=" + stable.sorted().joined(separator: ","))
        }
        if let mac = l["address"] as? String {
            parts.append(ignoringMACOf.contains(name) ? "mac=*" : "mac=\(mac)")
        }
        if let master = l["master"] as? String { parts.append("master=\(master)") }
        if let link = l["link"] as? String {
            parts.append("link=\(link)")
        } else if l["link_netnsid"] != nil {
            parts.append("link=<other-netns>")
        } else if let li = l["link_index"] as? Int {
            parts.append("link=\(names[li] ?? "#\(li)")")
        }
        if let alias = l["ifalias"] as? String { parts.append("alias=\(alias)") }
        lines.append(parts.joined(separator: " "))
    }

    for l in try ipJSON(netns: netns, ["addr", "show"]) {
        let name = l["ifname"] as? String ?? "?"
        for a in l["addr_info"] as? [[String: Any]] ?? [] {
            guard let local = a["local"] as? String, let family = a["family"] as? String else { continue }
            let scope = a["scope"] as? String ?? "?"
            if !includeIPv6LinkLocal && family == "inet6" && scope == "link" { continue }
            var parts = ["addr", name, family, "\(local)/\(a["prefixlen"] ?? "?")", "scope=\(scope)"]
            if let b = a["broadcast"] as? String { parts.append("brd=\(b)") }
            if let p = a["address"] as? String, p != local { parts.append("peer=\(p)") }
            if a["noprefixroute"] as? Bool == true { parts.append("noprefixroute") }
            if a["nodad"] as? Bool == true { parts.append("nodad") }
            lines.append(parts.joined(separator: " "))
        }
    }

    for family in ["-4", "-6"] {
        for r in try ipJSON(netns: netns, [family, "route", "show", "table", "all"]) {
            let dst = r["dst"] as? String ?? "?"
            let type = r["type"] as? String ?? "unicast"
            if family == "-6" && !includeIPv6LinkLocal {
                if type == "multicast" || dst.hasPrefix("ff00::") || dst.hasPrefix("fe80::") { continue }
            }
            var parts = ["route", family == "-4" ? "inet" : "inet6", type, dst]
            for key in ["gateway", "dev", "table", "protocol", "scope", "prefsrc", "metric", "pref"] {
                if let v = r[key] { parts.append("\(key)=\(v)") }
            }
            if let flags = r["flags"] as? [String], !flags.isEmpty {
                let stable = flags.filter { $0 != "linkdown" }
                if !stable.isEmpty { parts.append("flags=" + stable.sorted().joined(separator: ",")) }
            }
            if let hops = r["nexthops"] as? [[String: Any]] {
                let text = hops.map { h in "\(h["gateway"] ?? "-")@\(h["dev"] ?? "-")" }.sorted()
                parts.append("nexthops=" + text.joined(separator: ","))
            }
            lines.append(parts.joined(separator: " "))
        }
        for r in try ipJSON(netns: netns, [family, "rule", "show"]) {
            var parts = ["rule", family == "-4" ? "inet" : "inet6"]
            for key in ["priority", "src", "srclen", "dst", "dstlen", "iif", "oif", "fwmark", "table", "action"] {
                if let v = r[key] { parts.append("\(key)=\(v)") }
            }
            lines.append(parts.joined(separator: " "))
        }
    }

    return lines.sorted().joined(separator: "\n") + "\n"
}

/// `snapshot` taking a `TestNetns` (nil: the current netns).
public func snapshot(netns: TestNetns?, includeIPv6LinkLocal: Bool = false,
                     ignoringMACOf: [String] = []) throws -> String {
    try snapshot(netns: netns?.name, includeIPv6LinkLocal: includeIPv6LinkLocal, ignoringMACOf: ignoringMACOf)
}
