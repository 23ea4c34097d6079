import MQTT

/// What a message source tells the live loop besides its messages.
public enum SourceEvent: Sendable, Equatable {
    /// Messages wait to be taken (said when the source's inbox fills from empty, not once per message).
    case messagesWaiting
    case connected
    /// Subscribed: messages flow from here on.
    case ready
    case disconnected(reason: String)
}

/// Where the live engine's messages come from: the MQTT broker (`MQTTSource`), a list a test hands over
/// (`InMemorySource`), and next an ingress journal. The source receives on its own thread and keeps what it received
/// until the engine takes it, in bounded batches, from its own task.
public protocol MessageSource: AnyObject, Sendable {
    /// Starts receiving. `events` is called on connection changes and when messages wait (from any thread).
    /// `received` runs for each message on the source's own thread, before the message can be taken and before the
    /// source acknowledges it to its sender: the place to make a message durable (an ingress journal) and stamp it
    /// with its journal position. It may block; while it does, the source takes in nothing more.
    func start(received: (@Sendable (inout MQTTMessage) -> Void)?, events: @escaping @Sendable (SourceEvent) -> Void) throws
    /// How many messages wait to be taken (bounded for the broker: the receive thread blocks beyond two batches).
    var waiting: Int { get }
    /// The oldest messages received and not yet taken, at most `limit` of them.
    func take(upTo limit: Int) -> [MQTTMessage]
    /// `count` more of the messages taken are committed (a source that acknowledges only after the commit lets their
    /// acknowledgements go once everything it received is).
    func committed(_ count: Int)
    /// Stops receiving. When it returns nothing more arrives; what arrived before can still be taken.
    func stop() async
}

extension MessageSource {
    public func committed(_ count: Int) {}
}
