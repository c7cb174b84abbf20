import JSON
import NodeState

/// How one configured multus subnet is found. One entry = one ENI on the node.
public enum SubnetSelector: Sendable, Equatable, CustomStringConvertible {
    /// Exactly this subnet (it must be in the node's availability zone).
    case id(String)
    /// The one of these subnets that is in the node's AZ (one list serves a multi-AZ node group).
    case ids([String])
    /// The subnet in the node's AZ carrying all these tags (`tag:K=V` filters + `availability-zone`).
    case tags([String: String])

    public var description: String {
        switch self {
        case .id(let s): return s
        case .ids(let l): return l.joined(separator: "|")
        case .tags(let t): return t.keys.sorted().map { "tag:\($0)=\(t[$0]!)" }.joined(separator: ",")
        }
    }

    /// `subnet-…`, `subnet-a|subnet-b`, or `tag:K=V[,tag:K2=V2]` (the command-line form).
    public static func parse(_ text: String) throws(NodeError) -> SubnetSelector {
        let t = text.trimmingASCIISpaces()
        if t.hasPrefix("tag:") {
            var tags: [String: String] = [:]
            for part in t.split(separator: ",") {
                guard part.hasPrefix("tag:"), let eq = part.firstIndex(of: "=") else {
                    throw .config("subnet selector \"\(text)\": expected tag:KEY=VALUE[,tag:KEY=VALUE]")
                }
                let key = String(part[part.index(part.startIndex, offsetBy: 4)..<eq])
                guard !key.isEmpty else { throw .config("subnet selector \"\(text)\": empty tag key") }
                tags[key] = String(part[part.index(after: eq)...])
            }
            return .tags(tags)
        }
        let ids = t.split(separator: "|").map(String.init)
        for id in ids where !id.hasPrefix("subnet-") || id.count < 8 {
            throw .config("subnet selector \"\(text)\": \"\(id)\" is not a subnet id (subnet-…) or tag:KEY=VALUE")
        }
        guard !ids.isEmpty else { throw .config("empty subnet selector") }
        return ids.count == 1 ? .id(ids[0]) : .ids(ids)
    }
}

/// One configured multus subnet: how to find it and the security groups of its ENI.
public struct SubnetSpec: Sendable, Equatable {
    public var selector: SubnetSelector
    /// This subnet's security groups; `nil` → the config's global list.
    public var securityGroups: [String]?

    public init(_ selector: SubnetSelector, securityGroups: [String]? = nil) {
        self.selector = selector
        self.securityGroups = securityGroups
    }
}

/// `eni-multus-node`'s configuration (a JSON file, the DaemonSet's ConfigMap, overridden by flags).
///
/// ```json
/// {"clusterName": "demo",
///  "subnets": [{"tags": {"eni-multus.io/role": "multus"}}, {"ids": ["subnet-a", "subnet-b"], "securityGroups": ["sg-2"]}],
///  "securityGroups": ["sg-1"], "sourceDestCheck": false, "rpFilter": 2}
/// ```
public struct NodeConfig: Sendable, Equatable {
    public var clusterName: String
    public var subnets: [SubnetSpec]
    /// The one list for every subnet that names none (the seed's rule); empty → the VPC's default group.
    public var securityGroups: [String]
    /// `ModifyNetworkInterfaceAttribute SourceDestCheck` (EC2's default is `true`; ipvlan l3 routing of foreign
    /// sources wants `false`).
    public var sourceDestCheck: Bool
    /// `net.ipv4.conf.<link>.rp_filter` (0 off, 1 strict, 2 loose); `nil` leaves it alone. The kernel uses the
    /// maximum of this and `conf.all.rp_filter`.
    public var rpFilter: Int?
    /// Write the systemd-networkd `Unmanaged=yes` drop-in (AL2023; harmless elsewhere).
    public var networkd: Bool
    /// Extra tags set at creation (never used to decide ownership).
    public var extraTags: [String: String]
    public var linkTimeoutSeconds: Double
    public var detachTimeoutSeconds: Double
    /// Deadline for all EC2/IMDS work of one command (retries included).
    public var ec2TimeoutSeconds: Double
    /// `attach`: take over an ENI attached to this node in a configured subnet that carries `no_manage=true` and
    /// neither of our tags (the seed template's), by tagging it for this cluster and node. Off: `attach` refuses
    /// to create a second ENI next to such an ENI (see `Attacher`).
    public var adopt: Bool

    public init(clusterName: String = "", subnets: [SubnetSpec] = [], securityGroups: [String] = [],
                sourceDestCheck: Bool = true, rpFilter: Int? = nil, networkd: Bool = true,
                extraTags: [String: String] = [:], linkTimeoutSeconds: Double = 60, detachTimeoutSeconds: Double = 120,
                ec2TimeoutSeconds: Double = 120, adopt: Bool = false)
    {
        self.clusterName = clusterName
        self.subnets = subnets
        self.securityGroups = securityGroups
        self.sourceDestCheck = sourceDestCheck
        self.rpFilter = rpFilter
        self.networkd = networkd
        self.extraTags = extraTags
        self.linkTimeoutSeconds = linkTimeoutSeconds
        self.detachTimeoutSeconds = detachTimeoutSeconds
        self.ec2TimeoutSeconds = ec2TimeoutSeconds
        self.adopt = adopt
    }

    /// The security groups of one subnet's ENI.
    public func securityGroups(for spec: SubnetSpec) -> [String] { spec.securityGroups ?? securityGroups }

    static let knownKeys: Set<String> = [
        "clusterName", "subnets", "securityGroups", "sourceDestCheck", "rpFilter", "networkd", "extraTags",
        "linkTimeoutSeconds", "detachTimeoutSeconds", "ec2TimeoutSeconds", "adopt",
    ]

    /// Parses the JSON form; unknown keys are refused (a typo must not silently mean "default").
    public static func parse(_ text: String) throws(NodeError) -> NodeConfig {
        let json: JSON
        do { json = try JSON.parse(text) } catch { throw .config("config is not valid JSON: \(error)") }
        guard let obj = json.objectValue else { throw .config("config must be a JSON object") }
        for k in obj.keys where !knownKeys.contains(k) { throw .config("unknown config key \"\(k)\"") }
        var c = NodeConfig()
        if let v = obj["clusterName"] { c.clusterName = try string(v, "clusterName") }
        if let v = obj["securityGroups"] { c.securityGroups = try strings(v, "securityGroups") }
        if let v = obj["sourceDestCheck"] {
            guard let b = v.boolValue else { throw .config("sourceDestCheck must be a boolean") }
            c.sourceDestCheck = b
        }
        if let v = obj["networkd"] {
            guard let b = v.boolValue else { throw .config("networkd must be a boolean") }
            c.networkd = b
        }
        if let v = obj["adopt"] {
            guard let b = v.boolValue else { throw .config("adopt must be a boolean") }
            c.adopt = b
        }
        if let v = obj["rpFilter"], !v.isNull {
            guard let n = v.int64Value else { throw .config("rpFilter must be 0, 1 or 2") }
            c.rpFilter = Int(n)
        }
        if let v = obj["extraTags"] { c.extraTags = try stringMap(v, "extraTags") }
        for (key, path) in [("linkTimeoutSeconds", \NodeConfig.linkTimeoutSeconds),
                            ("detachTimeoutSeconds", \NodeConfig.detachTimeoutSeconds),
                            ("ec2TimeoutSeconds", \NodeConfig.ec2TimeoutSeconds)] {
            if let v = obj[key] {
                guard let d = v.doubleValue, d > 0 else { throw .config("\(key) must be a positive number") }
                c[keyPath: path] = d
            }
        }
        if let v = obj["subnets"] {
            guard let list = v.arrayValue else { throw .config("subnets must be an array") }
            for (i, item) in list.enumerated() {
                let what = "subnets[\(i)]"
                if let s = item.stringValue {
                    c.subnets.append(SubnetSpec(try SubnetSelector.parse(s)))
                    continue
                }
                guard let o = item.objectValue else { throw .config("\(what) must be a string or an object") }
                for k in o.keys where !["id", "ids", "tags", "securityGroups"].contains(k) {
                    throw .config("unknown key \"\(k)\" in \(what)")
                }
                let forms = ["id", "ids", "tags"].filter { o[$0] != nil }
                guard forms.count == 1 else { throw .config("\(what) needs exactly one of id, ids, tags") }
                let sel: SubnetSelector
                if let v = o["id"] {
                    sel = try SubnetSelector.parse(try string(v, "\(what).id"))
                } else if let v = o["ids"] {
                    let ids = try strings(v, "\(what).ids")
                    guard !ids.isEmpty else { throw .config("\(what).ids is empty") }
                    sel = try SubnetSelector.parse(ids.joined(separator: "|"))
                } else {
                    let tags = try stringMap(o["tags"]!, "\(what).tags")
                    guard !tags.isEmpty else { throw .config("\(what).tags is empty") }
                    sel = .tags(tags)
                }
                let sgs = try o["securityGroups"].map { v throws(NodeError) in try strings(v, "\(what).securityGroups") }
                c.subnets.append(SubnetSpec(sel, securityGroups: sgs))
            }
        }
        return c
    }

    /// Checks what every command needs.
    public func validate(needsSubnets: Bool) throws(NodeError) {
        let nameOK = !clusterName.isEmpty && clusterName.count <= 100
            && clusterName.utf8.allSatisfy { ($0 >= 48 && $0 <= 57) || ($0 >= 65 && $0 <= 90) || ($0 >= 97 && $0 <= 122) || $0 == 45 || $0 == 95 }
        guard nameOK else { throw .config("clusterName is required (letters, digits, - and _)") }
        if needsSubnets && subnets.isEmpty { throw .config("no subnets configured (config \"subnets\" or --subnet)") }
        if let rp = rpFilter, !(0...2).contains(rp) { throw .config("rpFilter must be 0, 1 or 2, not \(rp)") }
        for sg in securityGroups + subnets.flatMap({ $0.securityGroups ?? [] }) where !sg.hasPrefix("sg-") {
            throw .config("\"\(sg)\" is not a security group id (sg-…)")
        }
        for k in extraTags.keys where k == NodeTags.noManage || k == NodeTags.cluster || k == NodeTags.node {
            throw .config("extraTags may not set \(k)")
        }
    }

    private static func string(_ v: JSON, _ what: String) throws(NodeError) -> String {
        guard let s = v.stringValue else { throw .config("\(what) must be a string") }
        return s
    }

    private static func strings(_ v: JSON, _ what: String) throws(NodeError) -> [String] {
        guard let a = v.arrayValue else { throw .config("\(what) must be an array of strings") }
        var out: [String] = []
        for x in a {
            guard let s = x.stringValue else { throw .config("\(what) must be an array of strings") }
            out.append(s)
        }
        return out
    }

    private static func stringMap(_ v: JSON, _ what: String) throws(NodeError) -> [String: String] {
        guard let o = v.objectValue else { throw .config("\(what) must be an object of strings") }
        var out: [String: String] = [:]
        for (k, x) in o {
            guard let s = x.stringValue else { throw .config("\(what).\(k) must be a string") }
            out[k] = s
        }
        return out
    }
}

extension String {
    func trimmingASCIISpaces() -> String {
        var s = Substring(self)
        while let f = s.first, f == " " || f == "\t" || f == "\n" || f == "\r" { s.removeFirst() }
        while let l = s.last, l == " " || l == "\t" || l == "\n" || l == "\r" { s.removeLast() }
        return String(s)
    }
}
