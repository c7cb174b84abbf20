// Swift Testing glue for tiers. A suite's tier is stated once: by its name, which starts with the tier's word
// (Unit, Host, Faults, Kernel, PeerHost, PeerKernel) and is also the start of its file's name (UnitTestLayoutTests
// holds every file of Tests/ to that). test.sh selects a tier by that word; `.tier()` reads it from the file name.
//
//   KernelIPVlanTests.swift:         @Suite(.tier())                  struct KernelIPVlanTests { … }
//   KernelHostDeviceNICTests.swift:  @Suite(.tier(also: [.nic]))      struct KernelHostDeviceNICTests { … }
//
// Off CI (or when another tier is being run) the suite is skipped with a
// comment naming what is missing.  With CI=true and ENI_MULTUS_TIER naming the
// tier, a missing capability fails each test with MissingCapabilityError
// instead of skipping.

import Testing

extension Trait where Self == ConditionTrait {
    /// Enables a suite or test only where its tier (the one its file's name starts with, plus `also`) can run; see
    /// `Capabilities.check(_:also:)`.
    public static func tier(
        also: [Requirement] = [],
        sourceLocation: SourceLocation = #_sourceLocation
    ) -> Self {
        guard let tier = Tier.of(fileName: sourceLocation.fileName) else {
            return .enabled(Comment(rawValue: "no tier"), sourceLocation: sourceLocation) {
                throw TierNameError(fileName: sourceLocation.fileName)
            }
        }
        let needs = (tier.requirements + also).map(\.rawValue).joined(separator: ", ")
        let comment = Comment(rawValue: "tier \(tier.rawValue) needs: \(needs.isEmpty ? "nothing" : needs)")
        return .enabled(comment, sourceLocation: sourceLocation) {
            try Capabilities.check(tier, also: also)
        }
    }

    /// Enables a suite or test only where every requirement is met (no tier
    /// semantics: it always skips when something is missing).
    public static func requires(
        _ requirements: Requirement...,
        sourceLocation: SourceLocation = #_sourceLocation
    ) -> Self {
        let comment = Comment(rawValue: "needs: " + requirements.map(\.rawValue).joined(separator: ", "))
        return .enabled(comment, sourceLocation: sourceLocation) {
            Capabilities.missing(also: requirements).isEmpty
        }
    }
}

extension Tier {
    /// The tier a file's (or suite's) name starts with; the longest word wins (PeerHost before Host).
    public static func of(fileName: String) -> Tier? {
        allCases.sorted { $0.suitePrefix.count > $1.suitePrefix.count }.first { fileName.hasPrefix($0.suitePrefix) }
    }
}

/// A `.tier()` suite in a file whose name starts with no tier's word.
public struct TierNameError: Error, CustomStringConvertible {
    public let fileName: String
    public var description: String { "\(fileName) does not start with a tier's word (\(Tier.allCases.map(\.suitePrefix)))" }
}
