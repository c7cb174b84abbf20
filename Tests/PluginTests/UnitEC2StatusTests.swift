import Foundation
import Testing
import Platform
import AgentProtocol
@testable import ENIMultusCore
import CNI
import IPAM
import JSON
import NetTypes
import TestSupport
import NodeState
@testable import Registration

@Suite("Unit: STATUS of EC2 networks")
struct UnitEC2StatusTests {
    func status(_ w: IPAMWorld) throws -> CNIError? {
        let text = w.conf().replacingOccurrences(of: #""link":"ipvlan""#, with: #""link":"host-device""#)
        do { try w.invocation(.status, "", conf: text).status(); return nil } catch { return cniError(for: error) }
    }

    @Test("50 with the reason: no credentials, ENI missing, ENI full; nil when ADD can be served")
    func reasons() throws {
        let w = IPAMWorld(#""mode":"ec2""#)
        #expect(try status(w) == nil)
        w.reg.credentialsOK = false
        let creds = try #require(try status(w))
        #expect(creds.code == 50 && creds.msg.contains("no AWS credentials"))
        w.reg.credentialsOK = true
        w.reg.limits.ipv4PerENI = 2  // the primary and 10.0.1.11: full
        try FileIO.remove(w.dir + "/.instance-limits", .hint)  // the node's cached limits (read once per node)
        let full = try #require(try status(w))
        #expect(full.code == 50 && full.msg.contains("eni-multus is full"))
        w.eni = #"{"id":"eni-gone"}"#
        let gone = try #require(try status(w))
        #expect(gone.code == 50 && gone.msg.contains("no ENI of this instance"))
    }
}
