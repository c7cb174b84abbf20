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
struct PeerHostDeviceTests {
    @Test(arguments: ["0.3.1", "0.4.0", "1.0.0"])
    func hostDeviceMatchesTheReference(version: String) throws {
        let dataDir = try makeTempDir("emt-peer")
        defer { _ = Shell.run(["rm", "-rf", dataDir]) }
        let ipamRef = #"{"type":"host-local","subnet":"10.88.0.0/24","routes":[{"dst":"10.89.0.0/16"}],"dataDir":"\#(dataDir)/ref"}"#
        let ipamOurs = #"{"type":"eni-multus","subnet":"10.88.0.0/24","routes":[{"dst":"10.89.0.0/16"}],"dataDir":"\#(dataDir)/ours"}"#
        let ref = try PeerScenario.run(plugin: "/usr/lib/cni/host-device", conf:
            #"{"cniVersion":"\#(version)","name":"peer","type":"host-device","device":"eni0","ipam":\#(ipamRef)}"#)
        let ours = try PeerScenario.run(plugin: pluginBinary, conf:
            #"{"cniVersion":"\#(version)","name":"peer","type":"eni-multus","link":"host-device","device":"eni0","ipam":\#(ipamOurs)}"#)
        PeerScenario.expectSubstance(ours, ref)
        PeerScenario.compareResults(ours.result, ref.result)
        #expect(ours.addresses == ref.addresses)
        #expect(ours.routes4 == ref.routes4)
        // Both keep the original name in IFLA_IFALIAS while the device is in the pod.
        #expect(ours.link["alias"] == "eni0")
        #expect(ours.link == ref.link)
        // Deliberate: our DEL clears the alias once the device is home; the reference 1.1.1 leaves it behind.
        #expect(ref.nodeAfterDel.contains("link eni0 kind=veth") && ref.nodeAfterDel.contains(" alias=eni0"))
        #expect(ours.nodeAfterDel == ref.nodeAfterDel.replacingOccurrences(of: " alias=eni0", with: ""))
        #expect(ours.podAfterDel == ref.podAfterDel)
    }
}
