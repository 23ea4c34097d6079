import Model
import Ingest
import MQTT
import Engine

/// Messages taken from a source, handed to the pipeline in arrival order with their topics.
public struct ReceivedBatch: MessageBatch {
    let messages: [MQTTMessage]
    public init(messages: [MQTTMessage]) { self.messages = messages }
    public var source: String? { nil }
    /// The last message's journal position: committing the batch means the journal is processed up to there.
    public var progress: BatchProgress? {
        messages.last(where: { $0.journalEnd != nil })?.journalEnd
            .map { BatchProgress(name: LiveEngine.journalPositionName, value: $0.description) }
    }

    public func forEachMessage(_ body: (InboundMessage) throws -> Void) throws {
        for m in messages {
            try m.payload.withUnsafeBytes { try body(InboundMessage(payload: $0, topic: m.topic, retained: m.retain)) }
        }
    }
}

/// The capture log keeps what a live batch accepted, written before the batch commits.
extension CaptureWriter: BatchCapture {
    public func append(_ message: InboundMessage, at now: Instant) throws {
        try append(payload: message.payload, topic: message.topic, at: now)
    }
}
