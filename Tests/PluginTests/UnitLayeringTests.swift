import Foundation
import Testing
import TestSupport

/// The module layering README's Layout table states, checked against the package itself (`swift package
/// dump-package`): every module is in the table once, each depends only on modules of lower layers, the plugin
/// links no AWS code and the node binary not the plugin's core.
@Suite(.tier())
struct UnitLayeringTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().path

    /// target → its target dependencies (test targets left out).
    static func graph() throws -> [String: [String]] {
        let swift = ["/opt/swift/usr/bin/swift", "/usr/bin/swift"].first { FileManager.default.isExecutableFile(atPath: $0) }
            ?? "swift"
        let scratch = NSTemporaryDirectory() + "emt-dump-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: scratch) }
        let r = Shell.run([swift, "package", "--package-path", root, "--scratch-path", scratch, "dump-package"], timeout: 300)
        guard r.status == 0 else { throw HarnessError("dump-package: \(r.stderr)") }
        let json = try #require(try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any])
        var out: [String: [String]] = [:]
        for t in try #require(json["targets"] as? [[String: Any]]) where (t["type"] as? String) != "test" {
            let name = try #require(t["name"] as? String)
            if name == "TestSupport" { continue }
            out[name] = ((t["dependencies"] as? [[String: Any]]) ?? []).compactMap { d in
                ((d["byName"] ?? d["target"]) as? [Any])?.first as? String
            }
        }
        return out
    }

    /// module → layer, from README's Layout table (rows `| N | `A`, `B` | … |`).
    static func layers() throws -> [String: Int] {
        let readme = try String(contentsOfFile: root + "/README.md", encoding: .utf8)
        var out: [String: Int] = [:]
        for line in readme.split(separator: "\n") {
            let cells = line.split(separator: "|", omittingEmptySubsequences: false).map { $0.trimmingCharacters(in: .whitespaces) }
            guard cells.count >= 4, let layer = Int(cells[1]) else { continue }
            for m in cells[2].split(separator: ",") {
                let name = m.trimmingCharacters(in: CharacterSet(charactersIn: " `"))
                #expect(out.updateValue(layer, forKey: name) == nil, "\(name) is in two rows of the Layout table")
            }
        }
        return out
    }

    static func closure(_ name: String, _ g: [String: [String]]) -> Set<String> {
        var seen = Set<String>(), todo = g[name] ?? []
        while let d = todo.popLast() { if seen.insert(d).inserted { todo += g[d] ?? [] } }
        return seen
    }

    @Test("Package.swift follows README's layers; the plugin links no AWS, the node binary not the plugin core")
    func layering() throws {
        let g = try Self.graph(), layer = try Self.layers()
        #expect(g.count >= 17, "\(g.keys.sorted())")
        #expect(Set(g.keys) == Set(layer.keys), "modules not in the Layout table: \(Set(g.keys).subtracting(layer.keys).sorted()); rows for no module: \(Set(layer.keys).subtracting(g.keys).sorted())")
        for (name, deps) in g {
            for d in deps {
                #expect((layer[d] ?? .max) < (layer[name] ?? .min), "\(name) (layer \(layer[name] ?? -1)) depends on \(d) (layer \(layer[d] ?? -1))")
            }
        }
        let plugin = Self.closure("eni-multus", g), node = Self.closure("eni-multus-node", g)
        #expect(plugin.isDisjoint(with: ["AWS", "CAWSShims", "NodeAgent"]), "\(plugin.sorted())")
        #expect(!node.contains("ENIMultusCore"), "\(node.sorted())")
        #expect(plugin.contains("ENIMultusCore") && node.contains("NodeAgent"))
    }

    @Test("the check fails on a dependency that points up or sideways")
    func checkCanFail() throws {
        let layer = try Self.layers()
        // IPAM (layer 3) depending on ENIMultusCore (4), and CNI on Netlink (both 2): what the test above refuses.
        #expect(!((layer["ENIMultusCore"] ?? 0) < (layer["IPAM"] ?? 0)))
        #expect(!((layer["Netlink"] ?? 0) < (layer["CNI"] ?? 0)))
        let g = ["eni-multus-node": ["NodeAgent"], "NodeAgent": ["Registration", "ENIMultusCore"]]
        #expect(Self.closure("eni-multus-node", g).contains("ENIMultusCore"))
    }
}
