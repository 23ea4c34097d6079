import Model
import Store

/// One message as a batch hands it to the pipeline. The bytes are borrowed: valid only during the call that hands
/// the message over (a log line read in place, a received payload).
public struct InboundMessage {
    public var payload: UnsafeRawBufferPointer
    /// The MQTT topic; nil for a log line (its own `topic` field is used if it has one).
    public var topic: String?
    /// The line in the batch's source (a log), for a dead letter's detail; 0 live.
    public var line: Int
    /// Delivered with MQTT's retain flag: the broker's stored last message on the topic, sent again at every
    /// subscribe (docs/contract.md, "Retained messages").
    public var retained: Bool

    public init(payload: UnsafeRawBufferPointer, topic: String?, line: Int = 0, retained: Bool = false) {
        self.payload = payload; self.topic = topic; self.line = line; self.retained = retained
    }
}

/// Messages the pipeline handles in one write transaction (`Pipeline.process(batch:now:)`): received live, lines of a
/// log, and next the entries of an ingress journal. The pipeline pulls them inside the transaction, so a batch can
/// read them in place as they are handled.
public protocol MessageBatch {
    /// Where the messages come from, to prefix a dead letter's detail (a log's file name); nil live.
    var source: String? { get }
    /// Hands each message to `body`, in order.
    func forEachMessage(_ body: (InboundMessage) throws -> Void) throws
    /// Where the input stands after the messages handed over so far, recorded in the batch's transaction.
    var progress: BatchProgress? { get }
    /// Lines up to this one (of `source`) were committed by an earlier run: their dead letters and counts are already
    /// in the store and are not recorded again (a replay run again after a cut).
    var deadLettersRecordedThroughLine: Int { get }
}

extension MessageBatch {
    public var progress: BatchProgress? { nil }
    public var deadLettersRecordedThroughLine: Int { 0 }
}

/// A batch with no messages: a transaction that only moves the clock on or saves the rule state.
public struct NoMessages: MessageBatch {
    public init() {}
    public var source: String? { nil }
    public func forEachMessage(_ body: (InboundMessage) throws -> Void) throws {}
}

/// Keeps what a batch accepted (the live capture log). Called inside the batch's transaction, so a capture that
/// fails rolls the batch back.
public protocol BatchCapture: AnyObject {
    func append(_ message: InboundMessage, at now: Instant) throws
    /// Every message of the batch is handled; called before the batch's changes are written, with the batch's
    /// transaction (a capture kept in the store writes there).
    func flush(into tx: any StoreTransaction) throws
    /// Where the capture stands after `flush`, recorded in the batch's transaction (nil: nothing written yet).
    var position: String? { get }
}

extension Pipeline {
    /// The engine-state name of the capture position the last commit recorded.
    public static let capturePositionName = "capture.position"
}

/// Where a batch's input stands (a journal position, a log offset), kept in the store's engine state in the batch's
/// own transaction: after a crash, what is committed and where to go on from agree.
public struct BatchProgress: Sendable, Equatable {
    public var name: String
    public var value: String
    public init(name: String, value: String) { self.name = name; self.value = value }
}

extension Pipeline {
    /// Runs one batch in one write transaction, in the order that keeps people's actions and timers right: picks up
    /// what people changed since the last batch, moves the clock on to `now` (timers and SLA deadlines due by then
    /// fire), handles each message (accepted ones also go to `capture`), and writes what changed. `now` is the wall
    /// clock live (also for `clock_skew` and dead-letter times); in a replay it is nil, or the time the replay moves on
    /// to at its end (`--until`, in a batch of no messages). The batch's `progress` is recorded in the same
    /// transaction. Returns the number of messages handled.
    ///
    /// `writesEvery`: what the first messages changed is written every so many messages, inside the same transaction,
    /// for a store whose writes go to a server without waiting for its answer (PostgreSQL): the server runs one part's
    /// writes while the engine evaluates the next. The transaction commits all or nothing as before, but what was
    /// written early has left the pipeline's staging: a pipeline whose commit failed is opened again from the store
    /// (as a partition's next holder does), never handed the batch a second time.
    @discardableResult
    public func process<Batch: MessageBatch>(batch: Batch, now: Instant?, saveRuleState: Bool = false,
                                             capture: BatchCapture? = nil, writesEvery: Int? = nil) throws -> Int {
        try store.transaction { tx in
            try syncPeopleChanges(tx)
            if let now { advance(to: now) }
            var handled = 0
            let source = batch.source
            let recordedThrough = batch.deadLettersRecordedThroughLine
            try batch.forEachMessage { m in
                let outcome = handle(m.payload, topic: m.topic, now: now, source: source, line: m.line,
                                     deadLetterRecorded: m.line > 0 && m.line <= recordedThrough, retained: m.retained)
                handled += 1
                if case .accepted = outcome, let capture, let now { try capture.append(m, at: now) }
                if let writesEvery, handled % writesEvery == 0 { try writeEarly(tx) }
            }
            try capture?.flush(into: tx)
            if let position = capture?.position { try tx.setState(Self.capturePositionName, Array(position.utf8)) }
            try write(tx, saveRuleState: saveRuleState, progress: batch.progress)
            return handled
        }
    }
}
