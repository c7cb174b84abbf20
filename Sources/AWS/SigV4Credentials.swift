/// AWS credentials for signing. `description`, `debugDescription` and the mirror (`dump`, string interpolation)
/// never show the secret key or the session token, and show only the ends of the access key ID.
public struct AWSCredentials: Sendable, Equatable, CustomStringConvertible, CustomDebugStringConvertible,
    CustomReflectable
{
    public var accessKeyID: String
    public var secretAccessKey: String
    /// Present for temporary credentials (STS, instance role, Pod Identity); signed as `X-Amz-Security-Token`.
    public var sessionToken: String?
    /// Seconds since the epoch after which the credentials are no longer valid; `nil` for long-term keys.
    public var expiration: Double?

    public init(accessKeyID: String, secretAccessKey: String, sessionToken: String? = nil,
                expiration: Double? = nil) {
        self.accessKeyID = accessKeyID
        self.secretAccessKey = secretAccessKey
        self.sessionToken = sessionToken
        self.expiration = expiration
    }

    /// `AKIA…MPLE`: enough to tell keys apart in a message, not enough to use or grep for.
    public var redactedAccessKeyID: String {
        let chars = Array(accessKeyID)
        guard chars.count > 8 else { return "…" }
        return String(chars[..<4]) + "…" + String(chars[(chars.count - 4)...])
    }

    public var description: String {
        var s = "AWSCredentials(accessKeyID: \(redactedAccessKeyID), secretAccessKey: <redacted>"
        s += sessionToken == nil ? ", sessionToken: nil" : ", sessionToken: <redacted>"
        if let expiration { s += ", expiration: \(expiration)" }
        return s + ")"
    }

    public var debugDescription: String { description }

    public var customMirror: Mirror {
        Mirror(self, children: [
            "accessKeyID": redactedAccessKeyID,
            "secretAccessKey": "<redacted>",
            "sessionToken": sessionToken == nil ? "nil" : "<redacted>",
            "expiration": expiration as Any,
        ])
    }
}
