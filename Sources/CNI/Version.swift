/// A CNI specification version this plugin speaks.
///
/// 0.1.0 and 0.2.0 are deliberately not supported: their results have no `interfaces` list and hold one address
/// per family, so Multus could not report the pod interface's MAC and sandbox, and CHECK/GC do not exist there.
/// A config without `cniVersion` means 0.1.0 and is refused with a message that says which versions to use.
public enum CNIVersion: String, Sendable, CaseIterable, Comparable {
    case v0_3_0 = "0.3.0"
    case v0_3_1 = "0.3.1"
    case v0_4_0 = "0.4.0"
    case v1_0_0 = "1.0.0"
    case v1_1_0 = "1.1.0"

    public static let supportedStrings: [String] = allCases.map(\.rawValue)

    private var ordinal: Int { CNIVersion.allCases.firstIndex(of: self)! }
    public static func < (a: CNIVersion, b: CNIVersion) -> Bool { a.ordinal < b.ordinal }

    /// `ips[].version` is printed only by the 0.3.x/0.4.0 result shape.
    public var printsIPVersion: Bool { self < .v1_0_0 }
    /// CHECK exists from 0.4.0 on.
    public var hasCheck: Bool { self >= .v0_4_0 }
    /// STATUS and GC exist from 1.1.0 on; so do `interfaces[].mtu`, `socketPath`, `pciID` and the new route fields.
    public var hasStatusAndGC: Bool { self >= .v1_1_0 }
    public var hasExtendedResultFields: Bool { self >= .v1_1_0 }

    /// Resolves a config's `cniVersion` string (nil or empty means the 0.1.0 default of the spec).
    public static func resolve(_ text: String?) throws(CNIError) -> CNIVersion {
        let given = (text?.isEmpty ?? true) ? "0.1.0" : text!
        if let v = CNIVersion(rawValue: given) { return v }
        let supported = supportedStrings.joined(separator: ", ")
        if text == nil || text!.isEmpty {
            throw CNIError(
                .incompatibleVersion,
                "the network config has no cniVersion, which means CNI 0.1.0; eni-multus supports \(supported): add \"cniVersion\": \"0.3.1\" or newer to the config",
                details: "config version 0.1.0 (missing cniVersion); plugin supports \(supported)")
        }
        throw CNIError(
            .incompatibleVersion,
            "incompatible CNI versions: config is \"\(given)\", plugin supports [\(supported)]",
            details: "config version \(given); plugin supports \(supported)")
    }
}
