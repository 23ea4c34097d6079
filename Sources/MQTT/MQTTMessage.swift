import Journal

public struct MQTTMessage: Sendable {
    public var topic: String
    public var payload: [UInt8]
    public var qos: Int
    public var retain: Bool
    /// Where the ingress journal stands just after this message (stamped by the receive hook): a batch commit
    /// records its last message's, so a restart processes the journal from there.
    public var journalEnd: JournalPosition?
    public init(topic: String, payload: [UInt8], qos: Int = 1, retain: Bool = false, journalEnd: JournalPosition? = nil) {
        self.topic = topic; self.payload = payload; self.qos = qos; self.retain = retain; self.journalEnd = journalEnd
    }
}
