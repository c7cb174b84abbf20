import Foundation
import Testing
@testable import ENIMultusCore
import JSON
import NetTypes
import Netlink
import TestSupport

/// The host-device undo when ADD fails after its one-message move (netns + name + alias): the kernel may have
/// moved the device and then refused the rename (it sits in the pod under its own name) or the alias (renamed, no
/// alias), or done everything. Whatever step failed, it must come home under its name, without alias; a device of
/// the pod that only shares a name with it stays where it is.
@Suite(.tier(), .serialized)
struct HostHostDeviceUndoTests {
    @Test(arguments: [(false, false), (true, false), (true, true)])
    func deviceLeftInThePodByAFailedMoveComesHome(renamed: Bool, aliased: Bool) throws {
        let f = try NodeFixture()
        defer { f.close() }
        let mac = try #require(linkInfo(f.node, "eni0")?["address"] as? String)
        try f.node.ip("link", "set", "eni0", "netns", f.pod.name)
        if renamed { try f.pod.ip("link", "set", "eni0", "name", "net1") }
        if aliased { try f.pod.ip("link", "set", "net1", "alias", "eni0") }
        #expect(linkInfo(f.node, "eni0") == nil)
        try undo(f, mac: mac)
        let home = try #require(linkInfo(f.node, "eni0"))
        #expect(home["address"] as? String == mac)
        #expect(home["ifalias"] == nil || home["ifalias"] as? String == "")
        #expect(linkInfo(f.pod, "net1") == nil && linkInfo(f.pod, "eni0") == nil)
        #expect(linkInfo(f.node, "net1") == nil)
    }

    @Test func aPodDeviceWithTheSameNameButAnotherMACIsLeftAlone() throws {
        let f = try NodeFixture()
        defer { f.close() }
        let mac = try #require(linkInfo(f.node, "eni0")?["address"] as? String)
        try f.pod.ip("link", "add", "net1", "type", "veth", "peer", "name", "emtundo0")
        try f.pod.ip("link", "set", "net1", "address", "02:00:00:00:99:01")
        let podBefore = try f.pod.snapshot(), nodeBefore = try f.node.snapshot()
        try undo(f, mac: mac)
        #expect(try f.pod.snapshot() == podBefore)
        #expect(try f.node.snapshot() == nodeBefore)
    }

    private func undo(_ f: NodeFixture, mac: String) throws {
        let ns = try NetNS(path: f.node.path)
        try ns.run { () throws -> Void in
            let host = try HostNamespace()
            let pod = try PodNamespace(path: f.pod.path)
            try HostDeviceDriver.returnAfterFailedAdd(record: .init(name: "eni0", mac: MACAddress(mac)), ifname: "net1",
                                                      pod: pod, host: host)
        }
    }
}
