import Foundation
import Testing
@testable import ENIMultusCore
import CNI
import JSON
import NetTypes

/// The IPAM role on an EC2 network (a top-level `eni` block), against the in-memory EC2 (`FakeEC2Gateway`): the whole
/// ADD/CHECK/DEL verbs run in-process; in this role they never touch a link.
@Suite("Unit: the IPAM role with EC2 registration and the EC2 modes")
struct UnitIPAMRoleEC2Tests {
    /// A Debian macvlan config on the multus ENI delegating IPAM to us.
    static func conf(_ w: IPAMWorld, _ ipam: String, extra: String = "") -> String {
        #"{"cniVersion":"1.1.0","name":"n1","type":"macvlan","master":"ens6","mode":"bridge","eni":\#(w.eni),"ipam":{"type":"eni-multus","dataDir":"\#(w.dir)",\#(ipam)}\#(extra)}"#
    }

    @Test("ADD answers addresses only, registered on (or EC2-chosen for) the ENI; CHECK passes; DEL gives them back",
          arguments: ["ranges", "ec2", "prefix"])
    func modes(mode: String) throws {
        let ipam = mode == "ranges"
            ? #""ranges":[[{"subnet":"10.0.1.0/24","rangeStart":"10.0.1.200"}]],"cooldownSeconds":0"#
            : #""mode":"\#(mode)","cooldownSeconds":0"#
        let w = IPAMWorld(ipam)
        let text = Self.conf(w, ipam)
        let before = w.multus.ipv4
        let calls = try w.ec2Calls {
            let r = try w.invocation(.add, "c1", conf: text).add()
            #expect(r.interfaces.isEmpty)
            #expect(r.ips.count == 1 && r.ips[0].interface == nil)
            let a = try #require(r.ips.first?.address.address)
            #expect(IPPrefix("10.0.1.0/24")!.contains(a))
            if mode == "ranges" { #expect(a == IPAddress("10.0.1.200")!) }
            if mode == "prefix" {
                #expect(w.multus.prefixes.contains { $0.contains(a) }, "\(a) in a held prefix \(w.multus.prefixes)")
            } else {
                #expect(w.multus.ipv4.contains(a) && !before.contains(a))
            }
            let prev = JSON.object(["cniVersion": "1.1.0", "ips": .array([.object(["address": .string(r.ips[0].address.description)])])])
            try w.invocation(.check, "c1", conf: Self.conf(w, ipam, extra: #","prevResult":\#(prev.serialized())"#)).check()
            try w.invocation(.del, "c1", conf: text).del()
            if mode != "prefix" { #expect(!w.multus.ipv4.contains(a), "\(a) released on DEL") }
        }
        // As in the plugin role: ADD = the node's first tag check + one assign (a /28 and the instance's limits in
        // prefix mode); CHECK describes the ENI afresh; DEL = one unassign (none in prefix mode: the address goes
        // back to the held prefix).
        let want: [String] = switch mode {
        case "ranges": ["describe", "assign4", "describe", "unassign4"]
        case "ec2": ["describe", "assignCount4", "describe", "unassign4"]
        default: ["describe", "describeInstanceTypes", "assignPrefix4", "describe"]
        }
        #expect(calls == want)
    }

    @Test("a bad eni block is the plugin role's error, before anything is reserved")
    func badENI() throws {
        let w = IPAMWorld(#""ranges":[[{"subnet":"10.0.1.0/24"}]]"#)
        w.eni = #"{"id":"eni-untagged"}"#
        let text = Self.conf(w, #""ranges":[[{"subnet":"10.0.1.0/24"}]]"#)
        do {
            _ = try w.invocation(.add, "c1", conf: text).add()
            Issue.record("ADD on an untagged ENI succeeded")
        } catch {
            #expect(cniError(for: error).msg.contains("no_manage"), "\(cniError(for: error).msg)")
        }
        #expect(!FileManager.default.fileExists(atPath: w.dir + "/n1/ips"))
    }
}
