import Dispatch
import Hummingbird
import Model
import Accounts

extension WebApp {
    func addAuthRoutes(_ router: Router<WebContext>) {
        // The login form carries a token that must match a cookie set with it (a form posted from another site
        // has neither).
        router.get("/login") { request, _ -> Response in
            let token = Secrets.token()
            let next = Self.localPath(query(request)["next"])
            return html(LoginPage.render(language: language(request), csrf: token, next: next),
                        cookies: [cookie(Self.loginCookie, token), languageCookie(request)])
        }
        router.post("/login") { request, context -> Response in try await login(request, context) }
        router.post("/logout", use: form { request, _, v, _ in
            sessions.close(token: v.session.token)
            return redirect("/login", cookies: [cookie(Self.sessionCookie, "", maxAge: 0)])
        })
    }

    func login(_ request: Request, _ context: WebContext) async throws -> Response {
        let l = language(request)
        let form: FormBody
        do { form = try await readForm(request) } catch {
            return message(.badRequest, "Bad request", error.message, request, viewer: nil, back: "/login")
        }
        guard let token = form["csrf"], let expected = request.cookies[Self.loginCookie]?.value, Secrets.equal(token, expected) else {
            return message(.forbidden, "Refused", "The form's security token is missing or wrong: reload the page and try again.", request, viewer: nil, back: "/login")
        }
        let worker = (form["worker"] ?? "").trimmingCharacters(in: .whitespaces)
        let next = Self.localPath(form["next"])
        func again(_ status: HTTPResponse.Status, _ error: String) -> Response {
            let fresh = Secrets.token()
            return html(LoginPage.render(language: l, csrf: fresh, next: next, worker: worker, error: error), status: status,
                        cookies: [cookie(Self.loginCookie, fresh)])
        }
        let now = clock()
        if let wait = throttle.wait(account: worker, client: context.client, at: now) {
            let seconds = String((wait + 999) / 1000)
            metrics.throttled.increment()
            var r = again(.tooManyRequests, l.t("Too many wrong passwords: try again in %@ s.").replacingOccurrences(of: "%@", with: seconds))
            r.headers[.retryAfter] = seconds
            return r
        }
        // Checked even for an unknown id (against a decoy hash): the time taken does not tell which ids exist.
        let matches = try await verify(form["password"] ?? "", for: worker)
        guard matches, registry.workers[worker] != nil else {
            throttle.failed(account: worker, client: context.client, at: now)
            metrics.wrongPassword.increment()
            return again(.unauthorized, l.t("Wrong id or password."))
        }
        throttle.succeeded(account: worker, client: context.client)
        let session = sessions.open(worker: worker, at: now)
        let home = registry.workers[worker]?.role == .supervisor && next == "/" ? "/cockpit" : next
        return redirect(home, cookies: [cookie(Self.sessionCookie, session.token), cookie(Self.loginCookie, "", maxAge: 0)])
    }

    /// bcrypt takes about a quarter of a second on purpose: it runs on a Dispatch thread, so that the two
    /// cooperative threads of this machine stay free for pages and event streams meanwhile.
    func verify(_ password: String, for worker: String) async throws -> Bool {
        let passwords = self.passwords
        return try await withCheckedThrowingContinuation { done in
            DispatchQueue.global().async { done.resume(with: Result { try passwords.verify(password, for: worker) }) }
        }
    }
}
