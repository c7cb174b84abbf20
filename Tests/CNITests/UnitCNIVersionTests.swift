import CNI
import Testing

@Suite struct UnitCNIVersionTests {
    static let supported = ["0.3.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0"]

    @Test("every supported version resolves to itself", arguments: supported)
    func resolvesSupported(text: String) throws {
        let v = try CNIVersion.resolve(text)
        #expect(v.rawValue == text)
    }

    @Test("the supported list is exactly 0.3.0 … 1.1.0, in order")
    func supportedList() {
        #expect(CNIVersion.supportedStrings == Self.supported)
        #expect(CNIVersion.allCases.sorted() == CNIVersion.allCases)
        #expect(CNIVersion.v0_3_0 < .v0_3_1 && CNIVersion.v0_3_1 < .v0_4_0 && CNIVersion.v0_4_0 < .v1_0_0
                && CNIVersion.v1_0_0 < .v1_1_0)
    }

    @Test("missing or empty cniVersion means 0.1.0 and is refused with advice", arguments: [nil, ""] as [String?])
    func missingVersion(text: String?) {
        let e = cniError { _ = try CNIVersion.resolve(text) }
        #expect(e?.code == 1)
        let msg = e?.msg ?? ""
        #expect(msg.contains("no cniVersion"))
        #expect(msg.contains("0.1.0"))
        #expect(msg.contains("add \"cniVersion\""))
        #expect(msg.contains("1.1.0"))
        #expect(e?.details.contains("0.1.0") == true)
        #expect(e?.details.contains("0.3.0, 0.3.1, 0.4.0, 1.0.0, 1.1.0") == true)
    }

    @Test("unsupported versions: code 1 naming the config's version and the supported ones",
          arguments: ["0.1.0", "0.2.0", "2.0.0", "1.1", "1", "v1.0.0", " 1.0.0", "1.0.0 ", "1.0.0\n", "garbage",
                      "0.4", "1.2.0", "0.3.2"])
    func unsupported(text: String) {
        let e = cniError { _ = try CNIVersion.resolve(text) }
        #expect(e?.code == 1)
        #expect(e?.msg.contains("\"\(text)\"") == true, "msg should quote the config version: \(e?.msg ?? "")")
        #expect(e?.msg.contains("0.3.0, 0.3.1, 0.4.0, 1.0.0, 1.1.0") == true)
        #expect(e?.details == "config version \(text); plugin supports 0.3.0, 0.3.1, 0.4.0, 1.0.0, 1.1.0")
    }

    @Test("capabilities per version",
          arguments: [
              ("0.3.0", true, false, false), ("0.3.1", true, false, false), ("0.4.0", true, true, false),
              ("1.0.0", false, true, false), ("1.1.0", false, true, true),
          ])
    func capabilities(text: String, printsIPVersion: Bool, hasCheck: Bool, hasStatusAndGC: Bool) throws {
        let v = try #require(CNIVersion(rawValue: text))
        #expect(v.printsIPVersion == printsIPVersion)
        #expect(v.hasCheck == hasCheck)
        #expect(v.hasStatusAndGC == hasStatusAndGC)
        #expect(v.hasExtendedResultFields == hasStatusAndGC)
    }
}
