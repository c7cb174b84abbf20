import AWS
import NodeState

/// What EC2 and IMDS say about this node: identity, limits, attached ENIs, and the ENIs tagged as ours.
public struct NodeInventory {
    public var instanceID: String
    public var availabilityZone: String
    public var instanceType: InstanceTypeInfo
    /// Every ENI attached to this instance (`attachment.instance-id` filter), primary included.
    public var attached: [NetworkInterface]
    /// ENIs carrying our cluster and node tags (attached here or left unattached by an interrupted run).
    public var ours: [NetworkInterface]

    /// IMDS: instance-id, placement/availability-zone, instance-type; EC2: DescribeInstanceTypes and two
    /// DescribeNetworkInterfaces (attached to this instance; tagged for this node).
    static func load(_ s: AWSSession, cluster: String, log: (String) -> Void) throws(NodeError) -> NodeInventory {
        let id = try aws("IMDS instance-id") { () throws(AWSError) in try s.imds.instanceID() }
        let az = try aws("IMDS placement/availability-zone") { () throws(AWSError) in try s.imds.availabilityZone() }
        let type = try aws("IMDS instance-type") { () throws(AWSError) in try s.imds.instanceType() }
        let info = try aws("DescribeInstanceTypes \(type)") { () throws(AWSError) in try s.ec2.describeInstanceType(type) }
        let attached = try aws("DescribeNetworkInterfaces attached to \(id)") { () throws(AWSError) in
            try s.ec2.describeNetworkInterfaces(filters: [EC2Filter("attachment.instance-id", id)])
        }
        let tagged = try aws("DescribeNetworkInterfaces tagged for \(id)") { () throws(AWSError) in
            try s.ec2.describeNetworkInterfaces(filters: [EC2Filter.tag(NodeTags.node, id),
                                                           EC2Filter.tag(NodeTags.cluster, cluster)])
        }
        // Filters are a convenience: ownership is decided here, on the tags themselves.
        let ours = tagged.filter { Ownership.isOurs($0, cluster: cluster, node: id) }
        log("node \(id) (\(type), \(az)): \(attached.count) ENIs attached, \(ours.count) tagged as this node's")
        return NodeInventory(instanceID: id, availabilityZone: az, instanceType: info, attached: attached, ours: ours)
    }

    public var limits: NodeLimits { NodeLimits(info: instanceType, attached: attached) }

    func isAttachedHere(_ n: NetworkInterface) -> Bool {
        n.attachment?.instanceID == instanceID && n.attachment?.status != "detaching" && n.attachment?.status != "detached"
    }
}

public enum Ownership: String, Sendable {
    /// Created by eni-multus-node for this cluster (and, for `isOurs`, this node).
    case eniMultus = "eni-multus"
    /// Tagged no_manage by someone else (the seed's template, a script): left alone.
    case otherUnmanaged = "other-unmanaged"
    /// The VPC CNI's (or untagged): left alone.
    case vpcCNI = "vpc-cni"
    case primary

    static func of(_ n: NetworkInterface, cluster: String, node: String) -> Ownership {
        if n.attachment?.deviceIndex == 0 && (n.attachment?.networkCardIndex ?? 0) == 0 { return .primary }
        if isOurs(n, cluster: cluster, node: node) { return .eniMultus }
        if n.tags[NodeTags.noManage] == "true" { return .otherUnmanaged }
        return .vpcCNI
    }

    /// Ours: all three of our tags, with this cluster's and this node's values.
    public static func isOurs(_ n: NetworkInterface, cluster: String, node: String) -> Bool {
        n.tags[NodeTags.cluster] == cluster && n.tags[NodeTags.node] == node && n.tags[NodeTags.noManage] == "true"
    }

    /// What `attach --adopt` may take over (the seed template's ENIs): attached (the caller checks: to this
    /// instance), not the primary (device 0 on card 0), a plain `interface` not managed by an AWS service, tagged
    /// `no_manage=true`, and carrying neither of our tags, so an ENI tagged for another cluster or node never is.
    public static func isAdoptable(_ n: NetworkInterface) -> Bool {
        guard let a = n.attachment, let device = a.deviceIndex else { return false }
        if device == 0 && (a.networkCardIndex ?? 0) == 0 { return false }
        return n.tags[NodeTags.noManage] == "true" && n.tags[NodeTags.cluster] == nil && n.tags[NodeTags.node] == nil
            && n.requesterManaged != true && (n.interfaceType ?? "interface") == "interface"
    }

    /// Ours at cluster level (any node): what `cleanup` may delete once unattached.
    public static func isClusters(_ n: NetworkInterface, cluster: String) -> Bool {
        n.tags[NodeTags.cluster] == cluster && n.tags[NodeTags.node] != nil && n.tags[NodeTags.noManage] == "true"
    }
}

/// A configured subnet resolved for this node's availability zone.
public struct ResolvedSubnet: Sendable, Equatable {
    public var spec: SubnetSpec
    public var subnetID: String
    public var securityGroups: [String]
}

enum SubnetResolver {
    /// Resolves every configured subnet to one subnet id in `az`: one DescribeSubnets for all the id forms, one
    /// per tag selector. A selector with no subnet in this AZ is an error (a node must not come up without its
    /// multus ENIs); so is a tag selector matching several.
    static func resolve(_ config: NodeConfig, az: String, session s: AWSSession) throws(NodeError) -> [ResolvedSubnet] {
        var ids: [String] = []
        for spec in config.subnets {
            switch spec.selector {
            case .id(let i): ids.append(i)
            case .ids(let l): ids += l
            case .tags: break
            }
        }
        var byID: [String: Subnet] = [:]
        if !ids.isEmpty {
            let unique = Array(Set(ids)).sorted()
            for sn in try aws("DescribeSubnets \(unique.joined(separator: ","))", { () throws(AWSError) in
                try s.ec2.describeSubnets(ids: unique)
            }) { byID[sn.id] = sn }
        }
        var out: [ResolvedSubnet] = []
        for spec in config.subnets {
            let id: String
            switch spec.selector {
            case .id(let i):
                guard let sn = byID[i] else { throw .state("subnet \(i) does not exist") }
                guard sn.availabilityZone == az else {
                    throw .state("subnet \(i) is in \(sn.availabilityZone ?? "?"), this node is in \(az) "
                                 + "(list one subnet per AZ with \"ids\", or select by tags)")
                }
                id = i
            case .ids(let l):
                let here = l.filter { byID[$0]?.availabilityZone == az }
                guard here.count == 1 else {
                    throw .state(here.isEmpty ? "none of the subnets \(l.joined(separator: ", ")) is in \(az)"
                                 : "several of the subnets \(l.joined(separator: ", ")) are in \(az): \(here.joined(separator: ", "))")
                }
                id = here[0]
            case .tags(let tags):
                let filters = tags.keys.sorted().map { EC2Filter.tag($0, tags[$0]!) } + [EC2Filter("availability-zone", az)]
                let found = try aws("DescribeSubnets \(spec.selector)") { () throws(AWSError) in
                    try s.ec2.describeSubnets(filters: filters)
                }.filter { sn in sn.availabilityZone == az && tags.allSatisfy { sn.tags[$0.key] == $0.value } }
                guard found.count == 1 else {
                    throw .state(found.isEmpty ? "no subnet in \(az) carries \(spec.selector)"
                                 : "several subnets in \(az) carry \(spec.selector): \(found.map(\.id).sorted().joined(separator: ", "))")
                }
                id = found[0].id
            }
            out.append(ResolvedSubnet(spec: spec, subnetID: id, securityGroups: config.securityGroups(for: spec)))
        }
        return out
    }
}
