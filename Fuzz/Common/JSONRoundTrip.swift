// Shared by every fuzz target: the JSON parser's own invariants, checked on every input that reaches JSON.
import JSON

/// Parses `bytes` and checks, when it parses, that compact and indented serialisations parse back to an equal
/// value and that the compact text is a fixed point (print -> parse -> print gives the same bytes); when it does
/// not, that the error points inside the input. Returns the value, or nil for invalid JSON.
func fuzzJSONRoundTrip(_ bytes: [UInt8]) -> JSON? {
    let value: JSON
    do {
        value = try JSON.parse(bytes)
    } catch {
        fuzzCheck(error.offset >= 0 && error.offset <= bytes.count, "error offset \(error.offset) outside 0...\(bytes.count)")
        fuzzCheck(!error.reason.isEmpty, "empty JSON error reason")
        return nil
    }
    let compact = value.serialized()
    let again: JSON
    do {
        again = try JSON.parse(compact)
    } catch {
        fuzzCheck(false, "serialized JSON does not parse: \(error): \(compact)")
        return nil
    }
    fuzzCheck(again == value, "parse(serialized(v)) != v: \(compact)")
    fuzzCheck(again.serialized() == compact, "serialization is not a fixed point: \(compact)")
    let pretty = value.serialized(indent: 2)
    fuzzCheck((try? JSON.parse(pretty)) == value, "indented serialization does not parse back: \(pretty)")
    // Valid JSON is valid UTF-8, so the String entry point sees the same bytes and must agree.
    fuzzCheck((try? JSON.parse(String(decoding: bytes, as: UTF8.self))) == value, "String and byte parsers disagree")
    return value
}
