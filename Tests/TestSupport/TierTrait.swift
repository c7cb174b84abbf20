// Swift Testing glue for tiers.
//
//   @Suite(.tier(.kernel))                       struct KernelIPVlanTests { … }
//   @Suite(.tier(.peerKernel, also: [.nic]))     struct PeerKernelHostDeviceTests { … }
//
// Off CI (or when another tier is being run) the suite is skipped with a
// comment naming what is missing.  With CI=true and ENI_MULTUS_TIER naming the
// tier, a missing capability fails each test with MissingCapabilityError
// instead of skipping.

import Testing

extension Trait where Self == ConditionTrait {
    /// Enables a suite or test only where `tier` (plus `also`) can run; see
    /// `Capabilities.check(_:also:)`.
    public static func tier(
        _ tier: Tier,
        also: [Requirement] = [],
        sourceLocation: SourceLocation = #_sourceLocation
    ) -> Self {
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
