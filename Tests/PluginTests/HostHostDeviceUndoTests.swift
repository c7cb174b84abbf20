import Foundation
import Testing
@testable import ENIMultusCore
import JSON
import NetTypes
import Netlink
import TestSupport

/// The host-device undo when ADD fails half-way through the move: the device sits in ADD's own temporary netns,
/// possibly already renamed and aliased. It must come home under its name, without alias, whatever step failed.
@Suite(.tier(.host), .serialized)
struct HostHostDeviceUndoTests {
    @Test(arguments: [false, true])
    func deviceStrandedInTheStagingNetnsComesHome(renamed: Bool) throws {
        let f = try NodeFixture()
        defer { f.close() }
        let mac = try #require(linkInfo(f.node, "eni0")?["address"] as? String)
        let log = EventLog(path: nil, level: .error, wallClock: { 0 }, base: JSONObject())
        let ns = try NetNS(path: f.node.path)
        let found = try ns.run { () throws -> Bool in
            let host = try HostNamespace()
            let staging = try TemporaryNamespace()
            let dev = try #require(try host.sock.link(named: "eni0"))
            try host.sock.setLink(index: dev.index, LinkChange(up: false, namespaceFD: staging.ns.fd))
            if renamed {
                let l = try #require(try staging.sock.link(named: "eni0"))
                try staging.sock.setLink(index: l.index, LinkChange(name: "net1", alias: "eni0"))
            }
            #expect(try host.sock.link(named: "eni0") == nil)
            return try HostDeviceDriver.returnDevice(
                record: .init(name: "eni0", mac: MACAddress(mac)), ifname: "net1", pod: nil, host: host,
                staging: staging, log: log)
        }
        #expect(found)
        let home = try #require(linkInfo(f.node, "eni0"))
        #expect(home["address"] as? String == mac)
        #expect(home["ifalias"] == nil || home["ifalias"] as? String == "")
        #expect(linkInfo(f.node, "net1") == nil)
    }
}
