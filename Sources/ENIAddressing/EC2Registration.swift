import Platform
import AgentProtocol
import CNI
import IPAM
import JSON
import NetTypes
import NodeState
import Registration

// Registration of pod addresses on the selected secondary ENI.
// The plugin-side logic only: it talks to EC2 and IMDS through `EC2Gateway`, which the AWS layer implements and
// tests replace with an in-memory model.

/// `"eni": {…}` and the options around it.
public struct EC2NetworkConfig: Equatable {
    public enum Selector: Equatable {
        case id(String)
        case subnetID(String)
        case deviceIndex(Int)
        case tag(key: String, value: String)
    }

    public var selector: Selector
    public var requireNoManageTag: Bool
    /// The cluster whose ownership tag makes another ENI's address ours to take back (`clusterName`).
    public var clusterName: String?
    public var allowForeignReassignment: Bool
    public var timeoutSeconds: Double
    /// The node agent's socket (`agentSocket`); nil: `ENI_MULTUS_AGENT_SOCKET` or the default.
    public var agentSocket: String? = nil

    /// Nil when the config has no `eni` block (no EC2 registration).
    public static func parse(_ raw: JSONObject) throws(CNIError) -> EC2NetworkConfig? {
        let r = ConfigReader(raw, path: "")
        guard let eni = try r.object("eni") else { return nil }
        var found: [Selector] = []
        if let id = try eni.string("id") {
            guard id.hasPrefix("eni-"), id.count <= 32 else { throw eni.invalid("id", "\"\(id)\" is not an ENI id (eni-…)") }
            found.append(.id(id))
        }
        if let s = try eni.string("subnetId") {
            guard s.hasPrefix("subnet-"), s.count <= 40 else { throw eni.invalid("subnetId", "\"\(s)\" is not a subnet id (subnet-…)") }
            found.append(.subnetID(s))
        }
        if let d = try eni.int("deviceIndex", in: 0...63) { found.append(.deviceIndex(Int(d))) }
        if let t = try eni.object("tag") {
            guard let k = try t.string("key"), !k.isEmpty else { throw t.invalid("key", "is required") }
            found.append(.tag(key: k, value: try t.string("value") ?? ""))
        }
        guard found.count == 1 else {
            throw CNIError(.invalidConfig,
                           "eni needs exactly one of \"id\", \"subnetId\", \"deviceIndex\" or \"tag\" (\(found.count) given)")
        }
        if case .deviceIndex(0) = found[0] {
            throw CNIError(.invalidConfig, "eni.deviceIndex 0 is the node's primary ENI, which the VPC CNI owns")
        }
        let timeout = try r.int("ec2TimeoutSeconds", in: 1...120) ?? 10
        let socket = try r.string("agentSocket")
        if let socket, !PathRules.isAbsoluteWithoutDotDot(socket) || socket.utf8.count > 107 {
            throw r.invalid("agentSocket", "\"\(socket)\" is not an absolute socket path without \"..\" (at most 107 bytes)")
        }
        return EC2NetworkConfig(
            selector: found[0],
            requireNoManageTag: try r.bool("requireNoManageTag") ?? true,
            clusterName: try r.string("clusterName"),
            allowForeignReassignment: try r.bool("allowForeignReassignment") ?? false,
            timeoutSeconds: Double(timeout),
            agentSocket: socket)
    }
}

public enum RegistrationError: Error, CustomStringConvertible {
    case noENI(String)
    case refused(String)
    case foreignHolder(address: IPAddress, eni: String)
    case notConfirmed(address: IPAddress, eni: String)
    case eniFull(String)
    /// An `ec2` or `prefix` IPAM mode on a network without an `eni` block.
    case needsENI(mode: String)

    public var description: String {
        switch self {
        case .noENI(let s), .refused(let s), .eniFull(let s): return s
        case .needsENI(let m):
            return "ipam mode \"\(m)\" takes its addresses from EC2 and needs an \"eni\" block selecting the ENI (e.g. \"eni\": {\"subnetId\": \"subnet-…\"})"
        case .foreignHolder(let a, let e):
            return "\(a) is assigned to \(e), which does not carry this cluster's ownership tag; refusing to take it (set \"allowForeignReassignment\": true to override)"
        case .notConfirmed(let a, let e): return "\(a) did not appear on \(e) in instance metadata in time"
        }
    }
}

/// Whether ENI selection may trust the verified-ENI cache (`.cached`, every ADD and DEL) or describes the ENI
/// again (`.again`, CHECK).
public enum ENIDescribe { case cached, again }

/// Chooses the ENI a network config names, refusing the primary ENI and unmanaged-tag violations. With a cache,
/// an ENI already verified is not described again (`fresh` forces the Describe, e.g. for CHECK).
public func selectENI(_ cfg: EC2NetworkConfig, gateway: EC2Gateway, cache: VerifiedENICache? = nil,
               describe: ENIDescribe = .cached) throws -> (attached: InstanceENI, described: ENIDescription) {
    let locals = try gateway.instanceENIs()
    var candidates: [InstanceENI]
    switch cfg.selector {
    case .id(let id): candidates = locals.filter { $0.id == id }
    case .subnetID(let s): candidates = locals.filter { $0.subnetID == s && $0.deviceIndex != 0 }
    case .deviceIndex(let d): candidates = locals.filter { $0.deviceIndex == d }
    case .tag(let k, let v):
        let tagged = Set(try gateway.describe(tagKey: k, value: v, instanceENIs: locals.map(\.id)).map(\.id))
        candidates = locals.filter { tagged.contains($0.id) }
    }
    candidates.sort { $0.deviceIndex < $1.deviceIndex }
    guard let chosen = candidates.first else {
        throw RegistrationError.noENI("no ENI of this instance matches eni \(cfg.selector) (instance ENIs: \(locals.map { "\($0.id)@\($0.deviceIndex)" }.joined(separator: ", ")))")
    }
    if chosen.deviceIndex == 0 {
        throw RegistrationError.refused("\(chosen.id) is the primary ENI (device index 0), which the VPC CNI owns; select a secondary ENI")
    }
    if describe == .cached, let cache, cache.contains(chosen.id) {
        return (chosen, ENIDescription(id: chosen.id, subnetID: chosen.subnetID, deviceIndex: chosen.deviceIndex,
                                  tags: [NodeTags.noManage: "true"], ipv4: [], ipv6: [], known: false))
    }
    guard let remote = try gateway.describe(ids: [chosen.id]).first else {
        throw RegistrationError.noENI("EC2 does not know \(chosen.id)")
    }
    if cfg.requireNoManageTag && remote.tags[NodeTags.noManage] != "true" {
        throw RegistrationError.refused("\(chosen.id) lacks the tag \(NodeTags.noManage)=true, so the VPC CNI would adopt it and hand its addresses to other pods; tag it at creation (or set \"requireNoManageTag\": false)")
    }
    if cfg.requireNoManageTag { cache?.remember(remote) }
    return (chosen, remote)
}

/// Who holds `addresses` in the ENI's subnet, when EC2 said some are in use: those on our own ENI need nothing;
/// those on an ENI of this cluster (`clusterName` tag) may be taken back; anything else is refused unless
/// `allowForeignReassignment`.
private func resolveHolders(_ addresses: [IPAddress], eni: ENIDescription, cfg: EC2NetworkConfig,
                            gateway: EC2Gateway) throws -> (alreadyOurs: Set<IPAddress>, holders: [(String, IPAddress)]) {
    var mine = Set<IPAddress>()
    var holders: [(String, IPAddress)] = []
    let all = try gateway.describe(subnetID: eni.subnetID)
    for a in addresses {
        guard let holder = all.first(where: { $0.ipv4.contains(a) || $0.ipv6.contains(a) }) else { continue }
        if holder.id == eni.id { mine.insert(a); continue }
        let ours = cfg.clusterName.map { holder.tags[NodeTags.cluster] == $0 } ?? false
        guard ours || cfg.allowForeignReassignment else { throw RegistrationError.foreignHolder(address: a, eni: holder.id) }
        holders.append((holder.id, a))
    }
    return (mine, holders)
}

/// Waits (bounded) until IMDS shows `wanted` on the ENI's MAC: assignment is asynchronous.
public func confirmVisible(_ wanted: Set<IPAddress>, mac: MACAddress, eni: String, gateway: EC2Gateway,
                    attempts: Int, pause: () -> Void) throws {
    for attempt in 0..<attempts {
        if wanted.isSubset(of: Set(try gateway.localAddresses(mac: mac))) { return }
        if attempt + 1 < attempts { pause() }
    }
    throw RegistrationError.notConfirmed(address: wanted.sorted().first!, eni: eni)
}

/// Assigns `addresses` to `eni` with the ownership guard, then waits until IMDS shows them on the ENI's MAC.
/// Returns what it changed (for the undo). One EC2 call in the common case: the addresses are assigned first,
/// and only when EC2 answers that one is in use does it look (one Describe of the subnet) at who holds it.
public func register(_ addresses: [IPAddress], on eni: ENIDescription, mac: MACAddress, cfg: EC2NetworkConfig,
              gateway: EC2Gateway, confirmAttempts: Int = 50, pause: () -> Void) throws -> [IPAddress] {
    var v4 = addresses.filter(\.isV4).filter { !eni.ipv4.contains($0) }
    var v6 = addresses.filter { !$0.isV4 }.filter { !eni.ipv6.contains($0) }
    guard !v4.isEmpty || !v6.isEmpty else { return [] }
    if !v4.isEmpty {
        do {
            try gateway.assign(ipv4: v4, to: eni.id, allowReassignment: false)
        } catch let inUse as AddressInUse {
            let (mine, holders) = try resolveHolders(v4, eni: eni, cfg: cfg, gateway: gateway)
            v4.removeAll { mine.contains($0) }
            guard !holders.isEmpty || !mine.isEmpty else { throw inUse }
            if !v4.isEmpty { try gateway.assign(ipv4: v4, to: eni.id, allowReassignment: !holders.isEmpty) }
        }
    }
    do {
        if !v6.isEmpty {
            do {
                try gateway.assign(ipv6: v6, to: eni.id)
            } catch let inUse as AddressInUse {
                // IPv6 has no reassignment flag: unassign from the previous holder first.
                let (mine, holders) = try resolveHolders(v6, eni: eni, cfg: cfg, gateway: gateway)
                v6.removeAll { mine.contains($0) }
                guard !holders.isEmpty || !mine.isEmpty else { throw inUse }
                for (holder, a) in holders { try gateway.unassign(ipv6: [a], from: holder) }
                if !v6.isEmpty { try gateway.assign(ipv6: v6, to: eni.id) }
            }
        }
        try confirmVisible(Set(v4 + v6), mac: mac, eni: eni.id, gateway: gateway, attempts: confirmAttempts, pause: pause)
    } catch {
        for family in [v4, v6] { try? gateway.unassign(family, from: eni.id) }
        throw error
    }
    return v4 + v6
}
