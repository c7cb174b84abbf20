import Foundation
import Testing
import Platform
import AgentProtocol
@testable import ENIMultusCore
import CNI
import IPAM
import JSON
import NetTypes
import TestSupport
import NodeState
@testable import Registration

/// The EC2-native IPAM modes against the in-memory EC2 (`FakeEC2Gateway`: AWS semantics for counts, prefixes,
/// limits and "in use"), driving the invocation's IPAM half directly (no links).
final class IPAMWorld: @unchecked Sendable {
    let reg: FakeEC2Gateway
    let dir: String
    var clock: Double = 1_800_000_000
    var ipam: String
    var eni = #"{"id":"eni-multus"}"#
    /// Set: the real AWS layer with these variables (the emulator's) instead of the fake.
    var aws: [String: String]?

    init(_ ipam: String, aws: [String: String]? = nil, eni: String? = nil) {
        reg = UnitEC2RegistrationTests().world()
        dir = NSTemporaryDirectory() + "emt-ec2ipam-\(UUID().uuidString)"
        self.ipam = ipam
        self.aws = aws
        if let eni { self.eni = eni }
    }
    deinit { try? FileManager.default.removeItem(atPath: dir) }

    func conf(_ extra: String = "") -> String {
        #"{"cniVersion":"1.1.0","name":"n1","type":"eni-multus","link":"ipvlan","eni":\#(eni),"ipam":{"type":"eni-multus","dataDir":"\#(dir)",\#(ipam)}\#(extra)}"#
    }

    func invocation(_ command: CNICommand, _ cid: String, conf text: String? = nil, args: String? = nil) throws -> Invocation {
        var vars = ["CNI_COMMAND": command.rawValue, "CNI_CONTAINERID": cid, "CNI_NETNS": "/proc/self/ns/net",
                    "CNI_IFNAME": "net1", "CNI_PATH": "/nonexistent"]
        if command == .gc || command == .status { vars["CNI_CONTAINERID"] = nil; vars["CNI_NETNS"] = nil; vars["CNI_IFNAME"] = nil }
        if let args { vars["CNI_ARGS"] = args }
        if let aws { vars.merge(try NodeAgentProcess.pluginVariables(for: aws)) { _, b in b } }
        let stdin = Array((text ?? conf()).utf8)
        var env = PluginEnvironment(variables: vars, stdin: stdin, monotonicNanos: { 0 },
                                    wallClock: { [unowned self] in self.clock }, random: { UInt64.random(in: 0...UInt64.max) })
        let r = reg
        if aws == nil { env.gatewayFactory = { _ in r } }
        let json = try JSON.parse(stdin)
        let conf = try NetConf(json: json, command: command)
        return Invocation(env: env, cni: try CNIEnvironment(vars, command: command), conf: conf, version: .v1_1_0,
                          log: EventLog(path: nil, level: .error, wallClock: { 0 }, base: JSONObject()))
    }

    /// ADD's IPAM half: the ENI selected, addresses acquired (and registered), undo dropped.
    @discardableResult
    func add(_ cid: String, args: String? = nil) throws -> [IPPrefix] {
        let inv = try invocation(.add, cid, args: args).withSelectedENI(drainQueue: true)
        let undo = UndoStack()
        let r = try inv.acquireAddresses(try inv.ipam(), interface: 0, undo: undo)
        undo.commit()
        return r.ips.map(\.address)
    }

    /// ADD that fails: the undo runs, as the driver would.
    func failingAdd(_ cid: String, args: String? = nil) throws -> any Error {
        let inv = try invocation(.add, cid, args: args).withSelectedENI(drainQueue: true)
        let undo = UndoStack()
        do {
            _ = try inv.acquireAddresses(try inv.ipam(), interface: 0, undo: undo)
            undo.commit()
        } catch {
            undo.rollback()
            return error
        }
        throw HarnessError("ADD \(cid) unexpectedly succeeded")
    }

    /// DEL's IPAM half (EC2 release first, then the IPAM record).
    func del(_ cid: String) throws {
        let inv = try invocation(.del, cid)
        inv.releaseRegistration()
        try inv.ipam().del(inv)
    }

    func gc(valid: [String]) throws {
        let list = valid.map { #"{"containerID":"\#($0)","ifname":"net1"}"# }.joined(separator: ",")
        try invocation(.gc, "", conf: conf(#","cni.dev/valid-attachments":[\#(list)]"#)).gc()
    }

    func unavailability() throws -> String? {
        let inv = try invocation(.status, "").withSelectedENI()
        return try inv.ipam().unavailability(inv)
    }

    var multus: ENIDescription { reg.enis["eni-multus"]! }
    func ec2Calls(_ body: () throws -> Void) rethrows -> [String] {
        reg.calls = []
        try body()
        return reg.calls
    }
}
