import Foundation
import Testing
import TestSupport

/// How Tests/ is laid out, checked: each top-level suite lives in the file named after it (its name starts with the
/// file's name, less "Tests"), its name starts with its tier's word, and its tier is stated nowhere else — a suite
/// outside the unit tier carries `.tier()`, which reads the tier from that same name, and no `.tier(.x)` exists.
@Suite
struct UnitTestLayoutTests {
    struct Suite: Equatable { var file: String; var name: String; var attribute: String }

    /// Top-level `@Suite` declarations of a Swift source: (type name, the attribute's text).
    static func suites(in text: String, file: String) -> [Suite] {
        var out: [Suite] = []
        let lines = text.components(separatedBy: "\n")
        var i = 0
        while i < lines.count {
            guard lines[i].hasPrefix("@Suite") else { i += 1; continue }
            var attribute = ""
            var j = i
            while j < lines.count {
                let l = lines[j]
                if let r = l.range(of: #"^(@Suite.*?\)?\s*)?(public |final )*(struct|class|enum|actor) ([A-Za-z0-9_]+)"#, options: .regularExpression),
                   let name = l[r].split(separator: " ").last {
                    attribute += String(l[..<r.lowerBound]) + String(l[r])
                    out.append(Suite(file: file, name: String(name), attribute: attribute))
                    break
                }
                attribute += l + "\n"
                j += 1
            }
            i = j + 1
        }
        return out
    }

    static func problems(_ suites: [Suite]) -> [String] {
        var out: [String] = []
        for s in suites {
            var stem = (s.file as NSString).deletingPathExtension
            if stem.hasSuffix("Tests") { stem.removeLast("Tests".count) }
            if !s.name.hasPrefix(stem) { out.append("\(s.file): suite \(s.name) does not start with \(stem)") }
            guard let tier = Tier.of(fileName: s.name) else {
                out.append("\(s.file): suite \(s.name) starts with no tier's word"); continue
            }
            if s.attribute.contains(".tier(.") { out.append("\(s.file): \(s.name) states its tier twice (.tier(.x))") }
            if tier != .unit && !s.attribute.contains(".tier(") {
                out.append("\(s.file): \(s.name) is in tier \(tier) without .tier()")
            }
        }
        return out
    }

    @Test("every suite lives in the file named after it, with its tier stated once")
    func layout() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        let files = try #require(FileManager.default.enumerator(atPath: root.path)).compactMap { $0 as? String }
            .filter { $0.hasSuffix(".swift") }
        var all: [Suite] = []
        for f in files {
            let text = try String(contentsOfFile: root.path + "/" + f, encoding: .utf8)
            all += Self.suites(in: text, file: (f as NSString).lastPathComponent)
        }
        #expect(all.count > 100, "found \(all.count) suites")
        #expect(Self.problems(all) == [])
        #expect(all.contains { $0.name == "UnitTestLayoutTests" })
    }

    @Test("the check refuses a suite in a file of another name, a second statement of the tier, a missing .tier()")
    func checkCanFail() {
        let bad = Self.suites(in: """
            @Suite(.tier(.kernel), .serialized)
            struct KernelCrashTests {
            }
            @Suite(.serialized)
            struct FaultsThingTests {
            }
            """, file: "FaultsCrashTests.swift")
        #expect(bad.map(\.name) == ["KernelCrashTests", "FaultsThingTests"])
        #expect(Self.problems(bad).count == 4, "\(Self.problems(bad))")
    }
}
