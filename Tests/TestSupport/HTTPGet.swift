import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A plain HTTP/1.1 GET over a loopback socket (what Prometheus or a load balancer does to `/metrics`, `/healthz`).
public enum HTTPGet {
    public struct Answer {
        public var status: Int
        public var body: String
        public init(status: Int, body: String) { self.status = status; self.body = body }
    }

    public static func get(port: Int, _ path: String) throws -> Answer {
        let fd = try connectLoopback(port: port)
        defer { close(fd) }
        let request = Array("GET \(path) HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n".utf8)
        _ = request.withUnsafeBytes { send(fd, $0.baseAddress, $0.count, 0) }
        var data: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 8192)
        while true {
            let n = recv(fd, &buffer, buffer.count, 0)
            if n <= 0 { break }
            data += buffer[..<n]
        }
        let text = String(decoding: data, as: UTF8.self)
        guard let head = text.range(of: "\r\n\r\n"), let status = Int(text.split(separator: " ").dropFirst().first ?? "") else {
            throw Problem("not an HTTP answer: \(text.prefix(200))")
        }
        var body = String(text[head.upperBound...])
        if text[..<head.lowerBound].lowercased().contains("transfer-encoding: chunked") { body = dechunk(body) }
        return Answer(status: status, body: body)
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
