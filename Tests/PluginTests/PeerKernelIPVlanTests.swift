#if canImport(Glibc)
import Glibc
#endif
import Foundation
import Testing
import CNI
import ENIMultusCore
import JSON
import TestSupport

@Suite(.tier(), .serialized)
struct PeerKernelIPVlanTests {
    @Test(arguments: ["l2", "l3", "l3s"])
    func ipvlanMatchesTheReference(mode: String) throws {
        let dataDir = try makeTempDir("emt-peer")
        defer { _ = Shell.run(["rm", "-rf", dataDir]) }
        func ipam(_ type: String, _ sub: String) -> String {
            #"{"type":"\#(type)","ranges":[[{"subnet":"10.88.0.0/24"}],[{"subnet":"fd88::/64"}]],"routes":[{"dst":"10.89.0.0/16"},{"dst":"fd89::/64"}],"dataDir":"\#(dataDir)/\#(sub)"}"#
        }
        let ref = try PeerScenario.run(plugin: "/usr/lib/cni/ipvlan", conf:
            #"{"cniVersion":"1.0.0","name":"peer","type":"ipvlan","master":"eni0","mode":"\#(mode)","ipam":\#(ipam("host-local", "ref"))}"#)
        let ours = try PeerScenario.run(plugin: pluginBinary, conf:
            #"{"cniVersion":"1.0.0","name":"peer","type":"eni-multus","master":"eni0","mode":"\#(mode)","ipam":\#(ipam("eni-multus", "ours"))}"#)
        PeerScenario.expectSubstance(ours, ref, ipv6: true)
        PeerScenario.compareResults(ours.result, ref.result)
        #expect(ours.link == ref.link)
        #expect(ours.addresses == ref.addresses)
        #expect(ours.routes4 == ref.routes4)
        #expect(ours.routes6 == ref.routes6)
        #expect(ours.nodeAfterDel == ref.nodeAfterDel)
        #expect(ours.podAfterDel == ref.podAfterDel)
    }
}
