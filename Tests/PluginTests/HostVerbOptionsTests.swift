#if canImport(Glibc)
import Glibc
#endif
import Foundation
import Testing
import CNI
import ENIMultusCore
import JSON
import TestSupport

/// A fake delegated IPAM plugin in its own CNI_PATH directory: logs "VERB containerID ifname" per call to `calls`,
/// answers ADD with `result`, everything else with success.
struct FakeDelegatedIPAM {
    let dir: String
    var calls: [String] {
        ((try? String(contentsOfFile: "\(dir)/calls", encoding: .utf8)) ?? "").split(separator: "\n").map(String.init)
    }
    init(result: String) throws {
        dir = try makeTempDir("emt-fakeipam")
        let script = """
        #!/bin/sh
        cat > "\(dir)/stdin.$CNI_COMMAND"
        echo "$CNI_COMMAND $CNI_CONTAINERID $CNI_IFNAME" >> "\(dir)/calls"
        if [ "$CNI_COMMAND" = ADD ]; then
        cat <<'EOF'
        \(result)
        EOF
        fi
        exit 0

        """
        try script.write(toFile: "\(dir)/revipam", atomically: true, encoding: .utf8)
        chmod("\(dir)/revipam", 0o755)
    }
    func cleanup() { _ = Shell.run(["rm", "-rf", dir]) }
}

/// The verbs with options on the host kernel: delegated IPAM through ADD/CHECK/DEL and rollback, GC of host-device
/// records, runtimeConfig.deviceID precedence, host-device MTU, the binary's range-exhausted error.
@Suite(.tier(), .serialized)
struct HostVerbOptionsTests {
    typealias Fixture = NodeFixture

    static func hd(_ extra: String = "", version: String = "1.1.0", ipam: String) -> String {
        #"{"cniVersion":"\#(version)","name":"revnet","type":"eni-multus","link":"host-device","device":"eni0","ipam":\#(ipam)\#(extra)}"#
    }

    @Test func delegatedIPAMIsCalledForAddCheckDelAndReleasedOnRollback() throws {
        let f = try Fixture()
        defer { f.close() }
        // Good result: ADD, CHECK, DEL each reach the delegate with the same stdin.
        let good = try FakeDelegatedIPAM(result: #"{"cniVersion":"1.0.0","ips":[{"address":"10.81.0.5/24","gateway":"10.81.0.1"}],"routes":[{"dst":"10.82.0.0/16"}]}"#)
        defer { good.cleanup() }
        let conf = Self.hd(version: "1.0.0", ipam: #"{"type":"revipam","x":1}"#)
        let add = try f.h.run("ADD", conf: conf, netns: f.pod.path, cniPath: "/nonexistent:\(good.dir)")
        #expect(add.exitCode == 0, "\(add.stdout)")
        #expect(addresses(f.pod, "net1") == ["10.81.0.5/24"])
        #expect(routes(f.pod).contains("10.82.0.0/16 via 10.81.0.1 dev net1"))
        let withPrev = Self.hd(#","prevResult":\#(add.stdout)"#, version: "1.0.0", ipam: #"{"type":"revipam","x":1}"#)
        let check = try f.h.run("CHECK", conf: withPrev, netns: f.pod.path, cniPath: good.dir)
        #expect(check.exitCode == 0, "\(check.stdout)")
        let del = try f.h.run("DEL", conf: withPrev, netns: f.pod.path, cniPath: good.dir)
        #expect(del.exitCode == 0, "\(del.stdout)")
        #expect(good.calls == ["ADD ctr1 net1", "CHECK ctr1 net1", "DEL ctr1 net1"])
        #expect(try String(contentsOfFile: "\(good.dir)/stdin.ADD", encoding: .utf8) == conf)

        // A result whose route cannot be installed: everything is undone, including the delegate's reservation.
        let bad = try FakeDelegatedIPAM(result: #"{"cniVersion":"1.0.0","ips":[{"address":"10.81.0.6/24","gateway":"10.81.0.1"}],"routes":[{"dst":"10.82.0.0/16","gw":"10.99.0.1"}]}"#)
        defer { bad.cleanup() }
        try f.node.ip("link", "set", "eni0", "down")
        let nodeBefore = try f.node.snapshot(), podBefore = try f.pod.snapshot()
        let failed = try f.h.run("ADD", conf: Self.hd(version: "1.0.0", ipam: #"{"type":"revipam"}"#), containerID: "ctr2",
                                 netns: f.pod.path, cniPath: bad.dir)
        #expect(failed.exitCode != 0)
        #expect(try parseJSON(failed.stdout)["code"]?.int64Value == 100)
        #expect(bad.calls == ["ADD ctr2 net1", "DEL ctr2 net1"], "the delegate's DEL must run on rollback")
        #expect(try f.node.snapshot() == nodeBefore)
        #expect(try f.pod.snapshot() == podBefore)
        #expect(f.h.stateFiles().isEmpty)
    }

    /// GC in-process with a host-device record: the device came back to the node netns under its pod name (as the
    /// kernel does when a pod netns dies); GC with the attachment valid leaves it; GC without it restores it.
    @Test func gcReturnsAHostDeviceOfAnInvalidAttachment() throws {
        let f = try Fixture()
        defer { f.close() }
        let ipam = #"{"type":"eni-multus","subnet":"10.83.0.0/24"}"#
        let conf = Self.hd(ipam: ipam)
        let mac = try #require(linkInfo(f.node, "eni0")?["address"] as? String)
        let add = try f.h.run("ADD", conf: conf, netns: f.pod.path)
        #expect(add.exitCode == 0, "\(add.stdout)")
        // Simulate the kernel handing the device back under the name it had in the pod.
        try f.pod.ip("link", "set", "net1", "netns", f.node.name)
        #expect(linkInfo(f.node, "net1")?["ifalias"] as? String == "eni0")

        let keep = Self.hd(#","cni.dev/valid-attachments":[{"containerID":"ctr1","ifname":"net1"}]"#, ipam: ipam)
        let gc1 = try f.h.run("GC", conf: keep, netns: "")
        #expect(gc1.exitCode == 0 && gc1.stdout.isEmpty, "\(gc1.stdout)")
        #expect(linkInfo(f.node, "net1") != nil)
        #expect(f.h.stateFiles() == ["revnet/attachments/ctr1:net1", "revnet/ips/10.83.0.2", "revnet/links/ctr1:net1"])

        let drop = Self.hd(#","cni.dev/valid-attachments":[{"containerID":"other","ifname":"net1"}]"#, ipam: ipam)
        let gc2 = try f.h.run("GC", conf: drop, netns: "")
        #expect(gc2.exitCode == 0 && gc2.stdout.isEmpty, "\(gc2.stdout)")
        let home = try #require(linkInfo(f.node, "eni0"), "GC must restore the original name")
        #expect(home["address"] as? String == mac)
        #expect(home["ifalias"] == nil || (home["ifalias"] as? String) == "")
        #expect((home["flags"] as? [String])?.contains("UP") == false)
        #expect(linkInfo(f.node, "net1") == nil)
        #expect(f.h.stateFiles().isEmpty)
        // A later DEL of the collected attachment is a quiet success.
        #expect(try f.h.run("DEL", conf: conf, netns: f.pod.path).exitCode == 0)
    }

    /// runtimeConfig.deviceID (a device plugin's PCI address) wins over the config's own selector.
    @Test func runtimeDeviceIDTakesPrecedence() throws {
        let f = try Fixture()
        defer { f.close() }
        let sys = try makeTempDir("emt-sys")
        defer { _ = Shell.run(["rm", "-rf", sys]) }
        let dev = "\(sys)/bus/pci/devices/0000:00:07.0"
        try FileManager.default.createDirectory(atPath: "\(dev)/net/eni0", withIntermediateDirectories: true)
        let conf = #"{"cniVersion":"1.1.0","name":"revnet","type":"eni-multus","link":"host-device","device":"emtnope0","runtimeConfig":{"deviceID":"0000:00:07.0"}}"#
        let add = try f.h.run("ADD", conf: conf, netns: f.pod.path, sys: sys)
        #expect(add.exitCode == 0, "\(add.stdout)")
        #expect(try parseJSON(add.stdout)["interfaces"]?[0]?["pciID"]?.stringValue == "0000:00:07.0")
        #expect(linkInfo(f.pod, "net1")?["ifalias"] as? String == "eni0")
        #expect(try f.h.run("DEL", conf: conf, netns: f.pod.path, sys: sys).exitCode == 0)
        #expect(linkInfo(f.node, "eni0") != nil)
        // An unknown deviceID is a code-7 error naming the field, and nothing moves.
        let bad = #"{"cniVersion":"1.1.0","name":"revnet","type":"eni-multus","link":"host-device","device":"eni0","runtimeConfig":{"deviceID":"0000:00:08.0"}}"#
        let e = try f.h.run("ADD", conf: bad, netns: f.pod.path, sys: sys)
        #expect(try parseJSON(e.stdout)["code"]?.int64Value == 7)
        #expect(try parseJSON(e.stdout)["msg"]?.stringValue?.contains("runtimeConfig.deviceID") == true)
        #expect(linkInfo(f.node, "eni0") != nil)
    }

    @Test func hostDeviceMTUIsApplied() throws {
        let f = try Fixture()
        defer { f.close() }
        let conf = Self.hd(#","mtu":1400"#, ipam: #"{"type":"eni-multus","subnet":"10.84.0.0/24"}"#)
        let add = try f.h.run("ADD", conf: conf, netns: f.pod.path)
        #expect(add.exitCode == 0, "\(add.stdout)")
        #expect(linkInfo(f.pod, "net1")?["mtu"] as? Int == 1400)
        #expect(try parseJSON(add.stdout)["interfaces"]?[0]?["mtu"]?.int64Value == 1400)
        #expect(try f.h.run("DEL", conf: conf, netns: f.pod.path).exitCode == 0)
    }

    /// The binary, end to end: an exhausted range on ADD is exit 1 with a code-102 CNI error on stdout, and the
    /// device is not left in the pod.
    @Test func binaryRangeExhaustedIsAJSONError() throws {
        let f = try Fixture()
        defer { f.close() }
        let pod2 = try TestNetns(prefix: "emtpod")
        defer { pod2.delete() }
        try makeVeth(hostName: "eni1", peerName: "eni1peer", hostNetns: f.node)
        let ipam = #"{"type":"eni-multus","subnet":"10.85.0.0/30","dataDir":"\#(f.h.dataDir)"}"#
        func env(_ id: String, _ netns: String) -> [String: String] {
            ["CNI_COMMAND": "ADD", "CNI_CONTAINERID": id, "CNI_NETNS": netns, "CNI_IFNAME": "net1",
             "CNI_PATH": "/usr/lib/cni", "PATH": "/usr/sbin:/usr/bin:/sbin:/bin"]
        }
        let c1 = #"{"cniVersion":"0.4.0","name":"revnet","type":"eni-multus","link":"host-device","device":"eni0","ipam":\#(ipam)}"#
        let c2 = #"{"cniVersion":"0.4.0","name":"revnet","type":"eni-multus","link":"host-device","device":"eni1","ipam":\#(ipam)}"#
        let ok = f.node.exec([pluginBinary], stdin: Array(c1.utf8), env: env("b1", f.pod.path))
        #expect(ok.status == 0, "\(ok.stdout) \(ok.stderr)")
        let pod2Before = try pod2.snapshot()
        let r = f.node.exec([pluginBinary], stdin: Array(c2.utf8), env: env("b2", pod2.path))
        #expect(r.status == 1)
        let o = try #require(try JSON.parse(r.stdout).objectValue, "\(r.stdout)")
        #expect(o["cniVersion"]?.stringValue == "0.4.0")
        #expect(o["code"]?.int64Value == 102)
        #expect(o["msg"]?.stringValue?.isEmpty == false)
        #expect(r.stderr.hasPrefix("eni-multus: "))
        #expect(try pod2.snapshot() == pod2Before)
        #expect(linkInfo(f.node, "eni1") != nil)
    }
}
