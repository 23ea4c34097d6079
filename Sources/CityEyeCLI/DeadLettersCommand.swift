import Foundation
import ArgumentParser
import Model
import Store

struct DeadLetters: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "dead-letters",
        abstract: "Rejected messages: why, from which topic, when, and the raw payload.",
        discussion: """
        Only the dead letters within the budget are kept (a rate limit per device or topic and overall, an age and a \
        total size); every rejected message is counted per reason and topic, which `--counts` shows.
        """)

    @OptionGroup var store: AnyStoreOptions
    @Option(help: "Only this reason, e.g. bad_json.") var reason: String?
    @Option(help: "At most this many, the most recent.") var limit: Int?
    @Flag(help: "One JSON object per line: reason, topic, received_at, detail, payload (with --counts: reason, topic, count, first_at, last_at).")
    var json = false
    @Flag(help: "How many messages were rejected per reason and topic, kept as dead letters or not.") var counts = false

    func validate() throws {
        if let reason, RejectReason(rawValue: reason) == nil {
            throw ValidationError("--reason \(reason): use one of \(RejectReason.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        if let limit, limit < 1 { throw ValidationError("--limit must be at least 1") }
    }

    func run() throws {
        let db = try store.openReader()
        defer { db.close() }
        var tally = try failing { try db.deadLetterCountsByTopic() }
        if let reason { tally = tally.filter { $0.reason.rawValue == reason } }
        if counts { return printCounts(tally) }
        var letters = try failing { try db.deadLetters() }
        if let reason { letters = letters.filter { $0.reason.rawValue == reason } }
        let kept = letters.count
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
            return
        }
        if letters.isEmpty {
            print("no dead letters")
        } else {
            let rows = letters.map { d -> [String] in
                let p = Terminal.safe(String(decoding: d.payload.prefix(60), as: UTF8.self))
                return [d.receivedAt.description, d.reason.rawValue, d.topic.isEmpty ? "-" : Terminal.safe(d.topic), Terminal.safe(d.detail), p]
            }
            print(Terminal.table(["RECEIVED", "REASON", "TOPIC", "DETAIL", "PAYLOAD"], rows))
        }
        let notKept = tally.map(\.count).reduce(0, +) - kept
        if notKept > 0 {
            FileHandle.standardError.write(Data("""
                \(notKept) more rejected message\(notKept == 1 ? " was" : "s were") counted but not kept (over the rate \
                limit, or deleted by the retention): `--counts` shows them per reason and topic.\n
                """.utf8))
        }
    }

    private func printCounts(_ tally: [DeadLetterCount]) {
        if json {
            for c in tally {
                var j = JSONLine()
                j.add("reason", c.reason.rawValue)
                j.add("topic", c.topic)
                j.add("count", c.count)
                j.add("first_at", c.firstAt)
                j.add("last_at", c.lastAt)
                print(j.text)
            }
        } else if tally.isEmpty {
            print("no rejected messages")
        } else {
            let rows = tally.map { c in
                [c.reason.rawValue, c.topic.isEmpty ? "-" : Terminal.safe(c.topic), String(c.count), c.firstAt.description, c.lastAt.description]
            }
            print(Terminal.table(["REASON", "TOPIC", "COUNT", "FIRST", "LAST"], rows))
        }
    }
}
