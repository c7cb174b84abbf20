import Foundation
import Testing
import CNI
import IPAM
import JSON
import ENIMultusCore

/// Every example in cni-conf/ parses and validates: the NAD's `spec.config`, or a .conflist's plugins.
@Suite struct UnitConfExamplesTests {
    static var confDir: String {
        var dir = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        while dir.path != "/" && !FileManager.default.fileExists(atPath: dir.appendingPathComponent("cni-conf").path) {
            dir = dir.deletingLastPathComponent()
        }
        return dir.appendingPathComponent("cni-conf").path
    }

    static var files: [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: confDir)) ?? []).sorted()
    }

    /// The JSON block under `config: |` in a NetworkAttachmentDefinition.
    static func nadConfig(_ yaml: String) -> String? {
        let lines = yaml.split(separator: "\n", omittingEmptySubsequences: false)
        guard let start = lines.firstIndex(where: { $0.trimmingCharacters(in: .whitespaces) == "config: |" }) else { return nil }
        let indentOf = { (s: Substring) in s.prefix(while: { $0 == " " }).count }
        let base = indentOf(lines[start])
        var out: [Substring] = []
        for l in lines[(start + 1)...] {
            if !l.trimmingCharacters(in: .whitespaces).isEmpty && indentOf(l) <= base { break }
            out.append(l)
        }
        return out.joined(separator: "\n")
    }

    /// Reference plugins an example may chain after ours (they are validated by their own code, not ours).
    static let chainedReferencePlugins: Set<String> = ["sbr"]

    /// The plugin configurations of an example: the NAD's config (or the .conflist), a plugin list flattened with
    /// its cniVersion and name, as libcni hands each plugin its entry.
    static func configs(_ file: String) throws -> [JSON] {
        let text = try String(contentsOfFile: confDir + "/" + file, encoding: .utf8)
        let j: JSON
        if file.hasSuffix(".yaml") {
            #expect(text.contains("kind: NetworkAttachmentDefinition"))
            let block = try #require(nadConfig(text), "\(file) has no `config: |` block")
            j = try JSON.parse(block)
        } else {
            j = try JSON.parse(text)
        }
        if let plugins = j["plugins"]?.arrayValue {
            return plugins.map { p in
                var o = p.objectValue!
                o["cniVersion"] = j["cniVersion"]
                o["name"] = j["name"]
                return .object(o)
            }
        }
        return [j]
    }

    @Test func thereAreExamplesForEveryMode() {
        let all = Self.files.compactMap { try? Self.configs($0) }.flatMap { $0 }
        #expect(all.contains { $0["link"] == nil || $0["link"]?.stringValue == "ipvlan" })
        #expect(all.contains { $0["link"]?.stringValue == "host-device" })
        #expect(all.contains { $0["ipam"]?["type"]?.stringValue == "eni-multus" })
        #expect(all.contains { ($0["ipam"]?["type"]?.stringValue).map { $0 != "eni-multus" } ?? false })
        #expect(all.contains { $0.objectValue.map { NetConf.role(of: $0) == .ipam } ?? false }, "an example of the IPAM role")
        #expect(Self.files.count >= 6)
    }

    @Test(arguments: UnitConfExamplesTests.files)
    func exampleParsesAndValidates(file: String) throws {
        for c in try Self.configs(file) where !Self.chainedReferencePlugins.contains(c["type"]?.stringValue ?? "") {
            _ = try CNIVersion.resolve(c["cniVersion"]?.stringValue)
            let conf = try NetConf(json: c, command: .add)
            // Our plugin's configs, or another plugin's with eni-multus as its IPAM.
            #expect(c["type"]?.stringValue == "eni-multus" || (conf.role == .ipam && conf.ipamType == "eni-multus"), "\(file)")
            if conf.ipamType == "eni-multus", let ipam = conf.ipam {
                let cfg = try IPAMConfig(ipam, defaultDataDir: "/tmp/unused")
                // ranges mode names its ranges; ec2/prefix modes take addresses from EC2 on the `eni` block's ENI.
                #expect(cfg.mode == .ranges ? !cfg.rangeSets.isEmpty : c["eni"] != nil, "\(file)")
            }
        }
    }

    /// install/MIGRATION.md's NAD diff: the seed's side is the seed's ipvlan + host-local config, our side parses and
    /// validates as the examples do, with the `eni` block and `clusterName` that registration needs.
    @Test func migrationGuideNADDiffParses() throws {
        let text = try String(contentsOfFile: Self.confDir + "/../install/MIGRATION.md", encoding: .utf8)
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false)
        let start = try #require(lines.firstIndex(of: "```diff"))
        let end = try #require(lines[(start + 1)...].firstIndex(of: "```"))
        let diff = lines[(start + 1)..<end]
        func side(_ keep: Character) -> String {
            diff.filter { $0.first == " " || $0.first == keep }.map { String($0.dropFirst()) }.joined(separator: "\n")
        }
        let before = try JSON.parse(side("-")), after = try JSON.parse(side("+"))
        #expect(before["type"]?.stringValue == "ipvlan" && before["master"]?.stringValue == "eth1")
        #expect(before["ipam"]?["type"]?.stringValue == "host-local")
        #expect(after["type"]?.stringValue == "eni-multus" && after["master"] == nil)
        #expect(after["eni"]?["subnetId"]?.stringValue != nil && after["clusterName"]?.stringValue != nil)
        _ = try CNIVersion.resolve(after["cniVersion"]?.stringValue)
        let conf = try NetConf(json: after, command: .add)
        #expect(conf.ipamType == "eni-multus")
        let ipam = try #require(conf.ipam)
        let cfg = try IPAMConfig(ipam, defaultDataDir: "/tmp/unused")
        #expect(cfg.mode == .ranges && !cfg.rangeSets.isEmpty)
    }
}
