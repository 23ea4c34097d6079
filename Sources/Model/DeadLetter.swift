/// Why a message was rejected (docs/contract.md §2–3). Raw values are the reason codes of the contract.
public enum RejectReason: String, CaseIterable, Hashable, Sendable {
    case badJSON = "bad_json"
    case tooLarge = "too_large"
    case unknownDevice = "unknown_device"
    case unknownType = "unknown_type"
    case badField = "bad_field"
    case identityMismatch = "identity_mismatch"
    case clockSkew = "clock_skew"
}

/// A rejection with a human explanation, e.g. `bad_field: data.fill_pct must be a number 0–100`.
public struct Rejection: Error, Hashable, Sendable, CustomStringConvertible {
    public var reason: RejectReason
    public var detail: String
    public init(_ reason: RejectReason, _ detail: String = "") { self.reason = reason; self.detail = detail }
    public var description: String { detail.isEmpty ? reason.rawValue : "\(reason.rawValue): \(detail)" }
}

/// A rejected message as kept in the dead-letter table.
public struct DeadLetter: Hashable, Sendable {
    public static let maxPayloadBytes = 64 * 1024
    public static let maxMessageBytes = 256 * 1024

    public var topic: String
    /// Truncated to 64 KiB.
    public var payload: [UInt8]
    public var reason: RejectReason
    public var detail: String
    /// Engine clock (event time in a replay, wall time live) when it was rejected.
    public var receivedAt: Instant

    public init(topic: String, payload: [UInt8], reason: RejectReason, detail: String, receivedAt: Instant) {
        self.topic = topic
        self.payload = payload.count > Self.maxPayloadBytes ? Array(payload.prefix(Self.maxPayloadBytes)) : payload
        self.reason = reason; self.detail = detail; self.receivedAt = receivedAt
    }
}
