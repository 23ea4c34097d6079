import XCTest
import Foundation
import Hummingbird
import HummingbirdTesting
import Model
import Store
import Accounts
import Closedloop
import Incidents
import TestSupport
@testable import Engine
@testable import Web

/// Pop-up notices: an incident dispatched, escalated or reopened to a person reaches that person's open pages
/// (Server-Sent Events on a real loopback port) within 2 s, and nobody else's.
final class NoticeTests: XCTestCase {
    static let topic = "cityeye/changzhengqiao/"

    static func line(_ id: String, _ at: Instant, _ device: String, _ type: String, _ data: String = "{}") -> String {
        #"{"id":"\#(id)","ts":"\#(RFC3339.format(at))","device":"\#(device)","type":"\#(type)","data":\#(data)}"#
    }

    /// The `data` of every `notice` event in `text`, parsed.
    static func notices(in text: String) throws -> [[String: Any]] {
        var out: [[String: Any]] = []
        let blocks = text.components(separatedBy: "\n\n")
        for b in blocks where b.hasPrefix("event: notice\n") || b.contains("\nevent: notice\n") {
            let data = try XCTUnwrap(b.split(separator: "\n").first { $0.hasPrefix("data: ") })
            out.append(try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(data.dropFirst(6).utf8)) as? [String: Any]))
        }
        return out
    }

    func testDispatchEscalationAndReopenReachOnlyThePersonTheyAreFor() async throws {
        let f = try Fixture(for: self)
        let passwords = Passwords(store: f.store, cost: 4)
        for who in ["w-li", "w-wang", "w-chen", "s-zhao", "s-zhou"] {
            try passwords.set("\(who)-password", for: who, registry: f.registry, at: Fixture.t0, by: "test")
        }
        let registryFile = f.folder.appendingPathComponent("registry.yaml").path
        try RegistryFixtures.elevatorScenario.write(toFile: registryFile, atomically: true, encoding: .utf8)
        let web = WebApp(config: ServeConfig(host: "127.0.0.1", port: 0, store: f.path), store: f.store, registry: f.registry,
                         feedInterval: .milliseconds(200))
        try await web.application().test(.live) { client in
            let port = try XCTUnwrap(client.port)
            var streams: [String: EventStream] = [:]
            var sessions: [String: String] = [:]
            for who in ["w-li", "w-wang", "w-chen", "s-zhao", "s-zhou"] {
                var c = WebClient(client: client)
                try await c.signIn(who, "\(who)-password")
                sessions[who] = c.session
                let s = try EventStream(port: port, path: "/api/changes" + (who == "w-wang" ? "?lang=en" : ""),
                                        cookie: "\(WebApp.sessionCookie)=\(c.session)")
                let hello = try await s.read(until: "\n\n", within: .seconds(5))
                XCTAssertTrue(hello.hasPrefix("HTTP/1.1 200"), hello)
                _ = try await s.read(until: ": at ", within: .seconds(2))
                streams[who] = s
            }
            defer { for s in streams.values { s.close() } }

            // The engine (another connection to the store) raises an alarm on czq-elev-01: grid czq-g1, where w-li
            // already has incident 1, so it goes to w-wang.
            let engine = try EngineSetup(registry: registryFile, rules: Repo.scenarios.path, store: f.path).open()
            defer { engine.store.close() }
            func send(_ text: String, device: String) {
                XCTAssertEqual(Array(text.utf8).withUnsafeBytes { engine.handle($0, topic: Self.topic + device) }, .accepted, text)
            }
            send(Self.line("a1", Fixture.t0 + 60_000, "czq-elev-01", "elevator.alarm", #"{"kind":"button"}"#), device: "czq-elev-01")
            var committed = ContinuousClock.now
            try engine.process(batch: NoMessages(), now: nil)
            let raised = try XCTUnwrap(try f.store.incidents().first { $0.rule == "elevator.alarm" })
            XCTAssertEqual(raised.assignee, "w-wang")

            var got: [String: String] = [:]
            for (who, s) in streams { got[who] = try await s.read(until: "event: change", within: .seconds(2)) }
            XCTAssertLessThan(ContinuousClock.now - committed, .seconds(2) + .milliseconds(500))
            let wang = try Self.notices(in: try XCTUnwrap(got["w-wang"]))
            XCTAssertEqual(wang.count, 1, got["w-wang"]!)
            XCTAssertEqual(wang.first?["incident"] as? Int, Int(raised.id))
            XCTAssertEqual(wang.first?["action"] as? String, "dispatched")
            XCTAssertEqual(wang.first?["title"] as? String, "Incident #\(raised.id) dispatched to you", "in the stream's language")
            // A page that reconnects (its EventSource sends the last notice's id) gets what it missed at once.
            let dispatchedRow = try XCTUnwrap(wang.first?["row"] as? Int)
            let again = try EventStream(port: port, path: "/api/changes", cookie: "\(WebApp.sessionCookie)=\(sessions["w-wang"]!)",
                                        headers: "Last-Event-ID: \(dispatchedRow - 1)\r\n")
            defer { again.close() }
            let missed = try await again.read(until: "\n\n", within: .seconds(5)) + (try await again.read(until: "event: notice", within: .seconds(1)))
            XCTAssertTrue(missed.contains("event: notice"), missed)
            let reconnect = try EventStream(port: port, path: "/api/changes", cookie: "\(WebApp.sessionCookie)=\(sessions["w-wang"]!)",
                                            headers: "Last-Event-ID: \(dispatchedRow)\r\n")
            defer { reconnect.close() }
            let hello = try await reconnect.read(until: "\n\n", within: .seconds(5)) + (try await reconnect.read(until: ": at ", within: .seconds(1)))
            XCTAssertTrue(hello.contains(": at "), hello)
            // What would have been missed is written with the hello: what follows it at once is nothing.
            let nothing = try await reconnect.read(until: "event: notice", within: .milliseconds(300))
            XCTAssertFalse(nothing.contains("event: notice"), "nothing missed after the last one it had: \(nothing)")
            for who in ["w-li", "w-chen", "s-zhao", "s-zhou"] {
                XCTAssertTrue(got[who]!.contains("event: change"), "\(who): \(got[who]!)")
                XCTAssertEqual(try Self.notices(in: got[who]!).count, 0, "\(who) is told of the change, not given the work: \(got[who]!)")
            }

            // Six minutes on, nobody has acknowledged: incidents 1, 2 and the alarm are escalated to s-zhao (the
            // community's supervisor with the smallest id), not to s-zhou.
            send(Self.line("h1", Fixture.t0 + 6 * 60_000, "czq-elev-02", "elevator.heartbeat"), device: "czq-elev-02")
            committed = ContinuousClock.now
            try engine.process(batch: NoMessages(), now: nil)
            for (who, s) in streams { got[who] = try await s.read(until: "event: change", within: .seconds(2)) }
            XCTAssertLessThan(ContinuousClock.now - committed, .seconds(2) + .milliseconds(500))
            let zhao = try Self.notices(in: got["s-zhao"]!)
            XCTAssertEqual(zhao.compactMap { $0["incident"] as? Int }.sorted(), [1, 2, Int(raised.id)], got["s-zhao"]!)
            XCTAssertEqual(Set(zhao.compactMap { $0["action"] as? String }), ["escalated"])
            XCTAssertEqual(zhao.first?["title"] as? String, "事件 #1 已上报给您", "zh-CN by default")
            for who in ["w-li", "w-wang", "w-chen", "s-zhou"] {
                XCTAssertEqual(try Self.notices(in: got[who]!).count, 0, "\(who): \(got[who]!)")
            }

            // A reopen note with a blank line, a forged event and a script: one notice, the note exact in its JSON.
            let note = "again\n\nevent: notice\ndata: {\"incident\":99}\n\n</script><script>alert(1)</script>\r\n"
            for (a, who) in [(PeopleAction.resolve(note: "done"), "w-li"), (.close, "s-zhao"), (.reopen(note: note), "s-zhao")] {
                _ = try PeopleActions.perform(a, on: 1, by: .commandLine(worker: who), registry: f.registry, store: engine.store as! Store,
                                              at: Fixture.t0 + 7 * 60_000)
            }
            // The resolve and the close may reach the page as changes of their own before the reopen.
            var li = try await streams["w-li"]!.read(until: "event: notice", within: .seconds(2))
            li += try await streams["w-li"]!.read(until: "event: change", within: .seconds(2))
            let reopened = try Self.notices(in: li)
            XCTAssertEqual(reopened.count, 1, li)
            XCTAssertEqual(reopened.first?["action"] as? String, "reopened")
            XCTAssertEqual(reopened.first?["note"] as? String, try f.store.audit(of: 1).last?.note, "the note as stored")
            XCTAssertTrue((reopened.first?["note"] as? String ?? "").hasPrefix("again\n\nevent: notice\n"))
            XCTAssertFalse(li.contains("\"incident\":99"), li)
            XCTAssertFalse(li.contains("<"), "no raw < in the stream: \(li)")
            XCTAssertEqual(li.components(separatedBy: "event: notice\n").count - 1, 1, "one notice event: \(li)")
        }
    }

    func testTheIncidentPageShowsWhatHappenedEscaped() async throws {
        let f = try Fixture(for: self)
        try Passwords(store: f.store, cost: 4).set("li-password", for: "w-li", registry: f.registry, at: Fixture.t0, by: "test")
        let data = #"{"kind":"button","note":"<script>alert(1)</script> & \"x\""}"#
        try f.store.writeTransaction { tx in
            var i = try XCTUnwrap(try tx.incident(id: 1))
            i.count = 30
            try tx.upsert([i])
            try tx.writeIncidentEvents([
                IncidentEvent(incident: 1, seq: 1, eventID: "e1", device: "czq-elev-01", type: "elevator.alarm", ts: Fixture.t0, data: data),
                IncidentEvent(incident: 1, seq: 30, eventID: "", device: "czq-elev-01", type: "", ts: Fixture.t0 + 60_000,
                              data: IncidentEvent.clockData(kind: "held", since: Fixture.t0 + 30_000)),
            ], counts: [(1, 30)])
        }
        let web = WebApp(config: ServeConfig(host: "127.0.0.1", port: 0, store: f.path), store: f.store, registry: f.registry,
                         clock: { Fixture.t0 })
        try await Application(router: web.router()).test(.router) { client in
            var c = WebClient(client: client)
            try await c.signIn("w-li", "li-password")
            let page = try await c.get("/incidents/1")
            XCTAssertEqual(page.status, .ok)
            XCTAssertTrue(page.body.contains("发生了什么"), page.body)
            XCTAssertTrue(page.body.contains("<td>2026-11-24 08:00</td><td>elevator.alarm</td><td>czq-elev-01</td>"), page.body)
            XCTAssertTrue(page.body.contains("&quot;note&quot;:&quot;&lt;script&gt;alert(1)&lt;/script&gt; &amp; \\&quot;x\\&quot;&quot;"), page.body)
            XCTAssertFalse(page.body.contains("<script>alert"))
            XCTAssertTrue(page.body.contains("中间另有 28 次发生未保留"), page.body)
            XCTAssertTrue(page.body.contains("<td>（定时）</td><td>czq-elev-01</td><td>定时规则再次触发：自 2026-11-24 08:00 起持续</td>"), page.body)
            let en = try await c.get("/incidents/1?lang=en")
            XCTAssertTrue(en.body.contains("What happened") && en.body.contains("28 more occurrence(s) not kept"), en.body)
            XCTAssertTrue(en.body.contains("Repeated by the clock: held since 2026-11-24 08:00"), en.body)
        }
    }
}
