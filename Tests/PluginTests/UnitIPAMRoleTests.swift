import Foundation
import Testing
import CNI
import ENIMultusCore
import IPAM
import JSON
import NodeState

private typealias K = UnitProtocolKit

/// The IPAM role: `eni-multus` exec'd by another plugin (libcni-style delegation: the calling plugin's own network
/// config on stdin, `ipam.type` = `eni-multus`, the same CNI_* environment). In-process, without root: IPAM never
/// opens the pod netns.
@Suite struct UnitIPAMRoleTests {
    static let key = AttachmentKey(containerID: "ctr1", ifname: "net1")

    /// A Debian macvlan network config delegating IPAM to us (its `mode` and `mtu` are macvlan's, not ipvlan's).
    static func macvlanConf(_ version: String = "1.0.0", _ dir: String, ipamExtra: String = "", extra: String = "",
                            subnet: String = "10.99.0.0/24") -> String {
        #"{"cniVersion":"\#(version)","name":"net1","type":"macvlan","master":"eth0","mode":"bridge","mtu":9001,"#
            + #""ipam":{"type":"eni-multus","dataDir":"\#(dir)","ranges":[[{"subnet":"\#(subnet)"}]],"routes":[{"dst":"10.98.0.0/16"}]\#(ipamExtra)}\#(extra)}"#
    }

    @Test("the role: IPAM exactly when type names another plugin and ipam.type is eni-multus", arguments: [
        (#"{"type":"macvlan","ipam":{"type":"eni-multus"}}"#, NetConf.Role.ipam),
        (#"{"type":"ipvlan","ipam":{"type":"eni-multus","subnet":"10.0.0.0/24"}}"#, .ipam),
        (#"{"type":"eni-multus","ipam":{"type":"eni-multus"}}"#, .plugin),
        (#"{"type":"eni-multus","ipam":{"type":"host-local"}}"#, .plugin),
        (#"{"type":"macvlan","ipam":{"type":"host-local"}}"#, .plugin),
        (#"{"ipam":{"type":"eni-multus"}}"#, .plugin),
        (#"{"type":"","ipam":{"type":"eni-multus"}}"#, .plugin),
        (#"{"type":5,"ipam":{"type":"eni-multus"}}"#, .plugin),
        (#"{"type":"macvlan","ipam":"eni-multus"}"#, .plugin),
        (#"{"type":"macvlan","ipam":{"type":["eni-multus"]}}"#, .plugin),
    ])
    func role(conf: String, want: NetConf.Role) throws {
        #expect(NetConf.role(of: try JSON.parse(conf).objectValue!) == want)
    }

    @Test("a one-address range, cooldown on (default 30 s): ADD, DEL, ADD succeeds at once; a Multus rollback leaves it usable")
    func oneAddressRangeSurvivesChurn() throws {
        let dir = K.tempDir()
        defer { K.remove(dir) }
        let conf = Self.macvlanConf("1.0.0", dir, subnet: "10.99.0.0/30")  // .2 only: .1 is the gateway
        func add(_ cid: String) throws -> String? {
            let out = K.run("ADD", conf, ["CNI_CONTAINERID": cid], dataDir: dir)
            #expect(out.exitCode == 0, "ADD \(cid): \(out.stdout) \(out.stderr)")
            return try JSON.parse(out.stdout)["ips"]?[0]?["address"]?.stringValue
        }
        func del(_ cid: String) { #expect(K.run("DEL", conf, ["CNI_CONTAINERID": cid], dataDir: dir).exitCode == 0) }
        #expect(try add("pod1") == "10.99.0.2/30")
        del("pod1")
        // The clock has not moved: .2 is cooling, and it is the only address. The next pod gets it at once.
        #expect(try add("pod2") == "10.99.0.2/30")
        // Multus rolls a failed ADD back by DELing every delegate (here: us); kubelet's next sandbox must not fail.
        del("pod2")
        #expect(try add("pod2-retry") == "10.99.0.2/30")
        #expect(K.ipFiles(dir) == ["10.99.0.2"])
    }

    @Test("ADD returns addresses and routes only (no interfaces, no interface index), in every version",
          arguments: K.supported)
    func addShape(version: String) throws {
        let dir = K.tempDir()
        defer { K.remove(dir) }
        let out = K.run("ADD", Self.macvlanConf(version, dir), dataDir: dir)
        #expect(out.exitCode == 0, "\(out.stdout) \(out.stderr)")
        #expect(out.stderr == "")
        let r = try JSON.parse(out.stdout)
        var ip: JSONObject = ["address": "10.99.0.2/24", "gateway": "10.99.0.1"]
        if version.hasPrefix("0.") { ip["version"] = "4" }
        let want: JSON = .object([
            "cniVersion": .string(version), "ips": .array([.object(ip)]),
            "routes": .array([.object(["dst": "10.98.0.0/16"])]), "dns": .object([:]),
        ])
        #expect(r == want, "\(out.stdout)")
        #expect(r["interfaces"] == nil)
        #expect(K.ipFiles(dir) == ["10.99.0.2"])
        // The store is the plugin role's: the plugin role sees the reservation.
        #expect(try K.allocator(dir).addresses(of: Self.key)?.map(\.description) == ["10.99.0.2"])
    }

    @Test("ADD honours requested addresses and leaves a requested MAC to the calling plugin")
    func addRequested() throws {
        let dir = K.tempDir()
        defer { K.remove(dir) }
        let conf = Self.macvlanConf("1.1.0", dir, extra: #","runtimeConfig":{"ips":["10.99.0.77/24"],"mac":"02:00:00:00:00:01"}"#)
        let out = K.run("ADD", conf, ["CNI_ARGS": "IgnoreUnknown=1;MAC=02:00:00:00:00:02"], dataDir: dir)
        #expect(out.exitCode == 0, "\(out.stdout)")
        #expect(try JSON.parse(out.stdout)["ips"]?[0]?["address"]?.stringValue == "10.99.0.77/24")
    }

    @Test("fields of the calling plugin are not ours to judge: ipvlan/host-device/macvlan values are accepted")
    func foreignFieldsAccepted() throws {
        let dir = K.tempDir()
        defer { K.remove(dir) }
        let foreign = [#""link":"macvtap""#, #""mode":"passthru""#, #""flag":"x""#, #""mtu":"9001""#, #""master":5"#,
                       #""device":["a"]"#, #""pciBusID":"zz""#, #""linkInContainer":true"#, #""dns":"8.8.8.8""#,
                       #""hwaddr":"nope""#, #""kernelpath":"../x""#, #""allowPrimary":"yes""#]
        for (i, f) in foreign.enumerated() {
            let conf = #"{"cniVersion":"1.0.0","name":"net1","type":"ipvlan",\#(f),"ipam":{"type":"eni-multus","dataDir":"\#(dir)","subnet":"10.99.0.0/24"}}"#
            let out = K.run("ADD", conf, ["CNI_CONTAINERID": "c\(i)"], dataDir: dir)
            #expect(out.exitCode == 0, "\(f): \(out.stdout)")
        }
        #expect(K.ipFiles(dir).count == foreign.count)
    }

    @Test("our own fields are still checked: a bad ipam section is the same error as in the plugin role")
    func ownFieldsChecked() throws {
        let dir = K.tempDir()
        defer { K.remove(dir) }
        let cases: [(String, Int, String)] = [
            (#""subnet":"10.99.0.0/33""#, 7, "ipam"),
            (#""subnet":5"#, 6, "ipam.subnet"),
            (#""mode":"ec2""#, 7, "eni"),
            (#""dataDir":"relative/dir""#, 7, "dataDir"),
        ]
        for (ipam, code, field) in cases {
            let conf = #"{"cniVersion":"1.0.0","name":"net1","type":"macvlan","ipam":{"type":"eni-multus",\#(ipam)}}"#
            let e = try #require(K.wireError(K.run("ADD", conf, dataDir: dir)))
            #expect(e.code == code, "\(ipam): \(e.msg ?? "")")
            #expect(e.msg?.contains(field) == true, "\(ipam): \(e.msg ?? "")")
        }
        let badName = #"{"cniVersion":"1.0.0","name":"../x","type":"macvlan","ipam":{"type":"eni-multus","subnet":"10.99.0.0/24"}}"#
        #expect(K.wireError(K.run("ADD", badName, dataDir: dir))?.code == 7)
        let badIPs = Self.macvlanConf("1.0.0", dir, extra: #","runtimeConfig":{"ips":["10.99.0.x"]}"#)
        #expect(K.wireError(K.run("ADD", badIPs, dataDir: dir))?.code == 7)
        #expect(K.ipFiles(dir).isEmpty)
    }

    @Test("successive ADDs hand out successive addresses; DEL releases (idempotent, empty CNI_NETNS too)")
    func addDel() throws {
        let dir = K.tempDir()
        defer { K.remove(dir) }
        let conf = Self.macvlanConf("0.4.0", dir)
        for i in 0..<3 {
            let out = K.run("ADD", conf, ["CNI_CONTAINERID": "c\(i)"], dataDir: dir)
            #expect(try JSON.parse(out.stdout)["ips"]?[0]?["address"]?.stringValue == "10.99.0.\(2 + i)/24")
        }
        K.expectQuietSuccess(K.run("DEL", conf, ["CNI_CONTAINERID": "c1", "CNI_NETNS": ""], dataDir: dir))
        #expect(K.ipFiles(dir) == ["10.99.0.2", "10.99.0.4"])
        for _ in 0..<2 { K.expectQuietSuccess(K.run("DEL", conf, ["CNI_CONTAINERID": "c1"], dataDir: dir)) }
        K.expectQuietSuccess(K.run("DEL", conf, ["CNI_CONTAINERID": "c0"], dataDir: dir))
        K.expectQuietSuccess(K.run("DEL", conf, ["CNI_CONTAINERID": "c2"], dataDir: dir))
        #expect(K.ipFiles(dir).isEmpty)
    }

    @Test("a failed ADD leaves nothing: exhausted range is code 102 and no reservation")
    func exhausted() throws {
        let dir = K.tempDir()
        defer { K.remove(dir) }
        let conf = Self.macvlanConf("1.0.0", dir, subnet: "10.99.0.0/30")  // .2 only
        #expect(K.run("ADD", conf, ["CNI_CONTAINERID": "a"], dataDir: dir).exitCode == 0)
        let e = try #require(K.wireError(K.run("ADD", conf, ["CNI_CONTAINERID": "b"], dataDir: dir)))
        #expect(e.code == 102)
        #expect(K.ipFiles(dir) == ["10.99.0.2"])
    }

    @Test("CHECK compares prevResult with the reservation (code 105 on a mismatch); it needs prevResult")
    func check() throws {
        let dir = K.tempDir()
        defer { K.remove(dir) }
        let add = K.run("ADD", Self.macvlanConf("1.0.0", dir), dataDir: dir)
        // The calling plugin passes its own prevResult (with its interface); only the addresses matter to IPAM.
        var prev = try JSON.parse(add.stdout).objectValue!
        prev["interfaces"] = .array([.object(["name": "net1", "mac": "02:00:00:00:00:09", "sandbox": "/x"])])
        prev["ips"] = .array([.object(["address": "10.99.0.2/24", "gateway": "10.99.0.1", "interface": 0])])
        K.expectQuietSuccess(K.run("CHECK", Self.macvlanConf("1.0.0", dir, extra: #","prevResult":\#(JSON.object(prev).serialized())"#), dataDir: dir))
        prev["ips"] = .array([.object(["address": "10.99.0.9/24", "interface": 0])])
        let bad = try #require(K.wireError(K.run("CHECK", Self.macvlanConf("1.0.0", dir, extra: #","prevResult":\#(JSON.object(prev).serialized())"#), dataDir: dir)))
        #expect(bad.code == 105)
        let none = try #require(K.wireError(K.run("CHECK", Self.macvlanConf("1.0.0", dir), dataDir: dir)))
        #expect(none.msg?.contains("prevResult") == true)
        let other = try #require(K.wireError(K.run("CHECK", Self.macvlanConf("1.0.0", dir, extra: #","prevResult":\#(add.stdout)"#),
                                                   ["CNI_CONTAINERID": "nobody"], dataDir: dir)))
        #expect(other.code == 105)
    }

    @Test("GC frees what is not listed; STATUS answers 0, then 50 once the range is full")
    func gcAndStatus() throws {
        let dir = K.tempDir()
        defer { K.remove(dir) }
        let conf = Self.macvlanConf("1.1.0", dir, ipamExtra: #","cooldownSeconds":0"#, subnet: "10.99.0.0/29")  // .2 – .6
        K.expectQuietSuccess(K.run("STATUS", conf, ["CNI_CONTAINERID": nil, "CNI_NETNS": nil, "CNI_IFNAME": nil], dataDir: dir))
        for c in ["keep", "drop1", "drop2"] { #expect(K.run("ADD", conf, ["CNI_CONTAINERID": c], dataDir: dir).exitCode == 0) }
        let gc = Self.macvlanConf("1.1.0", dir, ipamExtra: #","cooldownSeconds":0"#, extra: #","cni.dev/valid-attachments":[{"containerID":"keep","ifname":"net1"}]"#,
                                  subnet: "10.99.0.0/29")
        K.expectQuietSuccess(K.run("GC", gc, ["CNI_CONTAINERID": nil, "CNI_NETNS": nil, "CNI_IFNAME": nil], dataDir: dir))
        #expect(K.ipFiles(dir) == ["10.99.0.2"])
        for c in ["a", "b", "c", "d"] { #expect(K.run("ADD", conf, ["CNI_CONTAINERID": c], dataDir: dir).exitCode == 0) }
        let e = try #require(K.wireError(K.run("STATUS", conf, ["CNI_CONTAINERID": nil, "CNI_NETNS": nil, "CNI_IFNAME": nil], dataDir: dir)))
        #expect(e.code == 50)
    }

    @Test("the plugin role is unchanged: type eni-multus still needs its link fields")
    func pluginRoleUnchanged() throws {
        let dir = K.tempDir()
        defer { K.remove(dir) }
        let conf = #"{"cniVersion":"1.0.0","name":"net1","type":"eni-multus","mode":"bridge","ipam":{"type":"eni-multus","dataDir":"\#(dir)","subnet":"10.99.0.0/24"}}"#
        let e = try #require(K.wireError(K.run("ADD", conf, dataDir: dir)))
        #expect(e.code == 7 && e.msg?.contains("mode") == true)
        #expect(K.ipFiles(dir).isEmpty)
    }
}
