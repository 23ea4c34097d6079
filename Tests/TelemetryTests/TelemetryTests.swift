import XCTest
import CoreMetrics
import Hummingbird
import HummingbirdTesting
@testable import Telemetry

final class TelemetryTests: XCTestCase {
    func testExpositionShowsWhatWasRecordedThroughSwiftMetrics() {
        let m = MetricsRegistry()
        CoreMetrics.Counter(label: "cityeye_things_total", dimensions: [("reason", "bad_json")], factory: m.factory).increment(by: 3)
        CoreMetrics.Timer(label: "cityeye_work_seconds", factory: m.factory).recordMilliseconds(3)
        CoreMetrics.Recorder(label: "cityeye_batch_messages", factory: m.factory).record(700)
        let text = m.exposition()
        XCTAssertTrue(text.contains(#"cityeye_things_total{reason="bad_json"} 3"#), text)
        // A 3 ms commit lands in the 5 ms bucket, not the 2 ms one (buckets are in seconds).
        XCTAssertTrue(text.contains(#"cityeye_work_seconds_bucket{le="0.002"} 0"#), text)
        XCTAssertTrue(text.contains(#"cityeye_work_seconds_bucket{le="0.005"} 1"#), text)
        // Batch sizes have their own buckets up to the largest batch.
        XCTAssertTrue(text.contains(#"cityeye_batch_messages_bucket{le="500.0"} 0"#), text)
        XCTAssertTrue(text.contains(#"cityeye_batch_messages_bucket{le="1000.0"} 1"#), text)
    }

    func testHealthReportJSON() {
        XCTAssertEqual(HealthReport.ok(["age_s": .number(3), "connected": .flag(true)]).json,
                       #"{"age_s":3,"connected":true,"status":"ok"}"#)
        XCTAssertEqual(HealthReport.unhealthy("broker disconnected since 2026-11-24T10:00:00Z", ["age_s": .number(1.5)]).json,
                       #"{"age_s":1.5,"reason":"broker disconnected since 2026-11-24T10:00:00Z","status":"unhealthy"}"#)
    }

    func testRoutesAnswerMetricsAndHealthWithTheRightStatus() async throws {
        let m = MetricsRegistry()
        CoreMetrics.Counter(label: "cityeye_things_total", factory: m.factory).increment()
        let healthy = HealthFlag()
        let router = Router()
        router.middlewares.add(HTTPMetricsMiddleware(factory: m.factory))
        router.addTelemetryRoutes(metrics: m) { healthy.value ? .ok() : .unhealthy("store busy: last commit 45 s ago") }
        let app = Application(router: router)
        try await app.test(.router) { client in
            try await client.execute(uri: "/metrics", method: .get) { r in
                XCTAssertEqual(r.status, .ok)
                XCTAssertEqual(r.headers[.contentType], MetricsRegistry.contentType)
                XCTAssertTrue(String(buffer: r.body).contains("cityeye_things_total 1"))
            }
            try await client.execute(uri: "/healthz", method: .get) { r in
                XCTAssertEqual(r.status, .ok)
                XCTAssertEqual(String(buffer: r.body), #"{"status":"ok"}"# + "\n")
            }
            healthy.value = false
            try await client.execute(uri: "/healthz", method: .get) { r in
                XCTAssertEqual(r.status, .serviceUnavailable)
                XCTAssertTrue(String(buffer: r.body).contains("store busy: last commit 45 s ago"))
            }
            try await client.execute(uri: "/nothing-here", method: .get) { r in XCTAssertEqual(r.status, .notFound) }
            try await client.execute(uri: "/metrics", method: .get) { r in
                let text = String(buffer: r.body)
                XCTAssertTrue(text.contains(#"cityeye_http_requests_total{route="/healthz",method="GET",status="200"} 1"#), text)
                XCTAssertTrue(text.contains(#"cityeye_http_requests_total{route="/healthz",method="GET",status="503"} 1"#), text)
                XCTAssertTrue(text.contains(#"cityeye_http_requests_total{route="unmatched",method="GET",status="404"} 1"#), text)
            }
        }
    }
}

final class HealthFlag: @unchecked Sendable {
    private let lock = NSLock()
    private var v = true
    var value: Bool {
        get { lock.withLock { v } }
        set { lock.withLock { v = newValue } }
    }
}
