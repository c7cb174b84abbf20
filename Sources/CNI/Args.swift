import NetTypes

/// `CNI_ARGS`: `K=V;K=V`, split on `;` then on the first `=`.
///
/// Multus sends duplicate keys (its own pairs, then the runtime's string verbatim, with `IgnoreUnknown` as both
/// `true` and `1`) and empty values. A later duplicate wins. Unknown keys are an error unless `IgnoreUnknown` is
/// `1` or `true` (case-insensitive) anywhere in the string.
public struct CNIArgs: Sendable, Equatable {
    /// Keys this plugin understands. Kubernetes keys are accepted and kept for logging.
    public static let knownKeys: Set<String> = [
        "IgnoreUnknown", "K8S_POD_NAMESPACE", "K8S_POD_NAME", "K8S_POD_INFRA_CONTAINER_ID", "K8S_POD_UID",
        "IP", "MAC",
    ]

    public private(set) var pairs: [(key: String, value: String)] = []
    public private(set) var ignoreUnknown = false
    /// `IP=a/24,b/64` or `IP=a,b`: requested addresses (prefix lengths, when present, are kept).
    public private(set) var ips: [RequestedIP] = []
    /// `MAC=`: requested hardware address.
    public private(set) var mac: MACAddress?

    public static func == (a: CNIArgs, b: CNIArgs) -> Bool {
        a.pairs.map { "\($0.key)=\($0.value)" } == b.pairs.map { "\($0.key)=\($0.value)" }
    }

    public subscript(key: String) -> String? { pairs.last(where: { $0.key == key })?.value }

    public init() {}

    public init(parsing text: String) throws(CNIError) {
        guard !text.isEmpty else { return }
        var raw: [(String, String)] = []
        // Split on the bytes, as libcni does: a Character-level split would fuse ';' or '=' with a combining mark
        // that follows it (one grapheme) and read two pairs as one.
        for item in text.utf8.split(separator: UInt8(ascii: ";"), omittingEmptySubsequences: true) {
            guard let eq = item.firstIndex(of: UInt8(ascii: "=")) else {
                throw CNIError(.invalidEnvironment,
                               "CNI_ARGS: \"\(String(decoding: item, as: UTF8.self))\" is not of the form KEY=VALUE",
                               details: "CNI_ARGS=\(text)")
            }
            let key = String(decoding: item[..<eq], as: UTF8.self)
            let value = String(decoding: item[item.index(after: eq)...], as: UTF8.self)
            guard !key.isEmpty else {
                throw CNIError(.invalidEnvironment, "CNI_ARGS: empty key in \"\(String(decoding: item, as: UTF8.self))\"",
                               details: "CNI_ARGS=\(text)")
            }
            raw.append((key, value))
        }
        pairs = raw.map { (key: $0.0, value: $0.1) }
        ignoreUnknown = raw.contains { $0.0 == "IgnoreUnknown" && ["1", "true"].contains($0.1.lowercased()) }
        if !ignoreUnknown, let unknown = raw.first(where: { !CNIArgs.knownKeys.contains($0.0) }) {
            throw CNIError(.invalidEnvironment,
                           "CNI_ARGS: unknown key \"\(unknown.0)\" (set IgnoreUnknown=1 to ignore it)",
                           details: "CNI_ARGS=\(text)")
        }
        if let ipText = self["IP"], !ipText.isEmpty {
            ips = try ipText.utf8.split(separator: UInt8(ascii: ",")).map {
                (u: Substring.UTF8View) throws(CNIError) -> RequestedIP in
                let s = String(decoding: u, as: UTF8.self)
                guard let r = RequestedIP(s) else {
                    throw CNIError(.invalidEnvironment, "CNI_ARGS: IP=\"\(s)\" is not an IP address or CIDR",
                                   details: "CNI_ARGS=\(text)")
                }
                return r
            }
        }
        if let macText = self["MAC"], !macText.isEmpty {
            guard let m = MACAddress(macText) else {
                throw CNIError(.invalidEnvironment, "CNI_ARGS: MAC=\"\(macText)\" is not a hardware address",
                               details: "CNI_ARGS=\(text)")
            }
            mac = m
        }
    }
}

/// An address a caller asks for: `10.0.0.5` or `10.0.0.5/24` (the length, when given, must match the range).
public struct RequestedIP: Sendable, Hashable, CustomStringConvertible {
    public var address: IPAddress
    public var prefixLength: Int?

    public init(address: IPAddress, prefixLength: Int? = nil) {
        self.address = address
        self.prefixLength = prefixLength
    }

    public init?(_ text: String) {
        let t = text.trimmingASCIIWhitespace()
        if t.contains("/") {
            guard let p = IPPrefix(t) else { return nil }
            address = p.address
            prefixLength = p.length
        } else {
            guard let a = IPAddress(t) else { return nil }
            address = a
            prefixLength = nil
        }
    }

    public var description: String { prefixLength.map { "\(address)/\($0)" } ?? "\(address)" }
}

extension String {
    func trimmingASCIIWhitespace() -> String {
        var s = Substring(self)
        while let f = s.first, f == " " || f == "\t" || f == "\n" || f == "\r" { s = s.dropFirst() }
        while let l = s.last, l == " " || l == "\t" || l == "\n" || l == "\r" { s = s.dropLast() }
        return String(s)
    }
}
