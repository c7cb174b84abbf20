import JSON
import NetTypes

/// The version-independent result of ADD; printed in the config's version by `json(version:)`.
public struct CNIResult: Sendable, Equatable {
    public struct Interface: Sendable, Equatable {
        public var name: String
        public var mac: String?
        public var sandbox: String?
        public var mtu: Int?          // 1.1.0
        public var socketPath: String? // 1.1.0
        public var pciID: String?     // 1.1.0
        public init(name: String, mac: String? = nil, sandbox: String? = nil, mtu: Int? = nil,
                    socketPath: String? = nil, pciID: String? = nil) {
            self.name = name; self.mac = mac; self.sandbox = sandbox; self.mtu = mtu
            self.socketPath = socketPath; self.pciID = pciID
        }
    }
    public struct IPConfig: Sendable, Equatable {
        public var address: IPPrefix
        public var gateway: IPAddress?
        public var interface: Int?
        public init(address: IPPrefix, gateway: IPAddress? = nil, interface: Int? = nil) {
            self.address = address; self.gateway = gateway; self.interface = interface
        }
    }
    public struct Route: Sendable, Equatable, Hashable {
        public var dst: IPPrefix
        public var gw: IPAddress?
        public var mtu: Int?
        public var advmss: Int?
        public var priority: Int?
        public var table: Int?
        public var scope: Int?
        public init(dst: IPPrefix, gw: IPAddress? = nil, mtu: Int? = nil, advmss: Int? = nil, priority: Int? = nil,
                    table: Int? = nil, scope: Int? = nil) {
            self.dst = dst; self.gw = gw; self.mtu = mtu; self.advmss = advmss; self.priority = priority
            self.table = table; self.scope = scope
        }
    }
    public struct DNS: Sendable, Equatable {
        public var nameservers: [String] = []
        public var domain: String?
        public var search: [String] = []
        public var options: [String] = []
        public init() {}
        public var isEmpty: Bool { nameservers.isEmpty && domain == nil && search.isEmpty && options.isEmpty }
    }

    public var interfaces: [Interface] = []
    public var ips: [IPConfig] = []
    public var routes: [Route] = []
    public var dns = DNS()

    public init(interfaces: [Interface] = [], ips: [IPConfig] = [], routes: [Route] = [], dns: DNS = DNS()) {
        self.interfaces = interfaces; self.ips = ips; self.routes = routes; self.dns = dns
    }

    /// The result as printed for `version` (key order and omissions as the Go reference types print them).
    public func json(version: CNIVersion) -> JSON {
        var o = JSONObject()
        o["cniVersion"] = .string(version.rawValue)
        if !interfaces.isEmpty {
            o["interfaces"] = .array(interfaces.map { i in
                var j = JSONObject()
                j["name"] = .string(i.name)
                if let m = i.mac, !m.isEmpty { j["mac"] = .string(m) }
                if version.hasExtendedResultFields, let mtu = i.mtu, mtu != 0 { j["mtu"] = .number(JSONNumber(mtu)) }
                if let s = i.sandbox, !s.isEmpty { j["sandbox"] = .string(s) }
                if version.hasExtendedResultFields {
                    if let s = i.socketPath, !s.isEmpty { j["socketPath"] = .string(s) }
                    if let p = i.pciID, !p.isEmpty { j["pciID"] = .string(p) }
                }
                return .object(j)
            })
        }
        if !ips.isEmpty {
            o["ips"] = .array(ips.map { ip in
                var j = JSONObject()
                if version.printsIPVersion { j["version"] = .string(ip.address.address.isV4 ? "4" : "6") }
                if let idx = ip.interface { j["interface"] = .number(JSONNumber(idx)) }
                j["address"] = .string(ip.address.description)
                if let g = ip.gateway { j["gateway"] = .string(g.description) }
                return .object(j)
            })
        }
        if !routes.isEmpty {
            o["routes"] = .array(routes.map { $0.json(version: version) })
        }
        o["dns"] = dns.json
        return .object(o)
    }

    /// Decodes a result (e.g. `prevResult`) printed in any supported version.
    public static func decode(_ json: JSON, field: String = "prevResult") throws(CNIError) -> CNIResult {
        guard let o = json.objectValue else {
            throw CNIError(.decodeFailure, "\(field) must be an object, not \(json.typeName)")
        }
        var r = CNIResult()
        if let ifs = o["interfaces"], !ifs.isNull {
            guard let arr = ifs.arrayValue else {
                throw CNIError(.decodeFailure, "\(field).interfaces must be an array, not \(ifs.typeName)")
            }
            for (n, i) in arr.enumerated() {
                guard let name = i["name"]?.stringValue else {
                    throw CNIError(.decodeFailure, "\(field).interfaces[\(n)].name must be a string")
                }
                r.interfaces.append(Interface(
                    name: name, mac: i["mac"]?.stringValue, sandbox: i["sandbox"]?.stringValue,
                    mtu: i["mtu"]?.int64Value.map { Int($0) }, socketPath: i["socketPath"]?.stringValue,
                    pciID: i["pciID"]?.stringValue))
            }
        }
        if let ips = o["ips"], !ips.isNull {
            guard let arr = ips.arrayValue else {
                throw CNIError(.decodeFailure, "\(field).ips must be an array, not \(ips.typeName)")
            }
            for (n, i) in arr.enumerated() {
                guard let a = i["address"]?.stringValue, let p = IPPrefix(a) else {
                    throw CNIError(.decodeFailure,
                                   "\(field).ips[\(n)].address \(i["address"].map { $0.serialized() } ?? "(missing)") is not a CIDR")
                }
                var gw: IPAddress?
                if let g = i["gateway"], !g.isNull {
                    guard let gs = g.stringValue, let ga = IPAddress(gs) else {
                        throw CNIError(.decodeFailure, "\(field).ips[\(n)].gateway \(g.serialized()) is not an IP address")
                    }
                    gw = ga
                }
                var idx: Int?
                if let ii = i["interface"], !ii.isNull {
                    guard let v = ii.int64Value, v >= 0 else {
                        throw CNIError(.decodeFailure, "\(field).ips[\(n)].interface \(ii.serialized()) is not an index")
                    }
                    idx = Int(v)
                }
                r.ips.append(IPConfig(address: p, gateway: gw, interface: idx))
            }
        }
        if let routes = o["routes"], !routes.isNull {
            r.routes = try Route.decodeList(routes, field: "\(field).routes", code: .decodeFailure)
        }
        if let d = o["dns"], !d.isNull { r.dns = try DNS.decode(d, field: "\(field).dns", code: .decodeFailure) }
        return r
    }
}

extension CNIResult.Route {
    public func json(version: CNIVersion) -> JSON {
        var j = JSONObject()
        j["dst"] = .string(dst.description)
        if let g = gw { j["gw"] = .string(g.description) }
        if version.hasExtendedResultFields {
            if let v = mtu, v != 0 { j["mtu"] = .number(JSONNumber(v)) }
            if let v = advmss, v != 0 { j["advmss"] = .number(JSONNumber(v)) }
            if let v = priority, v != 0 { j["priority"] = .number(JSONNumber(v)) }
            if let v = table { j["table"] = .number(JSONNumber(v)) }
            if let v = scope { j["scope"] = .number(JSONNumber(v)) }
        }
        return .object(j)
    }

    /// Decodes `[{dst, gw, mtu, advmss, priority, table, scope}]`, as written in results and in IPAM configs.
    /// A wrong JSON type is a decode failure (code 6, as everywhere in a config); `code` is for wrong values.
    public static func decodeList(_ json: JSON, field: String, code: CNIErrorCode) throws(CNIError) -> [CNIResult.Route] {
        guard let arr = json.arrayValue else {
            throw CNIError(.decodeFailure, "\(field) must be an array, not \(json.typeName)")
        }
        var out: [CNIResult.Route] = []
        for (n, r) in arr.enumerated() {
            guard r.objectValue != nil else {
                throw CNIError(.decodeFailure, "\(field)[\(n)] must be an object, not \(r.typeName)")
            }
            if let v = r["dst"], !v.isNull, v.stringValue == nil {
                throw CNIError(.decodeFailure, "\(field)[\(n)].dst must be a string, not \(v.typeName) \(v.serialized())")
            }
            guard let ds = r["dst"]?.stringValue, let d = IPPrefix(ds) else {
                throw CNIError(code, "\(field)[\(n)].dst \(r["dst"].map { $0.serialized() } ?? "(missing)") is not a CIDR")
            }
            var route = CNIResult.Route(dst: d.network)
            if let g = r["gw"], !g.isNull {
                guard let gs = g.stringValue else {
                    throw CNIError(.decodeFailure, "\(field)[\(n)].gw must be a string, not \(g.typeName) \(g.serialized())")
                }
                guard let ga = IPAddress(gs) else {
                    throw CNIError(code, "\(field)[\(n)].gw \(g.serialized()) is not an IP address")
                }
                guard ga.isV4 == d.address.isV4 else {
                    throw CNIError(code, "\(field)[\(n)]: gw \(ga) and dst \(ds) are of different IP families")
                }
                route.gw = ga
            }
            func int(_ key: String, _ range: ClosedRange<Int64>) throws(CNIError) -> Int? {
                guard let v = r[key], !v.isNull else { return nil }
                guard case .number = v else {
                    throw CNIError(.decodeFailure, "\(field)[\(n)].\(key) \(v.serialized()) must be an integer, not \(v.typeName)")
                }
                guard let i = v.int64Value, range.contains(i) else {
                    throw CNIError(code, "\(field)[\(n)].\(key) \(v.serialized()) must be an integer in \(range.lowerBound)...\(range.upperBound)")
                }
                return Int(i)
            }
            route.mtu = try int("mtu", 0...65535)
            route.advmss = try int("advmss", 0...65535)
            route.priority = try int("priority", 0...Int64(UInt32.max))
            route.table = try int("table", 0...Int64(UInt32.max))
            route.scope = try int("scope", 0...255)
            out.append(route)
        }
        return out
    }
}

extension CNIResult.DNS {
    public var json: JSON {
        var j = JSONObject()
        if !nameservers.isEmpty { j["nameservers"] = .array(nameservers.map { .string($0) }) }
        if let d = domain, !d.isEmpty { j["domain"] = .string(d) }
        if !search.isEmpty { j["search"] = .array(search.map { .string($0) }) }
        if !options.isEmpty { j["options"] = .array(options.map { .string($0) }) }
        return .object(j)
    }

    public static func decode(_ json: JSON, field: String, code: CNIErrorCode) throws(CNIError) -> CNIResult.DNS {
        guard json.objectValue != nil else { throw CNIError(code, "\(field) must be an object, not \(json.typeName)") }
        var d = CNIResult.DNS()
        func strings(_ key: String) throws(CNIError) -> [String] {
            guard let v = json[key], !v.isNull else { return [] }
            guard let a = v.arrayValue else { throw CNIError(code, "\(field).\(key) must be an array of strings") }
            var out: [String] = []
            for e in a {
                guard let s = e.stringValue else { throw CNIError(code, "\(field).\(key) must be an array of strings") }
                out.append(s)
            }
            return out
        }
        d.nameservers = try strings("nameservers")
        d.search = try strings("search")
        d.options = try strings("options")
        if let v = json["domain"], !v.isNull {
            guard let s = v.stringValue else { throw CNIError(code, "\(field).domain must be a string") }
            d.domain = s
        }
        return d
    }
}
