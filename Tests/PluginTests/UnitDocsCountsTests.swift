import Foundation
import Testing
import ENIMultusCore
@testable import ENIAddressing

/// Numbers Tests/README.md states about the tests come from the code: a count that drifts fails here.
@Suite struct UnitDocsCountsTests {
    static func readme() throws -> String {
        var dir = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        while dir.path != "/" && !FileManager.default.fileExists(atPath: dir.appendingPathComponent("Package.swift").path) {
            dir = dir.deletingLastPathComponent()
        }
        return try String(contentsOfFile: dir.appendingPathComponent("Tests/README.md").path, encoding: .utf8)
    }

    /// The number in "The N points" (Tests/README.md: the failpoints), nil when the sentence is gone.
    static func statedFailpoints(_ text: String) -> Int? {
        guard let r = text.range(of: "The [0-9]+ points", options: .regularExpression) else { return nil }
        return Int(text[r].split(separator: " ")[1])
    }

    @Test("Tests/README.md states the failpoint count of the code, names every mutant and the fault table's size")
    func readmeCountsMatchTheCode() throws {
        let text = try Self.readme()
        #expect(Self.statedFailpoints(text) == Failpoints.all.count,
                "Tests/README.md says \(Self.statedFailpoints(text).map(String.init) ?? "no") points, the code lists \(Failpoints.all.count)")
        for m in Mutants.all { #expect(text.contains("ENI_MULTUS_MUTANT=\(m)"), "Tests/README.md does not name the mutant \(m)") }
        #expect(text.contains("`FaultsCampaignTests/EC2Faults`: \(EC2FaultKind.all.count) fault kinds"))
    }

    /// The check above against a README that is off by one: it must notice.
    @Test("the failpoint-count check reads the number it compares (a stale README fails it)")
    func staleCountIsNoticed() {
        let stale = "… The \(Failpoints.all.count - 1) points are listed in `Failpoints` (…)"
        #expect(Self.statedFailpoints(stale) == Failpoints.all.count - 1)
        #expect(Self.statedFailpoints(stale) != Failpoints.all.count)
        #expect(Self.statedFailpoints("no such sentence") == nil)
    }

    /// Every `failpoint("…")` in Sources/ names a point of `Failpoints.all`, and every listed point is reached by one:
    /// the list the crash campaign iterates and the docs count is the code's own, with no typo and no dead entry.
    @Test("the failpoint list is exactly the failpoints in the code")
    func failpointListMatchesTheSources() throws {
        var dir = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        while dir.path != "/" && !FileManager.default.fileExists(atPath: dir.appendingPathComponent("Package.swift").path) {
            dir = dir.deletingLastPathComponent()
        }
        let sources = dir.appendingPathComponent("Sources").path
        var called = Set<String>()
        for f in try #require(FileManager.default.enumerator(atPath: sources)).compactMap({ $0 as? String }) where f.hasSuffix(".swift") {
            let text = try String(contentsOfFile: sources + "/" + f, encoding: .utf8)
            var rest = Substring(text)
            while let r = rest.range(of: #"failpoint\("[a-z0-9.-]+"\)"#, options: .regularExpression) {
                called.insert(String(rest[r].dropFirst("failpoint(\"".count).dropLast(2)))
                rest = rest[r.upperBound...]
            }
        }
        #expect(called.count >= 25, "\(called.sorted())")
        #expect(called == Set(Failpoints.all), "in the code, not listed: \(called.subtracting(Failpoints.all).sorted()); listed, not in the code: \(Set(Failpoints.all).subtracting(called).sorted())")
    }
}
