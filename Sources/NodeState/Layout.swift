import NetTypes

/// Where everything of eni-multus lives on a node: one place for the plugin and the node agent alike
/// (docs/state-format.md describes the same tree). Directories 0700, files 0600; the durability of each file is
/// stated where it is written (`Platform.Durability`).
public struct NodeStateLayout: Sendable, Equatable {
    /// The state directory of every network and of the node (`ipam.dataDir`, `--data-dir`).
    public static let defaultDataDir = "/var/lib/cni/eni-multus"

    public let dataDir: String
    public init(dataDir: String = NodeStateLayout.defaultDataDir) { self.dataDir = dataDir }

    public func network(_ name: String) -> NetworkState { NetworkState(root: "\(dataDir)/\(name)") }

    /// ENIs whose `no_manage` tag was verified (one file per ENI id; a hint).
    public var verifiedENIs: String { dataDir + "/.eni" }
    /// The instance type's per-ENI address limits (a hint: read once per node).
    public var instanceLimits: String { dataDir + "/.instance-limits" }
    /// When reconcile first saw each unowned address (a hint).
    public var reconcileSightings: String { dataDir + "/.reconcile-seen" }
    /// The node agent's lock, holding its pid: one agent per node.
    public var agentLock: String { dataDir + "/agent.lock" }
}

/// One network's state: `<dataDir>/<network>/`.
public struct NetworkState: Sendable, Equatable {
    public let root: String
    public init(root: String) { self.root = root }

    /// The flock every change of the ranges store is made under.
    public var lock: String { root + "/lock" }
    /// `attachments/<containerID>:<ifname>`: an attachment's record (`AttachmentRecord`).
    public var attachments: String { root + "/attachments" }
    public func attachment(_ k: AttachmentKey) -> String { "\(attachments)/\(k.fileName)" }
    /// `ips/<address>`: one file per reserved address, holding its owner (`AttachmentKey.ownerBytes`).
    public var ips: String { root + "/ips" }
    public func ip(_ a: IPAddress) -> String { "\(ips)/\(a)" }
    /// `last_reserved_ip.<set>`: the round-robin cursor of a range set (a hint).
    public func cursor(_ set: Int) -> String { "\(root)/last_reserved_ip.\(set)" }
    /// `cooling/<address>`: when a released address's cooldown ends (a hint).
    public var cooling: String { root + "/cooling" }
    public func cooling(_ a: IPAddress) -> String { "\(cooling)/\(a)" }
    /// `links/<containerID>:<ifname>`: a moved host device's name and MAC (`LinkRecord`, a hint).
    public var links: String { root + "/links" }
    public func link(_ k: AttachmentKey) -> String { "\(links)/\(k.fileName)" }

    /// `ec2/`: EC2 registration's records.
    public var ec2: String { root + "/ec2" }
    /// The flock of the ledger, the release queue and the warm pool.
    public var ec2Lock: String { ec2 + "/lock" }
    /// `ec2/ledger/<containerID>:<ifname>`: what an attachment registered (`RegistrationEntry`).
    public var ledger: String { ec2 + "/ledger" }
    /// `ec2/queue/<n>`: releases waiting for their cooldown or for EC2 (`RegistrationEntry`).
    public var queue: String { ec2 + "/queue" }
    /// `ec2/warm/<address>`: `ec2` mode's warm pool (`RegistrationEntry`).
    public var warm: String { ec2 + "/warm" }
    /// `ec2/prefixes`: `prefix` mode's held prefixes (`HeldPrefix`).
    public var prefixes: String { ec2 + "/prefixes" }
    public var prefixLock: String { ec2 + "/prefix.lock" }
}

/// The tags that mark an ENI as this project's.
public enum NodeTags {
    /// The VPC CNI leaves an ENI alone only with this tag (`MANAGE_UNTAGGED_ENI` adopts untagged ones).
    public static let noManage = "node.k8s.amazonaws.com/no_manage"
    /// `<clusterName>`: the plugin's ownership tag (reassignment guard, IAM resource-tag conditions).
    public static let cluster = "eni-multus.io/cluster"
    /// `<instance-id>`: the node the ENI was created for (detach/cleanup touch only ENIs carrying it).
    public static let node = "eni-multus.io/node"
}

/// Who holds an attachment: the CNI (network, containerID, ifname) key without the network.
public struct AttachmentKey: Hashable, Sendable, CustomStringConvertible {
    public var containerID: String
    public var ifname: String
    public init(containerID: String, ifname: String) { self.containerID = containerID; self.ifname = ifname }

    /// File name in `attachments/`, `ec2/ledger/` and `links/`: `:` appears in neither a container id nor an
    /// interface name.
    public var fileName: String { "\(containerID):\(ifname)" }
    public init?(fileName: String) {
        guard let c = fileName.firstIndex(of: ":") else { return nil }
        containerID = String(fileName[..<c])
        ifname = String(fileName[fileName.index(after: c)...])
        if containerID.isEmpty || ifname.isEmpty { return nil }
    }
    /// Content of an address file: the owner.
    public var ownerBytes: [UInt8] { Array("\(containerID)\n\(ifname)\n".utf8) }
    public var description: String { "\(containerID)/\(ifname)" }
}
