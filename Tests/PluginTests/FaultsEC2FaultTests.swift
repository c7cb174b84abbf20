#if canImport(Glibc)
import Glibc
#endif
import Foundation
import Testing
import ENIMultusCore
import JSON
import TestSupport

/// One kind of EC2 trouble, installed as fault-proxy rules (`EC2Emulator.fault`).
struct EC2FaultKind: Sendable, CustomStringConvertible {
    /// What the ADD under the fault must do; `either` still holds it to the contract (success within the deadline,
    /// or code 11 and a full rollback).
    enum Expect: Sendable { case succeeds, failsWith11, either }
    var name: String
    var expect: Expect
    /// Calls held back this long before reaching EC2 may land after the plugin gave up: wait for them.
    var lateMs = 0
    var install: @Sendable (EC2Emulator, _ timeout: Int) throws -> Void
    var description: String { name }

    /// The deadline of the table (`ec2TimeoutSeconds`).
    static let timeout = 4

    static let all: [EC2FaultKind] = [
        // A throttled call backs off up to 1 s, then 2 s (full jitter, the SDKs' standard mode): an ADD whose calls
        // meet the throttle twice may run out of its deadline, and then it must say so with code 11.
        .init(name: "throttled every 2nd call", expect: .either) { e, _ in try e.fault(mode: "throttle", every: 2) },
        .init(name: "throttled on every call", expect: .failsWith11) { e, _ in try e.fault(mode: "throttle") },
        .init(name: "HTTP 500 every 2nd call", expect: .succeeds) { e, _ in try e.fault(mode: "error500", every: 2) },
        .init(name: "HTTP 500 on every call", expect: .failsWith11) { e, _ in try e.fault(mode: "error500") },
        .init(name: "connection dropped every 2nd call", expect: .succeeds) { e, _ in try e.fault(mode: "drop", every: 2) },
        .init(name: "every connection dropped", expect: .failsWith11) { e, _ in try e.fault(mode: "drop") },
        // EC2 applies the assignment, the answer never arrives: the retry must not leave the first one behind.
        .init(name: "assignment applied, reply lost (once)", expect: .succeeds) { e, _ in
            try e.fault(action: "AssignPrivateIpAddresses", mode: "drop-after", count: 1)
        },
        .init(name: "every call 0.4 s slow (inside the deadline)", expect: .succeeds) { e, _ in try e.fault(mode: "delay", delayMs: 400) },
        // The assignment reaches EC2 after the plugin's deadline: it lands after ADD has failed and rolled back.
        .init(name: "assignment delayed past the deadline", expect: .failsWith11, lateMs: (timeout + 2) * 1000) { e, t in
            try e.fault(action: "AssignPrivateIpAddresses", mode: "delay", delayMs: (t + 2) * 1000)
        },
    ]
}

extension FaultsCampaignTests {
    /// Issue 7 item 4: EC2 trouble through the emulator's fault proxy, table-driven over fault kinds × IPAM modes
    /// that talk to EC2. Per row, with the fault on: pod B's ADD either succeeds within its deadline or fails
    /// with code 11 and a full rollback (no link, no record, nothing added in EC2 that is not queued for
    /// release); pod A's DEL (its ADD ran before the fault) and pod B's DEL always exit 0 within DEL's EC2
    /// budget. Then the fault is cleared, late calls land, one GC runs, and nothing is left: no link, no state,
    /// no queued release, nothing on the ENI.
    ///
    /// In prefix mode a steady-state ADD makes no EC2 call (a held prefix has room), so there pod B is the first
    /// pod of the network: its ADD must take a prefix under the fault, and its DEL returns the emptied prefix
    /// under the fault.
    @Suite(.serialized)
    struct EC2Faults {
        static let emulator = Result { try EC2Emulator() }

        @Test("fault kinds × IPAM modes: ADD succeeds in time or fails with 11 and rolls back; DEL always succeeds; releases happen",
              arguments: [CampaignMode.rangesENI, .ec2, .prefix])
        func faultTable(_ mode: CampaignMode) throws {
            try CampaignGate.exclusive { try faultTableGated(mode) }
        }

        func faultTableGated(_ mode: CampaignMode) throws {
            let started = Date()
            let emu = try Self.emulator.get()
            let ec2 = try CampaignEC2.make(emu)
            defer { try? emu.clearFaults() }
            let t = EC2FaultKind.timeout
            let slack = 2.5
            var lines: [String] = []
            var problems: [String] = []
            for kind in EC2FaultKind.all {
                let dataDir = try makeTempDir("emt-ec2f")
                defer { _ = Shell.run(["rm", "-rf", dataDir]) }
                let a = try CampaignNode(tag: "fa", mac: ec2.mac, dataDir: dataDir, ec2: ec2)
                defer { a.close() }
                let b = try CampaignNode(tag: "fb", mac: ec2.mac, dataDir: dataDir, ec2: ec2)
                defer { b.close() }
                let conf = mode.conf(dataDir: dataDir, ec2: ec2, timeout: t)
                let row = "\(kind) × \(mode)"
                func problem(_ s: String) { problems.append("\(row): \(s)") }

                try emu.clearFaults()
                let withA = mode != .prefix
                if withA {
                    let setup = a.exec("ADD", conf: conf, containerID: "fault-a")
                    guard setup.status == 0 else { problem("ADD before the fault failed: \(setup)"); continue }
                }

                let faultStart = Date()
                try kind.install(emu, t)
                let add = b.exec("ADD", conf: conf, containerID: "fault-b")
                var outcome: String
                if add.status == 0 {
                    outcome = "ADD ok in \(String(format: "%.1f", add.seconds)) s"
                    if kind.expect == .failsWith11 { problem("ADD succeeded, expected code 11") }
                    if add.seconds > Double(t) + slack { problem("ADD took \(add.seconds) s, past its \(t) s deadline") }
                    if CampaignNode.resultAddresses(add).isEmpty { problem("ADD result without address: \(add.stdout)") }
                } else {
                    let code = CampaignNode.errorCode(add)
                    outcome = "ADD code \(code.map(String.init) ?? "?") in \(String(format: "%.1f", add.seconds)) s"
                    if code != 11 { problem("ADD failed with code \(code.map(String.init) ?? "none"), expected 11: \(add)") }
                    if kind.expect == .succeeds { problem("ADD failed, expected success: \(add)") }
                    if add.seconds > Double(t) + slack { problem("failing ADD took \(add.seconds) s, past its \(t) s deadline") }
                    // The rollback: nothing in the pod, the device home, no record of the attachment.
                    for k in b.kernelLeaks() { problem("after the failed ADD: \(k)") }
                    for dir in ["attachments", "ec2/ledger", "links"]
                    where FileManager.default.fileExists(atPath: "\(dataDir)/\(CampaignMode.network)/\(dir)/fault-b:net1") {
                        problem("after the failed ADD: \(dir)/fault-b:net1 is left")
                    }
                    let ips = ((try? FileManager.default.contentsOfDirectory(atPath: "\(dataDir)/\(CampaignMode.network)/ips")) ?? [])
                        .filter { !$0.hasPrefix(".") }
                    if ips.count > (withA ? 1 : 0) { problem("after the failed ADD: reservations \(ips) (only pod A's expected)") }
                }
                // DEL always succeeds, within DEL's own EC2 budget (5 s), fault or not.
                let delA = withA ? a.exec("DEL", conf: conf, containerID: "fault-a") : nil
                let delB = b.exec("DEL", conf: conf, containerID: "fault-b")
                for (who, d) in [("A", delA), ("B", delB)] {
                    guard let d else { continue }
                    if d.status != 0 { problem("DEL \(who) failed: \(d)") }
                    if d.seconds > 5 + slack { problem("DEL \(who) took \(d.seconds) s") }
                }
                let queued = ((try? FileManager.default.contentsOfDirectory(atPath: "\(dataDir)/\(CampaignMode.network)/ec2/queue")) ?? [])
                    .filter { !$0.hasPrefix(".") }.count
                let heldNow = (try? ec2.held()).map { $0.addresses.count + $0.prefixes.count } ?? -1
                outcome += "; DEL\(withA ? "s" : "") ok in \(delA.map { String(format: "%.1f/", $0.seconds) } ?? "")\(String(format: "%.1f", delB.seconds)) s"
                    + (queued > 0 ? ", \(queued) release(s) queued" : "") + (heldNow > 0 ? ", \(heldNow) still on the ENI" : "")

                // The fault clears; calls held back land; the next invocation (GC) finishes the releases. A release
                // queued by a failed registration is due once the ADD's deadline has passed again after it (time
                // for a late assignment to land first).
                try emu.clearFaults()
                let addEnd = faultStart.addingTimeInterval(add.seconds)
                let due = add.status == 0 || mode != .rangesENI ? faultStart : addEnd.addingTimeInterval(Double(t))
                // (A held-back call reaches the proxy up to a second after the fault went on: the ADD reads IMDS first.)
                let late = kind.lateMs > 0 ? faultStart.addingTimeInterval(Double(kind.lateMs) / 1000 + 1.5) : faultStart
                let land = max(late, due).addingTimeInterval(0.5).timeIntervalSinceNow
                if land > 0 { usleep(useconds_t(land * 1_000_000)) }
                let gc = a.exec("GC", conf: mode.conf(dataDir: dataDir, ec2: ec2, timeout: t, gc: []), containerID: "")
                if gc.status != 0 { problem("GC after the fault failed: \(gc)") }
                let leaks = a.kernelLeaks() + b.kernelLeaks() + a.stateLeaks() + a.ec2Leaks()
                for l in leaks { problem("after GC: \(l)") }
                outcome += leaks.isEmpty ? "; after GC nothing left" : "; LEAKS: \(leaks.count)"
                lines.append("  \(row): \(outcome)")
            }
            print((["faults/ec2 [\(mode)]: \(EC2FaultKind.all.count) fault kinds, deadline \(t) s, \(problems.count) problems,"
                    + " \(secondsSince(started)) s"] + lines).joined(separator: "\n"))
            for p in problems { Issue.record(Comment(rawValue: p)) }
        }
    }
}
