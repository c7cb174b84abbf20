// Fuzz target `cniargs`: the CNI_ARGS environment variable (`K=V;K=V`), and the address and name parsers its
// values and the other CNI_* variables go through. Input: the variable's bytes (the environment may carry any
// bytes; Swift decodes them with replacement characters, as CommandLine/getenv-based code does).
import CNI
import NetTypes

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzCNIArgs(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let text = String(decoding: fuzzBytes(data, size), as: UTF8.self)

    do {
        let args = try CNIArgs(parsing: text)
        for p in args.pairs {
            fuzzCheck(!p.key.isEmpty, "empty key accepted")
            fuzzCheck(!p.key.contains("=") && !p.key.contains(";") && !p.value.contains(";"), "separator in \(p)")
        }
        if !args.ignoreUnknown {
            fuzzCheck(args.pairs.allSatisfy { CNIArgs.knownKeys.contains($0.key) }, "unknown key accepted")
        }
        if let ip = args["IP"], !ip.isEmpty {
            fuzzCheck(args.ips.count == ip.utf8.split(separator: UInt8(ascii: ",")).count,
                      "IP= \(ip) gave \(args.ips.count) addresses")
        } else {
            fuzzCheck(args.ips.isEmpty, "addresses without IP=")
        }
        fuzzCheck((args.mac != nil) == !(args["MAC"] ?? "").isEmpty, "MAC= and mac disagree")
        // What was accepted, printed back as K=V;K=V, parses to the same thing.
        let printed = args.pairs.map { "\($0.key)=\($0.value)" }.joined(separator: ";")
        do {
            let again = try CNIArgs(parsing: printed)
            fuzzCheck(again == args && again.ips == args.ips && again.mac == args.mac
                      && again.ignoreUnknown == args.ignoreUnknown, "CNI_ARGS does not round-trip: \(printed)")
        } catch {
            fuzzCheck(false, "re-printed CNI_ARGS refused: \(error)")
        }
        // The reference (libcni's Go parser) splits the bytes on ';' and then on the first '='. What we accepted
        // must be exactly those pairs: a grapheme-level split would fuse ';' or '=' with a following combining mark.
        let reference = referenceSplit(Array(text.utf8))
        fuzzCheck(reference != nil && reference!.count == args.pairs.count
                  && zip(reference!, args.pairs).allSatisfy { $0.key == Array($1.key.utf8) && $0.value == Array($1.value.utf8) },
                  "CNI_ARGS split differs from the byte-level reference: \(args.pairs)")
        for r in args.ips { fuzzCheck(RequestedIP(r.description) == r, "IP \(r) does not round-trip") }
        if let m = args.mac { fuzzCheck(MACAddress(m.description) == m, "MAC \(m) does not round-trip") }
    } catch {
        fuzzCheck(error.code == CNIErrorCode.invalidEnvironment.rawValue && !error.msg.isEmpty, "CNI_ARGS error \(error)")
    }

    // Every piece of the input through the value parsers: canonical text must parse back to the same value.
    for piece in text.split(whereSeparator: { $0 == ";" || $0 == "=" || $0 == "," }) {
        if let a = IPAddress(piece) {
            fuzzCheck(IPAddress(a.description) == a, "address \(a) does not round-trip")
            fuzzCheck(IPAddress(bytes: a.bytes) == a, "address bytes of \(a)")
        }
        if let p = IPPrefix(piece) {
            fuzzCheck(IPPrefix(p.description) == p, "prefix \(p) does not round-trip")
            fuzzCheck(p.contains(p.address) && p.contains(p.networkAddress) && p.contains(p.lastAddress), "prefix \(p)")
            fuzzCheck(p.networkAddress <= p.address && p.address <= p.lastAddress, "prefix bounds \(p)")
        }
        if let m = MACAddress(piece) { fuzzCheck(MACAddress(m.description) == m, "MAC \(m) does not round-trip") }
        let s = String(piece)
        if (try? CNIEnvironment.validateContainerID(s)) != nil {
            fuzzCheck(s.utf8.allSatisfy { $0 < 0x80 } && !s.contains("/"), "container id \(s)")
        }
        if (try? CNIEnvironment.validateInterfaceName(s)) != nil {
            fuzzCheck((1...15).contains(s.utf8.count) && !s.contains("/") && s != "." && s != "..", "ifname \(s)")
        }
    }
    return 0
}

/// libcni's split: `strings.Split(args, ";")`, empty items skipped, then `strings.SplitN(item, "=", 2)`; nil where
/// libcni fails (an item without '=', an empty key).
private func referenceSplit(_ b: [UInt8]) -> [(key: [UInt8], value: [UInt8])]? {
    var out: [(key: [UInt8], value: [UInt8])] = []
    for item in b.split(separator: UInt8(ascii: ";")) {
        guard let eq = item.firstIndex(of: UInt8(ascii: "=")), eq > item.startIndex else { return nil }
        out.append((Array(item[..<eq]), Array(item[(eq + 1)...])))
    }
    return out
}
