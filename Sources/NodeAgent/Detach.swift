import AWS
import NodeState

/// `detach` (this node's ENIs) and `cleanup` (the cluster's unattached leftovers). Both act only on ENIs whose
/// tags say they are ours, checked on the tags themselves (the describe filters only narrow the list).
public struct Detacher {
    public let ctx: NodeContext

    public init(_ ctx: NodeContext) { self.ctx = ctx }

    /// Detaches (when attached to this instance) and deletes every ENI tagged for this node and cluster; removes
    /// their drop-ins and records. Returns the deleted ids. Failures on one ENI do not stop the others.
    public func detachNode() throws(NodeError) -> [String] {
        try ctx.config.validate(needsSubnets: false)
        let cluster = ctx.config.clusterName
        let s = try ctx.openSession()
        let me = try aws("IMDS instance-id") { () throws(AWSError) in try s.imds.instanceID() }
        let tagged = try aws("DescribeNetworkInterfaces tagged for \(me)") { () throws(AWSError) in
            try s.ec2.describeNetworkInterfaces(filters: [EC2Filter.tag(NodeTags.node, me), EC2Filter.tag(NodeTags.cluster, cluster)])
        }
        var deleted: [String] = []
        var failures: [String] = []
        for n in tagged.sorted(by: { $0.id < $1.id }) {
            guard Ownership.isOurs(n, cluster: cluster, node: me) else {
                ctx.log("\(n.id): not ours (tags \(n.tags.keys.sorted())): left alone")
                continue
            }
            do {
                if let a = n.attachment, a.status != "detached" {
                    guard a.instanceID == me else {
                        ctx.log("\(n.id) is attached to \(a.instanceID ?? "?"), not this node: left alone")
                        continue
                    }
                    try aws("DetachNetworkInterface \(a.id)") { () throws(AWSError) in
                        try s.ec2.detachNetworkInterface(attachmentID: a.id)
                    }
                    ctx.log("detaching \(n.id) (\(a.id))")
                    try Self.waitDetached(n.id, session: s, clock: ctx.clock, timeout: ctx.config.detachTimeoutSeconds)
                }
                try Self.delete(n.id, session: s)
                ctx.log("deleted \(n.id) (its addresses are released with it)")
                try NetworkdDropIn.remove(paths: ctx.paths, eniID: n.id)
                try ENIRecord.remove(ctx.paths, n.id)
                deleted.append(n.id)
            } catch {
                failures.append("\(n.id): \(error)")
                ctx.log("\(n.id): \(error)")
            }
        }
        if !failures.isEmpty { throw .state("detach failed for " + failures.joined(separator: "; ")) }
        if tagged.isEmpty { ctx.log("no ENI is tagged for \(me) in cluster \(cluster)") }
        return deleted
    }

    /// Deletes the cluster's ENIs that are not attached (status `available`): leftovers of terminated nodes or of
    /// interrupted runs. Foreign ENIs (without our cluster tag, or without our node tag) are never touched.
    public func cleanupCluster() throws(NodeError) -> [String] {
        try ctx.config.validate(needsSubnets: false)
        let cluster = ctx.config.clusterName
        let s = try ctx.openSession()
        let found = try aws("DescribeNetworkInterfaces of cluster \(cluster)") { () throws(AWSError) in
            try s.ec2.describeNetworkInterfaces(filters: [EC2Filter.tag(NodeTags.cluster, cluster),
                                                           EC2Filter("status", "available")])
        }
        var deleted: [String] = []
        var failures: [String] = []
        for n in found.sorted(by: { $0.id < $1.id }) {
            guard Ownership.isClusters(n, cluster: cluster), n.status == "available", n.attachment == nil
                || n.attachment?.status == "detached"
            else {
                ctx.log("\(n.id): not an unattached eni-multus ENI of \(cluster): left alone")
                continue
            }
            do {
                try Self.delete(n.id, session: s)
                ctx.log("deleted \(n.id) (left by \(n.tags[NodeTags.node] ?? "?"))")
                deleted.append(n.id)
            } catch {
                failures.append("\(n.id): \(error)")
            }
        }
        if !failures.isEmpty { throw .state("cleanup failed for " + failures.joined(separator: "; ")) }
        if deleted.isEmpty { ctx.log("no unattached eni-multus ENI in cluster \(cluster)") }
        return deleted
    }

    static func delete(_ id: String, session s: AWSSession) throws(NodeError) {
        do {
            try s.ec2.deleteNetworkInterface(id: id)
        } catch {
            if error.code == "InvalidNetworkInterfaceID.NotFound" { return }
            throw .aws(context: "DeleteNetworkInterface \(id)", error)
        }
    }

    /// Polls DescribeNetworkInterfaces until the ENI is `available` (detaching takes seconds on AWS).
    static func waitDetached(_ id: String, session s: AWSSession, clock: any AWSClock, timeout: Double) throws(NodeError) {
        let end = clock.monotonic() + timeout
        var delay = 0.5
        while true {
            let n = try aws("DescribeNetworkInterfaces \(id)") { () throws(AWSError) in
                try s.ec2.describeNetworkInterface(id: id)
            }
            guard let n else { return }
            if n.status == "available" && (n.attachment == nil || n.attachment?.status == "detached") { return }
            if clock.monotonic() >= end { throw .state("\(id) still \(n.status ?? "?") after \(Int(timeout)) s") }
            clock.sleep(seconds: delay)
            delay = min(delay * 2, 5)
        }
    }
}
