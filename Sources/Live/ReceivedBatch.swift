import Model
import Ingest
import MQTT
import Engine
import Store

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

    public func flush(into tx: any StoreTransaction) throws { try flush() }
}

/// The capture of a partitioned city: what a batch accepted goes into the store, in the batch's own transaction, as
/// lines of the day file they belong to, one row a day (`cityeye capture` writes them out). So the capture holds
/// exactly what the store committed, whichever engine held the partition.
public final class StoreCapture: BatchCapture {
    private let clock: LocalClock
    /// The batch's lines by day (one day but for a batch across midnight).
    private var days: [(day: Int, text: [UInt8])] = []

    public init(timezone: LocalClock) { clock = timezone }

    public func append(_ message: InboundMessage, at now: Instant) throws {
        let day = clock.local(now).dayNumber
        if days.last?.day != day { days.append((day, [])) }
        CaptureWriter.appendLine(payload: message.payload, topic: message.topic, to: &days[days.count - 1].text)
        days[days.count - 1].text.append(0x0A)
    }

    public func flush(into tx: any StoreTransaction) throws {
        // Taken whether the write succeeds or not: a batch that fails is never handed to this capture again.
        let batch = days.map { CapturedLines(day: $0.day, text: $0.text) }
        days.removeAll()
        try tx.appendCaptured(batch)
    }

    /// Nothing to record: the lines are in the batch's transaction.
    public var position: String? { nil }
}
