import Foundation
import Testing
import TestSupport

/// `kubectl apply -k install/`: the kustomization renders offline (kubectl kustomize) into the ServiceAccount,
/// ConfigMap and DaemonSet in kube-system, the image is named in one place, the ServiceAccount leaves IRSA's
/// annotation alone, and the agent container's probes point at its metrics endpoint.
@Suite struct UnitKustomizeInstallTests {
    static let hasTools = Shell.run(["kubectl", "version", "--client"], timeout: 60).status == 0
        && UnitInstallManifestsTests.hasPyYAML

    /// Renders `dir` (a copy of install/ or install/ itself) into its objects.
    static func render(_ dir: String) throws -> [[String: Any]] {
        let yaml = try Shell.check(["kubectl", "kustomize", dir], timeout: 120)
        let json = try Shell.check(["python3", "-c",
            "import json,sys,yaml; print(json.dumps([d for d in yaml.safe_load_all(sys.stdin) if d]))"],
            stdin: Array(yaml.utf8), timeout: 60)
        return try #require(try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [[String: Any]])
    }

    static func containers(_ ds: [String: Any]) throws -> [[String: Any]] {
        let pod = try #require(((ds["spec"] as? [String: Any])?["template"] as? [String: Any])?["spec"] as? [String: Any])
        return (pod["initContainers"] as? [[String: Any]] ?? []) + (pod["containers"] as? [[String: Any]] ?? [])
    }

    @Test(.enabled(if: hasTools || Capabilities.isCI))
    func rendersTheThreeObjectsInKubeSystem() throws {
        let objects = try Self.render(UnitInstallManifestsTests.repo + "/install")
        #expect(objects.map { $0["kind"] as? String ?? "?" }.sorted() == ["ConfigMap", "DaemonSet", "ServiceAccount"])
        for o in objects {
            let meta = try #require(o["metadata"] as? [String: Any])
            #expect(meta["namespace"] as? String == "kube-system", "\(meta)")
            #expect(meta["name"] as? String == "eni-multus-node", "\(meta)")
        }
        let sa = try #require(objects.first { $0["kind"] as? String == "ServiceAccount" })
        let annotations = (sa["metadata"] as? [String: Any])?["annotations"] as? [String: Any] ?? [:]
        #expect(annotations["eks.amazonaws.com/role-arn"] == nil,
                "applying the install must not overwrite the IRSA role eksctl set: \(annotations)")

        let ds = try #require(objects.first { $0["kind"] as? String == "DaemonSet" })
        let cs = try Self.containers(ds)
        #expect(cs.count == 3)
        #expect(Set(cs.compactMap { $0["image"] as? String }) == ["REGISTRY/eni-multus:VERSION"])
        let agent = try #require(cs.first { ($0["command"] as? [String])?.dropFirst().first == "agent" })
        let cmd = try #require(agent["command"] as? [String])
        let port = try #require(cmd.firstIndex(of: "--metrics-port").map { Int(cmd[$0 + 1]) } ?? nil)
        for probe in ["readinessProbe", "livenessProbe"] {
            let get = try #require((agent[probe] as? [String: Any])?["httpGet"] as? [String: Any], "\(probe) missing")
            #expect(get["path"] as? String == "/metrics", "\(probe)")
            #expect(get["port"] as? Int == port, "\(probe) must probe the --metrics-port the command serves")
        }
    }

    @Test(.enabled(if: hasTools || Capabilities.isCI))
    func theImageIsSetInOnePlace() throws {
        let tmp = NSTemporaryDirectory() + "/emt-kustomize-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        defer { try? FileManager.default.removeItem(atPath: tmp) }
        try Shell.check(["cp", "-r", UnitInstallManifestsTests.repo + "/install", tmp], timeout: 60)
        let k = tmp + "/kustomization.yaml"
        var text = try String(contentsOfFile: k, encoding: .utf8)
        #expect(text.contains("newName: REGISTRY/eni-multus") && text.contains("newTag: VERSION"))
        text = text.replacingOccurrences(of: "newName: REGISTRY/eni-multus", with: "newName: 111122223333.dkr.ecr.us-east-1.amazonaws.com/eni-multus")
            .replacingOccurrences(of: "newTag: VERSION", with: "newTag: 0.2.0")
        try text.write(toFile: k, atomically: true, encoding: .utf8)
        let ds = try #require(try Self.render(tmp).first { $0["kind"] as? String == "DaemonSet" })
        #expect(Set(try Self.containers(ds).compactMap { $0["image"] as? String })
                == ["111122223333.dkr.ecr.us-east-1.amazonaws.com/eni-multus:0.2.0"])
    }
}
