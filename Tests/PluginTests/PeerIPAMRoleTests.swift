import Foundation
import Testing
import CNI
import ENIMultusCore
import JSON
import TestSupport

/// `eni-multus` as the IPAM of Debian's reference plugins: the reference plugin execs it from CNI_PATH exactly as
/// it execs host-local (same stdin, same environment). The same scenario with host-local must give the same
/// result, the same addresses and routes in the pod, and the same node and pod after DEL; our store holds the
/// reservation while the attachment exists and nothing after DEL. CHECK goes through the reference plugin's CHECK,
/// which calls ours (routes carry an explicit gateway: the 1.1.1 plugins' CHECK cannot match a gateway-less route
/// they installed via the address's gateway, with host-local as with us).
enum IPAMRoleScenario {
    /// CNI_PATH with our binary first (as `eni-multus`), then the reference plugins.
    static var cniPath: String { (pluginBinary as NSString).deletingLastPathComponent + ":/usr/lib/cni" }

    static func compare(plugin: String, version: String, pluginFields: String, ipam: (String, String) -> String,
                        check: Bool) throws {
        let dataDir = try makeTempDir("emt-peeripam")
        defer { _ = Shell.run(["rm", "-rf", dataDir]) }
        func conf(_ ipamJSON: String) -> String {
            #"{"cniVersion":"\#(version)","name":"peer","type":"\#(plugin)",\#(pluginFields),"ipam":\#(ipamJSON)}"#
        }
        let ref = try PeerScenario.run(plugin: "/usr/lib/cni/\(plugin)", conf: conf(ipam("host-local", "\(dataDir)/ref")),
                                       check: check)
        let ips = "\(dataDir)/ours/peer/ips"
        var held: [String] = []
        let ours = try PeerScenario.run(plugin: "/usr/lib/cni/\(plugin)", conf: conf(ipam("eni-multus", "\(dataDir)/ours")),
                                        cniPath: cniPath, check: check) {
            held = ((try? FileManager.default.contentsOfDirectory(atPath: ips)) ?? []).sorted()
        }
        #expect(ours.result["cniVersion"] == ref.result["cniVersion"])
        #expect(ours.result["ips"] == ref.result["ips"], "ours \(ours.result.serialized()) reference \(ref.result.serialized())")
        #expect(ours.result["routes"] == ref.result["routes"])
        #expect(ours.result["dns"] == ref.result["dns"])
        #expect(ours.result["interfaces"]?.arrayValue?.count == ref.result["interfaces"]?.arrayValue?.count)
        #expect(ours.addresses == ref.addresses && !ours.addresses.isEmpty, "ours \(ours.addresses) reference \(ref.addresses)")
        #expect(ours.routes4 == ref.routes4)
        #expect(ours.routes6 == ref.routes6)
        #expect(ours.link["kind"] == ref.link["kind"] && ours.link["name"] == ref.link["name"])
        #expect(ours.nodeAfterDel == ref.nodeAfterDel)
        #expect(ours.podAfterDel == ref.podAfterDel)
        let want = ours.addresses.map { String($0.split(separator: "/")[0]) }.sorted()
        #expect(held == want, "our store while attached: \(held)")
        #expect(((try? FileManager.default.contentsOfDirectory(atPath: ips)) ?? []).isEmpty, "our store after DEL")
    }
}

@Suite(.tier(.peerHost), .serialized)
struct PeerHostIPAMRoleTests {
    static func ipam4(_ type: String, _ dir: String) -> String {
        #"{"type":"\#(type)","subnet":"10.87.0.0/24","rangeStart":"10.87.0.10","routes":[{"dst":"10.86.0.0/16","gw":"10.87.0.1"}],"dataDir":"\#(dir)"}"#
    }

    @Test("Debian macvlan with eni-multus as IPAM = macvlan with host-local (ADD, CHECK, DEL)",
          arguments: ["0.4.0", "1.0.0"])
    func macvlan(version: String) throws {
        try #require(Capabilities.hasMacvlan)
        try IPAMRoleScenario.compare(plugin: "macvlan", version: version, pluginFields: #""master":"eni0","mode":"bridge""#,
                                     ipam: Self.ipam4, check: true)
    }

    @Test("Debian host-device with eni-multus as IPAM = host-device with host-local", arguments: ["0.3.1", "1.0.0"])
    func hostDevice(version: String) throws {
        try IPAMRoleScenario.compare(plugin: "host-device", version: version, pluginFields: #""device":"eni0""#,
                                     ipam: Self.ipam4, check: false)
    }
}

@Suite(.tier(.peerKernel), .serialized)
struct PeerKernelIPAMRoleTests {
    @Test("Debian ipvlan with eni-multus as IPAM (dual-stack) = ipvlan with host-local (ADD, CHECK, DEL)")
    func ipvlan() throws {
        try IPAMRoleScenario.compare(plugin: "ipvlan", version: "1.0.0", pluginFields: #""master":"eni0","mode":"l2""#,
                                     ipam: { type, dir in
            #"{"type":"\#(type)","ranges":[[{"subnet":"10.88.0.0/24"}],[{"subnet":"fd88::/64"}]],"routes":[{"dst":"10.89.0.0/16","gw":"10.88.0.1"},{"dst":"fd89::/64","gw":"fd88::1"}],"dataDir":"\#(dir)"}"#
        }, check: true)
    }
}
