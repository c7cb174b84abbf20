import AWS
import JSON

public struct ENIStatus: Sendable, Equatable {
    public var id: String
    public var ownership: Ownership
    public var subnetID: String?
    public var mac: String?
    public var deviceIndex: Int?
    public var networkCard: Int?
    public var attachmentStatus: String?
    public var ipv4: [String]
    public var ipv6: [String]
    public var sourceDestCheck: Bool?
    public var deleteOnTermination: Bool?
    public var link: NodeLink?
    public var drift: [String]
}

public struct StatusReport: Sendable, Equatable {
    public var instanceID: String
    public var availabilityZone: String
    public var limits: NodeLimits
    public var enis: [ENIStatus]
    /// Node-level drift: configured subnets without an ENI, subnets that do not resolve here.
    public var drift: [String]

    public var hasDrift: Bool { !drift.isEmpty || enis.contains { !$0.drift.isEmpty } }
}

/// `eni-multus-node status`: read-only (IMDS, DescribeInstanceTypes, DescribeNetworkInterfaces ×2,
/// DescribeSubnets when subnets are configured, netlink).
public struct StatusReader {
    public let ctx: NodeContext

    public init(_ ctx: NodeContext) { self.ctx = ctx }

    public func run() throws(NodeError) -> StatusReport {
        let cfg = ctx.config
        try cfg.validate(needsSubnets: false)
        let s = try ctx.openSession()
        let inv = try NodeInventory.load(s, cluster: cfg.clusterName, log: { _ in })
        var drift: [String] = []
        var wanted: [String] = []
        if !cfg.subnets.isEmpty {
            do {
                wanted = try SubnetResolver.resolve(cfg, az: inv.availabilityZone, session: s).map(\.subnetID)
            } catch {
                drift.append("configured subnets do not resolve here: \(error)")
            }
        }
        var all = inv.attached
        for n in inv.ours where !all.contains(where: { $0.id == n.id }) { all.append(n) }
        all.sort { a, b in
            ((a.attachment?.networkCardIndex ?? 0), (a.attachment?.deviceIndex ?? 99), a.id)
                < ((b.attachment?.networkCardIndex ?? 0), (b.attachment?.deviceIndex ?? 99), b.id)
        }
        var remaining = wanted
        var out: [ENIStatus] = []
        for n in all {
            let own = Ownership.of(n, cluster: cfg.clusterName, node: inv.instanceID)
            var d: [String] = []
            var link: NodeLink? = nil
            if let mac = n.macAddress, inv.isAttachedHere(n) { link = try? ctx.links.link(mac: mac) }
            if own == .eniMultus {
                if !inv.isAttachedHere(n) { d.append("not attached (run attach, or cleanup deletes it)") }
                if inv.isAttachedHere(n) && link == nil { d.append("no link with its MAC on this node") }
                if let l = link, !l.isUp { d.append("link \(l.name) is down") }
                if let sdc = n.sourceDestCheck, sdc != cfg.sourceDestCheck {
                    d.append("SourceDestCheck is \(sdc), configured \(cfg.sourceDestCheck)")
                }
                if n.attachment?.deleteOnTermination == false && !ENIRecord.exists(ctx.paths, n.id) {
                    d.append("DeleteOnTermination is not set")
                }
                if cfg.networkd && inv.isAttachedHere(n) && !NetworkdDropIn.exists(paths: ctx.paths, eniID: n.id) {
                    d.append("no networkd drop-in")
                }
                if let sn = n.subnetID, let i = remaining.firstIndex(of: sn) {
                    remaining.remove(at: i)
                } else if !wanted.isEmpty {
                    d.append("its subnet \(n.subnetID ?? "?") is not configured")
                }
            }
            out.append(ENIStatus(
                id: n.id, ownership: own, subnetID: n.subnetID, mac: n.macAddress,
                deviceIndex: n.attachment?.deviceIndex, networkCard: n.attachment.map { $0.networkCardIndex ?? 0 },
                attachmentStatus: n.attachment?.status, ipv4: n.privateIPs.map(\.address), ipv6: n.ipv6Addresses,
                sourceDestCheck: n.sourceDestCheck, deleteOnTermination: n.attachment?.deleteOnTermination,
                link: link, drift: d))
        }
        for sn in remaining { drift.append("configured subnet \(sn) has no eni-multus ENI on this node") }
        return StatusReport(instanceID: inv.instanceID, availabilityZone: inv.availabilityZone, limits: inv.limits,
                            enis: out, drift: drift)
    }
}

extension StatusReport {
    public var human: String {
        var lines: [String] = []
        lines.append("node \(instanceID) in \(availabilityZone): \(Attacher.limitsLine(limits))")
        for e in enis {
            var l = "  \(e.id)  \(e.ownership.rawValue)"
            l += "  card \(e.networkCard.map(String.init) ?? "-") dev \(e.deviceIndex.map(String.init) ?? "-")"
            l += "  \(e.subnetID ?? "?")  \(e.mac ?? "?")"
            if let link = e.link { l += "  \(link.name) \(link.isUp ? "UP" : "DOWN")" }
            l += "  sdc=\(e.sourceDestCheck.map { String($0) } ?? "?")"
            let addrs = e.ipv4 + e.ipv6
            l += "  \(addrs.count) addresses" + (addrs.isEmpty ? "" : ": " + addrs.prefix(6).joined(separator: " ") + (addrs.count > 6 ? " …" : ""))
            lines.append(l)
            for d in e.drift { lines.append("    drift: \(d)") }
        }
        for d in drift { lines.append("  drift: \(d)") }
        if !hasDrift { lines.append("  no drift") }
        return lines.joined(separator: "\n") + "\n"
    }

    public var json: JSON {
        func opt(_ s: String?) -> JSON { s.map { .string($0) } ?? .null }
        func opt(_ i: Int?) -> JSON { i.map { JSON(integerLiteral: $0) } ?? .null }
        func opt(_ b: Bool?) -> JSON { b.map { .bool($0) } ?? .null }
        let enisJSON: [JSON] = enis.map { e in
            var link: JSON = .null
            if let l = e.link {
                link = .object(JSONObject([("name", .string(l.name)), ("index", JSON(integerLiteral: Int(l.index))),
                                           ("up", .bool(l.isUp))]))
            }
            return .object(JSONObject([
                ("id", .string(e.id)), ("ownership", .string(e.ownership.rawValue)), ("subnetId", opt(e.subnetID)),
                ("mac", opt(e.mac)), ("networkCardIndex", opt(e.networkCard)), ("deviceIndex", opt(e.deviceIndex)),
                ("attachmentStatus", opt(e.attachmentStatus)),
                ("ipv4", .array(e.ipv4.map { .string($0) })), ("ipv6", .array(e.ipv6.map { .string($0) })),
                ("sourceDestCheck", opt(e.sourceDestCheck)), ("deleteOnTermination", opt(e.deleteOnTermination)),
                ("link", link), ("drift", .array(e.drift.map { .string($0) })),
            ]))
        }
        return .object(JSONObject([
            ("instanceId", .string(instanceID)), ("availabilityZone", .string(availabilityZone)),
            ("limits", limits.json), ("enis", .array(enisJSON)), ("drift", .array(drift.map { .string($0) })),
            ("hasDrift", .bool(hasDrift)),
        ]))
    }
}

extension NodeLimits {
    public var json: JSON {
        .object(JSONObject([
            ("instanceType", .string(instanceType)), ("maximumNetworkInterfaces", JSON(integerLiteral: maximumNetworkInterfaces)),
            ("ipv4AddressesPerInterface", JSON(integerLiteral: ipv4PerInterface)),
            ("ipv6AddressesPerInterface", JSON(integerLiteral: ipv6PerInterface)),
            ("networkCards", JSON(integerLiteral: networkCards.count)),
            ("unmanagedENIsOnDefaultCard", JSON(integerLiteral: unmanagedOnDefaultCard)),
            ("vpcCNIENIs", JSON(integerLiteral: enisForVPCCNI)),
            ("vpcCNIMaxPods", JSON(integerLiteral: vpcCNIMaxPods)),
            ("vpcCNIMaxPodsWithoutUnmanaged", JSON(integerLiteral: vpcCNIMaxPodsWithoutMultus)),
        ]))
    }
}

extension AttachReport {
    public var json: JSON {
        .object(JSONObject([
            ("instanceId", .string(instanceID)), ("availabilityZone", .string(availabilityZone)),
            ("changed", .bool(changed)), ("limits", limits.json),
            ("enis", .array(enis.map { e in
                .object(JSONObject([
                    ("id", .string(e.id)), ("subnetId", .string(e.subnetID)), ("mac", .string(e.mac)),
                    ("networkCardIndex", JSON(integerLiteral: e.networkCard)),
                    ("deviceIndex", e.deviceIndex.map { JSON(integerLiteral: $0) } ?? .null),
                    ("link", .string(e.linkName)), ("securityGroups", .array(e.securityGroups.map { .string($0) })),
                    ("actions", .array(e.actions.map { .string($0) })),
                ]))
            })),
            ("unconfigured", .array(unconfigured.map { .string($0) })),
        ]))
    }

    public var human: String {
        var lines = enis.map { e in
            "\(e.id)  \(e.subnetID)  card \(e.networkCard) dev \(e.deviceIndex.map(String.init) ?? "?")  \(e.mac)  \(e.linkName)  "
                + (e.actions.isEmpty ? "unchanged" : e.actions.joined(separator: ", "))
        }
        lines.append(Attacher.limitsLine(limits))
        return lines.joined(separator: "\n") + "\n"
    }
}
