import Foundation
import Model
import YAMLSupport
#if canImport(Glibc)
import Glibc
#endif

/// Where a webhook is POSTed: plain HTTP (host, port, path with query).
public struct WebhookURL: Sendable, Equatable, CustomStringConvertible {
    public var host: String
    public var port: Int
    /// Path and query, as sent in the request line.
    public var target: String

    public init(host: String, port: Int, target: String) { self.host = host; self.port = port; self.target = target }

    /// For logs: scheme, host, port and path, without the query (it may carry a receiver's token).
    public var description: String {
        let path = target.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false).first.map(String.init) ?? "/"
        return "http://\(hostForHeader):\(port)\(path)"
    }

    /// The host as a URL or a `Host` header writes it (an IPv6 literal in brackets).
    public var hostForHeader: String { host.contains(":") ? "[\(host)]" : host }

    /// The URL, or why it cannot be used.
    public static func parse(_ text: String) -> Result<WebhookURL, WebhookURLProblem> {
        guard let c = URLComponents(string: text), let scheme = c.scheme?.lowercased() else { return .failure(.notAURL) }
        switch scheme {
        case "http": break
        case "https": return .failure(.httpsUnsupported)
        default: return .failure(.scheme(scheme))
        }
        guard var host = c.host, !host.isEmpty else { return .failure(.noHost) }
        // An IPv6 literal comes back in its brackets; connecting wants it bare.
        if host.hasPrefix("["), host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        if c.user != nil || c.password != nil { return .failure(.credentials) }
        if c.fragment != nil { return .failure(.fragment) }
        let port = c.port ?? 80
        guard (1...65535).contains(port) else { return .failure(.port(port)) }
        let path = c.percentEncodedPath.isEmpty ? "/" : c.percentEncodedPath
        let target = c.percentEncodedQuery.map { path + "?" + $0 } ?? path
        return .success(WebhookURL(host: host, port: port, target: target))
    }
}

/// Why a webhook URL was refused.
public enum WebhookURLProblem: Error, Equatable, Sendable, CustomStringConvertible {
    case notAURL, noHost, credentials, fragment, httpsUnsupported
    case scheme(String)
    case port(Int)

    public var description: String {
        switch self {
        case .notAURL: "is not a URL (e.g. http://127.0.0.1:8080/cityeye)"
        case .noHost: "has no host (e.g. http://127.0.0.1:8080/cityeye)"
        case .credentials: "carries a user or password: they would show in logs; authenticate the receiver by the signature header instead"
        case .fragment: "has a #fragment, which is never sent: remove it"
        case .httpsUnsupported:
            "https is not supported: this build's sender links no TLS library. Use http to a receiver on loopback or a trusted network, or to a local TLS-terminating proxy (stunnel, nginx) that forwards to the https endpoint"
        case .scheme(let s): "has scheme `\(s)`: only http is supported"
        case .port(let p): "has port \(p): a port is 1–65535"
        }
    }
}

/// One `webhooks:` entry of the live config (docs/operations.md, "Webhooks").
public struct WebhookTarget: Sendable {
    /// A community id of the registry, or `*` for every community without an entry of its own.
    public var community: String
    public var url: WebhookURL
    /// The HMAC-SHA256 key the body is signed with (the secret file's content, trailing newlines cut). Never logged.
    public var secret: [UInt8]
    public var timeoutSeconds = 10
    public var maxAttempts = 10
    /// The wait before the first retry; it doubles after each failed attempt, up to `maxBackoffSeconds`.
    public var backoffSeconds = 5
    public static let maxBackoffSeconds = 3_600

    public init(community: String, url: WebhookURL, secret: [UInt8]) { self.community = community; self.url = url; self.secret = secret }

    /// The wait after failed attempt number `attempts` (1 for the first).
    public func backoff(afterAttempt attempts: Int) -> Millis {
        let doublings = min(max(attempts - 1, 0), 20)
        return Int64(min(backoffSeconds << doublings, Self.maxBackoffSeconds)) * 1000
    }

    /// The entry for `community`: its own, else the `*` one.
    public static func forCommunity(_ community: String, in targets: [WebhookTarget]) -> WebhookTarget? {
        targets.first { $0.community == community } ?? targets.first { $0.community == "*" }
    }
}

/// `webhooks:` in the live config: a list of targets. Unknown keys, bad URLs and secret files that are missing,
/// empty, too short or readable by others are errors naming the entry.
enum WebhooksConfig {
    static let keys: Set<String> = ["community", "url", "secret_file", "timeout_s", "max_attempts", "backoff_s"]
    static let minSecretBytes = 16

    static func parse(_ section: YAMLValue, resolve: (String) -> String) throws(ConfigError) -> [WebhookTarget] {
        var out: [WebhookTarget] = []
        for (i, entry) in try section.items("webhooks").enumerated() {
            let name = "webhooks[\(i)]"
            let f = try entry.fields(name, allowed: keys)
            func need(_ key: String) throws(ConfigError) -> YAMLValue {
                guard let v = f[key] else { throw entry.error("\(name): missing required key `\(key)`") }
                return v
            }
            let communityV = try need("community")
            let community = try communityV.string("\(name).community")
            guard !community.isEmpty else { throw communityV.error("\(name).community is empty: a community id or \"*\"") }
            if out.contains(where: { $0.community == community }) {
                throw communityV.error("\(name).community: `\(community)` has a webhook already: one entry per community")
            }
            let urlV = try need("url")
            let text = try urlV.string("\(name).url")
            let url: WebhookURL
            switch WebhookURL.parse(text) {
            case .success(let u): url = u
            case .failure(let problem): throw urlV.error("\(name).url `\(Self.redacted(text))` \(problem)")
            }
            let secretV = try need("secret_file")
            let secret = try Self.secret(resolve(try secretV.string("\(name).secret_file")), "\(name).secret_file", secretV)
            var target = WebhookTarget(community: community, url: url, secret: secret)
            func whole(_ key: String, _ range: ClosedRange<Int>) throws(ConfigError) -> Int? {
                guard let v = f[key] else { return nil }
                let n = try v.int("\(name).\(key)")
                guard range.contains(n) else { throw v.error("\(name).\(key) must be \(range.lowerBound)–\(range.upperBound), got \(n)") }
                return n
            }
            if let n = try whole("timeout_s", 1...300) { target.timeoutSeconds = n }
            if let n = try whole("max_attempts", 1...100) { target.maxAttempts = n }
            if let n = try whole("backoff_s", 1...WebhookTarget.maxBackoffSeconds) { target.backoffSeconds = n }
            out.append(target)
        }
        return out
    }

    /// The URL without a user or password, for an error message.
    static func redacted(_ text: String) -> String {
        guard var c = URLComponents(string: text), c.user != nil || c.password != nil else { return text }
        c.user = nil; c.password = nil
        return c.string ?? "(url)"
    }

    /// Reads a secret file: a regular file, not readable or writable by others, at least `minSecretBytes` bytes.
    static func secret(_ path: String, _ key: String, _ v: YAMLValue) throws(ConfigError) -> [UInt8] {
        var st = stat()
        guard stat(path, &st) == 0 else {
            throw v.error("\(key): cannot read \(path): \(String(cString: strerror(errno)))")
        }
        guard st.st_mode & S_IFMT == S_IFREG else { throw v.error("\(key): \(path) is not a regular file") }
        if st.st_mode & 0o007 != 0 {
            let mode = String(st.st_mode & 0o777, radix: 8)
            throw v.error("\(key): \(path) has mode \(mode), open to every user of the machine: the webhook secret must not be; "
                + "run `chmod 600 \(path)` (or 640 with the engine's group)")
        }
        let bytes: [UInt8]
        switch FileBytes.read(path) {
        case .success(let b): bytes = b
        case .failure(let e): throw v.error("\(key): cannot read \(path): \(e)")
        }
        var secret = bytes[...]
        while let last = secret.last, last == 0x0A || last == 0x0D { secret = secret.dropLast() }
        guard secret.count >= minSecretBytes else {
            throw v.error("\(key): \(path) holds \(secret.count) bytes; a webhook secret needs at least \(minSecretBytes) "
                + "(e.g. `head -c 32 /dev/urandom | base64 > \(path)`)")
        }
        return Array(secret)
    }
}
