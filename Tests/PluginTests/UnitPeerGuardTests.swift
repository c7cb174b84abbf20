#if canImport(Glibc)
import Glibc
#endif
import Foundation
import Testing
import CNI
import ENIMultusCore
import JSON
import TestSupport

/// Tests of the tests: the peer comparison's non-empty guard and the harness readers fail on what would
/// otherwise compare equal — two empty outcomes, and a read that failed.
@Suite struct UnitPeerGuardTests {
    static let empty = PeerScenario.Outcome(result: .object([:]), link: [:], addresses: [], routes4: [], routes6: [],
                                            nodeAfterDel: "", podAfterDel: "")

    @Test("two empty outcomes are reported, not compared equal")
    func emptyOutcomesAreReported() {
        let p = PeerScenario.substanceProblems(Self.empty, "ours", ipv6: true)
        #expect(p.count == 6, "\(p)")
        withKnownIssue("expectSubstance records each missing part") {
            PeerScenario.expectSubstance(Self.empty, Self.empty)
        }
    }

    @Test("a read that fails (a netns that does not exist) is an issue, not an empty answer")
    func failedReadsAreIssues() {
        let gone = "emt-no-such-netns-\(getpid())"
        withKnownIssue("the route read fails") { #expect(routes(netnsName: gone).isEmpty) }
        withKnownIssue("the address read fails") { #expect(addresses(netnsName: gone, "eth0").isEmpty) }
        withKnownIssue("the link read fails") { #expect(linkInfo(netnsName: gone, "eth0") == nil) }
    }
}
