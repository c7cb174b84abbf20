// Fuzz target `result`: a CNI result (a delegated IPAM plugin's stdout, `prevResult` of CHECK/DEL) decoded by
// CNIResult.decode. Input: any bytes. Invariants: the JSON round-trips; decoding never traps, fails only with a
// code-6 CNIError; and a decoded result printed in each version decodes to the same result minus what that
// version does not print (print -> decode -> print is a fixed point).
import CNI
import JSON
import NetTypes

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzResult(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    guard let json = fuzzJSONRoundTrip(fuzzBytes(data, size)) else { return 0 }
    let result: CNIResult
    do {
        result = try CNIResult.decode(json)
    } catch {
        fuzzCheck(error.code == CNIErrorCode.decodeFailure.rawValue && !error.msg.isEmpty, "decode error \(error)")
        return 0
    }
    for r in result.routes {
        fuzzCheck(r.dst == r.dst.network, "route dst \(r.dst) keeps host bits")
        if let gw = r.gw { fuzzCheck(gw.isV4 == r.dst.address.isV4, "route gw family") }
    }
    for version in CNIVersion.allCases {
        let printed = result.json(version: version)
        let text = printed.serialized(indent: 4)
        guard let reparsed = try? JSON.parse(text) else {
            fuzzCheck(false, "printed \(version.rawValue) result is not JSON: \(text)")
            return 0
        }
        fuzzCheck(reparsed == printed, "printed result does not parse back")
        fuzzCheck(reparsed["cniVersion"]?.stringValue == version.rawValue, "cniVersion not printed")
        do {
            let again = try CNIResult.decode(reparsed)
            let want = project(result, version)
            fuzzCheck(again == want, "\(version.rawValue): decode(print(r)) != r as \(version.rawValue) prints it: \(text)")
            fuzzCheck(again.json(version: version) == printed, "\(version.rawValue): print is not a fixed point")
        } catch {
            fuzzCheck(false, "\(version.rawValue): printed result does not decode: \(error): \(text)")
        }
    }
    return 0
}

/// What survives printing `r` in `version`: 1.1.0-only fields dropped in older versions, empty strings and zero
/// MTUs omitted (as the Go types' omitempty does).
private func project(_ r: CNIResult, _ version: CNIVersion) -> CNIResult {
    let ext = version.hasExtendedResultFields
    func nonEmpty(_ s: String?) -> String? { s.flatMap { $0.isEmpty ? nil : $0 } }
    func nonZero(_ i: Int?) -> Int? { i.flatMap { $0 == 0 ? nil : $0 } }
    var out = r
    out.interfaces = r.interfaces.map { i in
        CNIResult.Interface(name: i.name, mac: nonEmpty(i.mac), sandbox: nonEmpty(i.sandbox),
                            mtu: ext ? nonZero(i.mtu) : nil, socketPath: ext ? nonEmpty(i.socketPath) : nil,
                            pciID: ext ? nonEmpty(i.pciID) : nil)
    }
    out.routes = r.routes.map { rt in
        CNIResult.Route(dst: rt.dst, gw: rt.gw, mtu: ext ? nonZero(rt.mtu) : nil, advmss: ext ? nonZero(rt.advmss) : nil,
                        priority: ext ? nonZero(rt.priority) : nil, table: ext ? rt.table : nil,
                        scope: ext ? rt.scope : nil)
    }
    out.dns.domain = nonEmpty(r.dns.domain)
    return out
}
