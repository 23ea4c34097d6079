import Foundation
import MQTT
import Registry

/// The broker as a message source: a persistent-session subscriber (`MQTTSubscriber`, batched, with a bounded
/// inbox). `received` runs inside libmosquitto's `on_message` callback; the message's PUBACK leaves only after it
/// returned (STACK-NOTES.md, "when the PUBACK leaves").
public final class MQTTSource: MessageSource, @unchecked Sendable {
    let subscriber: MQTTSubscriber
    private let lock = NSLock()
    private var forward: Task<Void, Never>?

    /// At most `inboxCapacity` messages wait to be taken; beyond that the receive thread blocks (back-pressure).
    /// With `acknowledgesAfterCommit`, no PUBACK leaves before `committed(_:)` covered every message received
    /// (`MQTTSubscriber`): the broker keeps what is not committed.
    public init(settings: MQTTSettings, inboxCapacity: Int? = nil, acknowledgesAfterCommit: Bool = false) throws(MQTTError) {
        subscriber = try MQTTSubscriber(settings: settings, batched: true, inboxCapacity: inboxCapacity,
                                        acknowledgesAfterCommit: acknowledgesAfterCommit)
    }

    public func committed(_ count: Int) { subscriber.committed(count) }

    public func start(received: (@Sendable (inout MQTTMessage) -> Void)?, events: @escaping @Sendable (SourceEvent) -> Void) throws {
        let stream = subscriber.events
        lock.lock()
        forward = Task {
            for await e in stream {
                switch e {
                case .messagesWaiting: events(.messagesWaiting)
                case .connected: events(.connected)
                case .subscribed: events(.ready)
                case .disconnected(let reason): events(.disconnected(reason: reason))
                case .message: break  // not from a batched subscriber: its messages wait in its inbox
                }
            }
        }
        lock.unlock()
        try subscriber.start(receiving: received)
    }

    /// Cuts the connection at once: nothing more is acknowledged (a partition whose lease is lost).
    public func sever() { subscriber.sever() }

    public func take(upTo limit: Int) -> [MQTTMessage] { subscriber.takeMessages(upTo: limit) }

    public var waiting: Int { subscriber.waiting }

    /// `host:port` of the broker node the session is on (one of the settings' fallbacks, maybe); nil before it connected.
    public var connectedNode: String? { subscriber.connectedNode }

    public func stop() async {
        subscriber.stop()
        let f = lock.withLock { forward }
        await f?.value
    }
}

extension MQTTSettings {
    /// The engine's subscriber settings from the live config's `broker` section (persistent session).
    public init(_ b: LiveConfig.Broker) {
        self.init(host: b.host, port: b.port, clientID: b.clientID, cleanSession: false, topics: b.topics, qos: b.qos,
                  keepalive: b.keepaliveS, username: b.username, password: b.password,
                  tls: b.tls.map { TLSFiles(caFile: $0.caFile, certFile: $0.certFile, keyFile: $0.keyFile) },
                  fallbacks: b.fallbacks.map { ($0.host, $0.port) })
        unsubscribes = b.unsubscribes
    }
}
