/// A message's topic. The usual `cityeye/{community}/{device}` of the message's own device is kept as its
/// community only (the device is the message's): no String is made for it per message.
public enum TopicText: Hashable, Sendable {
    case none
    case text(String)
    /// `cityeye/{community}/{device}`, checked against the device's registered community when decoded.
    case usual(community: String)

    public init(_ topic: String?) { self = topic.map { .text($0) } ?? .none }

    /// The topic as text, for a message from `device`.
    public func string(device: String) -> String? {
        switch self {
        case .none: nil
        case .text(let t): t
        case .usual(let community): "cityeye/\(community)/\(device)"
        }
    }
}
