import Testing
@testable import AWS

@Suite struct UnitAWSErrorScrubbingTests {
    static let secret = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
    static let token = "FQoGZXIvYXdzEJr//////////wEaDtoken"

    @Test("scrubbing removes the secrets from every text an AWSError prints, the request id included")
    func everyField() {
        let echo = "k=\(Self.secret) t=\(Self.token)"
        let errors: [AWSError] = [
            .service(code: "Code" + Self.token, message: echo, httpStatus: 403, requestID: echo),
            .deadlineExceeded(lastError: echo, attempts: 2), .credentials(echo), .imds(echo), .malformedResponse(echo),
        ]
        for e in errors {
            let s = e.scrubbing([Self.secret, Self.token]).description
            #expect(!s.contains(Self.secret) && !s.contains(Self.token), "\(s)")
            #expect(s.contains("<redacted>"), "\(s)")
        }
    }
}
