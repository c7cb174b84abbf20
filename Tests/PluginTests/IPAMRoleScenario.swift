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
