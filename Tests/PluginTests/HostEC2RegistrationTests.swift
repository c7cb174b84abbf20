#if canImport(Glibc)
import Glibc
#endif
import Foundation
import Testing
@testable import ENIMultusCore
import JSON
import TestSupport

/// EC2 registration end to end against moto + the IMDSv2 emulator + the fault proxy (all on 127.0.0.1).
/// The plugin runs in-process in the test's own netns (where the emulator's loopback is); a veth whose MAC is the
/// moto ENI's MAC stands in for the ENI, moved in as a host device.
@Suite(.tier(), .serialized, .enabled(if: EC2Emulator.isAvailable || Capabilities.isCI))
struct HostEC2RegistrationTests {
    static let emulator = Result { try EC2Emulator() }
}

/// One moto scenario, a veth carrying the multus ENI's MAC in the test's netns, a pod netns, and the harness.
struct EC2World {
    let emu: EC2Emulator
    let h: PluginHarness
    let pod: TestNetns
    let veth: Veth
    let eni: String, primary: String, untagged: String
    let subnet: String, v4: String, v6: String
    var link = "host-device"
    /// Worlds put a veth with the (deterministic) moto ENI MAC into the test process's netns, so two at once would
    /// make that MAC ambiguous: every world, in any suite, holds this process-wide file lock until `close()`.
    let lockFD: Int32

    init(_ emulator: Result<EC2Emulator, any Error>) throws {
        lockFD = open("/tmp/emt-ec2world.lock", O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        _ = flock(lockFD, LOCK_EX)
        var made: [() -> Void] = [{ [lockFD] in _ = Glibc.close(lockFD) }]
        var ok = false
        defer { if !ok { made.reversed().forEach { $0() } } }
        emu = try emulator.get()
        try emu.clearFaults()
        let w = try emu.scenario()
        let enis = try #require(w["enis"] as? [String: [String: Any]])
        let inst = try #require((w["instances"] as? [String: [String: Any]])?["node1"]?["enis"] as? [String: [String: Any]])
        eni = try #require(enis["multus"]?["id"] as? String)
        untagged = try #require(enis["untagged"]?["id"] as? String)
        primary = try #require(inst["primary"]?["id"] as? String)
        let sub = try #require((w["subnets"] as? [String: [String: Any]])?["multus-us-east-1a"])
        subnet = try #require(sub["id"] as? String)
        v4 = try #require(sub["cidr"] as? String)
        v6 = try #require(sub["ipv6Cidr"] as? String)
        let mac = try #require(enis["multus"]?["mac"] as? String)
        let name = uniqueIfName(prefix: "emte")
        let v = try makeVeth(hostName: name, peerName: uniqueIfName(prefix: "emtq"))
        veth = v
        made.append { v.delete() }
        try Shell.check(["ip", "link", "set", name, "down"])
        try Shell.check(["ip", "link", "set", name, "address", mac])
        try Shell.check(["ip", "link", "set", name, "up"])
        let p = try TestNetns(prefix: "emtpod")
        pod = p
        made.append { p.delete() }
        h = try PluginHarness(node: nil)
        try emu.resetCounts()
        ok = true
    }

    func close() {
        h.cleanup()
        pod.delete()
        veth.delete()
        Glibc.close(lockFD)
    }

    func conf(_ selector: String, dual: Bool = true, extra: String = "") -> String {
        let start = v4.replacingOccurrences(of: ".0/24", with: ".200")
        let ranges = dual ? #"[[{"subnet":"\#(v4)","rangeStart":"\#(start)"}],[{"subnet":"\#(v6)"}]]"#
            : #"[[{"subnet":"\#(v4)","rangeStart":"\#(start)"}]]"#
        return #"{"cniVersion":"1.0.0","name":"ec2net","type":"eni-multus","link":"\#(link)","eni":\#(selector),"ec2TimeoutSeconds":20,"ipam":{"type":"eni-multus","ranges":\#(ranges)}\#(extra)}"#
    }
    func run(_ verb: String, _ conf: String, containerID: String = "ec2c1", vars: [String: String] = [:]) throws -> PluginOutput {
        try h.run(verb, conf: conf, containerID: containerID, netns: pod.path,
                  cniArgs: "IgnoreUnknown=1;K8S_POD_NAMESPACE=ns1;K8S_POD_NAME=p1;K8S_POD_UID=u1",
                  extraVars: try emu.pluginEnvironment(emu.environment.merging(vars) { _, b in b }))
    }
    func addresses(of id: String) throws -> [String] {
        let e = try #require(try emu.enis()[id])
        return e.privateIps + e.ipv6s
    }
}

extension HostEC2RegistrationTests {
    typealias World = EC2World

    @Test func addRegistersBothFamiliesAndDelReleasesThem() throws {
        let w = try World(Self.emulator)
        defer { w.close() }
        let add = try w.run("ADD", w.conf(#"{"id":"\#(w.eni)"}"#))
        #expect(add.exitCode == 0, "\(add.stdout)")
        let r = try JSON.parse(add.stdout)
        let v4 = try #require(r["ips"]?[0]?["address"]?.stringValue?.split(separator: "/").first.map(String.init))
        let v6 = try #require(r["ips"]?[1]?["address"]?.stringValue?.split(separator: "/").first.map(String.init))
        #expect(try w.addresses(of: w.eni).contains(v4))
        #expect(try w.addresses(of: w.eni).contains(v6))
        let counts = try w.emu.counts()
        #expect(counts["AssignPrivateIpAddresses"] == 1 && counts["AssignIpv6Addresses"] == 1)
        // The ledger names the pod.
        let ledger = try String(contentsOfFile: "\(w.h.dataDir)/ec2net/ec2/ledger/ec2c1:net1", encoding: .utf8)
        #expect(ledger.contains("eni=\(w.eni)") && ledger.contains("pod=ns1/p1/u1") && ledger.contains("ip=\(v4)"))

        let check = try w.run("CHECK", w.conf(#"{"id":"\#(w.eni)"}"#, extra: #","prevResult":\#(add.stdout)"#))
        #expect(check.exitCode == 0, "\(check.stdout)")

        try w.emu.resetCounts()
        let del = try w.run("DEL", w.conf(#"{"id":"\#(w.eni)"}"#))
        #expect(del.exitCode == 0, "\(del.stdout)")
        #expect(try !w.addresses(of: w.eni).contains(v4))
        #expect(try !w.addresses(of: w.eni).contains(v6))
        let delCounts = try w.emu.counts()
        #expect(delCounts["UnassignPrivateIpAddresses"] == 1 && delCounts["UnassignIpv6Addresses"] == 1)
        #expect(w.h.stateFiles().filter { !$0.hasSuffix("/lock") }.isEmpty, "\(w.h.stateFiles())")
    }

    @Test func delegatedIPAMAddressesAreRegisteredToo() throws {
        try #require(Capabilities.hasReferencePlugins)
        let w = try World(Self.emulator)
        defer { w.close() }
        let start = w.v4.replacingOccurrences(of: ".0/24", with: ".220")
        let conf = #"{"cniVersion":"0.4.0","name":"ec2net","type":"eni-multus","link":"host-device","eni":{"id":"\#(w.eni)"},"ipam":{"type":"host-local","subnet":"\#(w.v4)","rangeStart":"\#(start)","dataDir":"\#(w.h.dataDir)/host-local"}}"#
        let add = try w.run("ADD", conf)
        #expect(add.exitCode == 0, "\(add.stdout)")
        let v4 = try #require(try JSON.parse(add.stdout)["ips"]?[0]?["address"]?.stringValue?.split(separator: "/").first.map(String.init))
        #expect(v4 == String(start))
        #expect(try w.addresses(of: w.eni).contains(v4))
        #expect(try w.run("DEL", conf).exitCode == 0)
        #expect(try !w.addresses(of: w.eni).contains(v4))
    }

    @Test(arguments: ["subnet", "deviceIndex", "tag"])
    func everySelectorFindsTheMultusENI(selector: String) throws {
        let w = try World(Self.emulator)
        defer { w.close() }
        let sel = switch selector {
        case "subnet": #"{"subnetId":"\#(w.subnet)"}"#
        case "deviceIndex": #"{"deviceIndex":1}"#
        default: #"{"tag":{"key":"node.k8s.amazonaws.com/no_manage","value":"true"}}"#
        }
        let add = try w.run("ADD", w.conf(sel, dual: false))
        #expect(add.exitCode == 0, "\(add.stdout)")
        let v4 = try #require(try JSON.parse(add.stdout)["ips"]?[0]?["address"]?.stringValue?.split(separator: "/").first.map(String.init))
        #expect(try w.addresses(of: w.eni).contains(v4))
        #expect(try w.run("DEL", w.conf(sel, dual: false)).exitCode == 0)
        #expect(try !w.addresses(of: w.eni).contains(v4))
    }

    @Test func primaryAndUntaggedENIsAreRefused() throws {
        let w = try World(Self.emulator)
        defer { w.close() }
        let before = try w.emu.enis()
        let primary = try w.run("ADD", w.conf(#"{"id":"\#(w.primary)"}"#, dual: false))
        #expect(try JSON.parse(primary.stdout)["code"]?.int64Value == 7)
        #expect(primary.stdout.contains("primary ENI"))
        let untagged = try w.run("ADD", w.conf(#"{"id":"\#(w.untagged)"}"#, dual: false))
        #expect(try JSON.parse(untagged.stdout)["code"]?.int64Value == 7)
        #expect(untagged.stdout.contains("no_manage=true") && untagged.stdout.contains("VPC CNI would adopt it"))
        #expect(try w.emu.enis() == before)
        #expect(try w.pod.snapshot().contains("net1") == false)
        #expect(w.h.stateFiles().filter { $0.contains("/ips/") || $0.contains("/attachments/") }.isEmpty)
    }

    @Test func throttlingEverySecondCallStillSucceeds() throws {
        let w = try World(Self.emulator)
        defer { w.close() }
        try w.emu.fault(mode: "throttle", every: 2)
        defer { try? w.emu.clearFaults() }
        let add = try w.run("ADD", w.conf(#"{"id":"\#(w.eni)"}"#))
        #expect(add.exitCode == 0, "\(add.stdout)")
        try w.emu.clearFaults()
        #expect(try w.run("DEL", w.conf(#"{"id":"\#(w.eni)"}"#)).exitCode == 0)
    }

    @Test func throttlingEveryCallFailsWithCode11AndLeavesNothing() throws {
        let w = try World(Self.emulator)
        defer { w.close() }
        let before = try w.emu.enis()
        try w.emu.fault(action: "AssignPrivateIpAddresses", mode: "throttle")
        defer { try? w.emu.clearFaults() }
        let podBefore = try w.pod.snapshot()
        let add = try w.run("ADD", w.conf(#"{"id":"\#(w.eni)"}"#), vars: ["AWS_MAX_ATTEMPTS": "3"])
        let e = try JSON.parse(add.stdout)
        #expect(e["code"]?.int64Value == 11, "\(add.stdout)")
        #expect(add.stdout.contains("RequestLimitExceeded"))
        #expect(try w.emu.enis() == before)
        #expect(try w.pod.snapshot() == podBefore)
        #expect(linkInfo(nil, w.veth.hostName) != nil)
        #expect(w.h.stateFiles().filter { $0.contains("/ips/") || $0.contains("/attachments/") || $0.contains("/ledger/") }.isEmpty,
                "\(w.h.stateFiles())")
    }

    @Test func delWithEC2DownSucceedsAndTheReleaseHappensLater() throws {
        let w = try World(Self.emulator)
        defer { w.close() }
        let add = try w.run("ADD", w.conf(#"{"id":"\#(w.eni)"}"#, dual: false))
        #expect(add.exitCode == 0, "\(add.stdout)")
        let v4 = try #require(try JSON.parse(add.stdout)["ips"]?[0]?["address"]?.stringValue?.split(separator: "/").first.map(String.init))
        try w.emu.fault(mode: "drop")
        let del = try w.run("DEL", w.conf(#"{"id":"\#(w.eni)"}"#, dual: false), vars: ["AWS_MAX_ATTEMPTS": "2"])
        #expect(del.exitCode == 0, "\(del.stdout)")
        #expect(try w.addresses(of: w.eni).contains(v4), "EC2 was down: the address is still assigned")
        let queue = (try? FileManager.default.contentsOfDirectory(atPath: "\(w.h.dataDir)/ec2net/ec2/queue")) ?? []
        #expect(queue.count == 1)
        // EC2 is back: the next invocation on this node (a GC here) drains the queue.
        try w.emu.clearFaults()
        let gc = try w.h.run("GC", conf: w.conf(#"{"id":"\#(w.eni)"}"#, dual: false, extra: #","cni.dev/valid-attachments":[]"#)
                                .replacingOccurrences(of: #""cniVersion":"1.0.0""#, with: #""cniVersion":"1.1.0""#),
                             containerID: "", netns: "", ifname: "", extraVars: try w.emu.pluginEnvironment())
        #expect(gc.exitCode == 0, "\(gc.stdout)")
        #expect(try !w.addresses(of: w.eni).contains(v4))
        #expect(((try? FileManager.default.contentsOfDirectory(atPath: "\(w.h.dataDir)/ec2net/ec2/queue")) ?? []).isEmpty)
    }

    @Test func credentialsNeverReachOutputOrLog() throws {
        let w = try World(Self.emulator)
        defer { w.close() }
        let secret = "sEcReT-\(UUID().uuidString)"
        let token = "ToKeN-\(UUID().uuidString)"
        let log = "\(w.h.dataDir)/plugin.log"
        let conf = w.conf(#"{"id":"\#(w.eni)"}"#, dual: false, extra: #","logFile":"\#(log)","logLevel":"debug""#)
        let vars = ["AWS_SECRET_ACCESS_KEY": secret, "AWS_SESSION_TOKEN": token]
        var outputs = [try w.run("ADD", conf, vars: vars), try w.run("DEL", conf, vars: vars)]
        try w.emu.fault(mode: "error", status: 403, code: "AuthFailure", message: "denied \(secret)")
        outputs.append(try w.run("ADD", conf, containerID: "ec2c2", vars: vars))
        try w.emu.clearFaults()
        #expect(outputs[0].exitCode == 0 && outputs[2].exitCode != 0)
        let logText = (try? String(contentsOfFile: log, encoding: .utf8)) ?? ""
        #expect(!logText.isEmpty)
        for text in outputs.flatMap({ [$0.stdout, $0.stderr] }) + [logText] {
            #expect(!text.contains(secret) && !text.contains(token))
        }
    }
}
