import Foundation
import MQTT

/// A source with no broker: a test hands it messages as if they had arrived, and says when the connection changes.
/// `deliver` plays the network thread: each message goes through the receive hook on the caller's thread, then
/// waits to be taken.
public final class InMemorySource: MessageSource, @unchecked Sendable {
    private let inbox: MessageInbox
    private let lock = NSLock()
    private var received: (@Sendable (inout MQTTMessage) -> Void)?
    private var events: (@Sendable (SourceEvent) -> Void)?
    private var stopped = false

    /// With `inboxCapacity`, `deliver` blocks while that many wait (the broker's back-pressure).
    public init(inboxCapacity: Int? = nil) { inbox = MessageInbox(capacity: inboxCapacity) }

    /// Connects and is ready at once.
    public func start(received: (@Sendable (inout MQTTMessage) -> Void)?, events: @escaping @Sendable (SourceEvent) -> Void) throws {
        lock.lock()
        self.received = received
        self.events = events
        lock.unlock()
        connect()
        // Messages a test delivered before the engine started its source had no one to wake.
        if inbox.count > 0 { events(.messagesWaiting) }
    }

    /// Receives `messages` in order; false (and nothing received) once the source is stopped.
    @discardableResult
    public func deliver(_ messages: [MQTTMessage]) -> Bool {
        lock.lock(); defer { lock.unlock() }
        guard !stopped else { return false }
        var wake = false
        for message in messages {
            var m = message
            received?(&m)
            if inbox.put(m) { wake = true }
        }
        if wake { events?(.messagesWaiting) }
        return true
    }

    public func disconnect(reason: String) { say(.disconnected(reason: reason)) }

    public func connect() { say(.connected); say(.ready) }

    public func take(upTo limit: Int) -> [MQTTMessage] { inbox.take(upTo: limit) }

    public var waiting: Int { inbox.count }

    public func stop() async {
        // A `deliver` blocked on a full inbox holds the lock: let it through first.
        inbox.close()
        lock.withLock { stopped = true }
    }

    private func say(_ e: SourceEvent) {
        lock.lock(); let events = self.events; lock.unlock()
        events?(e)
    }
}
