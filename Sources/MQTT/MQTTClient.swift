import Foundation
import CMosquitto

public struct TLSFiles: Sendable {
    public var caFile: String
    public var certFile: String?
    public var keyFile: String?
    public init(caFile: String, certFile: String? = nil, keyFile: String? = nil) {
        self.caFile = caFile; self.certFile = certFile; self.keyFile = keyFile
    }
}

public struct MQTTSettings: Sendable {
    public var host: String
    public var port: Int
    public var clientID: String
    /// False for the engine: the broker keeps the session and queues QoS 1 messages while it is away.
    public var cleanSession: Bool
    public var topics: [String]
    public var qos: Int
    public var keepalive: Int
    public var username: String?
    public var password: String?
    public var tls: TLSFiles?
    public var maxInflight: Int

    public init(host: String = "127.0.0.1", port: Int = 1883, clientID: String = "cityeye-engine", cleanSession: Bool = false,
                topics: [String] = ["cityeye/#"], qos: Int = 1, keepalive: Int = 30, username: String? = nil,
                password: String? = nil, tls: TLSFiles? = nil, maxInflight: Int = 1000) {
        self.host = host; self.port = port; self.clientID = clientID; self.cleanSession = cleanSession
        self.topics = topics; self.qos = qos; self.keepalive = keepalive; self.username = username
        self.password = password; self.tls = tls; self.maxInflight = maxInflight
    }
}

public struct MQTTMessage: Sendable {
    public var topic: String
    public var payload: [UInt8]
    public var qos: Int
    public var retain: Bool
    public init(topic: String, payload: [UInt8], qos: Int = 1, retain: Bool = false) {
        self.topic = topic; self.payload = payload; self.qos = qos; self.retain = retain
    }
}

public enum MQTTEvent: Sendable {
    /// Batched mode: messages are waiting for `takeMessages()` (sent once each time the buffer fills from empty).
    case messagesWaiting
    case connected
    case subscribed
    case disconnected(reason: String)
    case message(MQTTMessage)
}

public struct MQTTError: Error, CustomStringConvertible, Sendable {
    public var description: String
    public init(_ d: String) { description = d }
}

enum Mosquitto {
    /// `mosquitto_lib_init` once per process.
    static let initialised: Bool = { mosquitto_lib_init() == Int32(MOSQ_ERR_SUCCESS.rawValue) }()

    /// Disconnects and stops the network thread. When not connected (the broker is away) the thread would keep
    /// reconnecting and a polite stop would wait forever, so it is cancelled instead.
    static func shutdown(_ m: OpaquePointer) {
        let rc = mosquitto_disconnect(m)
        _ = mosquitto_loop_stop(m, rc != ok)
    }

    /// libmosquitto's text for an error code (for `MOSQ_ERR_ERRNO`, the current errno's text).
    static func error(_ rc: Int32) -> String {
        if rc == Int32(MOSQ_ERR_ERRNO.rawValue) { return String(cString: strerror(errno)) }
        return String(cString: mosquitto_strerror(rc))
    }

    static let ok = Int32(MOSQ_ERR_SUCCESS.rawValue)

    /// Creates a client with credentials and TLS set; `obj` is handed to every callback.
    static func client(_ s: MQTTSettings, obj: UnsafeMutableRawPointer) throws(MQTTError) -> OpaquePointer {
        _ = initialised
        guard let m = mosquitto_new(s.clientID, s.cleanSession, obj) else {
            throw MQTTError("cannot create an MQTT client (client id \(s.clientID))")
        }
        if let u = s.username {
            let rc = mosquitto_username_pw_set(m, u, s.password)
            guard rc == ok else { mosquitto_destroy(m); throw MQTTError("MQTT username/password: \(error(rc))") }
        }
        if let t = s.tls {
            for f in [t.caFile, t.certFile, t.keyFile].compactMap({ $0 }) where !FileManager.default.isReadableFile(atPath: f) {
                mosquitto_destroy(m)
                throw MQTTError("TLS file \(f) cannot be read")
            }
            let rc = mosquitto_tls_set(m, t.caFile, nil, t.certFile, t.keyFile, nil)
            guard rc == ok else { mosquitto_destroy(m); throw MQTTError("TLS set-up with \(t.caFile): \(error(rc))") }
        }
        _ = mosquitto_max_inflight_messages_set(m, UInt32(max(1, s.maxInflight)))
        return m
    }
}

/// State shared with libmosquitto's callbacks (they run on its thread): the stream to hand messages to.
final class SubscriberBox: @unchecked Sendable {
    let continuation: AsyncStream<MQTTEvent>.Continuation
    let topics: [String]
    let qos: Int32
    /// Batched mode: messages wait here for `takeMessages()` instead of going through the stream one by one.
    let batched: Bool
    let lock = NSLock()
    var buffer: [MQTTMessage] = []
    init(continuation: AsyncStream<MQTTEvent>.Continuation, topics: [String], qos: Int, batched: Bool) {
        self.continuation = continuation; self.topics = topics; self.qos = Int32(qos); self.batched = batched
    }

    func deliver(_ m: MQTTMessage) {
        if batched {
            lock.lock()
            let wasEmpty = buffer.isEmpty
            buffer.append(m)
            lock.unlock()
            if wasEmpty { continuation.yield(.messagesWaiting) }
        } else {
            continuation.yield(.message(m))
        }
    }
}

/// The engine's MQTT edge: a persistent-session subscriber that reconnects with backoff and re-subscribes on
/// every connect. libmosquitto's callbacks copy each message out and yield it to `events`; nothing else sees C.
public final class MQTTSubscriber: @unchecked Sendable {
    public let settings: MQTTSettings
    public let events: AsyncStream<MQTTEvent>
    private let box: SubscriberBox
    private let opaque: UnsafeMutableRawPointer
    private let mosq: OpaquePointer
    private let lock = NSLock()
    private var stopped = false
    private var started = false
    private var networkRunning = false

    /// With `batched`, messages are not put on `events` but collected for `takeMessages()`: a consumer that works in
    /// batches takes thousands at once instead of resuming once per message.
    public init(settings: MQTTSettings, batched: Bool = false) throws(MQTTError) {
        self.settings = settings
        let (stream, continuation) = AsyncStream<MQTTEvent>.makeStream(bufferingPolicy: .unbounded)
        events = stream
        box = SubscriberBox(continuation: continuation, topics: settings.topics, qos: settings.qos, batched: batched)
        opaque = Unmanaged.passRetained(box).toOpaque()
        do {
            mosq = try Mosquitto.client(settings, obj: opaque)
        } catch {
            Unmanaged<SubscriberBox>.fromOpaque(opaque).release()
            throw error
        }
        mosquitto_connect_callback_set(mosq) { m, obj, rc in
            guard let obj else { return }
            let box = Unmanaged<SubscriberBox>.fromOpaque(obj).takeUnretainedValue()
            guard rc == 0 else {
                box.continuation.yield(.disconnected(reason: String(cString: mosquitto_connack_string(rc))))
                return
            }
            box.continuation.yield(.connected)
            for t in box.topics { _ = mosquitto_subscribe(m, nil, t, box.qos) }
        }
        mosquitto_subscribe_callback_set(mosq) { _, obj, _, _, _ in
            guard let obj else { return }
            Unmanaged<SubscriberBox>.fromOpaque(obj).takeUnretainedValue().continuation.yield(.subscribed)
        }
        mosquitto_disconnect_callback_set(mosq) { _, obj, rc in
            guard let obj else { return }
            let reason = rc == 0 ? "disconnected" : String(cString: mosquitto_strerror(rc))
            Unmanaged<SubscriberBox>.fromOpaque(obj).takeUnretainedValue().continuation.yield(.disconnected(reason: reason))
        }
        mosquitto_message_callback_set(mosq) { _, obj, msg in
            guard let obj, let msg else { return }
            let m = msg.pointee
            let topic = m.topic.map { String(cString: $0) } ?? ""
            let payload = m.payloadlen > 0 && m.payload != nil
                ? Array(UnsafeRawBufferPointer(start: m.payload, count: Int(m.payloadlen))) : []
            Unmanaged<SubscriberBox>.fromOpaque(obj).takeUnretainedValue()
                .deliver(MQTTMessage(topic: topic, payload: payload, qos: Int(m.qos), retain: m.retain))
        }
    }

    /// The messages received since the last call (batched mode), in arrival order.
    public func takeMessages() -> [MQTTMessage] {
        box.lock.lock(); defer { box.lock.unlock() }
        guard !box.buffer.isEmpty else { return [] }
        let out = box.buffer
        box.buffer.removeAll(keepingCapacity: true)
        return out
    }

    /// Connects in the background and keeps reconnecting while the broker is away, also when it is not up yet.
    public func start() throws(MQTTError) {
        lock.lock(); defer { lock.unlock() }
        guard !started, !stopped else { return }
        started = true
        networkRunning = true
        // The thread holds the subscriber until it ends, so the client is never destroyed under it.
        let thread = Thread { self.runNetwork() }
        thread.name = "cityeye-mqtt"
        thread.start()
    }

    private var isStopped: Bool { lock.lock(); defer { lock.unlock() }; return stopped }

    /// The network thread. libmosquitto's own threaded loop reconnects only after a first connect got through, and
    /// ends quietly on errors it deems fatal (TLS, a refused login); this one reports every failure and tries
    /// again with a 1 s … 30 s backoff until `stop()`.
    private func runNetwork() {
        var delay = 1.0
        while !isStopped {
            var rc = mosquitto_connect(mosq, settings.host, Int32(settings.port), Int32(settings.keepalive))
            if rc == Mosquitto.ok {
                delay = 1
                // Not once more after stop(): a message read now would be acknowledged and never processed.
                while rc == Mosquitto.ok && !isStopped { rc = mosquitto_loop(mosq, 100, 1) }
            }
            if isStopped { break }
            box.continuation.yield(.disconnected(reason: "\(settings.host):\(settings.port): \(failure(rc)); retrying in \(Int(delay)) s"))
            let due = Date(timeIntervalSinceNow: delay)
            while Date() < due && !isStopped { Thread.sleep(forTimeInterval: 0.05) }
            delay = min(delay * 2, 30)
        }
        mosquitto_disconnect(mosq)
        lock.lock(); networkRunning = false; lock.unlock()
    }

    private func failure(_ rc: Int32) -> String {
        var text = Mosquitto.error(rc)
        while text.hasSuffix(".") { text.removeLast() }
        if rc == Int32(MOSQ_ERR_TLS.rawValue), let tls = settings.tls {
            text += " (is the broker's certificate signed by the CA in \(tls.caFile), and issued for \(settings.host)?)"
        }
        return text
    }

    /// Disconnects, waits for the network thread to end (≤ 0.1 s when connected: no message arrives after this
    /// returns) and ends `events`. Idempotent. A connect attempt that blocks (a broker address that does not answer)
    /// is not waited for beyond 2 s: nothing can arrive on a connection that is not there, and the thread ends by
    /// itself when the attempt gives up.
    public func stop() {
        lock.lock()
        stopped = true
        lock.unlock()
        let deadline = Date().addingTimeInterval(2)
        while Date() < deadline {
            lock.lock(); let running = networkRunning; lock.unlock()
            if !running { break }
            Thread.sleep(forTimeInterval: 0.005)
        }
        box.continuation.finish()
    }

    deinit {
        stop()
        mosquitto_destroy(mosq)
        Unmanaged<SubscriberBox>.fromOpaque(opaque).release()
    }
}

/// State of a publisher shared with its callbacks: connection and outstanding QoS 1 acknowledgements.
final class PublisherBox: @unchecked Sendable {
    let cond = NSCondition()
    var connected = false
    var connackCode: Int32 = -1
    var outstanding = 0
}

/// A publisher for simulated gateways, benchmarks and tests. `publish` blocks while the inflight window is full.
public final class MQTTPublisher: @unchecked Sendable {
    public let settings: MQTTSettings
    private let box = PublisherBox()
    private let opaque: UnsafeMutableRawPointer
    private let mosq: OpaquePointer
    private var running = false

    public init(settings: MQTTSettings) throws(MQTTError) {
        self.settings = settings
        opaque = Unmanaged.passRetained(box).toOpaque()
        do { mosq = try Mosquitto.client(settings, obj: opaque) } catch {
            Unmanaged<PublisherBox>.fromOpaque(opaque).release()
            throw error
        }
        mosquitto_connect_callback_set(mosq) { _, obj, rc in
            guard let obj else { return }
            let b = Unmanaged<PublisherBox>.fromOpaque(obj).takeUnretainedValue()
            b.cond.lock(); b.connackCode = rc; b.connected = rc == 0; b.cond.broadcast(); b.cond.unlock()
        }
        mosquitto_disconnect_callback_set(mosq) { _, obj, _ in
            guard let obj else { return }
            let b = Unmanaged<PublisherBox>.fromOpaque(obj).takeUnretainedValue()
            b.cond.lock(); b.connected = false; b.cond.broadcast(); b.cond.unlock()
        }
        mosquitto_publish_callback_set(mosq) { _, obj, _ in
            guard let obj else { return }
            let b = Unmanaged<PublisherBox>.fromOpaque(obj).takeUnretainedValue()
            b.cond.lock(); b.outstanding -= 1; b.cond.broadcast(); b.cond.unlock()
        }
    }

    public func connect(timeout: Double = 10) throws(MQTTError) {
        let rc = mosquitto_connect(mosq, settings.host, Int32(settings.port), Int32(settings.keepalive))
        guard rc == Mosquitto.ok else {
            throw MQTTError("cannot connect to the MQTT broker at \(settings.host):\(settings.port): \(Mosquitto.error(rc)); is it running?")
        }
        _ = mosquitto_loop_start(mosq)
        running = true
        let deadline = Date().addingTimeInterval(timeout)
        box.cond.lock(); defer { box.cond.unlock() }
        while !box.connected && box.connackCode <= 0 {
            if box.connackCode > 0 { break }
            if !box.cond.wait(until: deadline) {
                throw MQTTError("no answer from the MQTT broker at \(settings.host):\(settings.port) within \(Int(timeout)) s")
            }
        }
        if !box.connected {
            throw MQTTError("the MQTT broker at \(settings.host):\(settings.port) refused the connection: \(String(cString: mosquitto_connack_string(box.connackCode)))")
        }
    }

    public func publish(topic: String, payload: [UInt8], qos: Int) throws(MQTTError) {
        box.cond.lock()
        while box.outstanding >= settings.maxInflight {
            if !box.cond.wait(until: Date().addingTimeInterval(30)) {
                box.cond.unlock()
                throw MQTTError("the MQTT broker did not acknowledge messages for 30 s")
            }
        }
        box.outstanding += 1
        box.cond.unlock()
        let rc = payload.withUnsafeBytes { p in
            mosquitto_publish(mosq, nil, topic, Int32(p.count), p.baseAddress, Int32(qos), false)
        }
        guard rc == Mosquitto.ok else {
            box.cond.lock(); box.outstanding -= 1; box.cond.unlock()
            throw MQTTError("publish to \(topic) failed: \(Mosquitto.error(rc))")
        }
    }

    /// Waits until every publish has been acknowledged (QoS 1) or sent (QoS 0).
    public func waitForAcks(timeout: Double) throws(MQTTError) {
        let deadline = Date().addingTimeInterval(timeout)
        box.cond.lock(); defer { box.cond.unlock() }
        while box.outstanding > 0 {
            if !box.cond.wait(until: deadline) {
                throw MQTTError("\(box.outstanding) message(s) not acknowledged by the broker within \(Int(timeout)) s")
            }
        }
    }

    public func disconnect() {
        guard running else { return }
        running = false
        Mosquitto.shutdown(mosq)
    }

    deinit {
        disconnect()
        mosquitto_destroy(mosq)
        Unmanaged<PublisherBox>.fromOpaque(opaque).release()
    }
}
