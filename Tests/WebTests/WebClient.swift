import Foundation
import Hummingbird
import HummingbirdTesting
import Accounts
import Web

/// A person's browser against the in-process router: keeps the session cookie and the page's CSRF token.
struct WebClient {
    let client: any TestClientProtocol
    var session = ""
    var csrf = ""

    struct Page { var status: HTTPResponse.Status; var headers: HTTPFields; var body: String }

    static func cookie(_ name: String, in headers: HTTPFields) -> String? {
        for line in headers[values: .setCookie] where line.hasPrefix(name + "=") {
            return String(line.dropFirst(name.count + 1).prefix { $0 != ";" })
        }
        return nil
    }

    static func csrf(in body: String) -> String? {
        guard let r = body.range(of: "name=\"csrf\" value=\"") else { return nil }
        return String(body[r.upperBound...].prefix { $0 != "\"" })
    }

    static func form(_ fields: [(String, String)]) -> String {
        var allowed = CharacterSet.alphanumerics
        allowed.insert(charactersIn: "-._~")
        return fields.map { "\($0.0)=\($0.1.addingPercentEncoding(withAllowedCharacters: allowed)!)" }.joined(separator: "&")
    }

    func get(_ uri: String) async throws -> Page {
        try await client.execute(uri: uri, method: .get, headers: session.isEmpty ? [:] : [.cookie: "\(WebApp.sessionCookie)=\(session)"]) {
            Page(status: $0.status, headers: $0.headers, body: String(buffer: $0.body))
        }
    }

    /// Posts a form; the session's CSRF token is added unless `csrf` is given (nil: none at all).
    func post(_ uri: String, _ fields: [(String, String)], csrf token: String?? = .none, raw: String? = nil,
              contentType: String = "application/x-www-form-urlencoded", cookies: String? = nil) async throws -> Page {
        var all = fields
        switch token {
        case .none: all.append(("csrf", csrf))
        case .some(.some(let t)): all.append(("csrf", t))
        case .some(.none): break
        }
        var headers: HTTPFields = [.contentType: contentType]
        if let c = cookies ?? (session.isEmpty ? nil : "\(WebApp.sessionCookie)=\(session)") { headers[.cookie] = c }
        return try await client.execute(uri: uri, method: .post, headers: headers, body: ByteBuffer(string: raw ?? Self.form(all))) {
            Page(status: $0.status, headers: $0.headers, body: String(buffer: $0.body))
        }
    }

    /// Signs in through the login page; returns the login response.
    @discardableResult
    mutating func signIn(_ worker: String, _ password: String) async throws -> Page {
        let login = try await client.execute(uri: "/login", method: .get) { $0 }
        let loginCookie = Self.cookie("ce_login", in: login.headers) ?? ""
        let token = Self.csrf(in: String(buffer: login.body)) ?? ""
        let r = try await post("/login", [("worker", worker), ("password", password), ("next", "/")], csrf: token,
                               cookies: "ce_login=\(loginCookie)")
        if let s = Self.cookie(WebApp.sessionCookie, in: r.headers) {
            session = s
            let home = try await get(r.headers[.location] ?? "/")
            csrf = Self.csrf(in: home.body) ?? ""
        }
        return r
    }
}
