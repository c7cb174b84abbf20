import CNI
import JSON
import NetTypes
import Testing

@Suite struct UnitCNIErrorTests {
    @Test("error JSON: cniVersion, code, msg, details (details omitted when empty)")
    func errorJSON() {
        let e = CNIError(.invalidConfig, "bad \"thing\"", details: "more")
        #expect(e.json(cniVersion: "0.4.0").serialized() == #"{"cniVersion":"0.4.0","code":7,"msg":"bad \"thing\"","details":"more"}"#)
        let f = CNIError(.decodeFailure, "x")
        #expect(f.json(cniVersion: "1.1.0").serialized() == #"{"cniVersion":"1.1.0","code":6,"msg":"x"}"#)
        #expect(f.description == "x")
        #expect(e.description == "bad \"thing\" (more)")
        #expect(CNIError(rawCode: 105, "CHECK: x").code == 105)
    }

    @Test("error codes of the specification", arguments: [
        (CNIErrorCode.incompatibleVersion, 1), (.unsupportedField, 2), (.unknownContainer, 3), (.invalidEnvironment, 4),
        (.ioFailure, 5), (.decodeFailure, 6), (.invalidConfig, 7), (.tryAgainLater, 11), (.notAvailable, 50),
        (.notAvailableLimited, 51), (.internalFailure, 999),
    ])
    func codes(code: CNIErrorCode, value: Int) {
        #expect(code.rawValue == value)
        #expect(CNIError(code, "m").code == value)
    }

    @Test("plugin-specific codes are 100 and up")
    func pluginCodes() {
        for c in [CNIErrorCode.linkFailure, .addressFailure, .ipamExhausted, .ipamConflict, .delegateFailure] {
            #expect(c.rawValue >= 100 && c.rawValue < 999)
        }
    }
}

@Suite struct UnitCNIErrorClampTests {
    @Test("clamped: msg and details cut to the limit on a character boundary, with the original size")
    func clamp() {
        let short = CNIError(.invalidConfig, "name \"x\" is invalid", details: "d")
        #expect(short.clamped() == short)
        let big = CNIError(.invalidConfig, "name \"" + String(repeating: "é", count: 10_000) + "\"",
                           details: String(repeating: "x", count: 5000))
        let c = big.clamped(to: 101)
        #expect(c.code == 7)
        #expect(c.msg == "name \"" + String(repeating: "é", count: 47) + "... (20007 bytes)")
        #expect(c.details == String(repeating: "x", count: 101) + "... (5000 bytes)")
    }
}
