import Foundation
import Hummingbird
import Model
import Store
import Accounts
import Telemetry

/// `cityeye serve`: pages for grid workers (their phones) and supervisors (the cockpit on a wall screen), on the
/// store the engine writes: an SQLite file (read through its WAL readers) or the city's PostgreSQL store. People's
/// actions go through `PeopleActions`, the same path as the CLI's. Sessions live in memory (a restart signs everyone out).
public struct WebApp: Sendable {
    public let config: ServeConfig
    let store: any WebStore
    let registry: Registry
    let sessions: SessionBook
    let throttle = LoginThrottle()
    let passwords: Passwords
    public let feed: ChangeFeed
    let clock: @Sendable () -> Instant
    let metrics: WebMetrics
    let charts = ChartCache()
    let cockpits = PageCache()

    public static let sessionCookie = "ce_session"
    static let loginCookie = "ce_login"
    static let languageCookie = "lang"

    /// Metrics go to `metrics` (`cityeye serve` passes the process's registry; by default a registry of its own).
    public init(config: ServeConfig, store: any WebStore, registry: Registry, feedInterval: Duration = .milliseconds(500),
                metrics: MetricsRegistry = MetricsRegistry(),
                clock: @escaping @Sendable () -> Instant = { Instant(ms: Int64((Date().timeIntervalSince1970 * 1000).rounded())) }) {
        self.config = config
        self.store = store
        self.registry = registry
        self.sessions = SessionBook(idle: Millis(config.sessionIdleMinutes) * Durations.minute)
        self.passwords = Passwords(store: store)
        self.feed = ChangeFeed(store: store, registry: registry, interval: feedInterval)
        self.clock = clock
        self.metrics = WebMetrics(metrics)
    }

    public func router() -> Router<WebContext> {
        let router = Router(context: WebContext.self)
        router.middlewares.add(HTTPMetricsMiddleware(factory: metrics.registry.factory))
        addTelemetryRoutes(router)
        addAuthRoutes(router)
        addIncidentRoutes(router)
        addLiveRoutes(router)
        return router
    }

    /// The server, with the change feed as one of its services; `onRunning` gets the bound port (for port 0).
    public func application(onRunning: @escaping @Sendable (Int) async -> Void = { _ in }) -> some ApplicationProtocol {
        Application(router: router(), configuration: .init(address: .hostname(config.host, port: config.port)),
                    services: [feed], onServerRunning: { await onRunning($0.localAddress?.port ?? 0) })
    }

    // MARK: who is asking, in which language

    func language(_ request: Request) -> Language {
        if let tag = query(request)["lang"], let l = Language(tag: tag) { return l }
        if let tag = request.cookies[Self.languageCookie]?.value, let l = Language(tag: tag) { return l }
        return config.language
    }

    /// The cookie that keeps a language chosen with `?lang=`.
    func languageCookie(_ request: Request) -> Cookie? {
        guard let tag = query(request)["lang"], let l = Language(tag: tag) else { return nil }
        return cookie(Self.languageCookie, l.rawValue, maxAge: 365 * 86_400, httpOnly: false)
    }

    func query(_ request: Request) -> FormBody {
        (try? FormBody(parsing: Array((request.uri.query ?? "").utf8))) ?? FormBody(fields: [:])
    }

    func viewer(_ request: Request) -> Viewer? {
        guard let token = request.cookies[Self.sessionCookie]?.value,
              let session = sessions.session(token: token, at: clock()),
              let person = registry.workers[session.worker] else { return nil }
        return Viewer(person: person, session: session, language: language(request), registry: registry)
    }

    func cookie(_ name: String, _ value: String, maxAge: Int? = nil, httpOnly: Bool = true) -> Cookie {
        Cookie(name: name, value: value, maxAge: maxAge, path: "/", secure: config.secureCookies, httpOnly: httpOnly, sameSite: .strict)
    }

    // MARK: responses

    /// Pages may run only our own script and style: a note that slipped through escaping still could not run.
    static let securityHeaders: HTTPFields = [
        .contentSecurityPolicy: "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
        .init("X-Content-Type-Options")!: "nosniff",
        .init("Referrer-Policy")!: "same-origin",
        .cacheControl: "no-store",
    ]

    func html(_ page: HTML, status: HTTPResponse.Status = .ok, cookies: [Cookie?] = []) -> Response {
        var headers = Self.securityHeaders
        headers[.contentType] = "text/html; charset=utf-8"
        var r = Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(string: page.text)))
        for c in cookies.compactMap({ $0 }) { r.setCookie(c) }
        return r
    }

    func redirect(_ location: String, cookies: [Cookie?] = []) -> Response {
        var r = Response(status: .seeOther, headers: [.location: location, .cacheControl: "no-store"])
        for c in cookies.compactMap({ $0 }) { r.setCookie(c) }
        return r
    }

    func message(_ status: HTTPResponse.Status, _ title: String, _ text: String, _ request: Request, viewer: Viewer?, back: String = "/") -> Response {
        let l = language(request)
        return html(Layout.message(title: l.t(title), text: text, language: l, viewer: viewer, back: back), status: status)
    }

    /// A path inside this site to go back to after a form; anything else (another site, `//host`) becomes `/`.
    static func localPath(_ s: String?) -> String {
        guard let s, s.hasPrefix("/"), !s.hasPrefix("//"), !s.contains("\\"),
              !s.unicodeScalars.contains(where: { $0.value < 0x20 }) else { return "/" }
        return s
    }

    // MARK: handlers that need a person

    /// A page for a signed-in person; anyone else goes to the login page.
    func page(_ body: @escaping @Sendable (Request, WebContext, Viewer) async throws -> Response)
        -> @Sendable (Request, WebContext) async throws -> Response {
        { request, context in
            guard let v = viewer(request) else {
                let here = request.uri.path + (request.uri.query.map { "?" + $0 } ?? "")
                let next = here.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? "/"
                return redirect("/login?next=" + next)
            }
            var r = try await body(request, context, v)
            if let c = languageCookie(request) { r.setCookie(c) }
            return r
        }
    }

    /// A form post by a signed-in person: 401 without a session, 400 for a body that is too big or not a form,
    /// 403 without the session's CSRF token.
    func form(_ body: @escaping @Sendable (Request, WebContext, Viewer, FormBody) async throws -> Response)
        -> @Sendable (Request, WebContext) async throws -> Response {
        { request, context in
            guard let v = viewer(request) else {
                return message(.unauthorized, "Sign in", "Your session has ended: sign in again. (401)", request, viewer: nil, back: "/login")
            }
            let form: FormBody
            do throws(BadRequest) { form = try await readForm(request) } catch {
                return message(.badRequest, "Bad request", error.message, request, viewer: v)
            }
            guard let token = form["csrf"], Secrets.equal(token, v.session.csrf) else {
                return message(.forbidden, "Refused", "The form's security token is missing or wrong: reload the page and try again.", request, viewer: v)
            }
            return try await body(request, context, v, form)
        }
    }

    func readForm(_ request: Request) async throws(BadRequest) -> FormBody {
        let type = request.headers[.contentType] ?? ""
        guard type.lowercased().hasPrefix("application/x-www-form-urlencoded") else {
            throw BadRequest("expected a form (application/x-www-form-urlencoded), got \(type.isEmpty ? "no content type" : type)")
        }
        let buffer: ByteBuffer
        do { buffer = try await request.body.collect(upTo: WebLimits.formBytes) } catch {
            throw BadRequest("the form is larger than \(WebLimits.formBytes / 1024) KiB")
        }
        return try FormBody(parsing: buffer.readableBytesView)
    }
}
