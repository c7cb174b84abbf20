import Foundation
import Testing

/// One hostile or broken input: what is fed to the plugin, the exact CNI code expected and the
/// substrings the error message must contain (naming the field or value at fault). Code 0 means the verb must
/// succeed quietly (DEL is idempotent and tolerant).
struct HostileCase: Sendable, CustomTestStringConvertible {
    enum Stdin: Sendable {
        /// A config text; fixture placeholders (`@DATA@`, `@POD@`, `@FILE@`, `@DIR@`, `@SCRATCH@`) are expanded.
        case text(String)
        /// Raw bytes, built when the case runs (the 10 MB inputs).
        case raw(@Sendable () -> [UInt8])
    }

    var category: String
    var name: String
    var verb = "ADD"
    var stdin: Stdin
    var env: [String: String?] = [:]
    var code: Int
    var says: [String]
    /// The case gets past IPAM allocation and is rolled back: the state directory is compared without the lock
    /// file, the round-robin cursor and empty directories (which a rollback legitimately leaves), everything
    /// else exactly.
    var rollsBack = false

    var testDescription: String { "\(category): \(name)" }
}

/// The table. Built once from two valid base configs (host-device on `mv0`, ipvlan on `eni0`, both with the
/// built-in IPAM on the per-case state directory), each case breaking exactly one thing.
enum HostileCases {
    typealias Obj = [String: Any]

    static var ipamBase: Obj { ["type": "eni-multus", "dataDir": "@DATA@", "subnet": "10.66.0.0/24"] }
    static var hdBase: Obj {
        ["cniVersion": "1.1.0", "name": "fnet", "type": "eni-multus", "link": "host-device", "device": "mv0", "ipam": ipamBase]
    }
    static var ipvBase: Obj { ["cniVersion": "1.1.0", "name": "fnet", "type": "eni-multus", "master": "eni0", "ipam": ipamBase] }
    static var eniOK: Obj { ["id": "eni-0123456789abcdef0"] }

    /// JSON text with sorted keys and unescaped slashes (so truncation offsets are stable).
    static func json(_ o: Any) -> String {
        let d = try! JSONSerialization.data(withJSONObject: o, options: [.sortedKeys, .withoutEscapingSlashes, .fragmentsAllowed])
        return String(decoding: d, as: UTF8.self)
    }

    /// `base` with changes at `>`-separated paths (`"ipam>subnet"`); a nil value removes the key, NSNull() sets null.
    static func with(_ base: Obj, _ changes: [String: Any?]) -> Obj {
        var o = base
        for (path, value) in changes {
            let parts = path.split(separator: ">").map(String.init)
            o = set(o, parts[...], value)
        }
        return o
    }

    private static func set(_ o: Obj, _ path: ArraySlice<String>, _ value: Any?) -> Obj {
        var o = o
        let k = path.first!
        if path.count == 1 {
            o[k] = value
        } else {
            o[k] = set(o[k] as? Obj ?? [:], path.dropFirst(), value)
        }
        return o
    }

    static func hd(_ changes: [String: Any?] = [:]) -> String { json(with(hdBase, changes)) }
    static func ipv(_ changes: [String: Any?] = [:]) -> String { json(with(ipvBase, changes)) }

    static var all: [HostileCase] {
        var c: [HostileCase] = []
        func add(_ cat: String, _ name: String, _ stdin: String, code: Int, says: [String], verb: String = "ADD",
                 env: [String: String?] = [:], rollsBack: Bool = false) {
            c.append(HostileCase(category: cat, name: name, verb: verb, stdin: .text(stdin), env: env, code: code,
                                 says: says, rollsBack: rollsBack))
        }
        func raw(_ cat: String, _ name: String, code: Int, says: [String], verb: String = "ADD",
                 _ bytes: @escaping @Sendable () -> [UInt8]) {
            c.append(HostileCase(category: cat, name: name, verb: verb, stdin: .raw(bytes), code: code, says: says))
        }

        // MARK: truncated JSON: a valid config cut at every 5th byte
        let valid = hd()
        for cut in stride(from: 0, to: valid.utf8.count, by: 5) {
            add("truncated JSON", "cut at byte \(cut) of \(valid.utf8.count)", String(decoding: Array(valid.utf8).prefix(cut), as: UTF8.self),
                code: 6, says: ["not valid JSON"])
        }

        // MARK: malformed JSON
        let body = String(valid.dropFirst().dropLast())
        let malformed: [(String, String)] = [
            ("whitespace only", " \n\t "),
            ("trailing comma in the object", "{" + body + ",}"),
            ("trailing comma in an array", #"{"cniVersion":"1.1.0","name":"fnet","runtimeConfig":{"ips":["10.66.0.5",]}}"#),
            ("single-quoted strings", "{'cniVersion':'1.1.0','name':'fnet'}"),
            ("unquoted key", #"{cniVersion:"1.1.0","name":"fnet"}"#),
            ("NaN", #"{"cniVersion":"1.1.0","name":"fnet","mtu":NaN}"#),
            ("Infinity", #"{"cniVersion":"1.1.0","name":"fnet","mtu":Infinity}"#),
            ("leading zero", #"{"cniVersion":"1.1.0","name":"fnet","mtu":01500}"#),
            ("hex number", #"{"cniVersion":"1.1.0","name":"fnet","mtu":0x5dc}"#),
            ("plus sign", #"{"cniVersion":"1.1.0","name":"fnet","mtu":+1500}"#),
            ("line comment", "// comment\n" + valid),
            ("block comment", "{/* c */" + body + "}"),
            ("byte order mark", "\u{FEFF}" + valid),
            ("two objects", valid + valid),
            ("garbage after the object", valid + " x"),
            ("unterminated string", #"{"cniVersion":"1.1.0","name":"fnet"#),
            ("invalid escape", #"{"cniVersion":"1.1.0","name":"f\xnet"}"#),
            ("raw newline in a string", "{\"cniVersion\":\"1.1.0\",\"name\":\"f\nnet\"}"),
            ("raw NUL in a string", "{\"cniVersion\":\"1.1.0\",\"name\":\"f\u{0}net\"}"),
            ("raw tab in a string", "{\"cniVersion\":\"1.1.0\",\"name\":\"f\tnet\"}"),
            ("missing colon", #"{"cniVersion" "1.1.0"}"#),
            ("missing value", #"{"cniVersion":}"#),
            ("closing bracket mismatch", #"{"cniVersion":"1.1.0","ipam":{"ranges":[[{"subnet":"10.66.0.0/24"}}]}"#),
            ("lone closing brace", "}"),
            ("true spelled True", #"{"cniVersion":"1.1.0","name":"fnet","allowPrimary":True}"#),
            ("lone high surrogate escape", #"{"cniVersion":"1.1.0","name":"\ud800"}"#),
            ("truncated unicode escape", #"{"cniVersion":"1.1.0","name":"\u12"}"#),
        ]
        for (n, s) in malformed { add("malformed JSON", n, s, code: 6, says: ["not valid JSON"]) }
        raw("malformed JSON", "invalid UTF-8 in a string", code: 6, says: ["not valid JSON"]) {
            Array(#"{"cniVersion":"1.1.0","name":""#.utf8) + [0xC3, 0x28] + Array(#""}"#.utf8)
        }
        raw("malformed JSON", "overlong UTF-8 encoding of '/'", code: 6, says: ["not valid JSON"]) {
            Array(#"{"cniVersion":"1.1.0","name":"a"#.utf8) + [0xC0, 0xAF] + Array(#"b"}"#.utf8)
        }
        raw("malformed JSON", "a lone 0xFF byte", code: 6, says: ["not valid JSON"]) { [0xFF] }
        raw("malformed JSON", "UTF-16 encoded config", code: 6, says: ["not valid JSON"]) {
            [0xFF, 0xFE] + Array(#"{"cniVersion":"1.1.0"}"#.utf16).flatMap { [UInt8($0 & 0xFF), UInt8($0 >> 8)] }
        }
        for (n, s) in [("an array", "[]"), ("a number", "5"), ("a string", "\"fnet\""), ("null", "null"), ("true", "true"),
                       ("an array holding the config", "[" + valid + "]")] {
            add("malformed JSON", "config is \(n)", s, code: 6, says: ["must be a JSON object"])
        }

        // MARK: 10 MB on stdin
        let tenMB = 10 << 20
        raw("10 MB stdin", "10 MB of garbage after '{'", code: 6, says: ["not valid JSON"]) {
            var b = [UInt8](repeating: UInt8(ascii: "x"), count: tenMB); b[0] = UInt8(ascii: "{"); return b
        }
        raw("10 MB stdin", "10 MB unterminated string", code: 6, says: ["not valid JSON"]) {
            Array(#"{"cniVersion":"1.1.0","name":""#.utf8) + [UInt8](repeating: UInt8(ascii: "a"), count: tenMB)
        }
        raw("10 MB stdin", "10 MB of nested arrays", code: 6, says: ["not valid JSON"]) {
            Array(#"{"cniVersion":"1.1.0","x":"#.utf8) + [UInt8](repeating: UInt8(ascii: "["), count: tenMB)
        }
        raw("10 MB stdin", "10 MB network name", code: 7, says: ["name"]) {
            Array(json(with(hdBase, ["name": String(repeating: "a", count: tenMB)])).utf8)
        }
        raw("10 MB stdin", "10 MB link value", code: 7, says: ["link"]) {
            Array(json(with(hdBase, ["link": String(repeating: "b", count: tenMB)])).utf8)
        }
        raw("10 MB stdin", "10 MB subnet value", code: 7, says: ["ipam.subnet"]) {
            Array(json(with(hdBase, ["ipam>subnet": String(repeating: "1", count: tenMB), "ipam>dataDir": "/nonexistent/emt-faults"])).utf8)
        }
        raw("10 MB stdin", "10 MB unknown field with an unsupported cniVersion", code: 1, says: ["0.2.0"]) {
            Array(json(with(hdBase, ["cniVersion": "0.2.0", "padding": String(repeating: "p", count: tenMB)])).utf8)
        }
        raw("10 MB stdin", "10 MB device name", code: 7, says: ["device"]) {
            Array(json(with(hdBase, ["device": String(repeating: "d", count: tenMB)])).utf8)
        }
        raw("10 MB stdin", "100k requested addresses", code: 7, says: ["runtimeConfig.ips"]) {
            Array(json(with(hdBase, ["runtimeConfig": ["ips": [String](repeating: "10.66.0.5x", count: 100_000)]])).utf8)
        }
        c.append(HostileCase(category: "10 MB stdin", name: "10 MB CNI_ARGS with an unknown key", stdin: .text(hd()),
                             env: ["CNI_ARGS": "K8S_POD_NAME=p;" + String(repeating: "Z", count: tenMB) + "=1"],
                             code: 4, says: ["CNI_ARGS", "unknown key"]))

        // MARK: wrong JSON types, field by field (code 6, naming the field)
        let wrongTypes: [(String, String, Any, String)] = [
            // (base, path, value, field named in the message)
            ("hd", "cniVersion", 110, "cniVersion"), ("hd", "cniVersion", true, "cniVersion"),
            ("hd", "cniVersion", ["1.1.0"], "cniVersion"), ("hd", "cniVersion", ["v": "1.1.0"], "cniVersion"),
            ("hd", "name", 5, "name"), ("hd", "name", true, "name"), ("hd", "name", ["fnet"], "name"),
            ("hd", "name", ["n": "fnet"], "name"),
            ("hd", "type", 5, "type"), ("hd", "type", ["eni-multus"], "type"),
            ("hd", "link", 5, "link"), ("hd", "link", true, "link"),
            ("ipv", "master", 5, "master"), ("ipv", "master", ["eni0"], "master"),
            ("ipv", "masterMAC", 2, "masterMAC"), ("ipv", "mode", 2, "mode"), ("ipv", "flag", true, "flag"),
            ("hd", "mtu", "1500", "mtu"), ("hd", "mtu", true, "mtu"), ("hd", "mtu", [1500], "mtu"),
            ("hd", "device", 5, "device"), ("hd", "device", ["name": "mv0"], "device"),
            ("hd", "hwaddr", 5, "hwaddr"), ("hd", "kernelpath", 5, "kernelpath"), ("hd", "pciBusID", 6, "pciBusID"),
            ("hd", "allowPrimary", "true", "allowPrimary"), ("hd", "allowPrimary", 1, "allowPrimary"),
            ("hd", "linkInContainer", "false", "linkInContainer"),
            ("hd", "ipam", "eni-multus", "ipam"), ("hd", "ipam", [ipamBase], "ipam"), ("hd", "ipam", 5, "ipam"),
            ("hd", "ipam>type", 5, "ipam.type"), ("hd", "ipam>subnet", 5, "ipam.subnet"),
            ("hd", "ipam>dataDir", 5, "ipam.dataDir"), ("hd", "ipam>dataDir", ["/tmp"], "ipam.dataDir"),
            ("hd", "ipam>mode", 1, "ipam.mode"), ("hd", "ipam>rangeStart", 5, "ipam.rangeStart"),
            ("hd", "ipam>rangeEnd", true, "ipam.rangeEnd"), ("hd", "ipam>gateway", ["10.66.0.1"], "ipam.gateway"),
            ("hd", "ipam>ranges", "10.66.0.0/24", "ipam.ranges"), ("hd", "ipam>ranges", ["10.66.0.0/24"], "ipam.ranges[0]"),
            ("hd", "ipam>ranges", [["10.66.0.0/24"]], "ipam.ranges[0][0]"),
            ("hd", "ipam>ranges", [[["subnet": 5]]], "ipam.ranges[0][0].subnet"),
            ("hd", "ipam>routes", "10.0.0.0/8", "ipam.routes"), ("hd", "ipam>routes", ["10.0.0.0/8"], "ipam.routes[0]"),
            ("hd", "ipam>routes", [["dst": 10]], "ipam.routes[0].dst"),
            ("hd", "ipam>routes", [["dst": "10.0.0.0/8", "gw": 1]], "ipam.routes[0].gw"),
            ("hd", "ipam>routes", [["dst": "10.0.0.0/8", "mtu": "1500"]], "ipam.routes[0].mtu"),
            ("hd", "dns", "8.8.8.8", "dns"), ("hd", "dns", ["nameservers": "8.8.8.8"], "dns.nameservers"),
            ("hd", "dns", ["nameservers": [8]], "dns.nameservers"), ("hd", "dns", ["domain": 5], "dns.domain"),
            ("hd", "dns", ["search": ["a": 1]], "dns.search"), ("hd", "dns", ["options": true], "dns.options"),
            ("hd", "runtimeConfig", "x", "runtimeConfig"), ("hd", "runtimeConfig", [1], "runtimeConfig"),
            ("hd", "runtimeConfig>ips", "10.66.0.5", "runtimeConfig.ips"), ("hd", "runtimeConfig>ips", [5], "runtimeConfig.ips[0]"),
            ("hd", "runtimeConfig>mac", 5, "runtimeConfig.mac"), ("hd", "runtimeConfig>deviceID", 6, "runtimeConfig.deviceID"),
            ("hd", "args", "x", "args"), ("hd", "args>cni", 5, "args.cni"),
            ("hd", "args>cni>ips", "10.66.0.5", "args.cni.ips"), ("hd", "args>cni>ips", [true], "args.cni.ips[0]"),
            ("hd", "logFile", 5, "logFile"), ("hd", "logLevel", 2, "logLevel"),
            ("hd", "eni", "eni-0123456789abcdef0", "eni"), ("hd", "eni", [eniOK], "eni"),
            ("hd", "eni>id", 5, "eni.id"), ("hd", "eni", ["deviceIndex": "1"], "eni.deviceIndex"),
            ("hd", "eni", ["subnetId": ["subnet-1"]], "eni.subnetId"), ("hd", "eni", ["tag": "k=v"], "eni.tag"),
            ("hd", "eni", ["tag": ["key": 5]], "eni.tag.key"), ("hd", "eni", ["tag": ["key": "k", "value": 5]], "eni.tag.value"),
        ]
        for (base, path, value, field) in wrongTypes {
            let conf = base == "hd" ? hd([path: value]) : ipv([path: value])
            add("wrong type", "\(base) \(path) = \(json(value).prefix(40))", conf, code: 6, says: [field])
        }
        // The EC2 options are read with the eni block.
        for (k, v) in [("requireNoManageTag", "yes" as Any), ("clusterName", 5), ("allowForeignReassignment", "true"),
                       ("ec2TimeoutSeconds", "10")] {
            add("wrong type", "eni with \(k) = \(json(v))", hd(["eni": eniOK, k: v]), code: 6, says: [k])
        }
        add("wrong type", "GC cni.dev/valid-attachments = \"x\"", hd(["cni.dev/valid-attachments": "x"]), code: 6,
            says: ["cni.dev/valid-attachments"], verb: "GC", env: ["CNI_NETNS": nil])
        add("wrong type", "GC cni.dev/valid-attachments = [5]", hd(["cni.dev/valid-attachments": [5]]), code: 6,
            says: ["cni.dev/valid-attachments[0]"], verb: "GC", env: ["CNI_NETNS": nil])
        for (n, prev, field) in [("a string", "x" as Any, "prevResult"), ("ips a string", ["ips": "x"], "prevResult.ips"),
                                 ("interfaces a number", ["interfaces": 5], "prevResult.interfaces"),
                                 ("an address that is not a CIDR", ["ips": [["address": "10.66.0.2"]]], "prevResult.ips[0].address"),
                                 ("routes a number", ["routes": 5], "prevResult.routes")] {
            add("wrong type", "CHECK with prevResult \(n)", hd(["prevResult": prev]), code: 6, says: [field], verb: "CHECK")
        }

        // MARK: non-integers and out-of-range integers (code 7)
        for (v, what) in [(1.5 as Any, "1.5"), (-1, "-1"), (70000, "70000"), (67, "67"), (1e30, "1e+30")] {
            add("bad value", "mtu \(what)", hd(["mtu": v]), code: 7, says: ["mtu"])
        }

        // MARK: cniVersion
        add("cniVersion", "missing", hd(["cniVersion": nil]), code: 1, says: ["cniVersion"])
        add("cniVersion", "empty", hd(["cniVersion": ""]), code: 1, says: ["cniVersion"])
        add("cniVersion", "null", hd(["cniVersion": NSNull()]), code: 1, says: ["cniVersion"])
        for v in ["0.1.0", "0.2.0", "2.0.0", "1.1", "v1.0.0", "1.0.0 ", "latest", "1.1.0\u{0}", "01.0.0", "1.0.0-rc1"] {
            add("cniVersion", "unknown \(json(v))", hd(["cniVersion": v]), code: 1, says: [v])
        }
        add("cniVersion", "CHECK in 0.3.1", hd(["cniVersion": "0.3.1", "prevResult": [String: Any]()]), code: 1,
            says: ["CHECK", "0.3.1"], verb: "CHECK")
        add("cniVersion", "STATUS in 1.0.0", hd(["cniVersion": "1.0.0"]), code: 1, says: ["STATUS", "1.0.0"], verb: "STATUS")
        add("cniVersion", "GC in 0.4.0", hd(["cniVersion": "0.4.0", "cni.dev/valid-attachments": [Any]()]), code: 1,
            says: ["GC", "0.4.0"], verb: "GC")
        add("cniVersion", "DEL without cniVersion", hd(["cniVersion": nil]), code: 1, says: ["cniVersion"], verb: "DEL")

        // MARK: bad CIDRs
        for s in ["10.66.0.0", "10.66.0.0/33", "300.1.1.0/24", "fd00::/129", "", "10.66.0.0/-1", "10.66.0.0/24/1",
                  " 10.66.0.0/24", "10.66.0.0/24 ", "10.66.0/24", "fe80::%eth0/64", "10.66.0.0/", "/24", "10.66.0.0\\24",
                  "one.two.three.four/24"] {
            add("bad CIDR", "ipam.subnet \(json(s))", hd(["ipam>subnet": s]), code: 7, says: ["ipam.subnet"])
        }
        add("bad CIDR", "ipam.subnet with host bits", hd(["ipam>subnet": "10.66.0.1/24"]), code: 7, says: ["ipam.subnet", "host bits"])
        add("bad CIDR", "ipam.subnet /31 too small", hd(["ipam>subnet": "10.66.0.0/31"]), code: 7, says: ["ipam.subnet", "too small"])
        add("bad CIDR", "ipam.subnet /128 too small", hd(["ipam>subnet": "fd00::1/128"]), code: 7, says: ["ipam.subnet"])
        add("bad CIDR", "ranges subnet not a CIDR", hd(["ipam>subnet": nil, "ipam>ranges": [[["subnet": "10.66.0.0/99"]]]]),
            code: 7, says: ["ipam.ranges[0][0].subnet"])
        add("bad CIDR", "second range set subnet not a CIDR",
            hd(["ipam>subnet": nil, "ipam>ranges": [[["subnet": "10.66.0.0/24"]], [["subnet": "fd00::/6x"]]]]),
            code: 7, says: ["ipam.ranges[1][0].subnet"])
        add("bad CIDR", "route dst /40", hd(["ipam>routes": [["dst": "10.0.0.0/40"]]]), code: 7, says: ["ipam.routes[0].dst"])
        add("bad CIDR", "route dst 'default'", hd(["ipam>routes": [["dst": "default"]]]), code: 7, says: ["ipam.routes[0].dst"])
        add("bad CIDR", "route without dst", hd(["ipam>routes": [["gw": "10.66.0.1"]]]), code: 7, says: ["ipam.routes[0].dst"])
        add("bad CIDR", "route gw 10.66.0.300", hd(["ipam>routes": [["dst": "10.0.0.0/8", "gw": "10.66.0.300"]]]), code: 7,
            says: ["ipam.routes[0].gw"])
        add("bad CIDR", "route mtu 70000", hd(["ipam>routes": [["dst": "10.0.0.0/8", "mtu": 70000]]]), code: 7,
            says: ["ipam.routes[0].mtu"])
        add("bad CIDR", "route table -1", hd(["ipam>routes": [["dst": "10.0.0.0/8", "table": -1]]]), code: 7,
            says: ["ipam.routes[0].table"])
        add("bad CIDR", "runtimeConfig.ips 10.66.0.999", hd(["runtimeConfig": ["ips": ["10.66.0.999"]]]), code: 7,
            says: ["runtimeConfig.ips", "10.66.0.999"])
        add("bad CIDR", "runtimeConfig.ips 10.66.0.5/99", hd(["runtimeConfig": ["ips": ["10.66.0.5/99"]]]), code: 7,
            says: ["runtimeConfig.ips", "10.66.0.5/99"])
        add("bad CIDR", "args.cni.ips 1.2.3", hd(["args": ["cni": ["ips": ["1.2.3"]]]]), code: 7, says: ["args.cni.ips", "1.2.3"])
        add("bad CIDR", "CNI_ARGS IP=10.66.0.256", hd(), code: 4, says: ["CNI_ARGS", "10.66.0.256"],
            env: ["CNI_ARGS": "IgnoreUnknown=1;IP=10.66.0.256"])
        add("bad CIDR", "CNI_ARGS IP=10.66.0.5/33", hd(), code: 4, says: ["CNI_ARGS", "10.66.0.5/33"],
            env: ["CNI_ARGS": "IP=10.66.0.5/33"])
        add("bad CIDR", "CNI_ARGS IP list with an empty member", hd(), code: 4, says: ["CNI_ARGS", "IP="],
            env: ["CNI_ARGS": "IP=10.66.0.5,,x"])

        // MARK: rangeStart / rangeEnd / gateway outside the subnet
        for (k, v) in [("rangeStart", "10.67.0.5"), ("rangeStart", "10.66.1.0"), ("rangeEnd", "10.65.255.255"),
                       ("rangeEnd", "10.66.1.1"), ("gateway", "10.67.0.1"), ("gateway", "192.0.2.1"), ("rangeStart", "0.0.0.0"),
                       ("rangeEnd", "255.255.255.255")] {
            add("range bounds", "ipam.\(k) \(v) outside 10.66.0.0/24", hd(["ipam>\(k)": v]), code: 7,
                says: ["ipam.\(k)", v, "outside"])
        }
        add("range bounds", "ipam.rangeStart after rangeEnd", hd(["ipam>rangeStart": "10.66.0.200", "ipam>rangeEnd": "10.66.0.100"]),
            code: 7, says: ["ipam.rangeStart", "10.66.0.200", "10.66.0.100"])
        add("range bounds", "ipam.rangeStart not an address", hd(["ipam>rangeStart": "start"]), code: 7, says: ["ipam.rangeStart", "start"])
        add("range bounds", "ranges form: rangeEnd outside",
            hd(["ipam>subnet": nil, "ipam>ranges": [[["subnet": "10.66.0.0/24", "rangeEnd": "10.66.2.9"]]]]), code: 7,
            says: ["ipam.ranges[0][0].rangeEnd", "10.66.2.9"])
        add("range bounds", "IPv6 rangeStart outside fd00:66::/64",
            hd(["ipam>subnet": "fd00:66::/64", "ipam>rangeStart": "fd00:67::5"]), code: 7, says: ["ipam.rangeStart", "fd00:67::5"])
        add("range bounds", "overlapping range sets",
            hd(["ipam>subnet": nil, "ipam>ranges": [[["subnet": "10.66.0.0/24"]], [["subnet": "10.66.0.0/25"]]]]), code: 7,
            says: ["ipam.ranges[1]", "overlaps"])
        add("range bounds", "empty ranges list", hd(["ipam>subnet": nil, "ipam>ranges": [Any]()]), code: 7, says: ["ranges"])
        add("range bounds", "empty range set", hd(["ipam>subnet": nil, "ipam>ranges": [[Any]()]]), code: 7, says: ["ipam.ranges[0]", "empty"])
        add("range bounds", "no subnet and no ranges", hd(["ipam>subnet": nil]), code: 7, says: ["ranges", "subnet"])
        add("range bounds", "subnet missing in a range", hd(["ipam>subnet": nil, "ipam>ranges": [[["rangeStart": "10.66.0.5"]]]]),
            code: 7, says: ["ipam.ranges[0][0].subnet", "required"])

        // MARK: IPv4 / IPv6 mix-ups
        for (k, v) in [("rangeStart", "fd00::5"), ("rangeEnd", "fd00::ff"), ("gateway", "fd00::1"), ("gateway", "::ffff:10.66.0.1")] {
            add("v4/v6 mix-up", "IPv6 ipam.\(k) \(v) in an IPv4 subnet", hd(["ipam>\(k)": v]), code: 7, says: ["ipam.\(k)"])
        }
        add("v4/v6 mix-up", "IPv4 gateway in an IPv6 subnet", hd(["ipam>subnet": "fd00:66::/64", "ipam>gateway": "10.66.0.1"]),
            code: 7, says: ["ipam.gateway", "10.66.0.1"])
        add("v4/v6 mix-up", "one range set mixing families",
            hd(["ipam>subnet": nil, "ipam>ranges": [[["subnet": "10.66.0.0/24"], ["subnet": "fd00:66::/64"]]]]), code: 7,
            says: ["ipam.ranges[0]", "mixes IPv4 and IPv6"])
        add("v4/v6 mix-up", "route to an IPv4 dst via an IPv6 gw", hd(["ipam>routes": [["dst": "10.0.0.0/8", "gw": "fd00::1"]]]),
            code: 7, says: ["ipam.routes[0]", "different IP families"])
        add("v4/v6 mix-up", "route to an IPv6 dst via an IPv4 gw", hd(["ipam>routes": [["dst": "fd00::/8", "gw": "10.66.0.1"]]]),
            code: 7, says: ["ipam.routes[0]", "different IP families"])
        add("v4/v6 mix-up", "requested IPv6 address on an IPv4-only network", hd(["runtimeConfig": ["ips": ["fd00::5"]]]), code: 7,
            says: ["fd00::5", "no configured range"])
        add("v4/v6 mix-up", "args.cni.ips IPv6 on an IPv4-only network", hd(["args": ["cni": ["ips": ["fd00::5/64"]]]]), code: 7,
            says: ["fd00::5/64", "no configured range"])
        add("v4/v6 mix-up", "CNI_ARGS IP=IPv6 on an IPv4-only network", hd(), code: 7, says: ["fd00::7", "no configured range"],
            env: ["CNI_ARGS": "IgnoreUnknown=1;IP=fd00::7"])
        add("v4/v6 mix-up", "requested IPv4 address on an IPv6-only network",
            hd(["ipam>subnet": "fd00:66::/64", "runtimeConfig": ["ips": ["10.66.0.5"]]]), code: 7, says: ["10.66.0.5", "no configured range"])
        add("v4/v6 mix-up", "masterMAC is an IPv6 address", ipv(["masterMAC": "fd00::1"]), code: 7, says: ["masterMAC", "fd00::1"])
        add("v4/v6 mix-up", "hwaddr is an IPv4 address", hd(["device": nil, "hwaddr": "10.66.0.1"]), code: 7, says: ["hwaddr", "10.66.0.1"])
        add("v4/v6 mix-up", "runtimeConfig.mac is an IPv4 address", hd(["runtimeConfig": ["mac": "10.66.0.5"]]), code: 7,
            says: ["runtimeConfig.mac", "10.66.0.5"])

        // MARK: network names and dataDir values that would escape the state directory
        for n in ["../x", "..", ".", "/etc/passwd", "/tmp", "a/b", "a/../../b", "fnet/..", "a\u{0}b", "", "-x", ".hidden", "_x",
                  "x\n", "n\u{E9}t", "a b", "a:b", "a\\b", "~root", String(repeating: "n", count: 201), "fnet\u{0}/../../etc"] {
            add("escape: name", "name \(json(n).prefix(50))", hd(["name": n]), code: 7, says: ["name"])
        }
        add("escape: name", "name missing", hd(["name": nil]), code: 7, says: ["name is required"])
        add("escape: name", "name null", hd(["name": NSNull()]), code: 7, says: ["name is required"])
        add("escape: name", "duplicate name key, the second escaping",
            "{" + String(hd().dropFirst().dropLast()) + #","name":"../../escape"}"#, code: 7, says: ["name", "../../escape"])
        add("escape: name", "DEL with an escaping name", hd(["name": "../x"]), code: 7, says: ["name"], verb: "DEL")
        add("escape: name", "GC with an escaping name", hd(["name": "/etc", "cni.dev/valid-attachments": [Any]()]), code: 7,
            says: ["name"], verb: "GC", env: ["CNI_NETNS": nil])
        for d in ["relative/dir", "../x", "@DATA@/../escape", "@DATA@/a/../../b", "@DATA@/..", "/tmp/x\u{0}y", "", "~/x", ".",
                  "./state", "@DATA@/\u{0}"] {
            add("escape: dataDir", "ipam.dataDir \(json(d).prefix(40))", hd(["ipam>dataDir": d]), code: 7, says: ["ipam.dataDir"])
        }
        add("escape: dataDir", "DEL with an escaping dataDir is a quiet success", hd(["ipam>dataDir": "@DATA@/../x"]), code: 0, says: [],
            verb: "DEL")
        // dataDir paths the kernel refuses: an I/O error (code 5) naming the path, nothing created anywhere.
        add("escape: dataDir", "ipam.dataDir under a regular file", hd(["ipam>dataDir": "@FILE@/sub"]), code: 5,
            says: ["regular-file"])
        add("escape: dataDir", "ipam.dataDir is a regular file", hd(["ipam>dataDir": "@FILE@"]), code: 5, says: ["regular-file"])
        add("escape: dataDir", "ipam.dataDir in /proc", hd(["ipam>dataDir": "/proc/emt-faults-nonexistent/state"]), code: 5,
            says: ["/proc/emt-faults-nonexistent"])
        add("escape: dataDir", "ipam.dataDir of 5000 bytes", hd(["ipam>dataDir": "@DATA@/" + String(repeating: "d", count: 5000)]),
            code: 5, says: ["ddddd"])
        for f in ["relative.log", "", "../x.log", "@DATA@/../escape.log", "@SCRATCH@/a\u{0}b.log", "@DATA@/./../x.log"] {
            add("escape: logFile", "logFile \(json(f))", hd(["logFile": f, "device": "nope0"]), code: 7, says: ["logFile"])
        }
        for k in ["/etc/passwd", "/sys/../etc", "relative/net", "/sys/\u{0}../etc", "/sys"] {
            add("escape: kernelpath", "kernelpath \(json(k))", hd(["device": nil, "kernelpath": k]), code: 7, says: ["kernelpath"])
        }
        for p in ["../../../devices", "0000:00:06.0/../../..", "/sys/devices", "0000:00:06.0\u{0}x"] {
            add("escape: deviceID", "runtimeConfig.deviceID \(json(p))", hd(["runtimeConfig": ["deviceID": p]]), code: 7,
                says: ["runtimeConfig.deviceID"])
        }
        for p in ["../../x", "0000:00:06.8", "0000:00:06", "0000:0:06.0", "zzzz:00:06.0"] {
            add("escape: pciBusID", "pciBusID \(json(p))", hd(["device": nil, "pciBusID": p]), code: 7, says: ["pciBusID"])
        }
        for t in ["../evil", "/bin/sh", ".", "..", "a/b"] {
            add("escape: ipam.type", "ipam.type \(json(t))", hd(["ipam": ["type": t, "subnet": "10.66.0.0/24"]]), code: 104,
                says: ["plugin name"])
        }
        add("escape: ipam.type", "ipam.type not in CNI_PATH", hd(["ipam": ["type": "emt-no-such-ipam"]]), code: 104,
            says: ["emt-no-such-ipam", "CNI_PATH"])

        // MARK: interface names
        for (n, why) in [("abcdefghijklmnop", "1 to 15 bytes"), (String(repeating: "x", count: 64), "1 to 15 bytes"),
                         ("a/b", "'/'"), ("/", "'/'"), ("../net1", "'/'"), ("a:b", "':'"), ("a b", "whitespace"),
                         ("a\tb", "whitespace"), ("net1\n", "whitespace"), (".", "\".\""), ("..", "\"..\""), ("a\u{0}b", "NUL"),
                         (String(repeating: "\u{E9}", count: 8), "1 to 15 bytes")] {
            add("ifname", "CNI_IFNAME \(json(n).prefix(30))", hd(), code: 4, says: ["CNI_IFNAME", why], env: ["CNI_IFNAME": n])
            if n.utf8.count < 20 {
                add("ifname", "master \(json(n))", ipv(["master": n]), code: 7, says: ["master", why])
                add("ifname", "device \(json(n))", hd(["device": n]), code: 7, says: ["device", why])
            }
        }
        add("ifname", "CNI_IFNAME empty", hd(), code: 4, says: ["CNI_IFNAME"], env: ["CNI_IFNAME": ""])
        add("ifname", "CNI_IFNAME missing", hd(), code: 4, says: ["CNI_IFNAME"], env: ["CNI_IFNAME": nil])
        add("ifname", "CNI_IFNAME already exists in the pod (lo)", hd(), code: 4, says: ["\"lo\"", "already exists"],
            env: ["CNI_IFNAME": "lo"])
        add("ifname", "ipvlan: CNI_IFNAME already exists in the pod (lo)", ipv(), code: 4, says: ["\"lo\"", "already exists"],
            env: ["CNI_IFNAME": "lo"])
        add("ifname", "DEL with a 16-character CNI_IFNAME", hd(), code: 4, says: ["CNI_IFNAME"], verb: "DEL",
            env: ["CNI_IFNAME": "abcdefghijklmnop"])

        // MARK: CNI_CONTAINERID
        for id in ["-abc", "a/b", "../../etc", "a:b", "a b", "\u{E9}t\u{E9}", "a\u{0}b", ".", "_x", "x\n", "a;b"] {
            add("containerID", "CNI_CONTAINERID \(json(id))", hd(), code: 4, says: ["CNI_CONTAINERID"], env: ["CNI_CONTAINERID": id])
        }
        add("containerID", "CNI_CONTAINERID missing", hd(), code: 4, says: ["CNI_CONTAINERID"], env: ["CNI_CONTAINERID": nil])
        add("containerID", "CNI_CONTAINERID empty", hd(), code: 4, says: ["CNI_CONTAINERID"], env: ["CNI_CONTAINERID": ""])
        add("containerID", "DEL with CNI_CONTAINERID ../x", hd(), code: 4, says: ["CNI_CONTAINERID"], verb: "DEL",
            env: ["CNI_CONTAINERID": "../x"])

        // MARK: CNI_NETNS
        for (n, path) in [("a regular file", "@FILE@"), ("a directory", "@DIR@"), ("a PID namespace", "/proc/self/ns/pid"),
                          ("a mount namespace", "/proc/self/ns/mnt"), ("a UTS namespace", "/proc/self/ns/uts"),
                          ("nonexistent", "/run/netns/emt-faults-no-such-netns"), ("relative", "relative/netns"),
                          ("/dev/null", "/dev/null"), ("the scratch root", "@SCRATCH@"), ("a path with NUL", "@FILE@\u{0}x"),
                          ("a file in /proc", "/proc/self/status"), ("a directory in /proc", "/proc/self"),
                          ("a file in /sys", "/sys/kernel/uevent_seqnum")] {
            add("netns", "CNI_NETNS is \(n) (host-device)", hd(), code: 4, says: ["CNI_NETNS"], env: ["CNI_NETNS": path])
            add("netns", "CNI_NETNS is \(n) (ipvlan)", ipv(), code: 4, says: ["CNI_NETNS"], env: ["CNI_NETNS": path])
        }
        add("netns", "CNI_NETNS missing", hd(), code: 4, says: ["CNI_NETNS"], env: ["CNI_NETNS": nil])
        add("netns", "CNI_NETNS empty", hd(), code: 4, says: ["CNI_NETNS"], env: ["CNI_NETNS": ""])
        add("netns", "CHECK with CNI_NETNS a PID namespace", hd(["prevResult": ["cniVersion": "1.1.0"]]), code: 4,
            says: ["CNI_NETNS"], verb: "CHECK", env: ["CNI_NETNS": "/proc/self/ns/pid"])
        for (n, path) in [("a regular file", "@FILE@"), ("a PID namespace", "/proc/self/ns/pid"), ("nonexistent", "/run/netns/emt-gone")] {
            add("netns", "DEL with CNI_NETNS \(n) is a quiet success", hd(), code: 0, says: [], verb: "DEL", env: ["CNI_NETNS": path])
        }

        // MARK: the rest of the environment
        for cmd in ["add", "ADD ", "ADD\u{0}", "DELETE", "version"] {
            add("environment", "CNI_COMMAND \(json(cmd))", hd(), code: 4, says: ["CNI_COMMAND"], verb: cmd)
        }
        add("environment", "CNI_PATH missing", hd(), code: 4, says: ["CNI_PATH"], env: ["CNI_PATH": nil])
        add("environment", "CNI_PATH empty", hd(), code: 4, says: ["CNI_PATH"], env: ["CNI_PATH": ""])
        for (a, why) in [("FOO=bar", "FOO"), ("noequals", "noequals"), ("=x", "empty key"), ("MAC=zz", "MAC"),
                         ("IgnoreUnknown=0;FOO=1", "FOO"), ("K8S_POD_NAME=a;;;BAR", "BAR")] {
            add("environment", "CNI_ARGS \(json(a))", hd(), code: 4, says: ["CNI_ARGS", why], env: ["CNI_ARGS": a])
        }

        // MARK: the node's primary interface
        add("primary interface", "host-device device eth0", hd(["device": "eth0"]), code: 7, says: ["primary interface", "eth0"])
        add("primary interface", "host-device hwaddr of eth0", hd(["device": nil, "hwaddr": FaultsNode.eth0MAC]), code: 7,
            says: ["primary interface", "eth0"])
        add("primary interface", "host-device hwaddr of eth0, upper case", hd(["device": nil, "hwaddr": FaultsNode.eth0MAC.uppercased()]),
            code: 7, says: ["primary interface", "eth0"])
        add("primary interface", "host-device pciBusID of eth0", hd(["device": nil, "pciBusID": "0000:00:08.0"]), code: 7,
            says: ["primary interface", "eth0"])
        add("primary interface", "host-device runtimeConfig.deviceID of eth0", hd(["runtimeConfig": ["deviceID": "0000:00:08.0"]]),
            code: 7, says: ["primary interface", "eth0"])
        add("primary interface", "ipvlan master eth0", ipv(["master": "eth0"]), code: 7, says: ["primary interface", "eth0"])
        add("primary interface", "ipvlan masterMAC of eth0", ipv(["master": nil, "masterMAC": FaultsNode.eth0MAC]), code: 7,
            says: ["primary interface", "eth0"])
        add("primary interface", "ipvlan master and masterMAC of eth0", ipv(["master": "eth0", "masterMAC": FaultsNode.eth0MAC]),
            code: 7, says: ["primary interface", "eth0"])
        add("primary interface", "allowPrimary false given explicitly", hd(["device": "eth0", "allowPrimary": false]), code: 7,
            says: ["primary interface", "eth0"])

        // MARK: masters and devices that do not exist
        add("missing device", "host-device device nope0", hd(["device": "nope0"]), code: 7, says: ["device", "nope0", "does not exist"])
        add("missing device", "host-device hwaddr nobody has", hd(["device": nil, "hwaddr": "02:00:00:00:00:01"]), code: 7,
            says: ["hwaddr", "02:00:00:00:00:01"])
        add("missing device", "host-device kernelpath that does not exist", hd(["device": nil, "kernelpath": "/sys/devices/emt-nope"]),
            code: 7, says: ["kernelpath", "/sys/devices/emt-nope"])
        add("missing device", "host-device pciBusID that does not exist", hd(["device": nil, "pciBusID": "0000:00:1f.7"]), code: 7,
            says: ["pciBusID", "0000:00:1f.7"])
        add("missing device", "host-device pciBusID without a netdev", hd(["device": nil, "pciBusID": "0000:00:06.0"]), code: 7,
            says: ["pciBusID", "0000:00:06.0", "no network interface"])
        add("missing device", "host-device pciBusID with two netdevs", hd(["device": nil, "pciBusID": "0000:00:07.0"]), code: 7,
            says: ["pciBusID", "several"])
        add("missing device", "runtimeConfig.deviceID that does not exist", hd(["runtimeConfig": ["deviceID": "0000:00:1f.6"]]),
            code: 7, says: ["runtimeConfig.deviceID", "0000:00:1f.6"])
        add("missing device", "ipvlan master nope0", ipv(["master": "nope0"]), code: 7, says: ["master", "nope0", "does not exist"])
        add("missing device", "ipvlan masterMAC nobody has", ipv(["master": nil, "masterMAC": "02:00:00:00:00:01"]), code: 7,
            says: ["masterMAC", "02:00:00:00:00:01"])
        add("missing device", "ipvlan master and masterMAC disagree", ipv(["masterMAC": FaultsNode.mv0MAC]), code: 7,
            says: ["masterMAC", FaultsNode.mv0MAC, "eni0"])
        add("missing device", "STATUS with a master that does not exist", ipv(["master": "nope0"]), code: 50,
            says: ["master", "nope0"], verb: "STATUS", env: ["CNI_NETNS": nil])
        add("missing device", "DEL with a device that does not exist is a quiet success", hd(["device": "nope0"]), code: 0, says: [],
            verb: "DEL")
        // The kernel refuses these after IPAM has reserved an address: everything is rolled back.
        add("missing device", "ipvlan on the loopback device", ipv(["master": "lo"]), code: 100, says: ["create ipvlan", "lo"],
            rollsBack: true)
        add("missing device", "host-device lo (cannot change netns)", hd(["device": "lo"]), code: 100, says: ["lo"], rollsBack: true)

        // MARK: bad eni blocks
        let badENI: [(String, Any, Int, [String])] = [
            ("empty", [String: Any](), 7, ["eni", "exactly one"]),
            ("two selectors", ["id": "eni-1", "subnetId": "subnet-1"], 7, ["eni", "2 given"]),
            ("all four selectors", ["id": "eni-1", "subnetId": "subnet-1", "deviceIndex": 1, "tag": ["key": "k"]], 7, ["4 given"]),
            ("id not an ENI id", ["id": "vpc-123"], 7, ["eni.id", "vpc-123"]),
            ("id too long", ["id": "eni-" + String(repeating: "0", count: 40)], 7, ["eni.id"]),
            ("subnetId not a subnet id", ["subnetId": "sg-1"], 7, ["eni.subnetId", "sg-1"]),
            ("deviceIndex 0 (the primary ENI)", ["deviceIndex": 0], 7, ["deviceIndex 0", "primary"]),
            ("deviceIndex 64", ["deviceIndex": 64], 7, ["eni.deviceIndex"]),
            ("deviceIndex -1", ["deviceIndex": -1], 7, ["eni.deviceIndex"]),
            ("deviceIndex 1.5", ["deviceIndex": 1.5], 7, ["eni.deviceIndex"]),
            ("tag without key", ["tag": [String: Any]()], 7, ["eni.tag.key"]),
            ("tag with an empty key", ["tag": ["key": ""]], 7, ["eni.tag.key"]),
        ]
        for (n, v, code, says) in badENI { add("bad eni", "eni \(n)", hd(["eni": v]), code: code, says: says) }
        for t in [0, 121, -5] {
            add("bad eni", "ec2TimeoutSeconds \(t)", hd(["eni": eniOK, "ec2TimeoutSeconds": t]), code: 7, says: ["ec2TimeoutSeconds"])
        }
        // Configuration errors are reported before EC2 or IMDS is asked anything.
        add("bad eni", "valid eni, invalid ipam.subnet", hd(["eni": eniOK, "ipam>subnet": "10.66.0.0/33"]), code: 7, says: ["ipam.subnet"])
        add("bad eni", "valid eni, ipam.dataDir escaping", hd(["eni": eniOK, "ipam>dataDir": "@DATA@/../x"]), code: 7,
            says: ["ipam.dataDir"])
        add("bad eni", "valid eni, delegated IPAM missing", hd(["eni": eniOK, "ipam": ["type": "emt-no-such-ipam"]]), code: 104,
            says: ["emt-no-such-ipam"])
        add("bad eni", "valid eni, requested MAC", hd(["eni": eniOK, "runtimeConfig": ["mac": "02:00:00:00:00:99"]]), code: 2,
            says: ["02:00:00:00:00:99"])
        add("bad eni", "valid eni, bad link", hd(["eni": eniOK, "link": "macvlan"]), code: 7, says: ["link", "macvlan"])

        // MARK: runtimeConfig and args values
        add("runtimeConfig/args", "runtimeConfig.ips not an address", hd(["runtimeConfig": ["ips": ["bogus"]]]), code: 7,
            says: ["runtimeConfig.ips", "bogus"])
        add("runtimeConfig/args", "runtimeConfig.ips outside every range", hd(["runtimeConfig": ["ips": ["10.99.0.5"]]]), code: 7,
            says: ["10.99.0.5", "no configured range"])
        add("runtimeConfig/args", "two requested addresses in one range set", hd(["runtimeConfig": ["ips": ["10.66.0.5", "10.66.0.6"]]]),
            code: 7, says: ["10.66.0.5", "10.66.0.6", "same range set"])
        add("runtimeConfig/args", "CNI_ARGS and runtimeConfig ask for two addresses of one set",
            hd(["runtimeConfig": ["ips": ["10.66.0.5"]]]), code: 7, says: ["10.66.0.9", "10.66.0.5", "same range set"],
            env: ["CNI_ARGS": "IP=10.66.0.9"])
        // The network and broadcast addresses are outside the default range (.1 to .254): a config error.
        for a in ["10.66.0.0", "10.66.0.255"] {
            add("runtimeConfig/args", "requesting \(a)", hd(["runtimeConfig": ["ips": [a]]]), code: 7, says: [a, "no configured range"])
        }
        // The gateway address, or an address with the wrong prefix length, can never be assigned: a config error.
        for (a, why) in [("10.66.0.1", "gateway"), ("10.66.0.5/16", "/16")] {
            add("runtimeConfig/args", "requesting \(a)", hd(["runtimeConfig": ["ips": [a]]]), code: 7, says: [a, why])
        }
        add("runtimeConfig/args", "runtimeConfig.mac not a MAC", hd(["runtimeConfig": ["mac": "zz:zz"]]), code: 7,
            says: ["runtimeConfig.mac", "zz:zz"])
        add("runtimeConfig/args", "runtimeConfig.mac requested", hd(["runtimeConfig": ["mac": "02:00:00:00:00:99"]]), code: 2,
            says: ["02:00:00:00:00:99"])
        add("runtimeConfig/args", "CNI_ARGS MAC requested", hd(), code: 2, says: ["02:00:00:00:00:98"],
            env: ["CNI_ARGS": "IgnoreUnknown=1;MAC=02:00:00:00:00:98"])
        add("runtimeConfig/args", "args.cni.ips not an address", hd(["args": ["cni": ["ips": ["x"]]]]), code: 7, says: ["args.cni.ips", "\"x\""])
        add("runtimeConfig/args", "args.cni.ips outside every range", hd(["args": ["cni": ["ips": ["10.99.0.6"]]]]), code: 7,
            says: ["10.99.0.6"])
        add("runtimeConfig/args", "CNI_ARGS IP outside every range", hd(), code: 7, says: ["10.99.0.7"], env: ["CNI_ARGS": "IP=10.99.0.7"])

        // MARK: other invalid values
        for (k, v) in [("link", "macvlan"), ("link", ""), ("link", "IPVLAN"), ("link", "host-device "), ("mode", "l4"),
                       ("flag", "x"), ("logLevel", "trace"), ("masterMAC", "zz"), ("masterMAC", "02:00:00:00:00")] {
            add("bad value", "\(k) \(json(v))", k.hasPrefix("master") || k == "mode" || k == "flag" ? ipv([k: v]) : hd([k: v]),
                code: 7, says: v.isEmpty ? [k + ": \"\""] : [k, v])
        }
        add("bad value", "hwaddr zz", hd(["device": nil, "hwaddr": "zz"]), code: 7, says: ["hwaddr", "zz"])
        add("bad value", "linkInContainer true", hd(["linkInContainer": true]), code: 2, says: ["linkInContainer"])
        add("bad value", "host-device with two selectors", hd(["hwaddr": FaultsNode.mv0MAC]), code: 7, says: ["exactly one", "2 given"])
        add("bad value", "host-device without a selector", hd(["device": nil]), code: 7, says: ["host-device needs one of"])
        add("bad value", "ipvlan without master", ipv(["master": nil]), code: 7, says: ["master", "masterMAC"])
        add("bad value", "ipam without type", hd(["ipam>type": nil]), code: 7, says: ["ipam.type"])
        add("bad value", "ipam with an empty type", hd(["ipam>type": ""]), code: 7, says: ["ipam.type"])
        add("bad value", "ipam.mode unknown", hd(["ipam>mode": "ec3"]), code: 7, says: ["ipam.mode", "ec3"])
        add("bad value", "ipam.mode ec2 without an eni block", hd(["ipam>mode": "ec2", "ipam>subnet": nil]), code: 7, says: ["ec2", "\"eni\" block"])
        add("bad value", "ipam.mode prefix with ranges", hd(["ipam>mode": "prefix"]), code: 7, says: ["ipam.subnet", "prefix"])
        add("bad value", "GC without cni.dev/valid-attachments", hd(), code: 7, says: ["cni.dev/valid-attachments"], verb: "GC",
            env: ["CNI_NETNS": nil])
        add("bad value", "GC with an attachment missing ifname", hd(["cni.dev/valid-attachments": [["containerID": "a"]]]), code: 7,
            says: ["cni.dev/valid-attachments[0]"], verb: "GC", env: ["CNI_NETNS": nil])
        add("bad value", "CHECK without prevResult", hd(), code: 7, says: ["prevResult"], verb: "CHECK")
        return c
    }
}
