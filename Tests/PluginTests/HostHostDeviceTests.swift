import Foundation
import Testing
import CNI
import ENIMultusCore
import JSON
import TestSupport

/// host-device on the host kernel: a veth end (or a macvlan) in a simulated node netns stands in for the ENI.
@Suite(.tier(), .serialized)
struct HostHostDeviceTests {
    static func conf(_ extra: String = "", device: String, version: String = "1.1.0", ipam: String? = nil) -> String {
        let ipamJSON = ipam ?? #"{"type":"eni-multus","subnet":"10.77.0.0/24","routes":[{"dst":"10.78.0.0/16"}]}"#
        return #"{"cniVersion":"\#(version)","name":"hdnet","type":"eni-multus","link":"host-device","device":"\#(device)","ipam":\#(ipamJSON)\#(extra)}"#
    }

    typealias Fixture = NodeFixture

    @Test func addMovesDeviceInAndDelReturnsIt() throws {
        let f = try Fixture()
        defer { f.close() }
        let mac = linkInfo(f.node, "eni0")?["address"] as? String
        let nodeBefore = try f.node.snapshot()

        let add = try f.h.run("ADD", conf: Self.conf(device: "eni0"), netns: f.pod.path)
        #expect(add.exitCode == 0, "\(add.stdout)")
        let r = try parseJSON(add.stdout)
        #expect(r["cniVersion"]?.stringValue == "1.1.0")
        #expect(r["interfaces"]?[0]?["name"]?.stringValue == "net1")
        #expect(r["interfaces"]?[0]?["mac"]?.stringValue == mac)
        #expect(r["interfaces"]?[0]?["sandbox"]?.stringValue == f.pod.path)
        #expect(r["interfaces"]?[0]?["mtu"]?.int64Value == 1500)
        #expect(r["ips"]?[0]?["address"]?.stringValue == "10.77.0.2/24")
        #expect(r["ips"]?[0]?["gateway"]?.stringValue == "10.77.0.1")
        #expect(r["ips"]?[0]?["interface"]?.int64Value == 0)
        #expect(r["ips"]?[0]?["version"] == nil)
        #expect(r["routes"]?[0]?["dst"]?.stringValue == "10.78.0.0/16")

        // In the pod: renamed, alias = original name, up, address and route present.
        let inPod = try #require(linkInfo(f.pod, "net1"))
        #expect(inPod["ifalias"] as? String == "eni0")
        #expect((inPod["flags"] as? [String])?.contains("UP") == true)
        #expect(inPod["address"] as? String == mac)
        #expect(addresses(f.pod, "net1") == ["10.77.0.2/24"])
        #expect(routes(f.pod).contains("10.78.0.0/16 via 10.77.0.1 dev net1"))
        #expect(linkInfo(f.node, "eni0") == nil)
        #expect(f.h.stateFiles() == ["hdnet/attachments/ctr1:net1", "hdnet/ips/10.77.0.2", "hdnet/links/ctr1:net1"])

        // CHECK with prevResult passes.
        let withPrev = Self.conf(#","prevResult":\#(add.stdout)"#, device: "eni0")
        let check = try f.h.run("CHECK", conf: withPrev, netns: f.pod.path)
        #expect(check.exitCode == 0, "\(check.stdout)")
        #expect(check.stdout.isEmpty)

        // DEL: back home, original name, alias cleared, down; nothing left in the store.
        let del = try f.h.run("DEL", conf: withPrev, netns: f.pod.path)
        #expect(del.exitCode == 0, "\(del.stdout)")
        #expect(del.stdout.isEmpty)
        let home = try #require(linkInfo(f.node, "eni0"))
        #expect(home["ifalias"] == nil || (home["ifalias"] as? String) == "")
        #expect((home["flags"] as? [String])?.contains("UP") == false)
        #expect(linkInfo(f.pod, "net1") == nil)
        #expect(f.h.stateFiles().isEmpty)
        #expect(f.h.coolingFiles() == ["hdnet/cooling/10.77.0.2"], "the released address cools down before reuse")
        // The node is as before, apart from the device being down now (it was up before ADD).
        try Shell.check(["ip", "-n", f.node.name, "link", "set", "eni0", "up"])
        #expect(try f.node.snapshot() == nodeBefore)

        // DEL is idempotent.
        #expect(try f.h.run("DEL", conf: withPrev, netns: f.pod.path).exitCode == 0)
        #expect(try f.h.run("DEL", conf: Self.conf(device: "eni0"), netns: "").exitCode == 0)
    }

    @Test func checkFailsWhenAnAddressIsMissing() throws {
        let f = try Fixture()
        defer { f.close() }
        let add = try f.h.run("ADD", conf: Self.conf(device: "eni0"), netns: f.pod.path)
        #expect(add.exitCode == 0)
        try f.pod.ip("addr", "del", "10.77.0.2/24", "dev", "net1")
        let check = try f.h.run("CHECK", conf: Self.conf(#","prevResult":\#(add.stdout)"#, device: "eni0"), netns: f.pod.path)
        #expect(check.exitCode != 0)
        let e = try parseJSON(check.stdout)
        #expect(e["code"]?.int64Value == 105)
        #expect(e["msg"]?.stringValue?.contains("10.77.0.2/24") == true)
        #expect(try f.h.run("DEL", conf: Self.conf(device: "eni0"), netns: f.pod.path).exitCode == 0)
    }

    @Test func selectsByHardwareAddress() throws {
        let f = try Fixture()
        defer { f.close() }
        let mac = try #require(linkInfo(f.node, "eni0")?["address"] as? String)
        let conf = #"{"cniVersion":"1.0.0","name":"hdnet","type":"eni-multus","link":"host-device","hwaddr":"\#(mac.uppercased())"}"#
        let add = try f.h.run("ADD", conf: conf, netns: f.pod.path)
        #expect(add.exitCode == 0, "\(add.stdout)")
        #expect(linkInfo(f.pod, "net1")?["address"] as? String == mac)
        #expect(try f.h.run("DEL", conf: conf, netns: f.pod.path).exitCode == 0)
        #expect(linkInfo(f.node, "eni0") != nil)
    }

    @Test func macvlanStandInMovesInAndOut() throws {
        let f = try Fixture()
        defer { f.close() }
        try f.node.ip("link", "add", "link", "eni0peer", "name", "mveni", "type", "macvlan", "mode", "bridge")
        let add = try f.h.run("ADD", conf: Self.conf(device: "mveni"), netns: f.pod.path, ifname: "eth1")
        #expect(add.exitCode == 0, "\(add.stdout)")
        #expect((linkInfo(f.pod, "eth1")?["linkinfo"] as? [String: Any])?["info_kind"] as? String == "macvlan")
        #expect(try f.h.run("DEL", conf: Self.conf(device: "mveni"), netns: f.pod.path, ifname: "eth1").exitCode == 0)
        #expect(linkInfo(f.node, "mveni") != nil)
        #expect(f.h.stateFiles().isEmpty)
    }

    @Test func refusesThePrimaryInterfaceUnlessAllowed() throws {
        let f = try Fixture()
        defer { f.close() }
        try f.node.ip("addr", "add", "192.0.2.10/24", "dev", "eni0")
        try f.node.ip("route", "add", "default", "via", "192.0.2.1", "dev", "eni0")
        let before = try f.node.snapshot()
        let add = try f.h.run("ADD", conf: Self.conf(device: "eni0"), netns: f.pod.path)
        #expect(add.exitCode != 0)
        let e = try parseJSON(add.stdout)
        #expect(e["code"]?.int64Value == 7)
        #expect(e["msg"]?.stringValue?.contains("primary interface") == true)
        #expect(e["msg"]?.stringValue?.contains("eni0") == true)
        #expect(try f.node.snapshot() == before)
        #expect(f.h.stateFiles().isEmpty)

        let allowed = try f.h.run("ADD", conf: Self.conf(#","allowPrimary":true"#, device: "eni0"), netns: f.pod.path)
        #expect(allowed.exitCode == 0, "\(allowed.stdout)")
        #expect(try f.h.run("DEL", conf: Self.conf(#","allowPrimary":true"#, device: "eni0"), netns: f.pod.path).exitCode == 0)
    }

    @Test func existingIfnameIsAnErrorAndNothingIsCreated() throws {
        let f = try Fixture()
        defer { f.close() }
        try f.pod.ip("link", "add", "net1", "type", "veth", "peer", "name", "other")
        let nodeBefore = try f.node.snapshot()
        let podBefore = try f.pod.snapshot()
        let add = try f.h.run("ADD", conf: Self.conf(device: "eni0"), netns: f.pod.path)
        #expect(add.exitCode != 0)
        let e = try parseJSON(add.stdout)
        #expect(e["code"]?.int64Value == 4)
        #expect(e["msg"]?.stringValue?.contains("net1") == true)
        #expect(try f.node.snapshot() == nodeBefore)
        #expect(try f.pod.snapshot() == podBefore)
        #expect(f.h.stateFiles().isEmpty)
    }

    @Test func aRequestedMACIsRefusedBeforeAnythingChanges() throws {
        let f = try Fixture()
        defer { f.close() }
        let nodeBefore = try f.node.snapshot(), podBefore = try f.pod.snapshot()
        let viaArgs = try f.h.run("ADD", conf: Self.conf(device: "eni0"), netns: f.pod.path,
                                  cniArgs: "IgnoreUnknown=1;MAC=02:00:00:00:00:99")
        let viaRuntime = try f.h.run("ADD", conf: Self.conf(#","runtimeConfig":{"mac":"02:00:00:00:00:99"}"#, device: "eni0"),
                                     netns: f.pod.path)
        for out in [viaArgs, viaRuntime] {
            let e = try parseJSON(out.stdout)
            #expect(e["code"]?.int64Value == 2)
            #expect(e["msg"]?.stringValue?.contains("02:00:00:00:00:99") == true)
        }
        #expect(try f.node.snapshot() == nodeBefore)
        #expect(try f.pod.snapshot() == podBefore)
        #expect(f.h.stateFiles().isEmpty)
    }

    @Test func failureAfterTheMoveRollsEverythingBack() throws {
        let f = try Fixture()
        defer { f.close() }
        // A route whose gateway is not on any connected network: the kernel refuses it after the device moved.
        let ipam = #"{"type":"eni-multus","subnet":"10.77.0.0/24","routes":[{"dst":"10.78.0.0/16","gw":"10.99.0.1"}]}"#
        let nodeBefore = try f.node.snapshot()
        let podBefore = try f.pod.snapshot()
        let add = try f.h.run("ADD", conf: Self.conf(device: "eni0", ipam: ipam), netns: f.pod.path)
        #expect(add.exitCode != 0)
        let e = try parseJSON(add.stdout)
        #expect(e["code"]?.int64Value == 100)
        #expect(e["msg"]?.stringValue?.contains("10.78.0.0/16") == true)
        try f.node.ip("link", "set", "eni0", "up")
        #expect(try f.node.snapshot() == nodeBefore)
        #expect(try f.pod.snapshot() == podBefore)
        #expect(f.h.allStateFiles().isEmpty, "a rolled-back ADD leaves not even a cooling record: \(f.h.allStateFiles())")
    }

    @Test func delAfterThePodNetnsIsGoneReleasesEverything() throws {
        let f = try Fixture()
        defer { f.close() }
        let add = try f.h.run("ADD", conf: Self.conf(device: "eni0"), netns: f.pod.path)
        #expect(add.exitCode == 0)
        let podPath = f.pod.path
        f.pod.delete()  // a veth dies with its netns (a real NIC returns: see the Kernel tier)
        let del = try f.h.run("DEL", conf: Self.conf(device: "eni0"), netns: podPath)
        #expect(del.exitCode == 0, "\(del.stdout)")
        #expect(f.h.stateFiles().isEmpty)
        // A repeated DEL, now with CNI_NETNS empty, still succeeds.
        #expect(try f.h.run("DEL", conf: Self.conf(device: "eni0"), netns: "").exitCode == 0)
    }

    @Test func delegatedIPAMRunsTheReferenceHostLocal() throws {
        try #require(Capabilities.hasReferencePlugins)
        let f = try Fixture()
        defer { f.close() }
        let ipam = #"{"type":"host-local","subnet":"10.79.0.0/24","dataDir":"\#(f.h.dataDir)/host-local"}"#
        let conf = Self.conf(device: "eni0", version: "0.4.0", ipam: ipam)
        let add = try f.h.run("ADD", conf: conf, netns: f.pod.path)
        #expect(add.exitCode == 0, "\(add.stdout)")
        let r = try parseJSON(add.stdout)
        #expect(r["ips"]?[0]?["address"]?.stringValue == "10.79.0.2/24")
        #expect(r["ips"]?[0]?["version"]?.stringValue == "4")
        #expect(addresses(f.pod, "net1") == ["10.79.0.2/24"])
        #expect(FileManager.default.fileExists(atPath: "\(f.h.dataDir)/host-local/hdnet/10.79.0.2"))
        let del = try f.h.run("DEL", conf: conf, netns: f.pod.path)
        #expect(del.exitCode == 0, "\(del.stdout)")
        #expect(!FileManager.default.fileExists(atPath: "\(f.h.dataDir)/host-local/hdnet/10.79.0.2"))
    }

    @Test func pciSelectionAndDPDKThroughAFakeSysfs() throws {
        let f = try Fixture()
        defer { f.close() }
        let sys = try makeTempDir("emt-sys")
        defer { _ = Shell.run(["rm", "-rf", sys]) }
        let dev = "\(sys)/bus/pci/devices/0000:00:06.0"
        try FileManager.default.createDirectory(atPath: "\(dev)/net/eni0", withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: "\(sys)/bus/pci/drivers/ena", withIntermediateDirectories: true)
        try FileManager.default.createSymbolicLink(atPath: "\(dev)/driver", withDestinationPath: "../../../bus/pci/drivers/ena")
        let conf = #"{"cniVersion":"1.1.0","name":"hdnet","type":"eni-multus","link":"host-device","pciBusID":"0000:00:06.0"}"#
        let add = try f.h.run("ADD", conf: conf, netns: f.pod.path, sys: sys)
        #expect(add.exitCode == 0, "\(add.stdout)")
        #expect(try parseJSON(add.stdout)["interfaces"]?[0]?["pciID"]?.stringValue == "0000:00:06.0")
        #expect(linkInfo(f.pod, "net1") != nil)
        #expect(try f.h.run("DEL", conf: conf, netns: f.pod.path, sys: sys).exitCode == 0)
        #expect(linkInfo(f.node, "eni0") != nil)

        // The same device bound to vfio-pci: nothing moves, the result has no MAC.
        try FileManager.default.removeItem(atPath: "\(dev)/driver")
        try FileManager.default.createSymbolicLink(atPath: "\(dev)/driver", withDestinationPath: "../../../bus/pci/drivers/vfio-pci")
        let dpdk = try f.h.run("ADD", conf: conf, containerID: "ctr9", netns: f.pod.path, sys: sys)
        #expect(dpdk.exitCode == 0, "\(dpdk.stdout)")
        let r = try parseJSON(dpdk.stdout)
        #expect(r["interfaces"]?[0]?["mac"] == nil)
        #expect(r["interfaces"]?[0]?["pciID"]?.stringValue == "0000:00:06.0")
        #expect(linkInfo(f.node, "eni0") != nil)
        #expect(linkInfo(f.pod, "net1") == nil)
    }

    @Test func builtBinaryEndToEnd() throws {
        let f = try Fixture()
        defer { f.close() }
        let env = ["CNI_COMMAND": "ADD", "CNI_CONTAINERID": "bin1", "CNI_NETNS": f.pod.path, "CNI_IFNAME": "net1",
                   "CNI_PATH": "/usr/lib/cni", "PATH": "/usr/sbin:/usr/bin:/sbin:/bin"]
        let conf = Self.conf(device: "eni0", version: "0.3.1",
                             ipam: #"{"type":"eni-multus","subnet":"10.77.0.0/24","dataDir":"\#(f.h.dataDir)"}"#)
        let add = f.node.exec([pluginBinary], stdin: Array(conf.utf8), env: env)
        #expect(add.status == 0, "\(add.stdout) \(add.stderr)")
        let r = try parseJSON(add.stdout)
        #expect(r["cniVersion"]?.stringValue == "0.3.1")
        #expect(r["ips"]?[0]?["version"]?.stringValue == "4")
        #expect(addresses(f.pod, "net1") == ["10.77.0.2/24"])
        var checkEnv = env
        checkEnv["CNI_COMMAND"] = "DEL"
        let del = f.node.exec([pluginBinary], stdin: Array(conf.utf8), env: checkEnv)
        #expect(del.status == 0, "\(del.stdout) \(del.stderr)")
        #expect(linkInfo(f.node, "eni0") != nil)

        var bad = env
        bad["CNI_IFNAME"] = "this-name-is-too-long"
        let err = f.node.exec([pluginBinary], stdin: Array(conf.utf8), env: bad)
        #expect(err.status != 0)
        #expect(try parseJSON(err.stdout)["code"]?.int64Value == 4)
        #expect(err.stderr.contains("CNI_IFNAME"))
    }
}
