import XCTest
import Hummingbird
import HummingbirdTesting
import Model
import Incidents
import Store
import Accounts
import Web

/// The web app in process (Hummingbird's router test client) on a real store file.
final class WebAppTests: XCTestCase {
    var f: Fixture!
    var app: WebApp!
    let now = Fixture.t0 + 60_000

    override func setUpWithError() throws {
        f = try Fixture(for: self)
        let passwords = Passwords(store: f.store, cost: 4)
        for (who, pw) in [("w-li", "li-password"), ("w-chen", "chen-password"), ("s-zhao", "zhao-password")] {
            try passwords.set(pw, for: who, registry: f.registry, at: Fixture.t0, by: "test")
        }
        let at = now
        app = WebApp(config: ServeConfig(host: "127.0.0.1", port: 0, store: f.path), store: f.store, registry: f.registry,
                     clock: { at })
    }

    func withClient(_ body: @Sendable (WebClient) async throws -> Void) async throws {
        try await Application(router: app.router()).test(.router) { try await body(WebClient(client: $0)) }
    }

    func testUnauthenticatedGetsLoginPageOr401() async throws {
        try await withClient { c in
            let home = try await c.get("/")
            XCTAssertEqual(home.status, .seeOther)
            XCTAssertEqual(home.headers[.location], "/login?next=%2F")
            let r1 = try await c.get("/incidents/1")
            XCTAssertEqual(r1.headers[.location], "/login?next=%2Fincidents%2F1")
            let r2 = try await c.get("/api/changes")
            XCTAssertEqual(r2.status, .unauthorized)
            let post = try await c.post("/incidents/1/ack", [], csrf: "x")
            XCTAssertEqual(post.status, .unauthorized)
            let r3 = try await c.get("/login")
            XCTAssertEqual(r3.status, .ok)
        }
        XCTAssertEqual(try f.store.incident(id: 1)?.status, .dispatched)
    }

    func testLoginSetsStrictHttpOnlySessionCookieAndLogoutEndsIt() async throws {
        try await withClient { c in
            var c = c
            let wrong = try await c.signIn("w-li", "not-her-password")
            XCTAssertEqual(wrong.status, .unauthorized)
            XCTAssertTrue(wrong.body.contains("工号或密码错误"), wrong.body)
            let ok = try await c.signIn("w-li", "li-password")
            XCTAssertEqual(ok.status, .seeOther)
            let line = try XCTUnwrap(ok.headers[values: .setCookie].first { $0.hasPrefix("ce_session=") })
            XCTAssertTrue(line.contains("HttpOnly"), line)
            XCTAssertTrue(line.contains("SameSite=Strict"), line)
            XCTAssertFalse(line.contains("Secure"), "no TLS configured: \(line)")
            let r4 = try await c.get("/")
            XCTAssertEqual(r4.status, .ok)
            let r5 = try await c.post("/logout", [])
            XCTAssertEqual(r5.status, .seeOther)
            let r6 = try await c.get("/")
            XCTAssertEqual(r6.status, .seeOther, "the session ended")
        }
    }

    func testSupervisorGoesToCockpitWorkerMayNot() async throws {
        try await withClient { c in
            var s = c
            let login = try await s.signIn("s-zhao", "zhao-password")
            XCTAssertEqual(login.headers[.location], "/cockpit")
            let cockpit = try await s.get("/cockpit")
            XCTAssertEqual(cockpit.status, .ok)
            XCTAssertTrue(cockpit.body.contains("<b id=\"count-open\">2</b>"), cockpit.body)
            var w = c
            try await w.signIn("w-li", "li-password")
            let r7 = try await w.get("/cockpit")
            XCTAssertEqual(r7.status, .forbidden)
            let mine = try await w.get("/?lang=en")
            XCTAssertTrue(mine.body.contains("data-incident=\"1\""))
            XCTAssertFalse(mine.body.contains("data-incident=\"2\""), "w-chen's incident is not on w-li's page")
            XCTAssertTrue(mine.body.contains("My incidents"))
            let r8 = try await w.get("/incidents/2")
            XCTAssertEqual(r8.status, .forbidden)
        }
    }

    func testCockpitChartsIncidentsPerHourEvenOnAStoreOfPastDays() async throws {
        for later in [Millis(0), 10 * 24 * Durations.hour] {
            let at = now + later
            let web = WebApp(config: ServeConfig(host: "127.0.0.1", port: 0, store: f.path), store: f.store, registry: f.registry,
                             clock: { at })
            try await Application(router: web.router()).test(.router) { client in
                var s = WebClient(client: client)
                try await s.signIn("s-zhao", "zhao-password")
                let cockpit = try await s.get("/cockpit")
                XCTAssertTrue(cockpit.body.contains("data-hour=\"167\" data-scenario=\"elevator\" data-count=\"2\""), cockpit.body)
                XCTAssertEqual(cockpit.body.components(separatedBy: "data-hour=").count - 1, 1, "one bar: both raised in one hour")
            }
        }
    }

    /// The cockpit counts and lists in the store (one community, indexed queries), with the CLI's filters: the list
    /// shows the newest 300 that match and says how many match; another community's incidents are on no part of it.
    func testCockpitCountsAndListsTheCommunityFromTheStoreWithFilters() async throws {
        let statuses: [IncidentStatus] = [.dispatched, .acknowledged, .resolved, .closed]
        var more: [Incident] = []
        for id in Int64(3)...330 {
            var i = Fixture.incident(id, device: id % 2 == 0 ? "czq-elev-01" : "czq-elev-02", grid: id % 2 == 0 ? "czq-g1" : "czq-g2",
                                     assignee: id % 2 == 0 ? "w-li" : "w-chen")
            i.key = "k\(id)"
            i.status = statuses[Int(id % 4)]
            if id % 5 == 0 { i.scenario = "smoke"; i.rule = "smoke.alarm" }
            i.escalated = id % 7 == 0
            i.overdue = id % 11 == 0
            if id > 320 { i.community = "elsewhere"; i.status = .dispatched; i.escalated = true }
            more.append(i)
        }
        let store: Store = f.store
        let feed = app.feed
        try store.writeTransaction { try $0.upsert(more) }
        feed.poll()
        XCTAssertEqual(try store.incidents().filter { $0.community == "changzhengqiao" }.count, 320)
        try await withClient { c in
            let rows = Self.listedRows
            var here = try store.incidents().filter { $0.community == "changzhengqiao" }
            var s = c
            try await s.signIn("s-zhao", "zhao-password")
            let page = try await s.get("/cockpit?lang=en").body
            let open = here.filter { $0.status.isOpen }
            XCTAssertTrue(page.contains("<b id=\"count-open\">\(open.count)</b>"), page)
            XCTAssertTrue(page.contains("<b id=\"count-escalated\">\(open.filter(\.escalated).count)</b>"))
            XCTAssertTrue(page.contains("<b id=\"count-overdue\">\(open.filter(\.overdue).count)</b>"))
            let notClosed = here.filter { $0.status != .closed }.sorted { $0.id > $1.id }
            XCTAssertTrue(page.contains("<h2>Incidents (\(notClosed.count))</h2>"), "how many match, not how many are shown")
            XCTAssertEqual(rows(page), notClosed.prefix(300).map { String($0.id) }, "the newest 300, newest first")
            XCTAssertFalse(rows(page).contains { Int($0)! > 320 }, "not another community's")
            let esc = page.components(separatedBy: "Escalated to me")[1]
            XCTAssertTrue(esc.contains("(\(open.filter(\.escalated).count))"))
            XCTAssertFalse(esc.contains("data-incident=\"321\""))
            // The chart counts every incident raised in the hour, closed ones too, of this community only.
            for scenario in ["elevator", "smoke"] {
                let n = here.filter { $0.scenario == scenario }.count
                XCTAssertTrue(page.contains("data-hour=\"167\" data-scenario=\"\(scenario)\" data-count=\"\(n)\""), scenario)
            }
            XCTAssertTrue(page.contains("<option value=\"smoke\">smoke</option>"), "the scenarios the community has")
            XCTAssertFalse(page.contains("<option value=\"parking\">"))

            // Raised since the last page (the chart and the scenarios are kept between pages): counted once, at once.
            var raised = Fixture.incident(331, device: "czq-elev-01", grid: "czq-g1", assignee: "w-li")
            (raised.key, raised.scenario, raised.rule) = ("k331", "parking", "parking.overstay")
            var elsewhere = Fixture.incident(332, device: "czq-elev-02", grid: "czq-g2", assignee: "w-chen")
            (elsewhere.key, elsewhere.community) = ("k332", "elsewhere")
            try store.writeTransaction { tx in
                try tx.upsert([raised, elsewhere])
                try tx.append([AuditEntry(incident: 331, at: Fixture.t0, actor: "engine", action: .raised),
                               AuditEntry(incident: 332, at: Fixture.t0, actor: "engine", action: .raised)])
            }
            // A drawn page is kept until the change feed sees the store move (its 500 ms poll), then drawn again.
            let kept = try await s.get("/cockpit?lang=en").body
            XCTAssertEqual(kept, page, "the kept page, until the feed's next poll")
            feed.poll()
            for _ in 0..<2 {
                let again = try await s.get("/cockpit?lang=en").body
                XCTAssertTrue(again.contains("data-hour=\"167\" data-scenario=\"parking\" data-count=\"1\""), again)
                let elevators = here.filter { $0.scenario == "elevator" }.count
                XCTAssertTrue(again.contains("data-hour=\"167\" data-scenario=\"elevator\" data-count=\"\(elevators)\""), "not another community's")
                XCTAssertTrue(again.contains("<option value=\"parking\">parking</option>"))
            }
            try store.writeTransaction { tx in
                try tx.upsert([Fixture.incident(333, device: "czq-elev-01", grid: "czq-g1", assignee: "w-li")])
                try tx.append([AuditEntry(incident: 333, at: Fixture.t0, actor: "engine", action: .raised)])
            }
            feed.poll()
            let third = try await s.get("/cockpit?lang=en").body
            let elevators = here.filter { $0.scenario == "elevator" }.count + 1
            XCTAssertTrue(third.contains("data-hour=\"167\" data-scenario=\"elevator\" data-count=\"\(elevators)\""), third)
            here = try store.incidents().filter { $0.community == "changzhengqiao" }

            for (query, expected) in [
                ("status=closed", here.filter { $0.status == .closed }),
                ("status=all&scenario=smoke", here.filter { $0.scenario == "smoke" }),
                ("status=acknowledged&grid=czq-g2", here.filter { $0.status == .acknowledged && $0.grid == "czq-g2" }),
                ("worker=w-li", here.filter { $0.status != .closed && $0.assignee == "w-li" }),
                ("status=nonsense", []),
            ] {
                let body = try await s.get("/cockpit?lang=en&\(query)").body
                let ids = expected.sorted { $0.id > $1.id }.prefix(300).map { String($0.id) }
                XCTAssertEqual(rows(body), ids, query)
                XCTAssertTrue(body.contains("<h2>Incidents (\(expected.count))</h2>"), query)
            }
        }
    }

    /// The incident ids of a cockpit's list (before its "Escalated to me" part), in order.
    static func listedRows(_ body: String) -> [String] {
        let list = body.components(separatedBy: "Escalated to me")[0]
        return list.components(separatedBy: "<tr data-incident=\"").dropFirst().map { String($0.prefix { $0 != "\"" }) }
    }

    func testEscapeTakesTheFiveSpecialCharactersAndKeepsEverythingElse() {
        XCTAssertEqual(HTML.escape("李<b onclick='x'>&\"敏\"</b>"), "李&lt;b onclick=&#39;x&#39;&gt;&amp;&quot;敏&quot;&lt;/b&gt;")
        XCTAssertEqual(HTML.escape("长征桥社区 w-li 2026-11-24 08:15 🚒"), "长征桥社区 w-li 2026-11-24 08:15 🚒")
        XCTAssertEqual(HTML.escape(""), "")
        let page: HTML = "<p>\("<script>alert(1)</script>")</p>"
        XCTAssertEqual(page.text, "<p>&lt;script&gt;alert(1)&lt;/script&gt;</p>")
    }

    func testLoginFormWithoutItsTokenIs403() async throws {
        try await withClient { c in
            let r = try await c.post("/login", [("worker", "w-li"), ("password", "li-password")], csrf: "forged", cookies: "ce_login=other")
            XCTAssertEqual(r.status, .forbidden)
            XCTAssertNil(WebClient.cookie(WebApp.sessionCookie, in: r.headers))
        }
    }

    func testTenWrongPasswordsSlowDownEvenTheRightOne() async throws {
        try await withClient { c in
            var c = c
            for _ in 0..<10 {
                let wrong = try await c.signIn("w-li", "guess")
                XCTAssertEqual(wrong.status, .unauthorized)
            }
            let slowed = try await c.signIn("w-li", "li-password")
            XCTAssertEqual(slowed.status, .tooManyRequests)
            XCTAssertEqual(slowed.headers[.retryAfter], "1")
            XCTAssertTrue(c.session.isEmpty)
        }
    }

    func testWorkerActsOnOwnIncidentThroughTheWebChannel() async throws {
        try await withClient { c in
            var c = c
            try await c.signIn("w-li", "li-password")
            let ack = try await c.post("/incidents/1/ack", [("back", "/")])
            XCTAssertEqual(ack.status, .seeOther)
            XCTAssertEqual(ack.headers[.location], "/")
            let resolve = try await c.post("/incidents/1/resolve", [("note", "rescued two people"), ("back", "https://evil.example/")])
            XCTAssertEqual(resolve.headers[.location], "/", "back only to this site")
        }
        XCTAssertEqual(try f.store.incident(id: 1)?.status, .resolved)
        let trail = try f.store.audit(of: 1).suffix(2)
        XCTAssertEqual(trail.map(\.action), [.acknowledged, .resolved])
        XCTAssertEqual(trail.map(\.channel), [.web, .web])
        XCTAssertEqual(trail.map(\.actor), ["w-li", "w-li"])
        XCTAssertEqual(trail.last?.at, now)
    }

    func testWorkerOnAnothersIncidentGets403WithTheCommandLineRefusal() async throws {
        let incident = try XCTUnwrap(try f.store.incident(id: 2))
        var refusal = ""
        do { _ = try IncidentDesk.apply(.acknowledge, to: incident, by: "w-li", registry: f.registry, at: now) } catch { refusal = error.message }
        XCTAssertFalse(refusal.isEmpty)
        let expected = refusal
        let before = try f.store.allAudit()
        try await withClient { c in
            var c = c
            try await c.signIn("w-li", "li-password")
            let r = try await c.post("/incidents/2/ack", [])
            XCTAssertEqual(r.status, .forbidden)
            XCTAssertTrue(r.body.contains(HTML.escape(expected)), r.body)
            let r9 = try await c.post("/incidents/1/close", [])
            XCTAssertEqual(r9.status, .forbidden, "only supervisors close")
        }
        XCTAssertEqual(try f.store.incident(id: 2), incident)
        XCTAssertEqual(try f.store.allAudit(), before)
    }

    func testMissingOrForgedCSRFTokenIs403AndChangesNothing() async throws {
        try await withClient { c in
            var c = c
            try await c.signIn("w-li", "li-password")
            let r10 = try await c.post("/incidents/1/ack", [], csrf: .some(nil))
            XCTAssertEqual(r10.status, .forbidden)
            let r11 = try await c.post("/incidents/1/ack", [], csrf: String(repeating: "0", count: 64))
            XCTAssertEqual(r11.status, .forbidden)
        }
        XCTAssertEqual(try f.store.incident(id: 1)?.status, .dispatched)
    }

    func testOversizedOrMalformedFormsAre400() async throws {
        try await withClient { c in
            var c = c
            try await c.signIn("w-li", "li-password")
            let big = try await c.post("/incidents/1/resolve", [("note", String(repeating: "x", count: 20_000))])
            XCTAssertEqual(big.status, .badRequest)
            let r12 = try await c.post("/incidents/1/ack", [], raw: "csrf=\(c.csrf)&back=%zz")
            XCTAssertEqual(r12.status, .badRequest)
            let r13 = try await c.post("/incidents/1/ack", [], raw: "csrf=\(c.csrf)&csrf=\(c.csrf)")
            XCTAssertEqual(r13.status, .badRequest)
            let r14 = try await c.post("/incidents/1/ack", [], contentType: "application/json")
            XCTAssertEqual(r14.status, .badRequest)
            let longNote = try await c.post("/incidents/1/resolve", [("note", String(repeating: "长", count: 2000))])
            XCTAssertEqual(longNote.status, .badRequest, "6000 bytes of note")
        }
        XCTAssertEqual(try f.store.incident(id: 1)?.status, .dispatched)
    }

    func testNoteIsStoredVerbatimAndRenderedEscaped() async throws {
        let note = "<script>alert('x')</script> \"; DROP TABLE audit; -- 电梯"
        try await withClient { c in
            var c = c
            try await c.signIn("w-li", "li-password")
            let r15 = try await c.post("/incidents/1/resolve", [("note", note)])
            XCTAssertEqual(r15.status, .seeOther)
            let page = try await c.get("/incidents/1")
            XCTAssertEqual(page.status, .ok)
            XCTAssertTrue(page.body.contains("&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &quot;; DROP TABLE audit; -- 电梯"), page.body)
            XCTAssertFalse(page.body.contains("<script>alert"))
            XCTAssertTrue(page.headers[.contentSecurityPolicy]?.contains("script-src 'self'") ?? false)
        }
        XCTAssertEqual(try f.store.audit(of: 1).last?.note, note)
    }

    func testSupervisorClosesAndReopensWithANote() async throws {
        _ = try PeopleActionsFixture.resolve(f, 1, at: now)
        try await withClient { c in
            var s = c
            try await s.signIn("s-zhao", "zhao-password")
            let r16 = try await s.post("/incidents/1/close", [("back", "/cockpit")])
            XCTAssertEqual(r16.headers[.location], "/cockpit")
            let r17 = try await s.post("/incidents/1/reopen", [("note", "door still jams")])
            XCTAssertEqual(r17.status, .seeOther)
        }
        let trail = try f.store.audit(of: 1).suffix(2)
        XCTAssertEqual(trail.map(\.action), [.closed, .reopened])
        XCTAssertEqual(trail.last?.note, "door still jams")
        XCTAssertEqual(try f.store.incident(id: 1)?.status, .dispatched)
    }
}
