import Foundation
import CMosquitto

/// State shared with libmosquitto's callbacks (they run on its thread): the stream to hand messages to.
final class SubscriberBox: @unchecked Sendable {
    let continuation: AsyncStream<MQTTEvent>.Continuation
    let topics: [String]
    /// Unsubscribed on each connect, before `topics` are subscribed (`MQTTSettings.unsubscribes`).
    let unsubscribes: [String]
    let qos: Int32
    /// Batched mode: messages wait here for `takeMessages()` instead of going through the stream one by one.
    let inbox: MessageInbox?
    /// Set once by `start(receiving:)` before the network thread starts; read only on that thread.
    var receiving: (@Sendable (inout MQTTMessage) -> Void)?
    /// When acknowledgements wait for the consumer's commits (nil: they leave as libmosquitto writes them).
    let gate: AcknowledgementGate?
    init(continuation: AsyncStream<MQTTEvent>.Continuation, topics: [String], unsubscribes: [String] = [], qos: Int, batched: Bool,
         inboxCapacity: Int?, gated: Bool) {
        self.continuation = continuation; self.topics = topics; self.unsubscribes = unsubscribes; self.qos = Int32(qos)
        self.inbox = batched ? MessageInbox(capacity: inboxCapacity) : nil
        gate = gated ? AcknowledgementGate() : nil
    }

    func deliver(_ message: MQTTMessage) {
        var m = message
        gate?.delivered()
        receiving?(&m)
        if let inbox {
            if inbox.put(m) { continuation.yield(.messagesWaiting) }
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
    private var severed = false
    private var node: String?

    /// With `batched`, messages are not put on `events` but collected for `takeMessages()`: a consumer that works in
    /// batches takes thousands at once instead of resuming once per message. With `inboxCapacity` as well, at most
    /// that many wait there: the network thread then blocks in `on_message` and reads nothing more (back-pressure).
    ///
    /// With `acknowledgesAfterCommit` (batched only), no PUBACK leaves before the consumer said, by `committed(_:)`,
    /// that every message received so far is committed: the broker keeps each message until then, and gives what was
    /// not acknowledged to whoever next connects with the client id — the broker is the journal. Reading pauses while
    /// a commit is awaited (libmosquitto writes every queued packet at once, so nothing may be queued behind an
    /// uncommitted message's PUBACK); the broker's inflight window (`max_inflight_messages`, 0 = unlimited) bounds
    /// how many messages one commit can take.
    public init(settings: MQTTSettings, batched: Bool = false, inboxCapacity: Int? = nil,
                acknowledgesAfterCommit: Bool = false) throws(MQTTError) {
        self.settings = settings
        let (stream, continuation) = AsyncStream<MQTTEvent>.makeStream(bufferingPolicy: .unbounded)
        events = stream
        box = SubscriberBox(continuation: continuation, topics: settings.topics, unsubscribes: settings.unsubscribes, qos: settings.qos,
                           batched: batched || acknowledgesAfterCommit, inboxCapacity: inboxCapacity, gated: acknowledgesAfterCommit)
        opaque = Unmanaged.passRetained(box).toOpaque()
        do {
            mosq = try Mosquitto.client(settings, obj: opaque)
        } catch {
            Unmanaged<SubscriberBox>.fromOpaque(opaque).release()
            throw error
        }
        // libmosquitto 2.0.11 queues the PUBACK in handle__publish *before* on_message; unthreaded it writes it at
        // once, threaded it only queues it and `mosquitto_loop` writes it after on_message returned. So a message
        // is acknowledged only after the receive hook made it durable (STACK-NOTES.md, "when the PUBACK leaves").
        _ = mosquitto_threaded_set(mosq, true)
        mosquitto_connect_callback_set(mosq) { m, obj, rc in
            guard let obj else { return }
            let box = Unmanaged<SubscriberBox>.fromOpaque(obj).takeUnretainedValue()
            guard rc == 0 else {
                box.continuation.yield(.disconnected(reason: String(cString: mosquitto_connack_string(rc))))
                return
            }
            box.continuation.yield(.connected)
            for t in box.unsubscribes { _ = mosquitto_unsubscribe(m, nil, t) }
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

    /// The messages received since the last call (batched mode), in arrival order: at most `limit` of them (the
    /// oldest), or all when nil.
    public func takeMessages(upTo limit: Int? = nil) -> [MQTTMessage] {
        box.inbox?.take(upTo: limit) ?? []
    }

    /// How many messages wait to be taken (batched mode).
    public var waiting: Int { box.inbox?.count ?? 0 }

    /// With `acknowledgesAfterCommit`: `count` more of the messages taken are committed; once all received are, their
    /// PUBACKs leave and reading resumes.
    public func committed(_ count: Int) { box.gate?.committed(count) }

    /// Connects in the background and keeps reconnecting while the broker is away, also when it is not up yet.
    /// `receiving` runs for each message on the network thread, inside libmosquitto's `on_message` callback,
    /// before the message is buffered or put on `events`, and may stamp it (a journal position); it may block, and
    /// while it does no further message is read. The message's PUBACK leaves only after it returned.
    public func start(receiving: (@Sendable (inout MQTTMessage) -> Void)? = nil) throws(MQTTError) {
        lock.lock(); defer { lock.unlock() }
        guard !started, !stopped else { return }
        started = true
        box.receiving = receiving
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
            let (first, at) = connectToANode()
            var rc = first
            if rc == Mosquitto.ok {
                delay = 1
                if let gate = box.gate {
                    rc = runGated(gate)
                } else {
                    // Not once more after stop(): a message read now would be acknowledged and never processed.
                    while rc == Mosquitto.ok && !isStopped { rc = mosquitto_loop(mosq, 100, 1) }
                }
            }
            if isStopped { break }
            box.continuation.yield(.disconnected(reason: "\(at)\(failure(rc)); retrying in \(Int(delay)) s"))
            let due = Date(timeIntervalSinceNow: delay)
            while Date() < due && !isStopped { Thread.sleep(forTimeInterval: 0.05) }
            delay = min(delay * 2, 30)
        }
        if box.gate != nil {
            // Threaded, libmosquitto only queues a DISCONNECT (with the PUBACKs of what was not committed before it), and
            // nothing writes it: the socket would stay open, and the broker would go on sending into it until a next
            // holder took the session over — mosquitto can lose what it sent a half-open connection at a takeover
            // (eclipse-mosquitto/mosquitto#1650). Closed here, the broker queues for the session at once.
            breakConnection()
        } else {
            mosquitto_disconnect(mosq)
        }
        lock.lock(); networkRunning = false; lock.unlock()
    }

    /// Connects to `host:port`, else to each fallback in turn (the nodes of one clustered broker). Returns the
    /// result and `host:port: ` of the node connected to; after a failure, the other nodes' failures and the last
    /// node's `host:port: ` (its failure is added by the caller, as for a connection that drops later).
    private func connectToANode() -> (Int32, String) {
        var rc = Mosquitto.ok
        var earlier: [String] = []
        let nodes = settings.nodes
        for (i, node) in nodes.enumerated() {
            rc = mosquitto_connect(mosq, node.host, Int32(node.port), Int32(settings.keepalive))
            let at = "\(node.host):\(node.port): "
            if rc == Mosquitto.ok { lock.withLock { self.node = "\(node.host):\(node.port)" } }
            if rc == Mosquitto.ok || i == nodes.count - 1 || isStopped {
                return (rc, earlier.map { $0 + "; " }.joined() + at)
            }
            earlier.append(at + failure(rc))
        }
        return (rc, "")
    }

    /// `host:port` of the node the last connection went to (with `fallbacks`, maybe not `settings.host`); nil before.
    public var connectedNode: String? { lock.withLock { node } }

    /// One connection's loop when acknowledgements wait for commits: write what is queued (all of it belongs to
    /// committed messages, or is CONNECT, SUBSCRIBE, PINGREQ), read what arrived, then wait until the consumer has
    /// committed it. Stopping never writes: what was read and not committed goes back to the broker.
    private func runGated(_ gate: AcknowledgementGate) -> Int32 {
        let limit = box.inbox?.capacity ?? Int.max
        while !isStopped {
            var rc = mosquitto_loop_write(mosq, 1)
            if rc == Mosquitto.ok { rc = mosquitto_loop_misc(mosq) }
            guard rc == Mosquitto.ok else { return rc }
            var fds = pollfd(fd: mosquitto_socket(mosq), events: Int16(POLLIN), revents: 0)
            if mosquitto_want_write(mosq) { fds.events |= Int16(POLLOUT) }
            var wait: Int32 = 100
            while !isStopped && gate.pending < limit && poll(&fds, 1, wait) > 0 {
                guard fds.revents & Int16(POLLIN | POLLERR | POLLHUP) != 0 else { break }
                rc = mosquitto_loop_read(mosq, 1)
                guard rc == Mosquitto.ok else { return rc }
                wait = 0
                fds.events = Int16(POLLIN)
            }
            guard gate.waitUntilCommitted(unless: { self.isStopped }) else { break }
        }
        return Mosquitto.ok
    }

    /// Cuts the connection at once and receives nothing more: for an engine that must stop acknowledging now (it lost
    /// its partition's lease). A PUBACK still queued dies with the socket and a message inside the receive hook is never
    /// acknowledged, so the broker hands both to the session's next holder. Then as `stop()`.
    public func sever() {
        lock.withLock { stopped = true }
        breakConnection()
        lock.withLock { severed = true }
        stop()
    }

    /// Whether `sever()` has cut the connection (it then still waits for the network thread).
    var isSevered: Bool { lock.withLock { severed } }

    /// Cuts the TCP connection under libmosquitto (tests: a connection that dies inside `on_message`).
    func breakConnection() {
        let fd = mosquitto_socket(mosq)
        if fd >= 0 { _ = shutdown(fd, Int32(SHUT_RDWR)) }
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
        // A network thread blocked on a full inbox puts its message and then sees `stopped`: nothing more is read.
        box.inbox?.close()
        box.gate?.close()
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

/// Counts messages received and messages the consumer has committed, for a subscriber whose acknowledgements wait
/// for commits.
final class AcknowledgementGate: @unchecked Sendable {
    private let cond = NSCondition()
    private var received = 0
    private var done = 0
    private var closed = false

    func delivered() { cond.lock(); received += 1; cond.unlock() }

    func committed(_ n: Int) {
        cond.lock(); done += max(0, n); cond.broadcast(); cond.unlock()
    }

    /// Received and not yet committed.
    var pending: Int { cond.lock(); defer { cond.unlock() }; return received - done }

    /// Waits until everything received is committed; false if the gate closed first. `stopping` is checked every
    /// 100 ms as well (a stop that did not close the gate).
    func waitUntilCommitted(unless stopping: () -> Bool) -> Bool {
        cond.lock(); defer { cond.unlock() }
        while received > done {
            if closed || stopping() { return false }
            _ = cond.wait(until: Date(timeIntervalSinceNow: 0.1))
        }
        return !closed
    }

    func close() { cond.lock(); closed = true; cond.broadcast(); cond.unlock() }
}
