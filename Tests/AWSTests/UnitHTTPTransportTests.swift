import Foundation
import Testing
@testable import AWS

/// CurlTransport against a loopback python3 http.server (127.0.0.1 only).
@Suite(.enabled(if: AWSTestEnv.python3 != nil || AWSTestEnv.isCI, "needs python3 for the loopback server"))
struct UnitHTTPTransportTests {
    func echo(_ r: HTTPResponse) throws -> (method: String, path: String, headers: [(String, String)], body: [UInt8]) {
        let o = try #require(try JSONSerialization.jsonObject(with: Data(r.body)) as? [String: Any])
        let headers = (o["headers"] as? [[String]] ?? []).map { ($0[0], $0[1]) }
        let hex = o["body"] as? String ?? ""
        var body: [UInt8] = []
        var it = hex.makeIterator()
        while let a = it.next(), let b = it.next() { body.append(UInt8(String([a, b]), radix: 16)!) }
        return (o["method"] as? String ?? "", o["path"] as? String ?? "", headers, body)
    }

    @Test func getPutPostWithHeadersBothWays() throws {
        let server = try LoopbackHTTPServer()
        defer { server.stop() }
        let t = CurlTransport()

        // GET: our headers arrive in order, no body headers, no Expect.
        let get = try t.send(HTTPRequest(method: "GET", url: server.base + "/echo?x=1",
                                         headers: [("X-B", "2"), ("X-A", "1"), ("X-Empty", "")], timeout: 5))
        #expect(get.status == 200)
        #expect(get.header("Content-Type") == "application/json")
        let g = try echo(get)
        #expect(g.method == "GET")
        #expect(g.path == "/echo?x=1")
        let names = g.headers.map { $0.0.lowercased() }
        #expect(names.filter { $0.hasPrefix("x-") } == ["x-b", "x-a", "x-empty"])
        #expect(g.headers.first { $0.0 == "X-Empty" }?.1 == "")
        #expect(g.headers.first { $0.0.lowercased() == "host" }?.1 == "127.0.0.1:\(server.port)")
        #expect(!names.contains("expect") && !names.contains("content-type") && !names.contains("content-length"))

        // PUT with an empty body (the IMDSv2 token request): Content-Length 0, no Content-Type.
        let put = try t.send(HTTPRequest(method: "PUT", url: server.base + "/echo",
                                         headers: [("X-aws-ec2-metadata-token-ttl-seconds", "21600")], timeout: 5))
        let p = try echo(put)
        #expect(p.method == "PUT")
        #expect(p.headers.first { $0.0.lowercased() == "content-length" }?.1 == "0")
        #expect(p.headers.first { $0.0 == "X-aws-ec2-metadata-token-ttl-seconds" }?.1 == "21600")
        #expect(!p.headers.contains { $0.0.lowercased() == "content-type" })

        // POST with a form body, larger than libcurl's Expect: 100-continue threshold.
        let body = QueryEncoding.encode((0..<200).map { ("Param.\($0)", "value \($0) ✓") })
        #expect(body.utf8.count > 1024)
        let post = try t.send(HTTPRequest(method: "POST", url: server.base + "/echo",
                                          headers: [("Content-Type", "application/x-www-form-urlencoded; charset=utf-8")],
                                          body: Array(body.utf8), timeout: 5))
        let q = try echo(post)
        #expect(q.method == "POST")
        #expect(q.body == Array(body.utf8))
        #expect(q.headers.first { $0.0.lowercased() == "content-type" }?.1
                == "application/x-www-form-urlencoded; charset=utf-8")
        #expect(!q.headers.contains { $0.0.lowercased() == "expect" })

        // DELETE and PATCH as custom methods.
        #expect(try echo(try t.send(HTTPRequest(method: "DELETE", url: server.base + "/echo", timeout: 5))).method == "DELETE")
        #expect(try echo(try t.send(HTTPRequest(method: "PATCH", url: server.base + "/echo", body: [1, 2, 3],
                                                timeout: 5))).body == [1, 2, 3])
        // And back to GET on the same handle: no leftover body or method.
        let again = try echo(try t.send(HTTPRequest(method: "GET", url: server.base + "/echo", timeout: 5)))
        #expect(again.method == "GET" && again.body.isEmpty)
    }

    @Test func binaryBodyRoundTripAndResponseHeaders() throws {
        let server = try LoopbackHTTPServer()
        defer { server.stop() }
        let t = CurlTransport()
        let payload = (0..<300_000).map { UInt8(truncatingIfNeeded: $0 &* 7 &+ ($0 >> 8)) }
        let r = try t.send(HTTPRequest(method: "POST", url: server.base + "/raw", body: payload, timeout: 10))
        #expect(r.status == 200)
        #expect(r.body == payload)
        #expect(r.headers.allSatisfy { $0.name == $0.name.lowercased() })
        #expect(r.header("X-Mixed-Case") == "Value")
        #expect(r.headers.filter { $0.name == "x-twice" }.map(\.value) == ["1", "2"])
        #expect(r.header("content-length") == "\(payload.count)")
    }

    @Test(arguments: [400, 401, 404, 500, 503])
    func statusCodesAreResponses(_ status: Int) throws {
        let server = try LoopbackHTTPServer()
        defer { server.stop() }
        let r = try CurlTransport().send(HTTPRequest(method: "POST", url: server.base + "/raw?status=\(status)",
                                                     body: Array("<Errors/>".utf8), timeout: 5))
        #expect(r.status == status)
        #expect(r.body == Array("<Errors/>".utf8))
    }

    @Test func keepAliveReusesOneConnection() throws {
        let server = try LoopbackHTTPServer()
        defer { server.stop() }
        let t = CurlTransport()
        for i in 0..<5 {
            let r = try t.send(HTTPRequest(method: i % 2 == 0 ? "GET" : "POST", url: server.base + "/raw",
                                           body: i % 2 == 0 ? [] : [UInt8(i)], timeout: 5))
            #expect(r.status == 200)
        }
        let stats = try t.send(HTTPRequest(method: "GET", url: server.base + "/stats", timeout: 5))
        let o = try JSONSerialization.jsonObject(with: Data(stats.body)) as? [String: Any]
        #expect(o?["connections"] as? Int == 1)
        #expect(t.connectionsOpened == 1)
        #expect(t.requestsCompleted == 6)

        // A second transport is a second connection.
        _ = try CurlTransport().send(HTTPRequest(method: "GET", url: server.base + "/raw", timeout: 5))
        let stats2 = try t.send(HTTPRequest(method: "GET", url: server.base + "/stats", timeout: 5))
        #expect((try JSONSerialization.jsonObject(with: Data(stats2.body)) as? [String: Any])?["connections"] as? Int == 2)
    }

    @Test func timeoutIsTimeout() throws {
        let server = try LoopbackHTTPServer()
        defer { server.stop() }
        let t = CurlTransport()
        // The server answers after 3 s; the request's 0.3 s timeout must end it first, as curl's own timeout
        // (CURLE_OPERATION_TIMEDOUT, 28). How soon is the bench's business, not this test's.
        #expect {
            try t.send(HTTPRequest(method: "GET", url: server.base + "/sleep?ms=3000", timeout: 0.3))
        } throws: { error in
            guard case .timeout(let text) = error as? TransportError else { return false }
            return text.contains("curl 28")
        }
        // The handle is still usable afterwards.
        #expect(try t.send(HTTPRequest(method: "GET", url: server.base + "/raw", timeout: 5)).status == 200)
        // No time left at all: fails without sending.
        #expect(throws: TransportError.self) {
            try t.send(HTTPRequest(method: "GET", url: server.base + "/raw", timeout: 0))
        }
    }

    @Test func refusedPortIsConnect() throws {
        let port = AWSTestEnv.refusedPort()
        #expect {
            try CurlTransport().send(HTTPRequest(method: "GET", url: "http://127.0.0.1:\(port)/", timeout: 2))
        } throws: { error in
            guard case .connect(let text) = error as? TransportError else { return false }
            return text.contains("127.0.0.1")
        }
    }

    @Test func closeWithoutReplyIsIO() throws {
        let server = try LoopbackHTTPServer()
        defer { server.stop() }
        #expect {
            try CurlTransport().send(HTTPRequest(method: "PUT", url: server.base + "/close", timeout: 5))
        } throws: { error in
            guard case .io(let text) = error as? TransportError else { return false }
            return text.contains("curl 52")  // CURLE_GOT_NOTHING
        }
    }

    @Test func invalidRequestsAreUnavailable() throws {
        let t = CurlTransport()
        for r in [
            HTTPRequest(method: "GET", url: "file:///etc/passwd", timeout: 1),
            HTTPRequest(method: "GET", url: "http://127.0.0.1:1/", headers: [("X-Bad", "a\r\nInjected: 1")], timeout: 1),
            HTTPRequest(method: "G ET", url: "http://127.0.0.1:1/", timeout: 1),
        ] {
            #expect {
                try t.send(r)
            } throws: { error in
                if case .unavailable = error as? TransportError { return true }
                return false
            }
        }
    }

    @Test func responseSizeLimit() throws {
        let server = try LoopbackHTTPServer()
        defer { server.stop() }
        let t = CurlTransport(maxResponseBytes: 1000)
        #expect {
            try t.send(HTTPRequest(method: "POST", url: server.base + "/raw", body: [UInt8](repeating: 1, count: 5000),
                                   timeout: 5))
        } throws: { error in
            guard case .io(let text) = error as? TransportError else { return false }
            return text.contains("larger than 1000")
        }
    }

    /// Proxy variables never apply to loopback, IMDS or plain http (`CURLOPT_NOPROXY` "*"); only https to AWS
    /// endpoints may use them. (The environment itself is not changed here: setenv races other test threads.)
    @Test func proxyPolicy() throws {
        func may(_ u: String, _ p: CurlTransport.ProxyPolicy = .environmentForHTTPS) throws -> Bool {
            CurlTransport.mayUseProxy(try #require(HTTPURL(u)), policy: p)
        }
        #expect(try may("https://ec2.us-east-1.amazonaws.com/"))
        #expect(try may("https://sts.amazonaws.com/"))
        #expect(try !may("https://ec2.us-east-1.amazonaws.com/", .never))
        #expect(try !may("http://169.254.169.254/latest/api/token"))
        #expect(try !may("http://[fd00:ec2::254]/latest/api/token"))
        #expect(try !may("https://169.254.170.23/v1/credentials"))
        #expect(try !may("https://127.0.0.1:5000/"))
        #expect(try !may("https://localhost:5000/"))
        #expect(try !may("https://[::1]:5000/"))
        #expect(try !may("http://ec2.example.internal/"))
    }
}
