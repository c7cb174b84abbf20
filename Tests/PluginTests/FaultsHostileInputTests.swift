import Foundation
import Synchronization
import Testing
import CNI
import ENIMultusCore
import JSON
import TestSupport

/// Running totals of the hostile-input table, printed when the last case finishes.
final class FaultsTally: Sendable {
    struct Counts {
        var cases = 0
        var stateChanges = 0
        var rolledBack = 0
        var byCategory: [String: Int] = [:]
    }
    let counts = Mutex(Counts())
    static let hostile = FaultsTally()

    func record(_ c: HostileCase, changed: Bool, total: Int) {
        let done: Counts? = counts.withLock { n in
            n.cases += 1
            if changed { n.stateChanges += 1 }
            if c.rollsBack { n.rolledBack += 1 }
            n.byCategory[c.category, default: 0] += 1
            return n.cases == total ? n : nil
        }
        guard let done else { return }
        var lines = ["faults/hostile: \(done.cases) cases, \(done.stateChanges) state changes"
                     + " (\(done.rolledBack) rolled back after reaching the kernel)"]
        for (k, v) in done.byCategory.sorted(by: { $0.key < $1.key }) { lines.append("  \(k): \(v)") }
        print(lines.joined(separator: "\n"))
    }
}

/// hostile and broken input, table-driven (`HostileCases.all`). Each case runs the plugin core
/// in-process inside a fresh simulated node (`FaultsNode`) and must
/// - fail with exactly the expected CNI code (or, for the few DEL cases with code 0, succeed quietly),
/// - name the fault in its message (every `says` substring),
/// - keep its output short (a 10 MB input is never echoed back), and
/// - leave the node netns, the pod netns and the whole scratch tree (state directory included) byte-identical.
@Suite(.tier())
struct FaultsHostileInputTests {
    static let cases = HostileCases.all

    @Test("the table has at least 200 cases in every category asked for")
    func tableSize() {
        let byCat = Dictionary(grouping: Self.cases, by: \.category).mapValues(\.count)
        #expect(Self.cases.count >= 200, "\(Self.cases.count) cases")
        for cat in ["truncated JSON", "malformed JSON", "10 MB stdin", "wrong type", "cniVersion", "bad CIDR", "range bounds",
                    "v4/v6 mix-up", "escape: name", "escape: dataDir", "ifname", "containerID", "netns",
                    "primary interface", "missing device", "bad eni", "runtimeConfig/args"] {
            #expect(byCat[cat, default: 0] > 0, "no case in category \(cat)")
        }
        let names = Self.cases.map(\.testDescription)
        #expect(Set(names).count == names.count, "case names must be unique")
    }

    @Test("the fixture's base configs pass every check (so each case fails for its own fault)")
    func baseConfigsAreAccepted() throws {
        let f = try FaultsNode()
        defer { f.close() }
        let add = try f.run("ADD", stdin: Array(f.expand(HostileCases.hd()).utf8))
        #expect(add.exitCode == 0, "\(add.stdout)")
        #expect(try JSON.parse(add.stdout)["ips"]?[0]?["address"]?.stringValue == "10.66.0.2/24")
        let del = try f.run("DEL", stdin: Array(f.expand(HostileCases.hd()).utf8))
        #expect(del.exitCode == 0, "\(del.stdout)")
        // ipvlan: everything up to the creation of the link passes; the host kernel may lack the driver.
        let ipv = try f.run("ADD", stdin: Array(f.expand(HostileCases.ipv()).utf8))
        if Capabilities.hasIPVlan {
            #expect(ipv.exitCode == 0, "\(ipv.stdout)")
        } else {
            #expect(try JSON.parse(ipv.stdout)["code"]?.int64Value == 100, "\(ipv.stdout)")
            #expect(ipv.stdout.contains("create ipvlan"))
        }
        _ = try f.run("DEL", stdin: Array(f.expand(HostileCases.ipv()).utf8))
    }

    @Test("hostile input: exact code, a message naming the fault, no state change", arguments: cases)
    func hostile(_ c: HostileCase) throws {
        let f = try FaultsNode()
        defer { f.close() }
        let stdin: [UInt8]
        switch c.stdin {
        case .text(let t): stdin = Array(f.expand(t).utf8)
        case .raw(let make): stdin = make()
        }
        // A rollback may leave the lock, the cursor and empty directories; everything else must be exact.
        let before = try f.snapshot(relaxed: c.rollsBack)
        let out = try f.run(c.verb, stdin: stdin, env: c.env)
        let after = try f.snapshot(relaxed: c.rollsBack)
        let changed = before != after
        FaultsTally.hostile.record(c, changed: changed, total: Self.cases.count)
        #expect(!changed, "state changed:\n\(snapshotDiff(before, after))")
        #expect(out.stdout.utf8.count + out.stderr.utf8.count < 16 << 10,
                "output is \(out.stdout.utf8.count) + \(out.stderr.utf8.count) bytes")

        if c.code == 0 {
            #expect(out.exitCode == 0 && out.stdout.isEmpty && out.stderr.isEmpty, "\(out.stdout) \(out.stderr)")
            return
        }
        let e = try #require(UnitProtocolKit.wireError(out))
        #expect(e.code == c.code, "code \(e.code.map(String.init) ?? "nil"), expected \(c.code): \(e.msg ?? "")")
        for s in c.says {
            #expect(e.msg?.contains(s) == true, "message does not name \(s.debugDescription): \(e.msg?.prefix(400) ?? "")")
        }
    }
}

/// `treeSnapshot` without the ignored files and without directories that end up empty.
func treeSnapshotWithoutEmptyDirs(_ root: String, _ ignore: @escaping (String) -> Bool) -> String {
    let lines = treeSnapshot(root, ignoring: ignore).split(separator: "\n").map(String.init)
    var keep: [String] = []
    for (i, l) in lines.enumerated() {
        let parts = l.split(separator: " ", maxSplits: 2)
        if parts.count > 1 && parts[1] == "dir" && parts[0] != "." {
            let prefix = parts[0] + "/"
            if !lines[(i + 1)...].contains(where: { $0.hasPrefix(prefix) && !$0.contains(" dir ") }) { continue }
        }
        keep.append(l)
    }
    return keep.joined(separator: "\n") + "\n"
}
