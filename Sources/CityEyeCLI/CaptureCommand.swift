import Foundation
import ArgumentParser
import PostgresStore

struct Capture: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "capture",
        abstract: "Writes a partitioned city's capture out of its PostgreSQL store as day files.",
        discussion: """
        With `partitions:` and `capture_dir` in the live config, each partition's engine keeps the messages it \
        accepted in the store, in the transaction that commits them: the capture holds exactly what was committed, \
        whichever engine held the partition. This command appends them to DIR/YYYY-MM-DD.jsonl (the local day of the \
        registry's first community), the files one engine's capture_dir holds and `cityeye replay` reads, then \
        deletes them from the store. Run it as often as suits (hourly, daily): each run writes what was committed \
        since the last. A run interrupted at any point is finished by the next: every line is written once. \
        DIR/.cityeye-capture records how far the folder goes; one folder holds one store's capture.
        """)

    @OptionGroup var store: AnyStoreOptions
    @Option(help: ArgumentHelp("The folder of day files; made if missing.", valueName: "DIR")) var dir: String

    func run() throws {
        guard store.isPostgres else {
            throw Failure("--db \(store.db): an engine with an SQLite store writes its capture to capture_dir itself; "
                          + "`cityeye capture` writes out a partitioned city's, kept in its postgres:// store")
        }
        let target = try store.target()
        let db = try failing { try PostgresStore(target: target, create: false) }
        defer { db.close() }
        var export = CaptureExport(store: db, directory: dir)
        export.progress = { n in FileHandle.standardError.write(Data("capture: \(n) lines written so far\n".utf8)) }
        let result = try failing { try export.run() }
        for (name, bytes) in result.cutBack.sorted(by: { $0.key < $1.key }) {
            print("\(name): cut \(bytes) bytes that an interrupted run had written (its lines are written again below)")
        }
        if result.written.isEmpty {
            print("nothing new to write: \(dir) holds the capture committed so far")
            return
        }
        let files = result.written.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }
        print("\(result.total) line(s) written to \(dir): \(files.joined(separator: ", ")); deleted from the store")
    }
}
