import Foundation
import Testing
import CNI
import ENIMultusCore
import JSON
import TestSupport

@Suite(.tier(), .serialized)
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
