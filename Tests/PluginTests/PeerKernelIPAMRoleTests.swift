import Foundation
import Testing
import CNI
import ENIMultusCore
import JSON
import TestSupport

@Suite(.tier(), .serialized)
struct PeerKernelIPAMRoleTests {
    @Test("Debian ipvlan with eni-multus as IPAM (dual-stack) = ipvlan with host-local (ADD, CHECK, DEL)")
    func ipvlan() throws {
        try IPAMRoleScenario.compare(plugin: "ipvlan", version: "1.0.0", pluginFields: #""master":"eni0","mode":"l2""#,
                                     ipam: { type, dir in
            #"{"type":"\#(type)","ranges":[[{"subnet":"10.88.0.0/24"}],[{"subnet":"fd88::/64"}]],"routes":[{"dst":"10.89.0.0/16","gw":"10.88.0.1"},{"dst":"fd89::/64","gw":"fd88::1"}],"dataDir":"\#(dir)"}"#
        }, check: true)
    }
}
