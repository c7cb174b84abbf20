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

/// GC (1.1.0): frees every reservation not listed in cni.dev/valid-attachments; no output on success.
@Suite struct UnitProtocolGCTests {
    @Test("GC on an empty data directory succeeds quietly")
    func gcEmpty() {
        let dir = K.tempDir()
        defer { K.remove(dir) }
        let conf = K.conf("1.1.0", #""master":"eth1","cni.dev/valid-attachments":[{"containerID":"c1","ifname":"net1"}],"# + K.ipam(dir))
        K.expectQuietSuccess(K.run("GC", conf, ["CNI_CONTAINERID": nil, "CNI_IFNAME": nil, "CNI_NETNS": nil], dataDir: dir))
    }

    @Test("GC keeps the valid attachments and frees the rest",
          arguments: [
              ([] as [String], [] as [String]),
              (["c1/net1"], ["c1/net1"]),
              (["c1/net1", "c3/net1"], ["c1/net1", "c3/net1"]),
              (["c1/net2", "c9/net1"], [] as [String]),
          ])
    func gcFrees(valid: [String], kept: [String]) throws {
        let dir = K.tempDir()
        defer { K.remove(dir) }
        let a = try K.allocator(dir)
        var ipOf: [String: String] = [:]
        for k in ["c1/net1", "c2/net1", "c3/net1"] {
            let parts = k.split(separator: "/").map(String.init)
            ipOf[k] = try a.allocate(AttachmentKey(containerID: parts[0], ifname: parts[1]), requested: [])[0].address.address.description
        }
        let list = valid.map { v -> String in
            let p = v.split(separator: "/")
            return #"{"containerID":"\#(p[0])","ifname":"\#(p[1])"}"#
        }.joined(separator: ",")
        let conf = K.conf("1.1.0", #""master":"eth1","cni.dev/valid-attachments":[\#(list)],"cni.dev/attachments":[],"# + K.ipam(dir))
        K.expectQuietSuccess(K.run("GC", conf, dataDir: dir))
        #expect(K.ipFiles(dir) == kept.map { ipOf[$0]! }.sorted())
        for k in ["c1/net1", "c2/net1", "c3/net1"] {
            let parts = k.split(separator: "/").map(String.init)
            let held = try a.addresses(of: AttachmentKey(containerID: parts[0], ifname: parts[1]))
            #expect((held != nil) == kept.contains(k), "\(k)")
        }
    }

    @Test("GC with malformed valid-attachments is refused and frees nothing",
          arguments: [#"[{"containerID":"c1"}]"#, #"[5]"#, #"{}"#, #""c1""#])
    func gcMalformed(list: String) throws {
        let dir = K.tempDir()
        defer { K.remove(dir) }
        let a = try K.allocator(dir)
        _ = try a.allocate(AttachmentKey(containerID: "c1", ifname: "net1"), requested: [])
        let out = K.run("GC", K.conf("1.1.0", #""cni.dev/valid-attachments":\#(list),"# + K.ipam(dir)), dataDir: dir)
        let e = try #require(K.wireError(out))
        #expect(e.code == 6 || e.code == 7)
        #expect(K.ipFiles(dir).count == 1)
    }

    @Test("GC runs a delegated IPAM plugin with CNI_COMMAND=GC")
    func gcDelegates() throws {
        let dir = K.tempDir()
        defer { K.remove(dir) }
        try K.script("\(dir)/fakeipam", #"echo "$CNI_COMMAND" >> "\#(dir)/calls"; cat > "\#(dir)/stdin"; exit 0"#)
        let conf = K.conf("1.1.0", #""master":"eth1","cni.dev/valid-attachments":[],"ipam":{"type":"fakeipam"}"#)
        K.expectQuietSuccess(K.run("GC", conf, ["CNI_PATH": dir], dataDir: dir))
        #expect(try String(contentsOfFile: "\(dir)/calls", encoding: .utf8) == "GC\n")
        #expect(try String(contentsOfFile: "\(dir)/stdin", encoding: .utf8) == conf)
    }
}
