import XCTest
import Foundation
import Hummingbird
import HummingbirdTesting
import Model
import Store
import Accounts
import Telemetry
import Web
import TestSupport

/// `cityeye serve`'s /metrics and /healthz: no login needed, counts only, healthy while the store can be read.
final class WebTelemetryTests: XCTestCase {
    func app(_ f: Fixture, _ metrics: MetricsRegistry) -> WebApp {
        WebApp(config: ServeConfig(host: "127.0.0.1", port: 0, store: f.path), store: f.store, registry: f.registry,
               metrics: metrics, clock: { Fixture.t0 + 60_000 })
    }

    func testMetricsCountRequestsByRouteAndFailedLoginsWithoutNamingAnyone() async throws {
        let f = try Fixture(for: self)
        try Passwords(store: f.store, cost: 4).set("li-password", for: "w-li", registry: f.registry, at: Fixture.t0, by: "test")
        let metrics = MetricsRegistry()
        let web = app(f, metrics)
        try await Application(router: web.router()).test(.router) { client in
            var c = WebClient(client: client)
            let wrong = try await c.signIn("w-li", "guess")
            XCTAssertEqual(wrong.status, .unauthorized)
            try await c.signIn("w-li", "li-password")
            let own = try await c.get("/incidents/1"), other = try await c.get("/incidents/2")
            XCTAssertEqual(own.status, .ok)
            XCTAssertEqual(other.status, .forbidden)
            let page = try await WebClient(client: client).get("/metrics")
            XCTAssertEqual(page.status, .ok, "no login needed")
            XCTAssertEqual(page.headers[.contentType], MetricsRegistry.contentType)
            let text = page.body
            XCTAssertEqual(metric(text, #"cityeye_web_login_failures_total{reason="wrong_password"}"#), 1, text)
            XCTAssertEqual(metric(text, #"cityeye_web_login_failures_total{reason="throttled"}"#), 0, text)
            // One series per route pattern, never per incident id.
            XCTAssertEqual(metric(text, #"cityeye_http_requests_total{route="/incidents/{id}",method="GET",status="200"}"#), 1, text)
            XCTAssertEqual(metric(text, #"cityeye_http_requests_total{route="/incidents/{id}",method="GET",status="403"}"#), 1, text)
            XCTAssertEqual(metric(text, #"cityeye_http_requests_total{route="/login",method="POST",status="401"}"#), 1, text)
            XCTAssertNotNil(metric(text, #"cityeye_http_request_duration_seconds_count{route="/login",method="POST",status="303"}"#), text)
            for personal in ["w-li", "li-password", "guess", "127.0.0.1"] {
                XCTAssertFalse(text.contains(personal), "\(personal) must not appear in /metrics")
            }
        }
    }

    func testHealthIs200WhileTheStoreCanBeReadElse503SayingWhy() async throws {
        let f = try Fixture(for: self)
        let web = app(f, MetricsRegistry())
        try await Application(router: web.router()).test(.router) { client in
            let c = WebClient(client: client)
            let ok = try await c.get("/healthz")
            XCTAssertEqual(ok.status, .ok)
            XCTAssertEqual(ok.body, #"{"last_audit_row":2,"status":"ok"}"# + "\n")
            // Another process leaves the store in a shape this version cannot read.
            let sqlite = try CityEyeBinary.run(program: URL(fileURLWithPath: "/usr/bin/sqlite3"), [f.path,
                "DROP TRIGGER audit_no_update; DROP TRIGGER audit_no_delete; ALTER TABLE audit RENAME TO audit_elsewhere;"])
            XCTAssertEqual(sqlite.code, 0, sqlite.err)
            let bad = try await c.get("/healthz")
            XCTAssertEqual(bad.status, .serviceUnavailable)
            XCTAssertTrue(bad.body.contains(#""status":"unhealthy""#), bad.body)
            XCTAssertTrue(bad.body.contains("store \(f.path) cannot be read"), bad.body)
        }
    }

    func testEventStreamClientsAreCountedWhileConnected() async throws {
        let f = try Fixture(for: self)
        try Passwords(store: f.store, cost: 4).set("zhao-password", for: "s-zhao", registry: f.registry, at: Fixture.t0, by: "test")
        let metrics = MetricsRegistry()
        let web = WebApp(config: ServeConfig(host: "127.0.0.1", port: 0, store: f.path), store: f.store, registry: f.registry, metrics: metrics)
        try await web.application().test(.live) { client in
            var c = WebClient(client: client)
            try await c.signIn("s-zhao", "zhao-password")
            XCTAssertEqual(metric(metrics.exposition(), "cityeye_web_sse_clients"), 0)
            let stream = try EventStream(port: try XCTUnwrap(client.port), path: "/api/changes", cookie: "\(WebApp.sessionCookie)=\(c.session)")
            _ = try await stream.read(until: "\n\n", within: .seconds(5))
            let scraped = try await c.get("/metrics")
            XCTAssertEqual(metric(scraped.body, "cityeye_web_sse_clients"), 1)
            stream.close()
            // The server finds the page gone at the stream's next write (a keep-alive comment every 5 s).
            let deadline = ContinuousClock.now + .seconds(12)
            while metric(metrics.exposition(), "cityeye_web_sse_clients") != 0 && ContinuousClock.now < deadline {
                try await Task.sleep(for: .milliseconds(100))
            }
            XCTAssertEqual(metric(metrics.exposition(), "cityeye_web_sse_clients"), 0)
        }
    }
}
