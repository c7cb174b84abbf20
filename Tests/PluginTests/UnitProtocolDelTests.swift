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

/// DEL: best effort and idempotent, without root when CNI_NETNS is empty or gone.
@Suite struct UnitProtocolDelTests {
    static let key = AttachmentKey(containerID: "ctr1", ifname: "net1")

    @Test("DEL with the built-in IPAM and an empty or gone CNI_NETNS succeeds quietly, three times over",
          arguments: ["", K.goneNetns, "/etc/hostname", "/proc/self/ns/../fd/999999"])
    func delIdempotent(netns: String) {
        let dir = K.tempDir()
        defer { K.remove(dir) }
        for _ in 0..<3 {
            K.expectQuietSuccess(K.run("DEL", K.conf("1.0.0", #""master":"eth1","# + K.ipam(dir)), ["CNI_NETNS": netns], dataDir: dir))
        }
    }

    @Test("DEL releases the attachment's reservation and leaves others alone", arguments: K.supported)
    func delReleases(version: String) throws {
        let dir = K.tempDir()
        defer { K.remove(dir) }
        let a = try K.allocator(dir)
        let mine = try a.allocate(Self.key, requested: [])
        let other = try a.allocate(AttachmentKey(containerID: "ctr2", ifname: "net1"), requested: [])
        let same = try a.allocate(AttachmentKey(containerID: "ctr1", ifname: "net2"), requested: [])
        #expect(K.ipFiles(dir).count == 3)

        // Multus sends the cached ADD result as prevResult on DEL; it is not needed.
        let prev = #""prevResult":{"cniVersion":"\#(version)","ips":[{"address":"\#(mine[0].address)"}]}"#
        let out = K.run("DEL", K.conf(version, #""master":"eth1","# + K.ipam(dir) + "," + prev), ["CNI_NETNS": ""], dataDir: dir)
        K.expectQuietSuccess(out)
        #expect(try a.addresses(of: Self.key) == nil)
        #expect(K.ipFiles(dir) == [other[0].address.address.description, same[0].address.address.description].sorted())
        // Repeat: nothing left to release, still fine.
        K.expectQuietSuccess(K.run("DEL", K.conf(version, #""master":"eth1","# + K.ipam(dir)), ["CNI_NETNS": ""], dataDir: dir))
    }

    @Test("DEL tolerates what ADD would refuse: no master, a malformed prevResult, an empty or unusable ipam",
          arguments: [
              "",
              #""prevResult":"garbage""#,
              #""prevResult":{"ips":[{"address":"x"}]}"#,
              #""ipam":{}"#,
              #""ipam":{"type":"eni-multus"}"#,
              #""ipam":{"type":"eni-multus","ranges":[[{"subnet":"10.0.0.0/33"}]]}"#,
              #""ipam":{"type":"host-local","subnet":"10.0.0.0/24"}"#,
              #""link":"host-device""#,
              #""link":"host-device","device":"eth9""#,
          ])
    func delTolerant(extra: String) {
        let dir = K.tempDir()
        defer { K.remove(dir) }
        let out = K.run("DEL", K.conf("0.3.1", extra), ["CNI_NETNS": "", "CNI_PATH": dir], dataDir: dir)
        K.expectQuietSuccess(out)
    }

    @Test("DEL accepts Multus's CNI_ARGS with duplicates and empty values")
    func delMultusArgs() {
        let args = "IgnoreUnknown=true;K8S_POD_NAMESPACE=;K8S_POD_NAME=;K8S_POD_INFRA_CONTAINER_ID=;K8S_POD_UID=;IgnoreUnknown=1;K8S_POD_NAMESPACE=;K8S_POD_NAME=;K8S_POD_INFRA_CONTAINER_ID=;K8S_POD_UID="
        K.expectQuietSuccess(K.run("DEL", K.conf("0.4.0", #""master":"eth1""#), ["CNI_NETNS": "", "CNI_ARGS": args]))
    }

    @Test("DEL runs a delegated IPAM plugin from CNI_PATH with CNI_COMMAND=DEL and the same stdin")
    func delDelegates() throws {
        let dir = K.tempDir()
        defer { K.remove(dir) }
        try K.script("\(dir)/fakeipam", #"echo "$CNI_COMMAND $CNI_CONTAINERID $CNI_IFNAME" >> "\#(dir)/calls"; cat > "\#(dir)/stdin"; exit 0"#)
        let conf = K.conf("1.0.0", #""master":"eth1","ipam":{"type":"fakeipam","x":[1,2]}"#)
        K.expectQuietSuccess(K.run("DEL", conf, ["CNI_NETNS": "", "CNI_PATH": "/nonexistent:\(dir)"], dataDir: dir))
        #expect(try String(contentsOfFile: "\(dir)/calls", encoding: .utf8) == "DEL ctr1 net1\n")
        #expect(try String(contentsOfFile: "\(dir)/stdin", encoding: .utf8) == conf)
    }

    @Test("a failing delegated IPAM's code and message are reported by DEL")
    func delDelegateFails() throws {
        let dir = K.tempDir()
        defer { K.remove(dir) }
        try K.script("\(dir)/fakeipam", #"cat >/dev/null; echo '{"cniVersion":"1.0.0","code":11,"msg":"busy","details":"try later"}'; exit 1"#)
        let out = K.run("DEL", K.conf("1.0.0", #""master":"eth1","ipam":{"type":"fakeipam"}"#), ["CNI_NETNS": "", "CNI_PATH": dir], dataDir: dir)
        let e = try #require(K.wireError(out))
        #expect(e.code == 11)
        #expect(e.msg == "IPAM plugin fakeipam: busy")
        #expect(e.details == "try later")
        #expect(e.cniVersion == "1.0.0")
    }
}
