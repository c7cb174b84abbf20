#if canImport(Glibc)
import Glibc
#endif
import Testing
import NodeAgent

@Suite("Unit: reconcile metrics")
struct UnitMetricsTests {
    @Test("Prometheus text: HELP/TYPE for each metric; counters add up, gauges take the last pass")
    func render() {
        let m = ReconcileMetrics()
        m.record(assigned: 5, leaked: 2, released: 1, queued: 3, ec2Calls: 4, errors: 0, throttles: 1, now: 1000)
        m.record(assigned: 4, leaked: 0, released: 2, queued: 0, ec2Calls: 2, errors: 1, throttles: 2, now: 1060)
        let text = m.render()
        for line in ["eni_multus_assigned_addresses 4", "eni_multus_leaked_addresses 0", "eni_multus_released_total 3",
                     "eni_multus_release_queue 0", "eni_multus_ec2_calls_total 6", "eni_multus_ec2_errors_total 1",
                     "eni_multus_ec2_throttles_total 3", "eni_multus_reconcile_passes_total 2",
                     "eni_multus_reconcile_last_success_timestamp_seconds 1000", "# TYPE eni_multus_released_total counter"] {
            #expect(text.split(separator: "\n").contains(Substring(line)), "missing \(line)")
        }
        #expect(Self.helpTypeProblems(text, metrics: ReconcileMetrics.catalogue.count) == [])
    }

    @Test("the agent's counters are read at every scrape (live), over what was recorded")
    func liveValues() {
        let m = ReconcileMetrics()
        nonisolated(unsafe) var requests = 3.0
        m.live = { ["eni_multus_agent_requests_total": requests, "eni_multus_agent_ec2_mutations_total": 1] }
        #expect(m.render().split(separator: "\n").contains("eni_multus_agent_requests_total 3"))
        requests = 7
        let text = m.render()
        #expect(text.split(separator: "\n").contains("eni_multus_agent_requests_total 7"))
        #expect(text.split(separator: "\n").contains("eni_multus_agent_ec2_mutations_total 1"))
        #expect(Self.helpTypeProblems(text, metrics: ReconcileMetrics.catalogue.count) == [])
    }

    /// HELP and TYPE for each metric, right before its sample: counters end in _total (Prometheus naming), the rest
    /// are gauges; `metrics` samples, and no sample without them. [] when the text keeps all of that.
    static func helpTypeProblems(_ text: String, metrics: Int) -> [String] {
        var out: [String] = []
        let lines = text.split(separator: "\n").map(String.init)
        let samples = lines.filter { !$0.hasPrefix("#") }
        if samples.count != metrics { out.append("\(samples.count) samples, expected \(metrics)") }
        for (i, sample) in lines.enumerated() where !sample.hasPrefix("#") {
            let name = String(sample.split(separator: " ")[0])
            let type = name.hasSuffix("_total") ? "counter" : "gauge"
            if !(i >= 2 && lines[i - 2].hasPrefix("# HELP \(name) ") && lines[i - 2].count > "# HELP \(name) ".count) {
                out.append("no HELP line for \(name)")
            }
            if !(i >= 1 && lines[i - 1] == "# TYPE \(name) \(type)") { out.append("no TYPE \(type) line for \(name)") }
        }
        if lines.filter({ $0.hasPrefix("# HELP ") }).count != samples.count { out.append("HELP lines ≠ samples") }
        if lines.filter({ $0.hasPrefix("# TYPE ") }).count != samples.count { out.append("TYPE lines ≠ samples") }
        return out
    }

    /// Test of the test: the HELP/TYPE check fails on a rendering that drops one TYPE line, or types a
    /// counter as a gauge.
    @Test("the HELP/TYPE check notices a missing TYPE line and a wrong type")
    func helpTypeCheckNoticesBrokenText() {
        let m = ReconcileMetrics()
        m.record(assigned: 1, leaked: 0, released: 0, queued: 0, ec2Calls: 0, errors: 0, throttles: 0, now: 1)
        let good = m.render()
        #expect(Self.helpTypeProblems(good, metrics: ReconcileMetrics.catalogue.count) == [])
        let noType = good.split(separator: "\n").filter { $0 != "# TYPE eni_multus_release_queue gauge" }.joined(separator: "\n")
        #expect(Self.helpTypeProblems(noType, metrics: ReconcileMetrics.catalogue.count).contains("no TYPE gauge line for eni_multus_release_queue"))
        let wrongType = good.replacingOccurrences(of: "# TYPE eni_multus_released_total counter", with: "# TYPE eni_multus_released_total gauge")
        #expect(Self.helpTypeProblems(wrongType, metrics: ReconcileMetrics.catalogue.count).contains("no TYPE counter line for eni_multus_released_total"))
    }

    @Test("GET /metrics on the server answers 200 with the text; other paths 404")
    func server() throws {
        let m = ReconcileMetrics()
        m.record(assigned: 7, leaked: 0, released: 0, queued: 0, ec2Calls: 1, errors: 0, throttles: 0, now: 1)
        let s = try MetricsServer(address: "127.0.0.1", port: 0, metrics: m)
        s.start()
        func get(_ path: String) -> String { UnitMetricsResetTests.get(s.port, path: path) }
        let ok = get("/metrics")
        #expect(ok.hasPrefix("HTTP/1.0 200") && ok.contains("eni_multus_assigned_addresses 7"))
        #expect(get("/").hasPrefix("HTTP/1.0 404"))
    }
}
