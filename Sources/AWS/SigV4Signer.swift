#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// AWS Signature Version 4 (`AWS4-HMAC-SHA256`) for header-signed requests to any service and region, as
/// botocore's `SigV4Auth` computes it (non-S3 rules):
///
/// - canonical URI: the URL's path with `.`/`..` segments and repeated slashes removed (trailing slash kept),
///   then percent-encoded with `/` and the unreserved set kept, so an already-escaped path is escaped again
///   (AWS's "encode twice" rule for every service but S3);
/// - canonical query: every name and value decoded, re-encoded (RFC 3986), sorted by name then value;
/// - signed headers: every header of the request, lower-cased and sorted (values trimmed, inner whitespace
///   runs collapsed, repeated names joined with `,`), except `authorization`, `expect`, `user-agent`,
///   `transfer-encoding`, `x-amzn-trace-id`; plus `host` (from the URL: `host[:port]`, the port only when not the
///   scheme's default; an explicit `Host` header wins), `x-amz-date`, and `x-amz-security-token` with a session
///   token;
/// - payload hash: SHA-256 of the body, or the value of an `X-Amz-Content-SHA256` header the caller set (S3's
///   `UNSIGNED-PAYLOAD`); the header is not added otherwise (EC2, STS do not need it).
///
/// `sign` removes any `Authorization`, `X-Amz-Date` and `X-Amz-Security-Token` headers first (a retry re-signs
/// the same request with a fresh date), then appends `X-Amz-Date`, `X-Amz-Security-Token` (with a token) and
/// `Authorization`.
public struct SigV4Signer: Sendable, Equatable {
    public static let algorithm = "AWS4-HMAC-SHA256"
    /// Header names never signed (botocore's list, plus `authorization` itself).
    public static let unsignedHeaders: Set<String> = [
        "authorization", "expect", "user-agent", "transfer-encoding", "x-amzn-trace-id",
    ]

    public var service: String
    public var region: String

    public init(service: String, region: String) {
        self.service = service
        self.region = region
    }

    /// Everything a signature is made of, for tests and diagnostics (never logged: it carries no secret, but the
    /// signature itself is a bearer credential for a few minutes).
    public struct Signature: Sendable, Equatable {
        public var amzDate: String
        public var credentialScope: String
        public var canonicalRequest: String
        public var signedHeaders: String
        public var stringToSign: String
        public var signature: String
        public var authorization: String
    }

    /// Signs `request` in place (see the type's documentation). `date` is wall-clock seconds since the epoch.
    public func sign(_ request: inout HTTPRequest, credentials: AWSCredentials, date: Double) throws(TransportError) {
        var headers = request.headers.filter {
            let n = $0.name.lowercased()
            return n != "authorization" && n != "x-amz-date" && n != "x-amz-security-token"
        }
        headers.append((name: "X-Amz-Date", value: Self.amzDate(date)))
        if let token = credentials.sessionToken {
            headers.append((name: "X-Amz-Security-Token", value: token))
        }
        request.headers = headers
        let s = try signature(for: request, credentials: credentials, date: date)
        request.headers.append((name: "Authorization", value: s.authorization))
    }

    /// Computes the signature of `request` as it stands (its headers already carrying `X-Amz-Date` and, with a
    /// token, `X-Amz-Security-Token`, or not: the values from `date` and `credentials` are signed either way).
    public func signature(for request: HTTPRequest, credentials: AWSCredentials,
                          date: Double) throws(TransportError) -> Signature {
        guard let url = HTTPURL(request.url) else { throw .unavailable("SigV4: invalid URL \(request.url)") }
        let amzDate = Self.amzDate(date)
        let dateStamp = String(amzDate.prefix(8))

        // Headers to sign.
        var byName: [String: [String]] = [:]
        var payloadHash: String? = nil
        for (name, value) in request.headers {
            let n = name.lowercased()
            if n == "x-amz-content-sha256" { payloadHash = value }
            if Self.unsignedHeaders.contains(n) { continue }
            if n == "x-amz-date" || n == "x-amz-security-token" { continue }
            byName[n, default: []].append(Self.normalizeHeaderValue(value))
        }
        if byName["host"] == nil { byName["host"] = [url.hostHeader] }
        byName["x-amz-date"] = [amzDate]
        if let token = credentials.sessionToken { byName["x-amz-security-token"] = [token] }
        let names = byName.keys.sorted { Array($0.utf8).lexicographicallyPrecedes(Array($1.utf8)) }
        var canonicalHeaders = ""
        for n in names { canonicalHeaders += n + ":" + byName[n]!.joined(separator: ",") + "\n" }
        let signedHeaders = names.joined(separator: ";")

        if payloadHash == nil { payloadHash = Crypto.hex(try Crypto.sha256(request.body)) }

        let canonicalRequest = [
            request.method.uppercased(),
            Self.canonicalURI(url.path),
            Self.canonicalQuery(url.query ?? ""),
            canonicalHeaders,
            signedHeaders,
            payloadHash!,
        ].joined(separator: "\n")

        let scope = "\(dateStamp)/\(region)/\(service)/aws4_request"
        let stringToSign = [
            Self.algorithm, amzDate, scope, Crypto.hex(try Crypto.sha256(canonicalRequest)),
        ].joined(separator: "\n")
        let key = try Self.signingKey(secret: credentials.secretAccessKey, dateStamp: dateStamp, region: region,
                                      service: service)
        let signature = Crypto.hex(try Crypto.hmacSHA256(key: key, data: stringToSign))
        let authorization = "\(Self.algorithm) Credential=\(credentials.accessKeyID)/\(scope), "
            + "SignedHeaders=\(signedHeaders), Signature=\(signature)"
        return Signature(amzDate: amzDate, credentialScope: scope, canonicalRequest: canonicalRequest,
                         signedHeaders: signedHeaders, stringToSign: stringToSign, signature: signature,
                         authorization: authorization)
    }

    /// `kSigning = HMAC(HMAC(HMAC(HMAC("AWS4" + secret, date), region), service), "aws4_request")`.
    public static func signingKey(secret: String, dateStamp: String, region: String,
                                  service: String) throws(TransportError) -> [UInt8] {
        let kDate = try Crypto.hmacSHA256(key: Array(("AWS4" + secret).utf8), data: dateStamp)
        let kRegion = try Crypto.hmacSHA256(key: kDate, data: region)
        let kService = try Crypto.hmacSHA256(key: kRegion, data: service)
        return try Crypto.hmacSHA256(key: kService, data: "aws4_request")
    }

    /// `YYYYMMDDTHHMMSSZ` (UTC) of `date`, seconds since the epoch (fractions dropped).
    public static func amzDate(_ date: Double) -> String {
        var t = time_t(date.rounded(.down))
        var tm = Glibc.tm()
        gmtime_r(&t, &tm)
        func two(_ v: Int32) -> String { v < 10 ? "0\(v)" : "\(v)" }
        return "\(tm.tm_year + 1900)\(two(tm.tm_mon + 1))\(two(tm.tm_mday))T"
            + "\(two(tm.tm_hour))\(two(tm.tm_min))\(two(tm.tm_sec))Z"
    }

    /// Trims and collapses whitespace runs to one space (Python's `' '.join(value.split())`).
    static func normalizeHeaderValue(_ value: String) -> String {
        value.split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == "\n" || $0 == "\r" || $0 == "\u{0B}"
            || $0 == "\u{0C}" }).joined(separator: " ")
    }

    /// Removes `.` and `..` segments and empty segments (repeated slashes), keeps the leading and a trailing slash,
    /// then percent-encodes everything but unreserved characters and `/`.
    static func canonicalURI(_ path: String) -> String {
        guard !path.isEmpty else { return "/" }
        var out: [Substring] = []
        for seg in path.split(separator: "/", omittingEmptySubsequences: true) {
            if seg == "." { continue }
            if seg == ".." {
                if !out.isEmpty { out.removeLast() }
                continue
            }
            out.append(seg)
        }
        var normalized = path.hasPrefix("/") ? "/" : ""
        normalized += out.joined(separator: "/")
        if path.hasSuffix("/") && !out.isEmpty { normalized += "/" }
        if normalized.isEmpty { normalized = "/" }
        return QueryEncoding.percentEncode(normalized, keepSlash: true)
    }

    /// Decoded, re-encoded and sorted `name=value` pairs joined with `&`.
    static func canonicalQuery(_ query: String) -> String {
        let pairs = QueryEncoding.decode(query).map {
            (QueryEncoding.percentEncode($0.0), QueryEncoding.percentEncode($0.1))
        }
        let sorted = pairs.sorted { a, b in
            if a.0 != b.0 { return Array(a.0.utf8).lexicographicallyPrecedes(Array(b.0.utf8)) }
            return Array(a.1.utf8).lexicographicallyPrecedes(Array(b.1.utf8))
        }
        return sorted.map { "\($0.0)=\($0.1)" }.joined(separator: "&")
    }
}
