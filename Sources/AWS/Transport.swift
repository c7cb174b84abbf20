/// The seams of the AWS layer: HTTP, clock and randomness are injected so every piece runs against fakes in
/// unit tests and against the loopback emulators in integration tests.

/// One HTTP exchange. `url` is absolute (`http://127.0.0.1:PORT/…` or `https://…`).
public struct HTTPRequest: Sendable, Equatable {
    public var method: String
    public var url: String
    /// Header names as given; the transport sends them in this order.
    public var headers: [(name: String, value: String)]
    public var body: [UInt8]
    /// Seconds this exchange may take in total (connect + transfer); the caller derives it from its deadline.
    public var timeout: Double

    public init(method: String, url: String, headers: [(name: String, value: String)] = [], body: [UInt8] = [],
                timeout: Double) {
        self.method = method
        self.url = url
        self.headers = headers
        self.body = body
        self.timeout = timeout
    }

    public static func == (a: HTTPRequest, b: HTTPRequest) -> Bool {
        a.method == b.method && a.url == b.url && a.body == b.body && a.timeout == b.timeout
            && a.headers.map { "\($0.name):\($0.value)" } == b.headers.map { "\($0.name):\($0.value)" }
    }
}

public struct HTTPResponse: Sendable, Equatable {
    public var status: Int
    /// Header names lower-cased.
    public var headers: [(name: String, value: String)]
    public var body: [UInt8]

    public init(status: Int, headers: [(name: String, value: String)] = [], body: [UInt8] = []) {
        self.status = status
        self.headers = headers
        self.body = body
    }

    public func header(_ name: String) -> String? {
        let n = name.lowercased()
        return headers.first { $0.name == n }?.value
    }

    public static func == (a: HTTPResponse, b: HTTPResponse) -> Bool {
        a.status == b.status && a.body == b.body
            && a.headers.map { "\($0.name):\($0.value)" } == b.headers.map { "\($0.name):\($0.value)" }
    }
}

/// Why an exchange produced no HTTP response.
public enum TransportError: Error, Sendable, Equatable, CustomStringConvertible {
    /// Could not connect (refused, unreachable, DNS).
    case connect(String)
    /// The exchange's timeout passed.
    case timeout(String)
    /// The connection broke mid-exchange (reset, empty reply, TLS failure).
    case io(String)
    /// The transport itself cannot work here (e.g. libcurl could not be loaded).
    case unavailable(String)

    public var description: String {
        switch self {
        case .connect(let s): return "connect: \(s)"
        case .timeout(let s): return "timeout: \(s)"
        case .io(let s): return "connection: \(s)"
        case .unavailable(let s): return "HTTP unavailable: \(s)"
        }
    }
}

/// Sends requests. One instance per invocation, reusing its connection(s).
public protocol HTTPTransport: AnyObject {
    func send(_ request: HTTPRequest) throws(TransportError) -> HTTPResponse
}

/// Time, injected. `now` is wall-clock seconds since the epoch (SigV4 dates, credential expiry); `monotonic`
/// measures deadlines; `sleep` waits between retries.
public protocol AWSClock: Sendable {
    func now() -> Double
    func monotonic() -> Double
    func sleep(seconds: Double)
}

/// Randomness for retry jitter: a value in [0, 1).
public protocol AWSRandom: Sendable {
    func unit() -> Double
}
