import JSON
import NetTypes
import Platform
import CNI

/// Which kind of interface the plugin gives the pod.
public enum LinkKind: String, Sendable {
    case ipvlan
    case hostDevice = "host-device"
}

/// ipvlan mode (`IPVLAN_MODE_L2/L3/L3S`).
public enum IPVlanModeName: String, Sendable, CaseIterable { case l2, l3, l3s }
/// ipvlan flag (`IPVLAN_F_PRIVATE`, `IPVLAN_F_VEPA`; bridge is 0).
public enum IPVlanFlagName: String, Sendable, CaseIterable { case bridge, `private`, vepa }

/// The plugin's network configuration (stdin), decoded and validated.
///
/// Field names follow the reference `ipvlan` and `host-device` plugins so a NetworkAttachmentDefinition converts
/// by changing `type`. Unknown keys are tolerated, as the spec requires.
public struct NetConf: Sendable {
    /// How the plugin was exec'd: as the network's plugin (`type` is `eni-multus`), or by another plugin as its IPAM
    /// (`ipam.type` is `eni-multus` under a foreign `type`: libcni-style delegation, same stdin and environment).
    public enum Role: String, Sendable {
        case plugin
        case ipam
    }

    public var raw: JSONObject
    /// Decided by `role(of:)` before anything else is read.
    public var role: Role
    public var cniVersionString: String
    public var name: String
    public var type: String
    public var link: LinkKind

    // ipvlan
    public var master: String?
    public var masterMAC: MACAddress?
    public var mode: IPVlanModeName
    public var flag: IPVlanFlagName
    public var mtu: UInt32?

    // host-device
    public var device: String?
    public var hwaddr: MACAddress?
    public var kernelpath: String?
    public var pciBusID: String?

    public var allowPrimary: Bool
    /// After the interface is up (and has carrier, waited for at most 200 ms), send one gratuitous ARP / unsolicited
    /// NA per address from the plugin itself. Off by default: the kernel already announces on link-up
    /// (`arp_notify`, `ndisc_notify`, which the plugin sets), and in a VPC neighbours do not learn from gratuitous
    /// ARP at all (the VPC answers ARP itself). For networks beyond a VPC whose switches or peers need it.
    public var announce: Bool

    public var ipam: JSONObject?
    public var ipamType: String?
    public var dns: CNIResult.DNS

    // runtimeConfig and args
    public var runtimeIPs: [RequestedIP]
    public var runtimeMAC: MACAddress?
    public var runtimeDeviceID: String?
    public var argsIPs: [RequestedIP]

    public var prevResult: JSON?

    public var logFile: String?
    public var logLevel: LogLevel

    /// GC: `cni.dev/valid-attachments`.
    public var validAttachments: [Attachment]?

    public struct Attachment: Sendable, Hashable {
        public var containerID: String
        public var ifname: String
        public init(containerID: String, ifname: String) { self.containerID = containerID; self.ifname = ifname }
    }

    public enum LogLevel: String, Sendable, Comparable {
        case error, info, debug
        var rank: Int { self == .error ? 0 : self == .info ? 1 : 2 }
        public static func < (a: LogLevel, b: LogLevel) -> Bool { a.rank < b.rank }
    }

    /// Network names become directory names: the spec's `^[a-zA-Z0-9][a-zA-Z0-9_.\-]*$`, so no `/`, `..` or NUL.
    public static func validateNetworkName(_ name: String) throws(CNIError) {
        guard CNIEnvironment.matchesSpecNamePattern(name), name.utf8.count <= 200 else {
            throw CNIError(.invalidConfig,
                           "name \(JSON.string(name).serialized()) is invalid: a network name must match ^[a-zA-Z0-9][a-zA-Z0-9_.-]*$ (at most 200 bytes)")
        }
    }

    /// The plugin's type name, in `type` (as the network's plugin) and in `ipam.type` (as IPAM).
    public static let pluginType = "eni-multus"

    /// IPAM when `type` names another plugin and `ipam.type` is ours; else the plugin. Wrong JSON types are left to
    /// the full decode (which names the field), so they decide nothing here.
    public static func role(of obj: JSONObject) -> Role {
        guard case .string(let t)? = obj["type"], !t.isEmpty, t != pluginType,
              case .object(let ipam)? = obj["ipam"], case .string(let it)? = ipam["type"], it == pluginType
        else { return .plugin }
        return .ipam
    }

    /// Decodes stdin. `version` was already resolved from the same bytes. As IPAM, the fields that belong to the
    /// calling plugin (`link`, `master`, `mode`, `device`, `mtu`, `dns`, `runtimeConfig.mac`, …: its own names and
    /// value sets, e.g. macvlan's `"mode": "bridge"`) are not read and keep their defaults; everything IPAM uses is
    /// decoded exactly as in the plugin role.
    public init(json: JSON, command: CNICommand) throws(CNIError) {
        guard let obj = json.objectValue else {
            throw CNIError(.decodeFailure, "the network config must be a JSON object, not \(json.typeName)")
        }
        raw = obj
        role = Self.role(of: obj)
        let r = ConfigReader(obj, path: "")
        // The calling plugin's fields, read through an empty object in the IPAM role.
        let lr = role == .plugin ? r : ConfigReader(JSONObject(), path: "")
        cniVersionString = try r.string("cniVersion") ?? ""
        guard let n = try r.string("name") else {
            throw CNIError(.invalidConfig, "name is required in the network config")
        }
        try Self.validateNetworkName(n)
        name = n
        type = try r.string("type") ?? ""

        let linkText = try lr.string("link") ?? "ipvlan"
        guard let lk = LinkKind(rawValue: linkText) else {
            throw lr.invalid("link", "\"\(linkText)\" is not \"ipvlan\" or \"host-device\"")
        }
        link = lk

        master = try lr.string("master")
        if let m = master { try Self.interfaceNameField(m, "master") }
        if let t = try lr.string("masterMAC") {
            guard let m = MACAddress(t) else { throw lr.invalid("masterMAC", "\"\(t)\" is not a hardware address") }
            masterMAC = m
        }
        // "" means the default, as in the reference ipvlan plugin.
        let modeText = try lr.string("mode").flatMap { $0.isEmpty ? nil : $0 } ?? "l2"
        guard let md = IPVlanModeName(rawValue: modeText) else {
            throw lr.invalid("mode", "\"\(modeText)\" is not one of l2, l3, l3s")
        }
        mode = md
        let flagText = try lr.string("flag").flatMap { $0.isEmpty ? nil : $0 } ?? "bridge"
        guard let fl = IPVlanFlagName(rawValue: flagText) else {
            throw lr.invalid("flag", "\"\(flagText)\" is not one of bridge, private, vepa")
        }
        flag = fl
        if let m = try lr.int("mtu", in: 0...65535) { mtu = m == 0 ? nil : UInt32(m) }
        if let m = mtu, m < 68 { throw lr.invalid("mtu", "\(m) is below the IPv4 minimum of 68") }
        if try lr.bool("linkInContainer") == true {
            throw CNIError(.unsupportedField,
                           "linkInContainer: true is not supported: eni-multus takes the master from the node's network namespace")
        }

        device = try lr.string("device")
        if let d = device { try Self.interfaceNameField(d, "device") }
        if let t = try lr.string("hwaddr") {
            guard let m = MACAddress(t) else { throw lr.invalid("hwaddr", "\"\(t)\" is not a hardware address") }
            hwaddr = m
        }
        kernelpath = try lr.string("kernelpath")
        if let k = kernelpath, !(k.utf8.starts(with: "/sys/".utf8) && PathRules.isAbsoluteWithoutDotDot(k)) {
            throw lr.invalid("kernelpath", "\"\(k)\" must be a path under /sys without \"..\"")
        }
        pciBusID = try lr.string("pciBusID")
        if let p = pciBusID, !Self.isPCIAddress(p) {
            throw lr.invalid("pciBusID", "\"\(p)\" is not a PCI address like 0000:00:06.0")
        }
        allowPrimary = try lr.bool("allowPrimary") ?? false
        announce = try lr.bool("announce") ?? false

        if let ip = try r.object("ipam") {
            ipam = ip.object
            ipamType = try ip.string("type")
            if ipamType?.isEmpty ?? true, !ip.object.keys.isEmpty {
                throw CNIError(.invalidConfig, "ipam.type is required when ipam is given (\"eni-multus\" for the built-in IPAM)")
            }
            if ip.object.keys.isEmpty { ipam = nil }
        }
        dns = CNIResult.DNS()
        if role == .plugin, let d = obj["dns"], !d.isNull { dns = try CNIResult.DNS.decode(d, field: "dns", code: .decodeFailure) }

        runtimeIPs = []
        runtimeMAC = nil
        runtimeDeviceID = nil
        if let rc = try r.object("runtimeConfig") {
            if let ips = try rc.strings("ips") {
                runtimeIPs = try ips.map { (s: String) throws(CNIError) -> RequestedIP in
                    guard let q = RequestedIP(s) else { throw rc.invalid("ips", "\"\(s)\" is not an IP address or CIDR") }
                    return q
                }
            }
            if role == .plugin, let m = try rc.string("mac"), !m.isEmpty {
                guard let mm = MACAddress(m) else { throw rc.invalid("mac", "\"\(m)\" is not a hardware address") }
                runtimeMAC = mm
            }
            if role == .plugin, let d = try rc.string("deviceID"), !d.isEmpty { runtimeDeviceID = d }
        }
        argsIPs = []
        if let a = try r.object("args"), let c = try a.object("cni"), let ips = try c.strings("ips") {
            argsIPs = try ips.map { (s: String) throws(CNIError) -> RequestedIP in
                guard let q = RequestedIP(s) else { throw c.invalid("ips", "\"\(s)\" is not an IP address or CIDR") }
                return q
            }
        }

        if let p = obj["prevResult"], !p.isNull { prevResult = p } else { prevResult = nil }
        logFile = try r.string("logFile")
        if let f = logFile, !f.hasPrefix("/") { throw r.invalid("logFile", "\"\(f)\" must be an absolute path") }
        // As for ipam.dataDir: the path is the config author's, the file is written as root.
        if let f = logFile, !PathRules.isAbsoluteWithoutDotDot(f) {
            throw r.invalid("logFile", "\(JSON.string(f).serialized()) must not contain \"..\" or NUL")
        }
        let lvl = try r.string("logLevel") ?? "info"
        guard let l = LogLevel(rawValue: lvl) else { throw r.invalid("logLevel", "\"\(lvl)\" is not error, info or debug") }
        logLevel = l

        if let va = try r.array("cni.dev/valid-attachments") {
            var out: [Attachment] = []
            for (i, e) in va.enumerated() {
                let er = try ConfigReader(e, path: "cni.dev/valid-attachments[\(i)]")
                guard let cid = try er.string("containerID"), let ifn = try er.string("ifname") else {
                    throw CNIError(.invalidConfig, "cni.dev/valid-attachments[\(i)] needs containerID and ifname")
                }
                out.append(Attachment(containerID: cid, ifname: ifn))
            }
            validAttachments = out
        }

        if command == .gc && validAttachments == nil {
            throw CNIError(.invalidConfig,
                           "GC needs cni.dev/valid-attachments (an empty list frees everything; a missing one frees nothing)")
        }
        // With an "eni" block the interface is the selected ENI (found by MAC): no master/device selector needed.
        if role == .plugin && (command == .add || command == .check) && obj["eni"] == nil {
            switch link {
            case .ipvlan:
                if master == nil && masterMAC == nil {
                    throw CNIError(.invalidConfig, "ipvlan needs \"master\" (interface name) or \"masterMAC\" (hardware address)")
                }
            case .hostDevice:
                let selectors = [device != nil, hwaddr != nil, kernelpath != nil, pciBusID != nil].filter { $0 }.count
                if selectors == 0 && runtimeDeviceID == nil {
                    throw CNIError(.invalidConfig,
                                   "host-device needs one of \"device\", \"hwaddr\", \"kernelpath\", \"pciBusID\" or runtimeConfig.deviceID")
                }
                if selectors > 1 {
                    throw CNIError(.invalidConfig,
                                   "host-device takes exactly one of \"device\", \"hwaddr\", \"kernelpath\", \"pciBusID\" (\(selectors) given)")
                }
            }
        }
    }

    static func interfaceNameField(_ v: String, _ key: String) throws(CNIError) {
        do {
            try CNIEnvironment.validateInterfaceName(v, variable: key)
        } catch {
            throw CNIError(.invalidConfig, error.msg)
        }
    }

    /// `DDDD:BB:DD.F` (domain optional).
    public static func isPCIAddress(_ s: String) -> Bool {
        let parts = s.split(separator: ":", omittingEmptySubsequences: false)
        guard parts.count == 2 || parts.count == 3 else { return false }
        func hex(_ x: Substring, _ n: Int) -> Bool { x.count == n && x.allSatisfy { $0.isASCII && $0.isHexDigit } }
        let df = parts.last!.split(separator: ".", omittingEmptySubsequences: false)
        guard df.count == 2, hex(df[0], 2), df[1].count == 1, df[1].allSatisfy({ $0.isASCII }), let fn = Int(df[1]), fn <= 7
        else { return false }
        if parts.count == 3 { return hex(parts[0], 4) && hex(parts[1], 2) }
        return hex(parts[0], 2)
    }

    /// Every requested address: CNI_ARGS `IP=`, then `args.cni.ips`, then `runtimeConfig.ips` (host-local's order),
    /// duplicates of the same address collapsed.
    public func requestedIPs(cniArgs: CNIArgs) -> [RequestedIP] {
        var seen = Set<IPAddress>()
        return (cniArgs.ips + argsIPs + runtimeIPs).filter { seen.insert($0.address).inserted }
    }
}
