import JSON
import NetTypes

/// One request on the agent's socket: a JSON object in one `SOCK_SEQPACKET` datagram, answered by one datagram.
/// `{"v": 1, "op": "...", "timeout": seconds, ...arguments}` → `{"v": 1, "ok": true, "value": ...}` or
/// `{"v": 1, "ok": false, "error": {"kind": ..., "message": ..., ...}}`. A peer speaking another `v` is answered
/// with an error of kind `version` and nothing else is done.
public enum AgentRequest: Equatable, Sendable {
    case hello
    case instanceENIs
    case localAddresses(mac: MACAddress)
    case describeIDs([String])
    case describeSubnet(String)
    case describeTag(key: String, value: String, ids: [String])
    case assignIPv4(eni: String, addresses: [IPAddress], allowReassignment: Bool)
    case unassignIPv4(eni: String, addresses: [IPAddress])
    case assignIPv6(eni: String, addresses: [IPAddress])
    case unassignIPv6(eni: String, addresses: [IPAddress])
    case assignCount(eni: String, count: Int, v4: Bool)
    case assignPrefixes(eni: String, count: Int, v4: Bool)
    case unassignPrefixes(eni: String, prefixes: [IPPrefix])
    case subnets(mac: MACAddress)
    case localPrefixes(mac: MACAddress)
    case addressLimits
    case checkCredentials

    public static let version = 1
    /// The largest datagram either side sends or accepts.
    public static let maxMessage = 4 << 20

    public var op: String {
        switch self {
        case .hello: "hello"
        case .instanceENIs: "instanceENIs"
        case .localAddresses: "localAddresses"
        case .describeIDs: "describeIDs"
        case .describeSubnet: "describeSubnet"
        case .describeTag: "describeTag"
        case .assignIPv4: "assignIPv4"
        case .unassignIPv4: "unassignIPv4"
        case .assignIPv6: "assignIPv6"
        case .unassignIPv6: "unassignIPv6"
        case .assignCount: "assignCount"
        case .assignPrefixes: "assignPrefixes"
        case .unassignPrefixes: "unassignPrefixes"
        case .subnets: "subnets"
        case .localPrefixes: "localPrefixes"
        case .addressLimits: "addressLimits"
        case .checkCredentials: "checkCredentials"
        }
    }

    /// Whether EC2 changes state when it runs (what the agent paces and batches).
    public var mutates: Bool {
        switch self {
        case .assignIPv4, .unassignIPv4, .assignIPv6, .unassignIPv6, .assignCount, .assignPrefixes, .unassignPrefixes: true
        default: false
        }
    }

    public func encoded(timeout: Double) -> [UInt8] {
        var o: JSONObject = ["v": .number(JSONNumber(AgentRequest.version)), "op": .string(op)]
        o["timeout"] = .number(JSONNumber(timeout) ?? JSONNumber(10))
        switch self {
        case .hello, .instanceENIs, .addressLimits, .checkCredentials: break
        case .localAddresses(let m), .subnets(let m), .localPrefixes(let m): o["mac"] = .string(m.description)
        case .describeIDs(let ids): o["ids"] = Wire.strings(ids)
        case .describeSubnet(let s): o["subnetId"] = .string(s)
        case .describeTag(let k, let v, let ids):
            o["key"] = .string(k); o["value"] = .string(v); o["ids"] = Wire.strings(ids)
        case .assignIPv4(let e, let a, let r):
            o["eni"] = .string(e); o["addresses"] = Wire.list(a); o["allowReassignment"] = .bool(r)
        case .unassignIPv4(let e, let a), .assignIPv6(let e, let a), .unassignIPv6(let e, let a):
            o["eni"] = .string(e); o["addresses"] = Wire.list(a)
        case .assignCount(let e, let n, let v4), .assignPrefixes(let e, let n, let v4):
            o["eni"] = .string(e); o["count"] = .number(JSONNumber(n)); o["v4"] = .bool(v4)
        case .unassignPrefixes(let e, let p):
            o["eni"] = .string(e); o["prefixes"] = Wire.list(p)
        }
        return Array(JSON.object(o).serialized().utf8)
    }

    /// Decodes a request; the timeout it asks for (seconds, clamped to 0.05...120).
    public static func decode(_ bytes: [UInt8]) throws(WireError) -> (AgentRequest, timeout: Double) {
        guard let json = try? JSON.parse(bytes), case .object(let o) = json else { throw .malformed("not a JSON object") }
        guard let v = o["v"]?.int64Value else { throw .malformed("no protocol version \"v\"") }
        guard v == Int64(version) else { throw .version(Int(v)) }
        guard case .string(let op)? = o["op"] else { throw .malformed("no \"op\"") }
        let timeout = min(max(o["timeout"]?.doubleValue ?? 10, 0.05), 120)
        let r = Wire.Reader(o)
        let req: AgentRequest
        switch op {
        case "hello": req = .hello
        case "instanceENIs": req = .instanceENIs
        case "localAddresses": req = .localAddresses(mac: try r.mac("mac"))
        case "describeIDs": req = .describeIDs(try r.strings("ids"))
        case "describeSubnet": req = .describeSubnet(try r.string("subnetId"))
        case "describeTag": req = .describeTag(key: try r.string("key"), value: try r.string("value"), ids: try r.strings("ids"))
        case "assignIPv4":
            req = .assignIPv4(eni: try r.string("eni"), addresses: try r.addresses("addresses"),
                              allowReassignment: o["allowReassignment"]?.boolValue ?? false)
        case "unassignIPv4": req = .unassignIPv4(eni: try r.string("eni"), addresses: try r.addresses("addresses"))
        case "assignIPv6": req = .assignIPv6(eni: try r.string("eni"), addresses: try r.addresses("addresses"))
        case "unassignIPv6": req = .unassignIPv6(eni: try r.string("eni"), addresses: try r.addresses("addresses"))
        case "assignCount": req = .assignCount(eni: try r.string("eni"), count: try r.count("count"), v4: try r.bool("v4"))
        case "assignPrefixes": req = .assignPrefixes(eni: try r.string("eni"), count: try r.count("count"), v4: try r.bool("v4"))
        case "unassignPrefixes": req = .unassignPrefixes(eni: try r.string("eni"), prefixes: try r.prefixes("prefixes"))
        case "subnets": req = .subnets(mac: try r.mac("mac"))
        case "localPrefixes": req = .localPrefixes(mac: try r.mac("mac"))
        case "addressLimits": req = .addressLimits
        case "checkCredentials": req = .checkCredentials
        default: throw .malformed("unknown op \"\(op)\"")
        }
        return (req, timeout)
    }
}

/// A request or reply that cannot be decoded.
public enum WireError: Error, CustomStringConvertible, Equatable {
    case malformed(String)
    /// The peer speaks another protocol version.
    case version(Int)
    public var description: String {
        switch self {
        case .malformed(let s): "malformed agent message: \(s)"
        case .version(let v): "protocol version \(v), this side speaks \(AgentRequest.version)"
        }
    }
}

/// The answer to one request.
public enum AgentReply: Equatable, Sendable {
    case ok(JSON)
    case failed(AgentFailure)

    public func encoded() -> [UInt8] {
        var o: JSONObject = ["v": .number(JSONNumber(AgentRequest.version))]
        switch self {
        case .ok(let v): o["ok"] = .bool(true); o["value"] = v
        case .failed(let f): o["ok"] = .bool(false); o["error"] = f.json
        }
        return Array(JSON.object(o).serialized().utf8)
    }

    public static func decode(_ bytes: [UInt8]) throws(WireError) -> AgentReply {
        guard let json = try? JSON.parse(bytes), case .object(let o) = json else { throw .malformed("reply is not a JSON object") }
        guard let v = o["v"]?.int64Value else { throw .malformed("reply without \"v\"") }
        guard o["ok"]?.boolValue == true else {
            guard case .object(let e)? = o["error"] else { throw .malformed("failed reply without \"error\"") }
            return .failed(try AgentFailure(e))
        }
        guard v == Int64(AgentRequest.version) else { throw .version(Int(v)) }
        return .ok(o["value"] ?? .null)
    }
}

/// A failure the agent reports, by kind.
public enum AgentFailure: Error, Equatable, Sendable {
    /// EC2 refused explicit addresses because an ENI holds them.
    case inUse(AddressInUse)
    /// An AWS call failed.
    case aws(EC2CallFailure)
    /// The request itself was refused (malformed, wrong version, peer not allowed).
    case refused(String)

    var json: JSON {
        switch self {
        case .inUse(let u):
            return .object(["kind": .string("inUse"), "message": .string(u.detail), "addresses": Wire.list(u.addresses)])
        case .aws(let f):
            return .object(["kind": .string("aws"), "message": .string(f.message), "retryable": .bool(f.retryable),
                            "tryAgainLater": .bool(f.tryAgainLater), "throttled": .bool(f.throttled)])
        case .refused(let s):
            return .object(["kind": .string("refused"), "message": .string(s)])
        }
    }

    init(_ o: JSONObject) throws(WireError) {
        let message = o["message"]?.stringValue ?? ""
        switch o["kind"]?.stringValue {
        case "inUse": self = .inUse(AddressInUse(addresses: try Wire.Reader(o).addresses("addresses"), detail: message))
        case "aws":
            self = .aws(EC2CallFailure(message: message, retryable: o["retryable"]?.boolValue ?? false,
                                       tryAgainLater: o["tryAgainLater"]?.boolValue ?? false,
                                       throttled: o["throttled"]?.boolValue ?? false))
        case "refused": self = .refused(message)
        default: throw .malformed("unknown error kind")
        }
    }

    /// The error the plugin's code handles (`AddressInUse`, `EC2CallFailure`), or for a refusal, `AgentUnreachable`.
    public func error(socket: String) -> any Error {
        switch self {
        case .inUse(let u): u
        case .aws(let f): f
        case .refused(let s): AgentUnreachable(socket: socket, reason: "the agent refused the request: \(s)")
        }
    }
}

// MARK: - values

/// JSON forms of the shared values, both directions.
public enum Wire {
    static func strings(_ s: [String]) -> JSON { .array(s.map { .string($0) }) }
    public static func list(_ v: [some CustomStringConvertible]) -> JSON { .array(v.map { .string($0.description) }) }

    public static func json(_ e: InstanceENI) -> JSON {
        .object(["mac": .string(e.mac.description), "id": .string(e.id), "deviceIndex": .number(JSONNumber(e.deviceIndex)),
                 "subnetId": .string(e.subnetID)])
    }

    public static func json(_ e: ENIDescription) -> JSON {
        var o: JSONObject = ["id": .string(e.id), "subnetId": .string(e.subnetID),
                             "tags": .object(JSONObject(e.tags.sorted { $0.key < $1.key }.map { ($0.key, JSON.string($0.value)) })),
                             "ipv4": list(e.ipv4), "ipv6": list(e.ipv6), "prefixes": list(e.prefixes), "known": .bool(e.known)]
        if let d = e.deviceIndex { o["deviceIndex"] = .number(JSONNumber(d)) }
        if let p = e.primaryIPv4 { o["primaryIPv4"] = .string(p.description) }
        return .object(o)
    }

    public static func json(_ l: AddressLimits) -> JSON {
        .object(["instanceType": .string(l.instanceType), "ipv4PerENI": .number(JSONNumber(l.ipv4PerENI)),
                 "ipv6PerENI": .number(JSONNumber(l.ipv6PerENI))])
    }

    static func objects(_ v: JSON) throws(WireError) -> [JSONObject] {
        guard case .array(let a) = v else { throw .malformed("expected an array") }
        var out: [JSONObject] = []
        for x in a {
            guard case .object(let o) = x else { throw .malformed("expected an array of objects") }
            out.append(o)
        }
        return out
    }

    public static func instanceENIs(_ v: JSON) throws(WireError) -> [InstanceENI] {
        var out: [InstanceENI] = []
        for o in try objects(v) {
            let r = Reader(o)
            out.append(InstanceENI(mac: try r.mac("mac"), id: try r.string("id"), deviceIndex: try r.count("deviceIndex"),
                                subnetID: try r.string("subnetId")))
        }
        return out
    }

    public static func describedENIs(_ v: JSON) throws(WireError) -> [ENIDescription] {
        var out: [ENIDescription] = []
        for o in try objects(v) {
            let r = Reader(o)
            var tags: [String: String] = [:]
            if case .object(let t)? = o["tags"] { for (k, v) in t { tags[k] = v.stringValue ?? "" } }
            out.append(ENIDescription(id: try r.string("id"), subnetID: try r.string("subnetId"),
                                 deviceIndex: o["deviceIndex"]?.int64Value.map { Int($0) }, tags: tags,
                                 ipv4: try r.addresses("ipv4"), ipv6: try r.addresses("ipv6"),
                                 primaryIPv4: o["primaryIPv4"]?.stringValue.flatMap { IPAddress($0) },
                                 prefixes: try r.prefixes("prefixes"), known: o["known"]?.boolValue ?? true))
        }
        return out
    }

    public static func limits(_ v: JSON) throws(WireError) -> AddressLimits {
        guard case .object(let o) = v else { throw .malformed("expected an object") }
        let r = Reader(o)
        return AddressLimits(instanceType: try r.string("instanceType"), ipv4PerENI: try r.count("ipv4PerENI"),
                             ipv6PerENI: try r.count("ipv6PerENI"))
    }

    public static func addresses(_ v: JSON) throws(WireError) -> [IPAddress] {
        try Reader(["a": v]).addresses("a")
    }

    public static func prefixes(_ v: JSON) throws(WireError) -> [IPPrefix] {
        try Reader(["a": v]).prefixes("a")
    }

    /// Typed member access that throws `WireError.malformed` naming the member.
    struct Reader {
        let o: JSONObject
        init(_ o: JSONObject) { self.o = o }

        func string(_ k: String) throws(WireError) -> String {
            guard case .string(let s)? = o[k] else { throw .malformed("\"\(k)\" must be a string") }
            return s
        }
        func bool(_ k: String) throws(WireError) -> Bool {
            guard case .bool(let b)? = o[k] else { throw .malformed("\"\(k)\" must be a boolean") }
            return b
        }
        func count(_ k: String) throws(WireError) -> Int {
            guard let n = o[k]?.int64Value, n >= 0, n <= 1 << 20 else { throw .malformed("\"\(k)\" must be a small non-negative integer") }
            return Int(n)
        }
        func strings(_ k: String) throws(WireError) -> [String] {
            guard case .array(let a)? = o[k] else { throw .malformed("\"\(k)\" must be an array of strings") }
            var out: [String] = []
            for x in a {
                guard case .string(let s) = x else { throw .malformed("\"\(k)\" must be an array of strings") }
                out.append(s)
            }
            return out
        }
        func mac(_ k: String) throws(WireError) -> MACAddress {
            guard let m = MACAddress(try string(k)) else { throw .malformed("\"\(k)\" is not a MAC address") }
            return m
        }
        func addresses(_ k: String) throws(WireError) -> [IPAddress] {
            var out: [IPAddress] = []
            for s in try strings(k) {
                guard let a = IPAddress(s) else { throw .malformed("\"\(s)\" in \"\(k)\" is not an IP address") }
                out.append(a)
            }
            return out
        }
        func prefixes(_ k: String) throws(WireError) -> [IPPrefix] {
            var out: [IPPrefix] = []
            for s in try strings(k) {
                guard let p = IPPrefix(s) else { throw .malformed("\"\(s)\" in \"\(k)\" is not a prefix") }
                out.append(p)
            }
            return out
        }
    }
}
