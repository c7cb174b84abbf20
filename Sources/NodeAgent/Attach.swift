import Platform
import AWS
import NodeState

/// One multus ENI after `attach`.
public struct AttachedENI: Sendable, Equatable {
    public var id: String
    public var subnetID: String
    public var mac: String
    public var deviceIndex: Int?
    public var networkCard: Int
    public var linkName: String
    public var securityGroups: [String]
    /// What this run did to it (empty on a rerun that found everything in place).
    public var actions: [String]
}

public struct AttachReport: Sendable, Equatable {
    public var instanceID: String
    public var availabilityZone: String
    public var limits: NodeLimits
    public var enis: [AttachedENI]
    /// Ours, tagged for this node, matching no configured subnet (left alone; `detach` removes them).
    public var unconfigured: [String]
    public var changed: Bool { enis.contains { !$0.actions.isEmpty } }
}

/// `eni-multus-node attach`: per configured subnet, find this node's ENI or create one (tagged at creation),
/// attach it at a free device index, set DeleteOnTermination and SourceDestCheck, keep networkd off it, wait for
/// its link by MAC, bring it up and set rp_filter. A failure after the create undoes what this run did to that
/// ENI (detach, delete, drop-in) in reverse order. A rerun on a configured node makes no mutating EC2 call.
///
/// An ENI attached here in a configured subnet with `no_manage=true` and none of our tags (the seed template's) is
/// adopted with `adopt` (one CreateTags with our cluster and node tags, then the steps above: DeleteOnTermination,
/// SourceDestCheck, drop-in, link); without it `attach` refuses before any mutation, naming the ENI and the flag.
public struct Attacher {
    public let ctx: NodeContext

    public init(_ ctx: NodeContext) { self.ctx = ctx }

    public func run() throws(NodeError) -> AttachReport {
        let cfg = ctx.config
        try cfg.validate(needsSubnets: true)
        let s = try ctx.openSession()
        let inv = try NodeInventory.load(s, cluster: cfg.clusterName, log: ctx.log)
        let subnets = try SubnetResolver.resolve(cfg, az: inv.availabilityZone, session: s)

        // Match each configured subnet with one of our ENIs in it (attached here first), each ENI used once; failing
        // that, with an adoptable ENI attached here in it (the seed's: no_manage, none of our tags).
        var pool = inv.ours.sorted { a, b in
            let ah = inv.isAttachedHere(a), bh = inv.isAttachedHere(b)
            if ah != bh { return ah }
            return (a.attachment?.deviceIndex ?? 99, a.id) < (b.attachment?.deviceIndex ?? 99, b.id)
        }
        var seeds = inv.attached.filter { inv.isAttachedHere($0) && Ownership.isAdoptable($0) }
            .sorted { ($0.attachment?.deviceIndex ?? 99, $0.id) < ($1.attachment?.deviceIndex ?? 99, $1.id) }
        var plan: [(subnet: ResolvedSubnet, existing: NetworkInterface?, adopt: Bool)] = []
        var refused: [String] = []
        for r in subnets {
            if let i = pool.firstIndex(where: { $0.subnetID == r.subnetID }) {
                plan.append((r, pool.remove(at: i), false))
            } else if let j = seeds.firstIndex(where: { $0.subnetID == r.subnetID }) {
                let seed = seeds.remove(at: j)
                if cfg.adopt {
                    plan.append((r, seed, true))
                } else {
                    refused.append("\(seed.id) (device index \(seed.attachment?.deviceIndex.map(String.init) ?? "?"), "
                                   + "\(r.subnetID))")
                    plan.append((r, nil, false))
                }
            } else {
                plan.append((r, nil, false))
            }
        }
        let unconfigured = pool.map(\.id)
        for id in unconfigured { ctx.log("\(id) is tagged for this node but matches no configured subnet: left alone") }
        for n in seeds {
            let configured = subnets.contains { $0.subnetID == n.subnetID }
            ctx.log("\(n.id) (no_manage, no eni-multus tags) is in \(n.subnetID ?? "?"), "
                    + (configured ? "whose ENI is another one" : "which is not configured") + ": left alone")
        }
        // A second ENI next to the seed's in the same subnet would split the pods' addresses over two ENIs and take
        // an ENI slot from the VPC CNI: never silently. The operator adopts it or removes it.
        if !refused.isEmpty {
            throw .state("\(refused.joined(separator: ", ")) \(refused.count == 1 ? "is" : "are") attached to this node "
                         + "with \(NodeTags.noManage)=true and no eni-multus tags (an ENI of the seed's template?): "
                         + "refusing to create a second ENI in the same subnet. Run attach with --adopt (config "
                         + "\"adopt\": true) to tag it for cluster \(cfg.clusterName) and node \(inv.instanceID) and use "
                         + "it, or detach it from this node first")
        }

        // Refuse before any mutation when the instance type cannot take them all.
        let needed = plan.filter { $0.existing == nil || !inv.isAttachedHere($0.existing!) }.count
        let maxENIs = inv.instanceType.maximumNetworkInterfaces
        if inv.attached.count + needed > maxENIs {
            throw .state("\(inv.instanceType.instanceType) takes at most \(maxENIs) ENIs: \(inv.attached.count) are "
                         + "attached and \(needed) more are configured")
        }

        var planned: [Placement] = []
        var attachedNow: [NetworkInterface] = []
        var results: [AttachedENI] = []
        for (r, existing, adopt) in plan {
            let result = try configure(r, existing: existing, adopt: adopt, inv: inv, session: s, planned: &planned,
                                       attachedNow: &attachedNow)
            results.append(result)
        }
        var after = inv
        after.attached += attachedNow
        let report = AttachReport(instanceID: inv.instanceID, availabilityZone: inv.availabilityZone,
                                  limits: after.limits, enis: results, unconfigured: unconfigured)
        ctx.log(Self.limitsLine(report.limits))
        return report
    }

    static func limitsLine(_ l: NodeLimits) -> String {
        "\(l.instanceType): \(l.maximumNetworkInterfaces) ENIs, \(l.ipv4PerInterface) IPv4 and \(l.ipv6PerInterface) IPv6 "
            + "per ENI; \(l.unmanagedOnDefaultCard) unmanaged ENIs on the VPC CNI's card leave it \(l.enisForVPCCNI) ENIs: "
            + "max pods \(l.vpcCNIMaxPods) (\(l.vpcCNIMaxPodsWithoutMultus) without them)"
    }

    private func configure(_ r: ResolvedSubnet, existing: NetworkInterface?, adopt: Bool, inv: NodeInventory,
                           session s: AWSSession,
                           planned: inout [Placement], attachedNow: inout [NetworkInterface]) throws(NodeError) -> AttachedENI
    {
        let cfg = ctx.config
        let paths = ctx.paths
        let log = ctx.log
        let undo = UndoStack()
        var actions: [String] = []
        do throws(NodeError) {
            var eni: NetworkInterface
            if let existing {
                eni = existing
                if adopt {
                    // Our two tags on the seed's ENI (no_manage is already there). Not undone on a later failure:
                    // IAM grants no DeleteTags, and the next run finds the ENI as this node's and carries on.
                    let tags = [EC2Tag(NodeTags.cluster, cfg.clusterName), EC2Tag(NodeTags.node, inv.instanceID)]
                    let id = eni.id
                    try aws("CreateTags \(id) (adopt)") { () throws(AWSError) in
                        try s.ec2.createTags(resourceIDs: [id], tags: tags)
                    }
                    for t in tags { eni.tags[t.key] = t.value }
                    actions.append("adopted")
                    log("adopted \(id) (device index \(eni.attachment?.deviceIndex.map(String.init) ?? "?"), \(r.subnetID)): "
                        + "tagged \(NodeTags.cluster)=\(cfg.clusterName), \(NodeTags.node)=\(inv.instanceID); it is "
                        + "this node's eni-multus ENI from now on (detach deletes it)")
                }
            } else {
                let tags = [EC2Tag(NodeTags.noManage, "true"), EC2Tag(NodeTags.cluster, cfg.clusterName),
                            EC2Tag(NodeTags.node, inv.instanceID)]
                    + cfg.extraTags.keys.sorted().map { EC2Tag($0, cfg.extraTags[$0]!) }
                eni = try aws("CreateNetworkInterface in \(r.subnetID)") { () throws(AWSError) in
                    try s.ec2.createNetworkInterface(
                        subnetID: r.subnetID, securityGroupIDs: r.securityGroups,
                        description: "eni-multus \(cfg.clusterName) \(inv.instanceID)", tags: tags)
                }
                let id = eni.id
                undo.push("CreateNetworkInterface \(id)") { () throws in
                    try aws("DeleteNetworkInterface \(id)") { () throws(AWSError) in try s.ec2.deleteNetworkInterface(id: id) }
                }
                actions.append("created")
                log("created \(id) in \(r.subnetID) (security groups: \(r.securityGroups.isEmpty ? "VPC default" : r.securityGroups.joined(separator: ",")); tagged at creation)")
            }
            let id = eni.id
            guard let mac = eni.macAddress else { throw NodeError.state("EC2 reports no MAC address for \(id)") }

            // Before the attachment: the reload triggered by the hot-plug must already see it.
            if cfg.networkd, try NetworkdDropIn.write(paths: paths, eniID: id, mac: mac, cluster: cfg.clusterName) {
                undo.push("networkd drop-in for \(id)") { () throws in try NetworkdDropIn.remove(paths: paths, eniID: id) }
                actions.append("networkd drop-in")
                log("wrote \(paths.networkdPath)/\(NetworkdDropIn.fileName(eniID: id)) (Unmanaged=yes for \(mac))")
            }

            var attachmentID = inv.isAttachedHere(eni) ? eni.attachment?.id : nil
            var deviceIndex = eni.attachment?.deviceIndex
            var card = eni.attachment?.networkCardIndex ?? 0
            var newlyAttached = false
            if attachmentID == nil {
                if let other = eni.attachment?.instanceID, other != inv.instanceID, eni.attachment?.status != "detached" {
                    throw NodeError.state("\(id) is tagged for \(inv.instanceID) but attached to \(other)")
                }
                let p = try PlacementPolicy.next(info: inv.instanceType, attached: inv.attached, planned: planned)
                let result = try aws("AttachNetworkInterface \(id) at device index \(p.deviceIndex)") { () throws(AWSError) in
                    try s.ec2.attachNetworkInterface(networkInterfaceID: id, instanceID: inv.instanceID,
                                                     deviceIndex: p.deviceIndex,
                                                     networkCardIndex: p.sendsNetworkCard ? p.networkCard : nil)
                }
                let aid = result.attachmentID
                let timeout = cfg.detachTimeoutSeconds
                let clock = ctx.clock
                undo.push("AttachNetworkInterface \(id)") { () throws in
                    try aws("DetachNetworkInterface \(aid)") { () throws(AWSError) in
                        try s.ec2.detachNetworkInterface(attachmentID: aid, force: true)
                    }
                    try Detacher.waitDetached(id, session: s, clock: clock, timeout: timeout)
                }
                planned.append(p)
                attachmentID = aid
                deviceIndex = p.deviceIndex
                card = p.networkCard
                newlyAttached = true
                eni.attachment = NetworkInterfaceAttachment(id: aid, instanceID: inv.instanceID, deviceIndex: p.deviceIndex,
                                                            networkCardIndex: p.networkCard, status: "attaching")
                attachedNow.append(eni)
                actions.append("attached")
                log("attached \(id) to \(inv.instanceID) at device index \(p.deviceIndex)"
                    + (p.sendsNetworkCard ? ", network card \(p.networkCard)" : "") + " (\(aid))")
            }
            guard let aid = attachmentID else { throw NodeError.state("\(id) has no attachment") }

            // DeleteOnTermination: set by the run that attached; repeated only when no record of it exists for this
            // attachment (a run interrupted between attach and modify).
            if newlyAttached || ENIRecord.attachmentID(paths, id) != aid {
                try aws("ModifyNetworkInterfaceAttribute \(id) DeleteOnTermination") { () throws(AWSError) in
                    try s.ec2.modifyDeleteOnTermination(networkInterfaceID: id, attachmentID: aid, deleteOnTermination: true)
                }
                actions.append("DeleteOnTermination")
                log("\(id): DeleteOnTermination=true")
            }
            if existing == nil || eni.sourceDestCheck != cfg.sourceDestCheck {
                try aws("ModifyNetworkInterfaceAttribute \(id) SourceDestCheck") { () throws(AWSError) in
                    try s.ec2.modifySourceDestCheck(networkInterfaceID: id, enabled: cfg.sourceDestCheck)
                }
                actions.append("SourceDestCheck=\(cfg.sourceDestCheck)")
                log("\(id): SourceDestCheck=\(cfg.sourceDestCheck)")
            }

            let link = try ctx.links.waitForLink(mac: mac, timeout: cfg.linkTimeoutSeconds, clock: ctx.clock)
            if !link.isUp {
                try ctx.links.setUp(link)
                actions.append("link up")
                log("\(link.name) (\(mac), \(id)) is up")
            }
            if let rp = cfg.rpFilter {
                try ctx.links.writeSysctl("net/ipv4/conf/\(link.name)/rp_filter", String(rp))
            }
            if ENIRecord.attachmentID(paths, id) != aid {
                try ENIRecord.write(paths, eniID: id, mac: mac, subnetID: r.subnetID, attachmentID: aid)
            }
            undo.commit()
            if actions.isEmpty { log("\(id) (\(link.name), device index \(deviceIndex.map(String.init) ?? "?")) already in place") }
            return AttachedENI(id: id, subnetID: r.subnetID, mac: mac, deviceIndex: deviceIndex, networkCard: card,
                               linkName: link.name, securityGroups: r.securityGroups, actions: actions)
        } catch {
            log("failed for subnet \(r.subnetID): \(error); undoing this run's changes to it")
            undo.rollback(log: log)
            throw error
        }
    }
}
