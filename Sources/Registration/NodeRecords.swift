#if canImport(Glibc)
import Glibc
#endif
import AgentProtocol
import NetTypes
import NodeState
import Platform

/// Node-level records shared by every network: `<dataDir>/.eni/` (ENIs whose no_manage tag was verified) and
/// `<dataDir>/.instance-limits` (the instance type's per-ENI limits: one `DescribeInstanceTypes` per node).
public struct NodeRecords {
    public let dataDir: String
    public init(dataDir: String) { self.dataDir = dataDir }
    var layout: NodeStateLayout { NodeStateLayout(dataDir: dataDir) }

    public var verifiedENIs: VerifiedENICache { VerifiedENICache(dir: layout.verifiedENIs) }
    var limitsPath: String { layout.instanceLimits }

    public func limits(_ gateway: EC2Gateway) throws -> AddressLimits {
        if let r = try FileIO.read(limitsPath).flatMap(InstanceLimitsRecord.init) {
            return AddressLimits(instanceType: r.instanceType, ipv4PerENI: r.ipv4PerENI, ipv6PerENI: r.ipv6PerENI)
        }
        let l = try gateway.addressLimits()
        try FileIO.makeDirectories(dataDir)
        let record = InstanceLimitsRecord(instanceType: l.instanceType, ipv4PerENI: l.ipv4PerENI, ipv6PerENI: l.ipv6PerENI)
        try FileIO.writeAtomically(limitsPath, record.bytes, .hint)
        return l
    }
}

/// ENIs whose `no_manage` tag has been verified on this node, so that steady-state ADDs make no Describe call:
/// `<dir>/<eni-id>` holds the subnet id. An ENI id is never reused, and an ENI that leaves the instance stops
/// being selected (IMDS), so the cache cannot point at the wrong ENI (reconcile prunes entries of ENIs no longer
/// attached). Removing the tag from an ENI that stays attached is not noticed until its entry is removed.
public struct VerifiedENICache {
    public let dir: String
    public init(dir: String) { self.dir = dir }
    public func contains(_ id: String) -> Bool { FileIO.exists("\(dir)/\(id)") }
    public func remember(_ e: ENIDescription) {
        try? FileIO.makeDirectories(dir)
        try? FileIO.writeAtomically("\(dir)/\(e.id)", Array("subnet=\(e.subnetID)\n".utf8), .hint)
    }
    public func all() -> [String] { (try? FileIO.list(dir)) ?? [] }
    public func forget(_ id: String) { _ = try? FileIO.remove("\(dir)/\(id)", .hint) }
}

