import Foundation

/// A private mosquitto on a free loopback port, for tests, demos and benchmarks. Its config never drops queued
/// QoS 1 messages (`max_queued_messages 0`: mosquitto's default of 1000 silently drops the rest) and keeps
/// sessions across a restart (persistence in its own folder, written when it stops: a save every second would
/// stall the broker once queues are long).
public final class MosquittoBroker: @unchecked Sendable {
    public let port: Int
    public let folder: String
    public let configText: String
    private var process: Process?
    private let lock = NSLock()

    public init(port: Int? = nil, extraConfig: String = "") throws(MQTTError) {
        if let port { self.port = port } else { self.port = try Self.freePort() }
        folder = NSTemporaryDirectory() + "cityeye-broker-\(UUID().uuidString.prefix(8))"
        do { try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true) } catch {
            throw MQTTError("cannot create \(folder): \(error)")
        }
        configText = """
        listener \(self.port) 127.0.0.1
        allow_anonymous true
        persistence true
        persistence_location \(folder)/
        # Never drop queued QoS 1 messages of a persistent session (the default limit is 1000).
        max_queued_messages 0
        max_inflight_messages 1000
        \(geteuid() == 0 ? "# As root mosquitto would switch to user mosquitto, which cannot write this folder.\nuser root" : "")
        \(extraConfig)
        """
        do { try configText.write(toFile: folder + "/mosquitto.conf", atomically: true, encoding: .utf8) } catch {
            throw MQTTError("cannot write \(folder)/mosquitto.conf: \(error)")
        }
        try start()
    }

    static func binary() throws(MQTTError) -> String {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? ""
        for dir in path.split(separator: ":").map(String.init) + ["/usr/sbin", "/usr/local/sbin"] {
            let p = dir + "/mosquitto"
            if FileManager.default.isExecutableFile(atPath: p) { return p }
        }
        throw MQTTError("mosquitto not found: install it (apt-get install -y mosquitto) or run scripts/test.sh, which does")
    }

    public static func freePort() throws(MQTTError) -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw MQTTError("cannot open a socket to find a free port") }
        defer { close(fd) }
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = 0
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        let ok = withUnsafeMutablePointer(to: &addr) { p in
            p.withMemoryRebound(to: sockaddr.self, capacity: 1) { sp in
                bind(fd, sp, len) == 0 && getsockname(fd, sp, &len) == 0
            }
        }
        guard ok else { throw MQTTError("cannot find a free loopback port") }
        return Int(UInt16(bigEndian: addr.sin_port))
    }

    static func accepts(port: Int) -> Bool {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = in_port_t(UInt16(port).bigEndian)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        return withUnsafePointer(to: &addr) { p in
            p.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0 }
        }
    }

    private func start() throws(MQTTError) {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: try Self.binary())
        p.arguments = ["-c", folder + "/mosquitto.conf"]
        let log = FileHandle(forWritingAtPath: folder + "/mosquitto.log") ?? {
            _ = FileManager.default.createFile(atPath: folder + "/mosquitto.log", contents: nil)
            return FileHandle(forWritingAtPath: folder + "/mosquitto.log")
        }()
        p.standardOutput = log
        p.standardError = log
        do { try p.run() } catch { throw MQTTError("cannot start mosquitto: \(error)") }
        lock.lock(); process = p; lock.unlock()
        let deadline = Date().addingTimeInterval(10)
        while Date() < deadline {
            if Self.accepts(port: port) { return }
            if !p.isRunning {
                let text = (try? String(contentsOfFile: folder + "/mosquitto.log", encoding: .utf8)) ?? ""
                throw MQTTError("mosquitto exited at start: \(text.suffix(400))")
            }
            Thread.sleep(forTimeInterval: 0.02)
        }
        throw MQTTError("mosquitto did not listen on 127.0.0.1:\(port) within 10 s")
    }

    /// The running broker's process id (benchmarks kill it with SIGKILL to measure what an unclean stop loses).
    public var pid: Int32? {
        lock.lock(); defer { lock.unlock() }
        return process.flatMap { $0.isRunning ? $0.processIdentifier : nil }
    }

    /// SIGTERM and wait: mosquitto saves its persistence file on the way out.
    public func stop() {
        lock.lock(); let p = process; process = nil; lock.unlock()
        guard let p, p.isRunning else { return }
        p.terminate()
        let deadline = Date().addingTimeInterval(5)
        while p.isRunning && Date() < deadline { Thread.sleep(forTimeInterval: 0.01) }
        if p.isRunning { kill(p.processIdentifier, SIGKILL) }
        while p.isRunning && Date() < deadline.addingTimeInterval(2) { Thread.sleep(forTimeInterval: 0.01) }
    }

    /// Stops and starts again on the same port with the same persistence.
    public func restart() throws(MQTTError) {
        stop()
        try start()
    }

    deinit {
        stop()
        try? FileManager.default.removeItem(atPath: folder)
    }
}
