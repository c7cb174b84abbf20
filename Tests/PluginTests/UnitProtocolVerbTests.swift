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

/// CHECK and ADD failures that happen before anything is created.
@Suite struct UnitProtocolPreKernelTests {
    @Test("CHECK with a malformed prevResult is code 6", arguments: [
        #""x""#, #"{"ips":[{"address":"10.0.0.5"}]}"#, #"{"interfaces":{}}"#, #"{"routes":[{"dst":"0.0.0.0/0","gw":"fd00::1"}]}"#,
    ])
    func checkMalformedPrev(prev: String) throws {
        let e = try #require(K.wireError(K.run("CHECK", K.conf("0.4.0", #""master":"eth1","prevResult":\#(prev)"#))))
        #expect(e.code == 6)
        #expect(e.msg?.hasPrefix("prevResult") == true)
        #expect(e.cniVersion == "0.4.0")
    }

    @Test("CHECK with \"prevResult\": null is code 7, like a missing prevResult")
    func checkNullPrev() throws {
        let e = try #require(K.wireError(K.run("CHECK", K.conf("1.0.0", #""master":"eth1","prevResult":null"#))))
        #expect(e.code == 7)
        #expect(e.msg == "CHECK requires prevResult in the network config")
    }

    @Test("CHECK with a good prevResult and a netns that does not exist is code 4", arguments: ["0.4.0", "1.0.0", "1.1.0"])
    func checkGoneNetns(version: String) throws {
        let prev = #"{"cniVersion":"\#(version)","interfaces":[{"name":"net1","sandbox":"\#(K.goneNetns)"}],"ips":[{"address":"10.0.0.5/24","interface":0}]}"#
        let e = try #require(K.wireError(K.run("CHECK", K.conf(version, #""master":"lo","prevResult":\#(prev)"#))))
        #expect(e.code == 4)
        #expect(e.msg?.contains(K.goneNetns) == true)
    }

    @Test("ADD with a master that does not exist is code 7 and reserves nothing")
    func addNoMaster() throws {
        let dir = K.tempDir()
        defer { K.remove(dir) }
        let e = try #require(K.wireError(K.run("ADD", K.conf("1.0.0", #""master":"emtnope0","# + K.ipam(dir)), dataDir: dir)))
        #expect(e.code == 7)
        #expect(e.msg == "master \"emtnope0\" does not exist in the node's network namespace")
        #expect(K.ipFiles(dir).isEmpty)
    }

    @Test("ADD with a netns that does not exist is code 4 and reserves nothing")
    func addGoneNetns() throws {
        let dir = K.tempDir()
        defer { K.remove(dir) }
        let e = try #require(K.wireError(K.run("ADD", K.conf("0.3.1", #""master":"lo","allowPrimary":true,"# + K.ipam(dir)), dataDir: dir)))
        #expect(e.code == 4)
        #expect(e.msg?.hasPrefix("CNI_NETNS \"\(K.goneNetns)\"") == true)
        #expect(e.cniVersion == "0.3.1")
        #expect(K.ipFiles(dir).isEmpty)
    }

    @Test("ADD with a delegated IPAM missing from CNI_PATH fails with a message naming it")
    func addMissingDelegate() throws {
        let e = try #require(K.wireError(K.run("ADD", K.conf("1.0.0", #""master":"lo","ipam":{"type":"emt-nope-ipam"}"#))))
        #expect(e.code == 104)
        #expect(e.msg?.contains("emt-nope-ipam") == true)
        #expect(e.msg?.contains("not found in CNI_PATH") == true)
    }
}

/// The JSON-lines log (`logFile`, `logLevel`).
@Suite struct UnitProtocolLogTests {
    static func run(_ command: String, _ conf: String, dir: String, _ overrides: [String: String?] = [:]) -> PluginOutput {
        let ticker = UnitProtocolTicker()
        return Plugin.run(K.environment(K.vars(command, overrides), stdin: Array(conf.utf8), dataDir: dir,
                                        monotonic: { ticker.next() }))
    }

    @Test("a successful DEL writes one info line with the outcome and duration")
    func successLine() throws {
        let dir = K.tempDir()
        defer { K.remove(dir) }
        let log = "\(dir)/plugin.log"
        K.expectQuietSuccess(Self.run("DEL", K.conf("1.0.0", #""master":"eth1","logFile":"\#(log)","# + K.ipam(dir)), dir: dir, ["CNI_NETNS": ""]))
        let text = try String(contentsOfFile: log, encoding: .utf8)
        #expect(text == #"{"time":1700000000.500,"level":"info","msg":"done","verb":"DEL","network":"net1","containerID":"ctr1","ifname":"net1","outcome":"ok","durationMs":1.234}"# + "\n")
        var st = stat()
        #expect(stat(log, &st) == 0)
        #expect(st.st_mode & 0o777 == 0o600)
    }

    @Test("an error writes an error line with the code; lines append")
    func errorLine() throws {
        let dir = K.tempDir()
        defer { K.remove(dir) }
        let log = "\(dir)/plugin.log"
        let conf = K.conf("1.0.0", #""master":"eth1","logFile":"\#(log)""#)
        for _ in 0..<2 { #expect(Self.run("CHECK", conf, dir: dir).exitCode == 1) }
        let line = #"{"time":1700000000.500,"level":"error","msg":"CHECK requires prevResult in the network config","verb":"CHECK","network":"net1","containerID":"ctr1","ifname":"net1","outcome":"error","code":7,"durationMs":1.234}"#
        #expect(try String(contentsOfFile: log, encoding: .utf8) == line + "\n" + line + "\n")
    }

    @Test("logLevel error keeps successes out of the log")
    func levelError() throws {
        let dir = K.tempDir()
        defer { K.remove(dir) }
        let log = "\(dir)/plugin.log"
        K.expectQuietSuccess(Self.run("DEL", K.conf("1.0.0", #""logFile":"\#(log)","logLevel":"error""#), dir: dir, ["CNI_NETNS": ""]))
        #expect(!FileManager.default.fileExists(atPath: log))
    }

    @Test("a log file that cannot be opened does not change the outcome")
    func unwritableLog() {
        K.expectQuietSuccess(Self.run("DEL", K.conf("1.0.0", #""logFile":"/nonexistent/dir/x.log""#), dir: K.untouchedDataDir, ["CNI_NETNS": ""]))
    }
}
