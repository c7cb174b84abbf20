// Fuzz target `config`: the network configuration on stdin, as the plugin decodes it.
//
// Compiled by scripts/fuzz.sh INTO the ENIMultusCore module (with its sources), so the internal `eni` block parser
// (EC2NetworkConfig.parse) is reachable without @testable or a new public API. Input: any bytes (the stdin).
// Path: JSON.parse (round-trip invariants) -> CNIVersion.resolve -> NetConf for ADD/DEL/CHECK/GC -> IPAMConfig of
// the `ipam` object -> EC2NetworkConfig of the `eni` block -> CNIResult.decode of `prevResult`. Every error must be
// a CNIError with a known code and a message; every accepted config must satisfy what the plugin relies on later.
import CNI
import IPAM
import JSON
import NetTypes
import NodeState
import ENIAddressing

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzConfig(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let bytes = fuzzBytes(data, size)
    guard let json = fuzzJSONRoundTrip(bytes) else { return 0 }

    let versionText = json["cniVersion"]?.stringValue
    do {
        let v = try CNIVersion.resolve(versionText)
        fuzzCheck(v.rawValue == versionText, "resolved \(v.rawValue) from \(String(describing: versionText))")
    } catch {
        fuzzCheckCNIError(error)
    }

    for command in [CNICommand.add, .del, .check, .gc] {
        do {
            let conf = try NetConf(json: json, command: command)
            fuzzCheckNetConf(conf, command: command, json: json)
        } catch {
            fuzzCheckCNIError(error)
        }
    }

    if let ipam = json["ipam"]?.objectValue {
        do {
            fuzzCheckIPAM(try IPAMConfig(ipam, defaultDataDir: NodeStateLayout.defaultDataDir))
        } catch {
            fuzzCheckCNIError(error)
        }
    }

    if let object = json.objectValue {
        do {
            if let eni = try EC2NetworkConfig.parse(object) {
                fuzzCheck(object["eni"] != nil, "an eni config without an eni block")
                fuzzCheck((1...120).contains(eni.timeoutSeconds), "ec2TimeoutSeconds \(eni.timeoutSeconds)")
                switch eni.selector {
                case .id(let id): fuzzCheck(id.hasPrefix("eni-") && id.count <= 32, "eni.id \(id)")
                case .subnetID(let s): fuzzCheck(s.hasPrefix("subnet-") && s.count <= 40, "eni.subnetId \(s)")
                case .deviceIndex(let d): fuzzCheck((1...63).contains(d), "eni.deviceIndex \(d)")
                case .tag(let k, _): fuzzCheck(!k.isEmpty, "empty eni.tag.key")
                }
            } else {
                fuzzCheck(object["eni"] == nil || object["eni"]!.isNull, "eni block ignored")
            }
        } catch {
            fuzzCheckCNIError(error)
        }
    }

    if let prev = json["prevResult"], !prev.isNull {
        do {
            _ = try CNIResult.decode(prev)
        } catch {
            fuzzCheckCNIError(error)
        }
    }
    return 0
}

func fuzzCheckCNIError(_ e: CNIError) {
    fuzzCheck(CNIErrorCode(rawValue: e.code) != nil, "unknown CNI error code \(e.code)")
    fuzzCheck(!e.msg.isEmpty, "CNI error without a message")
    let wire = e.json(cniVersion: "1.1.0")
    fuzzCheck((try? JSON.parse(wire.serialized(indent: 4))) == wire, "error JSON does not round-trip")
}

func fuzzCheckNetConf(_ c: NetConf, command: CNICommand, json: JSON) {
    do {
        try NetConf.validateNetworkName(c.name)
    } catch {
        fuzzCheck(false, "accepted network name \(c.name): \(error)")
    }
    if let m = c.mtu { fuzzCheck((68...65535).contains(m), "mtu \(m)") }
    for (name, value) in [("master", c.master), ("device", c.device)] {
        guard let value else { continue }
        do { try CNIEnvironment.validateInterfaceName(value, variable: name) } catch {
            fuzzCheck(false, "accepted \(name) \(value): \(error)")
        }
    }
    if let k = c.kernelpath {
        fuzzCheck(k.utf8.starts(with: "/sys/".utf8) && !fuzzHasDotDotComponent(k), "kernelpath \(k) escapes /sys")
    }
    if let p = c.pciBusID { fuzzCheck(NetConf.isPCIAddress(p), "pciBusID \(p)") }
    if let f = c.logFile { fuzzCheck(f.hasPrefix("/"), "logFile \(f)") }
    if command == .gc { fuzzCheck(c.validAttachments != nil, "GC without valid-attachments") }
    // In the IPAM role (another plugin's config with ipam.type eni-multus) the link fields are the caller's business.
    if c.role == .plugin && (command == .add || command == .check) && json["eni"] == nil {
        switch c.link {
        case .ipvlan:
            fuzzCheck(c.master != nil || c.masterMAC != nil, "ipvlan without master")
        case .hostDevice:
            let n = [c.device != nil, c.hwaddr != nil, c.kernelpath != nil, c.pciBusID != nil].filter { $0 }.count
            fuzzCheck(n == 1 || (n == 0 && c.runtimeDeviceID != nil), "host-device with \(n) selectors")
        }
    }
    if c.ipam != nil { fuzzCheck(!(c.ipamType ?? "").isEmpty, "ipam without type") }
    // A delegated IPAM type is a file name looked up in CNI_PATH: never a path. (An empty search path: only the
    // name check runs, then "not found".)
    if let t = c.ipamType, t != "eni-multus" {
        do {
            _ = try DelegatedIPAM(type: t, searchPath: [])
            fuzzCheck(false, "delegated IPAM \(t) found in an empty CNI_PATH")
        } catch {
            if case .delegateUnusable(_, let reason) = error, reason.hasPrefix("not found") {
                fuzzCheck(!t.utf8.contains(UInt8(ascii: "/")) && t != "." && t != "..", "ipam.type \(t) is a path")
            }
        }
    }
    let requested = c.requestedIPs(cniArgs: CNIArgs())
    fuzzCheck(Set(requested.map(\.address)).count == requested.count, "duplicate requested addresses")
    for r in requested { fuzzCheck(RequestedIP(r.description) == r, "requested IP \(r) does not round-trip") }
    // The DNS block is copied into the result: what the plugin prints must decode to the same block.
    if let d = try? CNIResult.DNS.decode(c.dns.json, field: "dns", code: .decodeFailure) {
        var want = c.dns
        if want.domain == "" { want.domain = nil }
        fuzzCheck(d == want, "dns does not round-trip")
    } else {
        fuzzCheck(false, "printed dns does not decode")
    }
}

func fuzzCheckIPAM(_ c: IPAMConfig) {
    fuzzCheck(c.dataDir.utf8.first == UInt8(ascii: "/") && !fuzzHasDotDotComponent(c.dataDir) && !c.dataDir.utf8.contains(0),
              "dataDir \(c.dataDir) is not absolute or has a .. component")
    fuzzCheck(!c.rangeSets.isEmpty, "no range sets")
    var all: [IPRange] = []
    for set in c.rangeSets {
        fuzzCheck(!set.ranges.isEmpty, "empty range set")
        for r in set.ranges {
            fuzzCheck(r.subnet.address.isV4 == set.isV4, "range set mixes families")
            fuzzCheck(r.subnet == r.subnet.network, "subnet \(r.subnet) has host bits")
            fuzzCheck(r.subnet.length <= r.subnet.address.bitWidth - 2, "subnet \(r.subnet) too small")
            fuzzCheck(r.subnet.contains(r.rangeStart) && r.subnet.contains(r.rangeEnd), "range outside \(r.subnet)")
            fuzzCheck(r.rangeStart <= r.rangeEnd, "rangeStart \(r.rangeStart) after rangeEnd \(r.rangeEnd)")
            fuzzCheck(r.size >= 1, "empty range \(r.rangeStart)-\(r.rangeEnd)")
            if let g = r.gateway { fuzzCheck(r.subnet.contains(g), "gateway \(g) outside \(r.subnet)") }
            fuzzCheck(r.contains(r.rangeStart) && r.contains(r.rangeEnd), "range does not contain its ends")
            _ = r.isAssignable(r.rangeStart)
            _ = r.isAssignable(r.rangeEnd)
            for o in all where o.subnet.address.isV4 == r.subnet.address.isV4 {
                fuzzCheck(r.rangeEnd < o.rangeStart || o.rangeEnd < r.rangeStart, "ranges overlap")
            }
            all.append(r)
        }
    }
    for route in c.routes {
        fuzzCheck(route.dst == route.dst.network, "route dst \(route.dst) has host bits")
        if let gw = route.gw { fuzzCheck(gw.isV4 == route.dst.address.isV4, "route gw family") }
    }
}
