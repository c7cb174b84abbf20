import CAWSShims

/// `HTTPTransport` over libcurl's easy interface, loaded on first `send` (see `CurlLibrary`).
///
/// - One easy handle per instance, created on the first request and reused (`curl_easy_reset` between requests
///   keeps its connection cache, so consecutive requests to one host share a keep-alive connection and TLS
///   session). `deinit` runs `curl_easy_cleanup`.
/// - Thread-free: no multi interface, no callbacks on other threads, `CURLOPT_NOSIGNAL=1`. (Host names that are
///   not IP literals are resolved by libcurl's threaded resolver on a short-lived thread of the calling thread's
///   network namespace; IMDS and the loopback emulators are IP literals.) Use one instance from one thread at a
///   time.
/// - TLS verification against the hashed CA directory (`CURLOPT_CAPATH` = `/etc/ssl/certs`, `CURLOPT_CAINFO`
///   cleared: OpenSSL then loads only the certificates it needs instead of parsing the whole bundle file),
///   unless a bundle is given explicitly (e.g. from `AWS_CA_BUNDLE`).
/// - HTTP/1.1 only; no redirects; only the http and https protocols.
/// - Proxies (`ProxyPolicy`): a loopback or link-local host (IMDS, the emulators) and any plain `http://` URL
///   never go through a proxy (`CURLOPT_NOPROXY` "*"). An `https://` URL to any other host (the EC2, STS and
///   EKS Pod Identity endpoints) follows libcurl's environment handling by default: `https_proxy` /
///   `HTTPS_PROXY`, `all_proxy`, with `no_proxy` / `NO_PROXY` exclusions — as the AWS SDKs do on nodes that
///   reach AWS through a proxy.
public final class CurlTransport: HTTPTransport {
    public enum ProxyPolicy: Sendable, Equatable {
        /// libcurl's proxy environment variables apply to `https://` URLs of non-local hosts.
        case environmentForHTTPS
        /// No proxy for anything.
        case never
    }

    /// The CA directory (`CURLOPT_CAPATH`).
    public let caPath: String?
    /// A CA bundle file (`CURLOPT_CAINFO`); `nil` keeps libcurl from loading its built-in bundle.
    public let caBundle: String?
    /// Upper bound of the connect phase; each request's is `min(connectTimeout, request.timeout)`.
    public let connectTimeout: Double?
    public let proxyPolicy: ProxyPolicy
    /// Responses larger than this fail with `.io` (the transfer is aborted).
    public let maxResponseBytes: Int

    /// Connections libcurl opened so far (the sum of `CURLINFO_NUM_CONNECTS`); equal to the number of requests
    /// minus the ones that reused a kept-alive connection.
    public private(set) var connectionsOpened = 0
    /// Requests that produced a response.
    public private(set) var requestsCompleted = 0

    private var library: CurlLibrary?
    private var handle: UnsafeMutableRawPointer?
    private let errorBuffer: UnsafeMutablePointer<CChar>

    /// Cheap: loads nothing. libcurl is loaded, and the handle created, by the first `send`.
    public init(caPath: String? = "/etc/ssl/certs", caBundle: String? = nil, connectTimeout: Double? = nil,
                proxyPolicy: ProxyPolicy = .environmentForHTTPS, maxResponseBytes: Int = 64 << 20) {
        self.caPath = caPath
        self.caBundle = caBundle
        self.connectTimeout = connectTimeout
        self.proxyPolicy = proxyPolicy
        self.maxResponseBytes = maxResponseBytes
        self.errorBuffer = .allocate(capacity: Int(CURL_ERROR_SIZE) + 1)
        self.errorBuffer.initialize(repeating: 0, count: Int(CURL_ERROR_SIZE) + 1)
    }

    deinit {
        if let handle, let library { library.api.pointee.easy_cleanup(handle) }
        errorBuffer.deallocate()
    }

    /// Loads libcurl (if needed) and creates the easy handle; `send` does this itself.
    public func prepare() throws(TransportError) {
        _ = try easyHandle()
    }

    private func easyHandle() throws(TransportError) -> (CurlLibrary, UnsafeMutableRawPointer) {
        if let library, let handle { return (library, handle) }
        let lib = try CurlLibrary.shared.get()
        guard let h = lib.api.pointee.easy_init() else { throw .unavailable("curl_easy_init failed") }
        library = lib
        handle = h
        return (lib, h)
    }

    public func send(_ request: HTTPRequest) throws(TransportError) -> HTTPResponse {
        guard let url = HTTPURL(request.url) else { throw .unavailable("invalid URL: \(request.url)") }
        let method = request.method.uppercased()
        guard !method.isEmpty, method.utf8.allSatisfy({ ($0 >= 0x41 && $0 <= 0x5a) || $0 == 0x2d || $0 == 0x5f })
        else { throw .unavailable("invalid HTTP method: \(request.method)") }
        guard request.timeout > 0 else { throw .timeout("no time left for \(method) \(url.hostHeader)") }

        let (lib, h) = try easyHandle()
        let api = lib.api
        api.pointee.easy_reset(h)
        errorBuffer[0] = 0

        var list: UnsafeMutablePointer<curl_slist>? = nil
        defer { if let list { api.pointee.slist_free_all(list) } }
        let sink = ResponseSink(limit: maxResponseBytes)

        func check(_ rc: CURLcode, _ what: String) throws(TransportError) {
            if rc != CURLE_OK { throw .unavailable("curl_easy_setopt(\(what)): \(lib.describe(rc))") }
        }
        func set(_ opt: CURLoption, _ value: Int, _ what: String) throws(TransportError) {
            try check(cawss_curl_setopt_long(api, h, opt, value), what)
        }
        func set(_ opt: CURLoption, _ value: String?, _ what: String) throws(TransportError) {
            let rc: CURLcode
            if let value {
                rc = value.withCString { cawss_curl_setopt_ptr(api, h, opt, $0) }
            } else {
                rc = cawss_curl_setopt_ptr(api, h, opt, nil)
            }
            try check(rc, what)
        }

        try check(cawss_curl_setopt_ptr(api, h, CURLOPT_ERRORBUFFER, errorBuffer), "ERRORBUFFER")
        try set(CURLOPT_URL, request.url, "URL")
        try set(CURLOPT_PROTOCOLS_STR, "http,https", "PROTOCOLS_STR")
        try set(CURLOPT_NOSIGNAL, 1, "NOSIGNAL")
        try set(CURLOPT_HTTP_VERSION, Int(CURL_HTTP_VERSION_1_1), "HTTP_VERSION")
        try set(CURLOPT_FOLLOWLOCATION, 0, "FOLLOWLOCATION")

        // Timeouts: the whole exchange, and the connect phase within it.
        let totalMS = max(1, Int((request.timeout * 1000).rounded(.up)))
        let connectMS = min(totalMS, connectTimeout.map { max(1, Int(($0 * 1000).rounded(.up))) } ?? totalMS)
        try set(CURLOPT_TIMEOUT_MS, totalMS, "TIMEOUT_MS")
        try set(CURLOPT_CONNECTTIMEOUT_MS, connectMS, "CONNECTTIMEOUT_MS")

        // TLS trust.
        try set(CURLOPT_CAINFO, caBundle, "CAINFO")
        try set(CURLOPT_CAPATH, caPath, "CAPATH")

        // Proxies.
        if !Self.mayUseProxy(url, policy: proxyPolicy) { try set(CURLOPT_NOPROXY, "*", "NOPROXY") }

        // Method and body.
        let hasBody = !request.body.isEmpty || !(method == "GET" || method == "HEAD" || method == "DELETE")
        if hasBody {
            try check(cawss_curl_setopt_off(api, h, CURLOPT_POSTFIELDSIZE_LARGE, Int64(request.body.count)),
                      "POSTFIELDSIZE_LARGE")
            let rc = request.body.withUnsafeBytes { raw -> CURLcode in
                // An empty body still needs a non-NULL pointer, or libcurl reads the body from stdin.
                var empty: UInt8 = 0
                if raw.count == 0 { return cawss_curl_setopt_ptr(api, h, CURLOPT_COPYPOSTFIELDS, &empty) }
                return cawss_curl_setopt_ptr(api, h, CURLOPT_COPYPOSTFIELDS, raw.baseAddress)
            }
            try check(rc, "COPYPOSTFIELDS")
            if method != "POST" { try set(CURLOPT_CUSTOMREQUEST, method, "CUSTOMREQUEST") }
        } else if method == "HEAD" {
            try set(CURLOPT_NOBODY, 1, "NOBODY")
        } else if method != "GET" {
            try set(CURLOPT_CUSTOMREQUEST, method, "CUSTOMREQUEST")
        }

        // Headers, in the caller's order; then suppress what libcurl would add on its own.
        var names = Set<String>()
        for (name, value) in request.headers {
            // Byte-wise: "\r\n" is one Character, so Character comparisons would miss it.
            guard !name.isEmpty, !name.utf8.contains(where: { $0 <= 0x20 || $0 == 0x3a || $0 == 0x7f }),
                  !value.utf8.contains(where: { $0 == 0x0d || $0 == 0x0a || $0 == 0 })
            else { throw .unavailable("invalid HTTP header \(name)") }
            names.insert(name.lowercased())
            // "Name;" is libcurl's spelling of a header with an empty value ("Name:" would remove it).
            try append(&list, value.isEmpty ? "\(name);" : "\(name): \(value)", lib)
        }
        if !names.contains("expect") { try append(&list, "Expect:", lib) }
        if hasBody && !names.contains("content-type") { try append(&list, "Content-Type:", lib) }
        try check(cawss_curl_setopt_ptr(api, h, CURLOPT_HTTPHEADER, list), "HTTPHEADER")

        // Response capture.
        let context = Unmanaged.passUnretained(sink).toOpaque()
        try check(cawss_curl_setopt_data_cb(api, h, CURLOPT_WRITEFUNCTION, curlWriteBody), "WRITEFUNCTION")
        try check(cawss_curl_setopt_ptr(api, h, CURLOPT_WRITEDATA, context), "WRITEDATA")
        try check(cawss_curl_setopt_data_cb(api, h, CURLOPT_HEADERFUNCTION, curlWriteHeader), "HEADERFUNCTION")
        try check(cawss_curl_setopt_ptr(api, h, CURLOPT_HEADERDATA, context), "HEADERDATA")

        let rc = withExtendedLifetime(sink) { api.pointee.easy_perform(h) }

        var connects = 0
        if cawss_curl_getinfo_long(api, h, CURLINFO_NUM_CONNECTS, &connects) == CURLE_OK {
            connectionsOpened += connects
        }
        guard rc == CURLE_OK else {
            var text = String(cString: errorBuffer)
            if text.isEmpty { text = lib.describe(rc) }
            if sink.overflow { text = "response larger than \(maxResponseBytes) bytes" }
            throw Self.classify(rc, "\(text) (curl \(rc.rawValue); \(method) \(url.scheme)://\(url.hostHeader))")
        }
        var status = 0
        _ = cawss_curl_getinfo_long(api, h, CURLINFO_RESPONSE_CODE, &status)
        requestsCompleted += 1
        return HTTPResponse(status: status, headers: sink.headers, body: sink.body)
    }

    private func append(_ list: inout UnsafeMutablePointer<curl_slist>?, _ line: String,
                        _ lib: CurlLibrary) throws(TransportError) {
        guard let next = line.withCString({ lib.api.pointee.slist_append(list, $0) }) else {
            throw .unavailable("curl_slist_append failed")
        }
        list = next
    }

    /// Whether libcurl's proxy environment may apply to `url` (otherwise `CURLOPT_NOPROXY` is "*"): only
    /// `https://` URLs of hosts that are neither loopback nor link-local, under `.environmentForHTTPS`.
    static func mayUseProxy(_ url: HTTPURL, policy: ProxyPolicy) -> Bool {
        policy == .environmentForHTTPS && url.scheme == "https" && !url.isLocal
    }

    /// Maps a libcurl result code to the transport's error kinds.
    static func classify(_ code: CURLcode, _ text: String) -> TransportError {
        switch code {
        case CURLE_COULDNT_CONNECT, CURLE_COULDNT_RESOLVE_HOST, CURLE_COULDNT_RESOLVE_PROXY:
            return .connect(text)
        case CURLE_OPERATION_TIMEDOUT:
            return .timeout(text)
        case CURLE_UNSUPPORTED_PROTOCOL, CURLE_URL_MALFORMAT, CURLE_FAILED_INIT, CURLE_NOT_BUILT_IN,
             CURLE_OUT_OF_MEMORY, CURLE_BAD_FUNCTION_ARGUMENT, CURLE_UNKNOWN_OPTION:
            return .unavailable(text)
        default:
            // GOT_NOTHING, RECV_ERROR, SEND_ERROR, PARTIAL_FILE, SSL_*, PEER_FAILED_VERIFICATION, WRITE_ERROR, …
            return .io(text)
        }
    }
}

/// Collects one response; reached from the C callbacks through an unretained `Unmanaged` pointer.
private final class ResponseSink {
    let limit: Int
    var headers: [(name: String, value: String)] = []
    var body: [UInt8] = []
    var overflow = false

    init(limit: Int) { self.limit = limit }

    func header(line raw: UnsafeRawBufferPointer) {
        var bytes = raw[...]
        while let last = bytes.last, last == 0x0a || last == 0x0d { bytes = bytes.dropLast() }
        guard !bytes.isEmpty else { return }
        let line = String(decoding: bytes, as: UTF8.self)
        if line.hasPrefix("HTTP/") {
            // A new status line (after 100 Continue, or a new response): start over.
            headers.removeAll()
            return
        }
        if let first = bytes.first, first == 0x20 || first == 0x09 {
            // Obsolete line folding: continues the previous header's value.
            if !headers.isEmpty { headers[headers.count - 1].value += " " + trim(Substring(line)) }
            return
        }
        guard let colon = line.firstIndex(of: ":") else { return }
        headers.append((name: line[..<colon].lowercased(), value: trim(line[line.index(after: colon)...])))
    }

    private func trim(_ s: Substring) -> String {
        var t = s
        while let f = t.first, f == " " || f == "\t" { t = t.dropFirst() }
        while let l = t.last, l == " " || l == "\t" { t = t.dropLast() }
        return String(t)
    }
}

private let curlWriteBody: cawss_curl_data_cb = { ptr, size, count, context in
    let n = size &* count
    guard let context else { return 0 }
    let sink = Unmanaged<ResponseSink>.fromOpaque(context).takeUnretainedValue()
    guard n > 0, let ptr else { return n }
    if sink.body.count + n > sink.limit {
        sink.overflow = true
        return 0  // CURLE_WRITE_ERROR
    }
    sink.body.append(contentsOf: UnsafeRawBufferPointer(start: ptr, count: n))
    return n
}

private let curlWriteHeader: cawss_curl_data_cb = { ptr, size, count, context in
    let n = size &* count
    guard let context else { return 0 }
    let sink = Unmanaged<ResponseSink>.fromOpaque(context).takeUnretainedValue()
    if n > 0, let ptr { sink.header(line: UnsafeRawBufferPointer(start: ptr, count: n)) }
    return n
}
