import Foundation
import Testing
import CNI
import IPAM
@testable import ENIMultusCore
import JSON
@testable import ENIAddressing

/// The cni-conf examples with an `eni` block (EC2 registration) parse through the plugin's own EC2 config parser
/// (UnitConfExamplesTests checks the rest of every example).
@Suite struct UnitRegistrationExamplesTests {
    static var confDir: String {
        var dir = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        while dir.path != "/" && !FileManager.default.fileExists(atPath: dir.appendingPathComponent("cni-conf").path) {
            dir = dir.deletingLastPathComponent()
        }
        return dir.appendingPathComponent("cni-conf").path
    }

    static let files = ["host-device-eni-subnet.yaml", "ipvlan-ipv6-registration.yaml",
                        "ipvlan-dualstack-registration.yaml", "ipvlan-whereabouts-registration.yaml",
                        "ipvlan-ec2-ipam.yaml", "ipvlan-prefix-ipam.yaml"]

    @Test(arguments: files)
    func registrationExampleParses(file: String) throws {
        let text = try String(contentsOfFile: Self.confDir + "/" + file, encoding: .utf8)
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false)
        let start = try #require(lines.firstIndex { $0.trimmingCharacters(in: .whitespaces) == "config: |" })
        let json = try JSON.parse(lines[(start + 1)...].joined(separator: "\n"))
        let obj = try #require(json.objectValue)
        _ = try #require(try EC2NetworkConfig.parse(obj), "an eni block")
        #expect(obj["clusterName"]?.stringValue == "demo")
        let conf = try NetConf(json: json, command: .add)
        // The IPAM section decodes as the file name says (ranges unless the name says ec2/prefix).
        if conf.ipamType == "eni-multus", let ipam = conf.ipam {
            let mode = try IPAMConfig(ipam).mode
            #expect(mode == (file.contains("-ec2-") ? .ec2 : file.contains("-prefix-") ? .prefix : .ranges), "\(file)")
        }
    }
}
