import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A small HTTP/1.1 receiver on 127.0.0.1 (a plain socket and one thread): it records each request and answers with
/// the next scripted status (200 once the script is used up), then closes the connection. `LoopbackReceiver.silent`
/// in the script: no answer at all, the connection held open until the receiver stops.
public final class LoopbackReceiver: @unchecked Sendable {
    public struct Request {
        public var method: String
        public var target: String
        /// Header names in lower case.
        public var headers: [String: String]
        public var body: [UInt8]
    }

    public static let silent = -1
    public let port: Int
    private let listener: Int32
    private let lock = NSLock()
    private var script: [Int]
    private var seen: [Request] = []
    private var thread: Thread?

    public init(statuses: [Int] = []) throws {
        script = statuses
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw POSIXError(.EMFILE) }
        var one: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = 0
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        let bound = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard bound == 0, listen(fd, 16) == 0 else { close(fd); throw POSIXError(.EADDRINUSE) }
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &len) }
        }
        listener = fd
        port = Int(UInt16(bigEndian: addr.sin_port))
        let t = Thread { [weak self] in self?.serve() }
        thread = t
        t.start()
    }

    public var requests: [Request] { lock.withLock { seen } }

    public func stop() {
        shutdown(listener, Int32(SHUT_RDWR))
        close(listener)
    }

    private func serve() {
        while true {
            let c = accept(listener, nil, nil)
            guard c >= 0 else { return }
            handle(c)
            close(c)
        }
    }

    private func handle(_ c: Int32) {
        var data: [UInt8] = []
        var buf = [UInt8](repeating: 0, count: 4096)
        func more() -> Bool {
            let n = buf.withUnsafeMutableBytes { recv(c, $0.baseAddress, $0.count, 0) }
            guard n > 0 else { return false }
            data += buf[0..<n]
            return true
        }
        let end = Array("\r\n\r\n".utf8)
        var headEnd: Int?
        while headEnd == nil {
            guard more() else { return }
            headEnd = (0...(max(0, data.count - 4))).first { data.count >= 4 && Array(data[$0..<($0 + 4)]) == end }
        }
        let head = String(decoding: data[0..<headEnd!], as: UTF8.self).components(separatedBy: "\r\n")
        let first = head[0].split(separator: " ")
        var headers: [String: String] = [:]
        for line in head.dropFirst() {
            guard let colon = line.firstIndex(of: ":") else { continue }
            headers[line[..<colon].lowercased()] = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
        }
        let length = Int(headers["content-length"] ?? "0") ?? 0
        while data.count < headEnd! + 4 + length { guard more() else { return } }
        let body = Array(data[(headEnd! + 4)..<(headEnd! + 4 + length)])
        let status: Int = lock.withLock {
            seen.append(Request(method: String(first[0]), target: String(first[1]), headers: headers, body: body))
            return script.isEmpty ? 200 : script.removeFirst()
        }
        if status == Self.silent {
            var byte: UInt8 = 0
            _ = recv(c, &byte, 1, 0)  // returns when the sender gives up and closes
            return
        }
        let answer = Array("HTTP/1.1 \(status) X\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".utf8)
        _ = answer.withUnsafeBytes { send(c, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
    }
}
