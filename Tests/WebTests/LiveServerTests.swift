import XCTest
import Foundation
import Hummingbird
import HummingbirdTesting
import Model
import Store
import Accounts
import Web
import TestSupport

/// The web app on a real loopback port: Server-Sent Events tell an open page about a change made by another
/// connection to the store (as the CLI or the engine would make it) within 2 s.
final class LiveServerTests: XCTestCase {
    func testChangeInTheStoreReachesAnOpenEventStreamWithinTwoSeconds() async throws {
        let f = try Fixture(for: self)
        try Passwords(store: f.store, cost: 4).set("zhao-password", for: "s-zhao", registry: f.registry, at: Fixture.t0, by: "test")
        let web = WebApp(config: ServeConfig(host: "127.0.0.1", port: 0, store: f.path), store: f.store, registry: f.registry)
        try await web.application().test(.live) { client in
            var c = WebClient(client: client)
            try await c.signIn("s-zhao", "zhao-password")
            let port = try XCTUnwrap(client.port)
            let stream = try EventStream(port: port, path: "/api/changes", cookie: "\(WebApp.sessionCookie)=\(c.session)")
            defer { stream.close() }
            let hello = try await stream.read(until: "\n\n", within: .seconds(5))
            XCTAssertTrue(hello.hasPrefix("HTTP/1.1 200"), hello)
            XCTAssertTrue(hello.lowercased().contains("content-type: text/event-stream"), hello)

            let other = try Store(path: f.path, create: false)
            defer { other.close() }
            let changedAt = ContinuousClock.now
            _ = try PeopleActionsFixture.resolve(f, 1, at: Fixture.t0, store: other)
            let event = try await stream.read(until: "event: change", within: .seconds(2))
            XCTAssertTrue(event.contains("event: change"), event)
            XCTAssertLessThan(ContinuousClock.now - changedAt, .seconds(2))
        }
    }
}

/// A bare HTTP/1.1 client that reads a streamed response as it arrives, without blocking a thread for long.
final class EventStream: @unchecked Sendable {
    private let fd: Int32
    private var received = ""

    /// `headers`: more request header lines, each ending in CRLF.
    init(port: Int, path: String, cookie: String, headers: String = "") throws {
        fd = try connectLoopback(port: port)
        let request = "GET \(path) HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\nCookie: \(cookie)\r\n\(headers)\r\n"
        _ = request.withCString { write(fd, $0, strlen($0)) }
    }

    /// Everything received until `marker` has arrived (or the time is up); what came before it is consumed.
    func read(until marker: String, within limit: Duration) async throws -> String {
        let deadline = ContinuousClock.now + limit
        while ContinuousClock.now < deadline {
            if let r = received.range(of: marker) {
                let out = String(received[..<r.upperBound])
                received = String(received[r.upperBound...])
                return out
            }
            var p = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            if poll(&p, 1, 0) > 0 {
                var buffer = [UInt8](repeating: 0, count: 4096)
                let n = recv(fd, &buffer, buffer.count, 0)
                if n <= 0 { break }
                received += String(decoding: buffer[..<n], as: UTF8.self)
            } else {
                try await Task.sleep(for: .milliseconds(20))
            }
        }
        return received
    }

    func close() { _ = Glibc.close(fd) }
}
