import Foundation
import Testing
import CNI
@testable import ENIMultusCore
import IPAM
import JSON
import TestSupport
import NodeState

/// host-device with a real NIC (UML's eth0): when the pod netns is destroyed the kernel returns the device to the
/// root netns, possibly under another name; DEL must find it by alias and restore it.
@Suite(.tier(also: [.nic]), .serialized)
struct KernelHostDeviceNICTests {
    @Test func delAfterNetnsDeletionRestoresTheRealNIC() throws {
        let nic = try #require(Capabilities.nic)
        let h = try PluginHarness(node: nil)
        defer { h.cleanup() }
        let pod = try TestNetns(prefix: "emtpod")
        let mac = try #require(linkInfo(nil, nic)?["address"] as? String)
        let conf = #"{"cniVersion":"1.0.0","name":"nicnet","type":"eni-multus","link":"host-device","device":"\#(nic)","ipam":{"type":"eni-multus","subnet":"10.55.0.0/24"}}"#
        let add = try h.run("ADD", conf: conf, netns: pod.path, ifname: "net1")
        #expect(add.exitCode == 0, "\(add.stdout)")
        #expect(linkInfo(pod, "net1")?["address"] as? String == mac)
        let podPath = pod.path
        pod.delete()
        // The kernel hands the NIC back to the root netns asynchronously, under the name it had in the pod.
        var back: [String: Any]?
        for _ in 0..<50 {
            back = ((try? ipJSON(netns: nil as String?, ["link", "show"])) ?? []).first { ($0["address"] as? String) == mac }
            if back != nil { break }
            Thread.sleep(forTimeInterval: 0.1)
        }
        let returned = try #require(back)
        #expect(returned["ifname"] as? String != nic)
        #expect(returned["ifalias"] as? String == nic)

        let del = try h.run("DEL", conf: conf, netns: podPath, ifname: "net1")
        #expect(del.exitCode == 0, "\(del.stdout)")
        let restored = try #require(linkInfo(nil, nic))
        #expect(restored["address"] as? String == mac)
        #expect(restored["ifalias"] == nil || restored["ifalias"] as? String == "")
        #expect(h.stateFiles().isEmpty)
    }
}

/// host-device with a real NIC (UML's eth0): GC brings home a NIC whose pod netns died; kernelpath selects it.
@Suite(.tier(also: [.nic]), .serialized)
struct KernelHostDeviceNICGCTests {
    @Test func gcRestoresANICReturnedByTheKernel() throws {
        let nic = try #require(Capabilities.nic)
        let h = try PluginHarness(node: nil)
        defer { h.cleanup() }
        let pod = try TestNetns(prefix: "emtpod")
        let mac = try #require(linkInfo(nil, nic)?["address"] as? String)
        let conf = #"{"cniVersion":"1.1.0","name":"revnic","type":"eni-multus","link":"host-device","device":"\#(nic)","ipam":{"type":"eni-multus","subnet":"10.56.0.0/24"}}"#
        let add = try h.run("ADD", conf: conf, containerID: "gc1", netns: pod.path, ifname: "net1")
        #expect(add.exitCode == 0, "\(add.stdout)")
        pod.delete()
        let back = waitUntil(timeout: 5) {
            ((try? ipJSON(netns: nil as String?, ["link", "show"])) ?? []).contains { ($0["address"] as? String) == mac }
        }
        #expect(back)
        let gcConf = #"{"cniVersion":"1.1.0","name":"revnic","type":"eni-multus","link":"host-device","device":"\#(nic)","ipam":{"type":"eni-multus","subnet":"10.56.0.0/24"},"cni.dev/valid-attachments":[]}"#
        let gc = try h.run("GC", conf: gcConf, netns: "")
        #expect(gc.exitCode == 0, "\(gc.stdout)")
        let restored = try #require(linkInfo(nil, nic), "GC must restore \(nic)")
        #expect(restored["address"] as? String == mac)
        #expect(restored["ifalias"] == nil || restored["ifalias"] as? String == "")
        #expect(h.stateFiles().isEmpty)
    }

    @Test func kernelpathSelectsTheNIC() throws {
        let nic = try #require(Capabilities.nic)
        let h = try PluginHarness(node: nil)
        defer { h.cleanup() }
        let pod = try TestNetns(prefix: "emtpod")
        defer { pod.delete() }
        // /sys/class/net/<nic> -> ../../devices/<bus path>/net/<nic>: the kernelpath is the device directory.
        let real = try #require(URL(fileURLWithPath: "/sys/class/net/\(nic)").resolvingSymlinksInPath().path as String?)
        let devicePath = ((real as NSString).deletingLastPathComponent as NSString).deletingLastPathComponent
        try #require(devicePath.hasPrefix("/sys/devices/"), "\(real)")
        let conf = #"{"cniVersion":"1.0.0","name":"revnic","type":"eni-multus","link":"host-device","kernelpath":"\#(devicePath)"}"#
        let add = try h.run("ADD", conf: conf, netns: pod.path)
        #expect(add.exitCode == 0, "\(add.stdout)")
        #expect(linkInfo(pod, "net1")?["ifalias"] as? String == nic)
        #expect(try h.run("DEL", conf: conf, netns: pod.path).exitCode == 0)
        #expect(linkInfo(nil, nic) != nil)
    }
}
