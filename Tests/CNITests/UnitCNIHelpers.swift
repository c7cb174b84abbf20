import CNI
import JSON
import Testing

/// Runs `body` and returns the CNI error it threw (nil if it did not throw).
func cniError(_ body: () throws -> Void, sourceLocation: SourceLocation = #_sourceLocation) -> CNIError? {
    do {
        try body()
        return nil
    } catch let e as CNIError {
        return e
    } catch {
        Issue.record("expected a CNIError, got \(error)", sourceLocation: sourceLocation)
        return nil
    }
}

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
    cniError { _ = try decodeConf(text, command) }
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
