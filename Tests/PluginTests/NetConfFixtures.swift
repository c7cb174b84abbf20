import CNI
import ENIMultusCore
import JSON
import Testing

// Network-config fixtures of the NetConf tests.

/// Parses `text` (which must be valid JSON) and decodes it as a network config for `command`.
func decodeConf(_ text: String, _ command: CNICommand = .add) throws(CNIError) -> NetConf {
    let json: JSON
    do { json = try JSON.parse(text) } catch {
        Issue.record("test config is not JSON: \(error): \(text)")
        throw CNIError(.decodeFailure, "test fixture")
    }
    return try NetConf(json: json, command: command)
}

/// The decode error for `text`, or nil.
func confError(_ text: String, _ command: CNICommand = .add) -> CNIError? {
    do {
        _ = try decodeConf(text, command)
        return nil
    } catch {
        return error
    }
}

/// A valid ipvlan config with `extra` members appended (a repeated key replaces the earlier value).
func ipvlanConf(_ extra: String = "", version: String = "1.0.0") -> String {
    let base = #"{"cniVersion":"\#(version)","name":"net1","type":"eni-multus","master":"eth1""#
    return extra.isEmpty ? base + "}" : base + "," + extra + "}"
}

/// A host-device config (no selector) with `extra` members appended.
func hostDeviceConf(_ extra: String = "") -> String {
    let base = #"{"cniVersion":"1.0.0","name":"hd","type":"eni-multus","link":"host-device""#
    return extra.isEmpty ? base + "}" : base + "," + extra + "}"
}
