public enum MQTTEvent: Sendable {
    /// Batched mode: messages are waiting for `takeMessages()` (sent once each time the buffer fills from empty).
    case messagesWaiting
    case connected
    case subscribed
    case disconnected(reason: String)
    case message(MQTTMessage)
}
