#if canImport(Glibc)
import Glibc
#endif
import Foundation
import Testing
import CNI
import ENIMultusCore
import IPAM
import JSON
import NodeState

private typealias K = UnitProtocolKit

/// STATUS (1.1.0): exit 0 when ADD could be served, else code 50.
@Suite struct UnitProtocolStatusTests {
    @Test("STATUS with an existing master (lo) and a fresh built-in IPAM succeeds")
    func statusOK() {
        let dir = K.tempDir()
        defer { K.remove(dir) }
        K.expectQuietSuccess(K.run("STATUS", K.conf("1.1.0", #""master":"lo","# + K.ipam(dir)), dataDir: dir))
        K.expectQuietSuccess(K.run("STATUS", K.conf("1.1.0", #""master":"lo""#), dataDir: dir))
    }

    @Test("STATUS with a missing master is code 50")
    func statusNoMaster() throws {
        let e = try #require(K.wireError(K.run("STATUS", K.conf("1.1.0", #""master":"emtnope0""#))))
        #expect(e.code == 50)
        #expect(e.msg?.contains("emtnope0") == true)
        #expect(e.msg?.hasPrefix("ipvlan master unavailable") == true)
    }

    @Test("STATUS with an exhausted range is code 50")
    func statusExhausted() throws {
        let dir = K.tempDir()
        defer { K.remove(dir) }
        // 10.98.0.0/30: .0 network, .1 gateway, .3 broadcast: one usable address.
        let a = try K.allocator(dir, subnet: "10.98.0.0/30")
        _ = try a.allocate(AttachmentKey(containerID: "c1", ifname: "net1"), requested: [])
        let e = try #require(K.wireError(K.run("STATUS", K.conf("1.1.0", #""master":"lo","# + K.ipam(dir, subnet: "10.98.0.0/30")), dataDir: dir)))
        #expect(e.code == 50)
        #expect(e.msg?.contains("exhausted") == true)
    }

    @Test("STATUS of a host-device network does not look for the device")
    func statusHostDevice() {
        let dir = K.tempDir()
        defer { K.remove(dir) }
        K.expectQuietSuccess(K.run("STATUS", K.conf("1.1.0", #""link":"host-device","device":"emtnope0","# + K.ipam(dir)), dataDir: dir))
    }

    @Test("STATUS passes a delegated IPAM's code 50 on")
    func statusDelegate() throws {
        let dir = K.tempDir()
        defer { K.remove(dir) }
        try K.script("\(dir)/fakeipam", #"cat >/dev/null; echo '{"cniVersion":"1.1.0","code":50,"msg":"pool empty"}'; exit 1"#)
        let e = try #require(K.wireError(K.run("STATUS", K.conf("1.1.0", #""master":"lo","ipam":{"type":"fakeipam"}"#), ["CNI_PATH": dir], dataDir: dir)))
        #expect(e.code == 50)
        #expect(e.msg == "IPAM plugin fakeipam: pool empty")
    }

    /// An ipvlan config without master/masterMAC is valid for STATUS (only ADD and CHECK require one), and
    /// `IPVlanDriver.findMaster` then force-unwraps a nil master. Run in a child process so a crash fails this test
    /// instead of the whole run.
    @Test("STATUS of an ipvlan config without master or masterMAC reports an error instead of crashing")
    func statusWithoutMasterDoesNotCrash() async {
        await #expect(processExitsWith: .success) {
            let out = Plugin.run(UnitProtocolKit.environment(
                ["CNI_COMMAND": "STATUS", "CNI_PATH": "/nonexistent"],
                stdin: Array(#"{"cniVersion":"1.1.0","name":"net1","type":"eni-multus"}"#.utf8)))
            guard out.exitCode != 0, let j = try? JSON.parse(out.stdout), let code = j["code"]?.int64Value,
                  code == 7 || code == 50 else { exit(3) }
        }
    }
}
