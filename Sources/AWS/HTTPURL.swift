/// The parts of an absolute `http://` / `https://` URL that the transport and the signer need. No
/// normalisation beyond lower-casing the scheme: `path` and `query` are kept exactly as they go on the wire.
public struct HTTPURL: Sendable, Equatable {
    /// `http` or `https`, lower-cased.
    public var scheme: String
    /// The host as written, IPv6 literals with their brackets (`[::1]`), without user info.
    public var host: String
    /// The explicit port, if any.
    public var port: Int?
    /// The path, `/` when the URL has none.
    public var path: String
    /// The raw query after `?` (without the fragment), `nil` when there is no `?`.
    public var query: String?

    /// Parses `string`; `nil` unless it is `scheme://authority[/path][?query][#fragment]` with scheme http or https
    /// and a non-empty host.
    public init?(_ string: String) {
        guard let colon = string.firstIndex(of: ":"), string[colon...].hasPrefix("://") else { return nil }
        let scheme = string[..<colon].lowercased()
        guard scheme == "http" || scheme == "https" else { return nil }
        var rest = string[string.index(colon, offsetBy: 3)...]
        if let hash = rest.firstIndex(of: "#") { rest = rest[..<hash] }
        let authorityEnd = rest.firstIndex { $0 == "/" || $0 == "?" } ?? rest.endIndex
        var authority = rest[..<authorityEnd]
        let tail = rest[authorityEnd...]
        if let at = authority.lastIndex(of: "@") { authority = authority[authority.index(after: at)...] }
        var host = authority
        var port: Int? = nil
        if authority.hasPrefix("[") {
            guard let close = authority.firstIndex(of: "]") else { return nil }
            host = authority[...close]
            let after = authority[authority.index(after: close)...]
            if !after.isEmpty {
                guard after.hasPrefix(":"), let p = Int(after.dropFirst()), (0...65535).contains(p) else { return nil }
                port = p
            }
        } else if let colon = authority.lastIndex(of: ":") {
            host = authority[..<colon]
            let p = authority[authority.index(after: colon)...]
            if !p.isEmpty {
                guard let n = Int(p), (0...65535).contains(n) else { return nil }
                port = n
            }
        }
        guard !host.isEmpty, !host.utf8.contains(where: { $0 <= 0x20 || $0 == 0x7f }) else { return nil }
        self.scheme = scheme
        self.host = String(host)
        self.port = port
        if let q = tail.firstIndex(of: "?") {
            let p = tail[..<q]
            self.path = p.isEmpty ? "/" : String(p)
            self.query = String(tail[tail.index(after: q)...])
        } else {
            self.path = tail.isEmpty ? "/" : String(tail)
            self.query = nil
        }
    }

    /// The scheme's default port: 80 or 443.
    public var defaultPort: Int { scheme == "https" ? 443 : 80 }

    /// The `Host` header value: `host`, plus `:port` when the port is explicit and not the scheme's default
    /// (what libcurl sends and what botocore signs).
    public var hostHeader: String {
        if let port, port != defaultPort { return "\(host):\(port)" }
        return host
    }

    /// The host without IPv6 brackets, lower-cased.
    public var bareHost: String {
        var h = Substring(host)
        if h.hasPrefix("["), h.hasSuffix("]") { h = h.dropFirst().dropLast() }
        return h.lowercased()
    }

    /// Loopback (`localhost`, 127/8, `::1`) or link-local (169.254/16, `fe80::/10`, and IMDS's IPv6 address
    /// `fd00:ec2::254`): hosts no proxy may ever sit in front of.
    public var isLocal: Bool {
        let h = bareHost
        if h == "localhost" || h.hasSuffix(".localhost") || h == "::1" || h == "fd00:ec2::254" { return true }
        if h.hasPrefix("127.") || h.hasPrefix("169.254.") || h.hasPrefix("fe80:") { return true }
        return false
    }
}
