import XCTest
@testable import Registry

/// The live config's optional `metrics: {listen: host:port}` (where `cityeye run` serves /metrics and /healthz).
extension RegistryTests {
    func testMetricsListenIsOptionalAndABadOneIsAnErrorNamingTheKey() throws {
        let base = "broker: {host: 127.0.0.1, port: 1883}\nregistry: registry.yaml\nrules: rules\nstore: cityeye.db\n"
        XCTAssertNil(try config(base).get().metricsListen)
        XCTAssertEqual(try config(base + "metrics: {listen: \"127.0.0.1:9464\"}\n").get().metricsListen,
                       ListenAddress(host: "127.0.0.1", port: 9464))
        XCTAssertEqual(try config(base + "metrics: {listen: \"localhost:0\"}\n").get().metricsListen,
                       ListenAddress(host: "localhost", port: 0))
        let refused: [(metrics: String, says: String)] = [
            ("{listen: \"127.0.0.1\"}", "metrics.listen must be host:port with a port 0–65535, e.g. 127.0.0.1:9464; got 127.0.0.1"),
            ("{listen: \"127.0.0.1:70000\"}", "metrics.listen must be host:port"),
            ("{listen: \":9464\"}", "metrics.listen must be host:port"),
            ("{listen: [a, b]}", "metrics.listen"),
            ("{}", "missing required key `metrics.listen`"),
            ("{listen: \"127.0.0.1:9464\", path: /m}", "unknown key `path`"),
            ("9464", "metrics"),
        ]
        for (metrics, says) in refused {
            XCTAssertThrowsError(try config(base + "metrics: \(metrics)\n").get(), metrics) { error in
                XCTAssertTrue("\(error)".contains(says), "\(error) should contain \(says)")
            }
        }
    }
}
