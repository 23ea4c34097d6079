import ArgumentParser
import Model
import Store

struct DeadLetters: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "dead-letters",
        abstract: "Rejected messages: why, from which topic, when, and the raw payload.")

    @OptionGroup var store: StoreOptions
    @Option(help: "Only this reason, e.g. bad_json.") var reason: String?
    @Option(help: "At most this many, the most recent.") var limit: Int?
    @Flag(help: "One JSON object per line: reason, topic, received_at, detail, payload.") var json = false

    func validate() throws {
        if let reason, RejectReason(rawValue: reason) == nil {
            throw ValidationError("--reason \(reason): use one of \(RejectReason.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        if let limit, limit < 1 { throw ValidationError("--limit must be at least 1") }
    }

    func run() throws {
        let db = try store.openExisting()
        var letters = try failing { try db.deadLetters() }
        if let reason { letters = letters.filter { $0.reason.rawValue == reason } }
        if let limit, letters.count > limit { letters = Array(letters.suffix(limit)) }
        if json {
            for d in letters {
                var j = JSONLine()
                j.add("reason", d.reason.rawValue)
                j.add("topic", d.topic)
                j.add("received_at", d.receivedAt)
                j.add("detail", d.detail)
                j.add("payload", String(decoding: d.payload, as: UTF8.self))
                print(j.text)
            }
        } else if letters.isEmpty {
            print("no dead letters")
        } else {
            let rows = letters.map { d -> [String] in
                let p = Terminal.safe(String(decoding: d.payload.prefix(60), as: UTF8.self))
                return [d.receivedAt.description, d.reason.rawValue, d.topic.isEmpty ? "-" : Terminal.safe(d.topic), Terminal.safe(d.detail), p]
            }
            print(Terminal.table(["RECEIVED", "REASON", "TOPIC", "DETAIL", "PAYLOAD"], rows))
        }
    }
}
