#if canImport(Glibc)
import Glibc
#endif
import Foundation
import Synchronization
import Testing
import ENIMultusCore
import TestSupport

/// The ipvlan crash cases (`FaultsCampaignTests.Crash.ipvlanCases`), on a kernel with ipvlan: inside user-mode Linux.
/// The same checks as the faults tier's: after the kill and the runtime's DEL, nothing is left in either netns or
/// the state directory, and the next ADD succeeds.
@Suite(.tier(), .serialized)
struct KernelCrashTests {
    @Test("SIGKILL at every ipvlan failpoint of ADD and DEL, then the runtime's DEL: nothing leaks, the next ADD succeeds")
    func killAtEveryIPVlanPoint() {
        let cases = FaultsCampaignTests.Crash.ipvlanCases
        let problems = FaultsCampaignTests.Crash.campaign(cases, worlds: [], label: "kernel/crash (ipvlan)",
                                                          minimumPoints: Set(cases.map(\.point)).count)
        for p in problems { Issue.record(Comment(rawValue: p)) }
    }
}
