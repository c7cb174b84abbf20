// Fakes shared by the AWS unit suites: a clock that only moves when told (or when the code sleeps), fixed
// jitter, and an HTTP transport answered by a closure that records every request.
@testable import AWS

final class FakeClock: AWSClock, @unchecked Sendable {
    var wall: Double
    var mono: Double
    var sleeps: [Double] = []

    init(wall: Double = 1_700_000_000, mono: Double = 1000) {
        self.wall = wall
        self.mono = mono
    }

    func now() -> Double { wall }
    func monotonic() -> Double { mono }

    func sleep(seconds: Double) {
        sleeps.append(seconds)
        advance(seconds)
    }

    func advance(_ s: Double) {
        wall += s
        mono += s
    }
}

struct FixedRandom: AWSRandom {
    var value: Double
    init(_ value: Double) { self.value = value }
    func unit() -> Double { value }
}

final class FakeTransport: HTTPTransport {
    typealias Handler = (HTTPRequest, Int) -> Result<HTTPResponse, TransportError>
    var requests: [HTTPRequest] = []
    var handler: Handler
    /// Seconds each exchange takes on the fake clock.
    var latency: Double = 0
    var clock: FakeClock?

    init(clock: FakeClock? = nil, _ handler: @escaping Handler) {
        self.clock = clock
        self.handler = handler
    }

    func send(_ request: HTTPRequest) throws(TransportError) -> HTTPResponse {
        requests.append(request)
        clock?.advance(latency)
        switch handler(request, requests.count) {
        case .success(let r): return r
        case .failure(let e): throw e
        }
    }

    var bodies: [String] { requests.map { String(decoding: $0.body, as: UTF8.self) } }

    func header(_ name: String, of request: HTTPRequest) -> String? {
        request.headers.first { $0.name.lowercased() == name.lowercased() }?.value
    }
}

func ok(_ xml: String, status: Int = 200) -> Result<HTTPResponse, TransportError> {
    .success(HTTPResponse(status: status, headers: [("content-type", "text/xml;charset=UTF-8")], body: Array(xml.utf8)))
}

func text(_ s: String, status: Int = 200, headers: [(name: String, value: String)] = [])
    -> Result<HTTPResponse, TransportError>
{
    .success(HTTPResponse(status: status, headers: headers, body: Array(s.utf8)))
}

/// EC2's error document (AWS "Error codes" reference shape).
func ec2Error(_ code: String, _ message: String = "message", status: Int = 400, requestID: String = "ea966190-f9aa-478e-9ede-example")
    -> Result<HTTPResponse, TransportError>
{
    ok("""
        <?xml version="1.0" encoding="UTF-8"?>
        <Response><Errors><Error><Code>\(code)</Code><Message>\(message)</Message></Error></Errors>\
        <RequestID>\(requestID)</RequestID></Response>
        """, status: status)
}

/// Action=… from a form body.
func action(of request: HTTPRequest) -> String? {
    String(decoding: request.body, as: UTF8.self).split(separator: "&")
        .first { $0.hasPrefix("Action=") }.map { String($0.dropFirst("Action=".count)) }
}

let testCredentials = AWSCredentials(accessKeyID: "AKIDEXAMPLE", secretAccessKey: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
                                     sessionToken: nil, expiration: nil)

func makeEC2(_ transport: FakeTransport, clock: FakeClock, deadline: Double = 30, maxAttempts: Int = 3,
             random: Double = 0.5) -> EC2Client
{
    EC2Client(region: "us-west-2", endpoint: "http://127.0.0.1:5000/", transport: transport,
              credentials: { () throws(AWSError) -> AWSCredentials in testCredentials }, clock: clock,
              random: FixedRandom(random), retryPolicy: RetryPolicy(maxAttempts: maxAttempts),
              deadline: Deadline(seconds: deadline, clock: clock))
}

/// The AWSError `body` throws, or nil (another error type is recorded as an issue by the caller's expectations).
func caught(_ body: () throws -> Void) -> AWSError? {
    do {
        try body()
        return nil
    } catch let e as AWSError {
        return e
    } catch {
        return nil
    }
}
