#if canImport(Glibc)
import Glibc
#endif
import Foundation
import Testing
import ENIMultusCore
import NodeAgent
import TestSupport

extension FaultsCampaignTests {
    /// the node agent killed (SIGKILL, `ENI_MULTUS_FAILPOINT` in the agent's environment, debug
    /// builds) just before and just after the EC2 call of an ADD's mutation, in every registering IPAM mode. The ADD
    /// must fail with code 11 (try again later) and leave nothing in the pod; then, with the agent restarted, the
    /// runtime's DEL and a GC must leave no link, no reservation and no EC2 assignment the store does not own
    /// (where EC2 acted and the plugin never learnt what it assigned — `ec2` count-based assigns and prefixes — one
    /// reconcile pass releases it, as for the plugin's own crash at `add.ec2.after-assign`), and the next ADD
    /// through the new agent must succeed.
    @Suite(.serialized)
    struct AgentCrash {
        static let emulator = Result { try EC2Emulator() }
        static let runs = Int(ProcessInfo.processInfo.environment["ENI_MULTUS_AGENT_CRASH_RUNS"] ?? "") ?? 4

        struct Case: Sendable, CustomStringConvertible {
            var point: String
            var mode: CampaignMode
            /// EC2 may have assigned something no record names (the plugin never got the answer).
            var reconcile: Bool { point == "agent.after-ec2" && (mode == .ec2 || mode == .ec2Warm || mode == .prefix) }
            var description: String { "\(point) [\(mode)]" }
        }

        static let cases: [Case] = Broker.crashPoints.flatMap { p in
            [CampaignMode.rangesENI, .ec2, .ec2Warm, .prefix].map { Case(point: p, mode: $0) }
        }

        @Test("the agent killed before and after its EC2 call: ADD fails with 11, then DEL and GC through a restarted agent leave nothing")
        func killTheAgent() throws {
            try CampaignGate.shared { try killTheAgentGated() }
        }

        func killTheAgentGated() throws {
            guard let emu = try Crash.emulatorOrNil() else { return }
            let started = Date()
            var problems: [String] = []
            var lines: [String] = []
            for c in Self.cases {
                let p = try Self.run(c, ec2: try CampaignEC2.make(emu))  // a fresh world per case
                lines.append("  \(c): \(Self.runs) kills, \(p.count) problems")
                problems += p.map { "\(c): \($0)" }
            }
            print((["faults/agent-crash: \(Self.cases.count) cases × \(Self.runs) kills, \(problems.count) problems, \(secondsSince(started)) s"] + lines)
                .joined(separator: "\n"))
            for p in problems { Issue.record(Comment(rawValue: p)) }
        }

        static func run(_ c: Case, ec2: CampaignEC2) throws -> [String] {
            var problems: [String] = []
            let dataDir = try makeTempDir("emt-agentcrash")
            defer { _ = Shell.run(["rm", "-rf", dataDir]) }
            let node = try CampaignNode(tag: "a", mac: ec2.mac, dataDir: dataDir, ec2: ec2)
            defer { node.close() }
            // A short EC2 deadline: a failed per-IP ADD queues the release of what it asked, due once a late call
            // has had the deadline again to land (README); the GC below waits for that.
            let timeout = 2
            let conf = c.mode.conf(dataDir: dataDir, ec2: ec2, timeout: timeout)
            let gc = c.mode.conf(dataDir: dataDir, ec2: ec2, timeout: timeout, gc: [])
            let reconcile = c.mode.conf(dataDir: dataDir, ec2: ec2, timeout: timeout, gc: [], reconcile: true)
            for run in 1...Self.runs {
                func problem(_ s: String) { problems.append("run \(run): \(s)") }
                // An agent that dies at the point, on this node's IMDS.
                let doomed = try NodeAgentProcess(environment: ec2.awsEnvironment.merging(["ENI_MULTUS_FAILPOINT": c.point]) { $1 })
                let via = [NodeAgentProcess.socketVariable: doomed.socket]
                let add = node.exec("ADD", conf: conf, containerID: "ac1", env: via, timeout: 60)
                if add.status == 0 { problem("ADD succeeded although the agent was killed at \(c.point): \(add)") }
                else if CampaignNode.errorCode(add) != 11 { problem("ADD failed with \(CampaignNode.errorCode(add).map(String.init) ?? "no code"), want 11: \(add)") }
                // The plugin sees the socket close while the killed agent is still exiting: give it 2 s to be gone.
                if let pid = doomed.agentPID {
                    var alive = true
                    for _ in 0..<100 where alive { alive = Self.running(pid); if alive { usleep(20_000) } }
                    if alive { problem("the agent \(pid) is still running: the point was not reached") }
                }
                if !node.links(in: node.pod).isEmpty { problem("the failed ADD left \(node.links(in: node.pod).map(node.describe)) in the pod") }
                doomed.stop()

                // The agent is back (a fresh one: the DaemonSet restarted it); the runtime's DEL, then GC.
                let agent = try NodeAgentProcess(environment: ec2.awsEnvironment)
                defer { agent.stop() }
                let env = [NodeAgentProcess.socketVariable: agent.socket]
                let del = node.exec("DEL", conf: conf, containerID: "ac1", env: env)
                if del.status != 0 { problem("DEL failed: \(del)") }
                // Before any GC, everything EC2 holds is owned, but what the lost answer assigned (at most the
                // address and, in ec2+warm, the pool's refill; or one prefix).
                var allowed = CampaignNode.Unaccounted()
                if c.reconcile, let u = try? node.unaccountedInEC2(), u.count <= c.mode.reconcileLeftover { allowed = u }
                problems += node.ec2InvariantProblems("run \(run), after the DEL", allowing: allowed)
                if c.mode == .rangesENI { usleep(useconds_t(timeout) * 1_000_000 + 200_000) }
                let g = node.exec("GC", conf: c.reconcile ? reconcile : gc, containerID: "", env: env)
                if g.status != 0 { problem("GC failed: \(g)") }
                let leaks = node.allLeaks()
                if !leaks.isEmpty { problem("left behind: \(leaks.joined(separator: "; "))") }
                // And the node works: the next ADD through the restarted agent.
                let next = node.exec("ADD", conf: conf, containerID: "ac2", env: env)
                if next.status != 0 { problem("the next ADD failed: \(next)") }
                let d2 = node.exec("DEL", conf: conf, containerID: "ac2", env: env)
                if d2.status != 0 { problem("its DEL failed: \(d2)") }
                if c.mode == .ec2Warm {
                    // Empty the pool (its addresses become unowned, and the reconcile releases them), so that the
                    // next run's ADD asks EC2 again and reaches the point.
                    _ = Shell.run(["rm", "-rf", "\(dataDir)/\(CampaignMode.network)/ec2/warm"])
                }
                _ = node.exec("GC", conf: reconcile, containerID: "", env: env)
                if problems.count > 6 { break }
            }
            return problems
        }

        /// Whether `pid` runs (a killed agent stays a zombie until its wrapper reaps it).
        static func running(_ pid: pid_t) -> Bool {
            guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
                  let close = stat.lastIndex(of: ")") else { return false }
            let state = stat[stat.index(close, offsetBy: 2)...].prefix(1)
            return state != "Z" && state != "X"
        }
    }
}
