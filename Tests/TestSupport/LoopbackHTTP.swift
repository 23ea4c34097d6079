import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Plain HTTP/1.1 over a loopback socket, one request a connection (what Prometheus or a load balancer does to
/// `/metrics`, `/healthz`; what a browser's form post does), for tests of a `cityeye` process.
public enum LoopbackHTTP {
    public struct Answer: Sendable {
        public var status: Int
        public var body: String
        /// Header lines as received, names lower-cased.
        public var headers: [(name: String, value: String)]
        public init(status: Int, body: String, headers: [(name: String, value: String)] = []) {
            self.status = status; self.body = body; self.headers = headers
        }

        public func header(_ name: String) -> String? { headers.first { $0.name == name.lowercased() }?.value }

        /// The value a `Set-Cookie` header gives `name`, if any.
        public func cookie(_ name: String) -> String? {
            headers.filter { $0.name == "set-cookie" }.map(\.value).first { $0.hasPrefix(name + "=") }
                .map { String($0.dropFirst(name.count + 1).prefix { $0 != ";" }) }
        }
    }

    public static func get(port: Int, _ path: String, headers: [String: String] = [:]) throws -> Answer {
        try request(port: port, "GET", path, headers: headers)
    }

    /// A form post (`application/x-www-form-urlencoded`), its fields percent-encoded.
    public static func post(port: Int, _ path: String, form: [(String, String)], headers: [String: String] = [:]) throws -> Answer {
        var allowed = CharacterSet.alphanumerics
        allowed.insert(charactersIn: "-._~")
        let body = form.map { "\($0.0)=\($0.1.addingPercentEncoding(withAllowedCharacters: allowed)!)" }.joined(separator: "&")
        var h = headers
        h["Content-Type"] = "application/x-www-form-urlencoded"
        return try request(port: port, "POST", path, headers: h, body: body)
    }

    public static func request(port: Int, _ method: String, _ path: String, headers: [String: String] = [:], body: String = "") throws -> Answer {
        let fd = try connectLoopback(port: port)
        defer { close(fd) }
        var head = "\(method) \(path) HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
        for (name, value) in headers.sorted(by: { $0.key < $1.key }) { head += "\(name): \(value)\r\n" }
        if method != "GET" { head += "Content-Length: \(body.utf8.count)\r\n" }
        let request = Array((head + "\r\n" + body).utf8)
        _ = request.withUnsafeBytes { send(fd, $0.baseAddress, $0.count, 0) }
        var data: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 8192)
        while true {
            let n = recv(fd, &buffer, buffer.count, 0)
            if n <= 0 { break }
            data += buffer[..<n]
        }
        let text = String(decoding: data, as: UTF8.self)
        guard let end = text.range(of: "\r\n\r\n"), let status = Int(text.split(separator: " ").dropFirst().first ?? "") else {
            throw Problem("not an HTTP answer: \(text.prefix(200))")
        }
        let fields = text[..<end.lowerBound].components(separatedBy: "\r\n").dropFirst().compactMap { line -> (name: String, value: String)? in
            guard let colon = line.firstIndex(of: ":") else { return nil }
            return (line[..<colon].lowercased(), line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces))
        }
        var body = String(text[end.upperBound...])
        if fields.contains(where: { $0.name == "transfer-encoding" && $0.value.lowercased() == "chunked" }) { body = dechunk(body) }
        return Answer(status: status, body: body, headers: fields)
    }

    static func dechunk(_ s: String) -> String {
        var out = "", rest = Substring(s)
        while let line = rest.range(of: "\r\n"), let size = Int(rest[..<line.lowerBound], radix: 16), size > 0 {
            let start = line.upperBound
            let bytes = Array(rest[start...].utf8)
            out += String(decoding: bytes.prefix(size), as: UTF8.self)
            rest = Substring(String(decoding: bytes.dropFirst(size + 2), as: UTF8.self))
        }
        return out
    }

    public struct Problem: Error, CustomStringConvertible { public var description: String; public init(_ d: String) { description = d } }
}

/// A `cityeye` command running in the background, its output lines (standard output and error) collected as they come.
public final class RunningCommand: @unchecked Sendable {
    private let process = Process()
    private let lines = Seen<String>()
    private var partial = ""

    /// `env`: added to this process's environment.
    public init(_ args: [String], env: [String: String] = [:]) throws {
        process.executableURL = CityEyeBinary.url
        process.arguments = args
        process.currentDirectoryURL = Repo.root
        if !env.isEmpty { process.environment = ProcessInfo.processInfo.environment.merging(env) { $1 } }
        let out = Pipe()
        process.standardOutput = out
        process.standardError = out
        out.fileHandleForReading.readabilityHandler = { [weak self] h in
            guard let self else { return }
            self.partial += String(decoding: h.availableData, as: UTF8.self)
            while let nl = self.partial.firstIndex(of: "\n") {
                self.lines.add(String(self.partial[..<nl]))
                self.partial = String(self.partial[self.partial.index(after: nl)...])
            }
        }
        try process.run()
    }

    /// Every whole line so far.
    public var output: [String] { lines.all }

    public func waitForLine(containing text: String, timeout: Double = 30) throws -> String {
        var found: String?
        try waitUntil("a line with \(text)", timeout: timeout) {
            found = lines.all.first { $0.contains(text) }
            return found != nil || !process.isRunning
        }
        guard let found else { throw LoopbackHTTP.Problem("`cityeye` ended without printing \(text): \(lines.all.joined(separator: "\n"))") }
        return found
    }

    /// SIGTERM, as an operator's service manager stops it; returns the exit code.
    public func stop() -> Int32 {
        process.terminate()
        process.waitUntilExit()
        return process.terminationStatus
    }

    public func terminate() { if process.isRunning { process.terminate(); process.waitUntilExit() } }
}
