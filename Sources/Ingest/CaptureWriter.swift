import Foundation
import Model

/// Appends every accepted message to a JSON Lines capture log, one file per local day (`YYYY-MM-DD.jsonl`),
/// with its topic, so that `cityeye replay` reproduces the day exactly.
public final class CaptureWriter {
    public let directory: String
    private let clock: LocalClock
    private var handle: FileHandle?
    private var day: Int?
    private var buffer: [UInt8] = []
    /// The file being written and how long it is once the buffer is flushed: what a batch's commit records.
    public private(set) var path: String?
    public private(set) var length: UInt64 = 0

    public init(directory: String, timezone: LocalClock) throws {
        self.directory = directory
        self.clock = timezone
        PrivateFiles.createDirectory(directory)
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    }

    public func append(payload: UnsafeRawBufferPointer, topic: String?, at: Instant) throws {
        let local = clock.local(at)
        if local.dayNumber != day {
            try flush()
            try handle?.close()
            let path = (directory as NSString).appendingPathComponent(CaptureFile.name(day: local.dayNumber))
            PrivateFiles.createFile(path)
            guard let h = FileHandle(forWritingAtPath: path) else { throw LogError(description: "cannot write capture log \(path)") }
            length = try h.seekToEnd()
            handle = h
            self.path = path
            day = local.dayNumber
        }
        Self.appendLine(payload: payload, topic: topic, to: &buffer)
        buffer.append(0x0A)
        if buffer.count > 1 << 20 { try flush() }
    }

    /// A message as its capture line, without the newline: the payload with `"topic"` added as its first field
    /// when it has none, any line break inside it made a space.
    public static func appendLine(payload: UnsafeRawBufferPointer, topic: String?, to buffer: inout [UInt8]) {
        var k = 0
        while k < payload.count, payload[k] != 0x7B { buffer.append(payload[k]); k += 1 }
        if k < payload.count {
            buffer.append(0x7B)
            k += 1
            if let topic, !Self.hasTopic(payload) {
                buffer.append(contentsOf: "\"topic\":".utf8)
                JSONText.appendQuoted(topic, to: &buffer)
                var j = k
                while j < payload.count, [0x20, 0x09, 0x0A, 0x0D].contains(payload[j]) { j += 1 }
                if j < payload.count, payload[j] != 0x7D { buffer.append(0x2C) }
            }
        }
        while k < payload.count {
            let c = payload[k]
            buffer.append(c == 0x0A || c == 0x0D ? 0x20 : c)
            k += 1
        }
    }

    public func flush() throws {
        guard !buffer.isEmpty, let handle else { return }
        try handle.write(contentsOf: buffer)
        length += UInt64(buffer.count)
        buffer.removeAll(keepingCapacity: true)
    }

    /// Where the capture stands (`file<TAB>length`), recorded by each batch's commit.
    public var position: String? { path.map { "\($0)\t\(length)" } }

    /// After a crash: cuts the capture back to the position the store last committed, so that it holds exactly the
    /// messages the store committed (those after it are still in the ingress journal, and are processed and captured
    /// again). Later days' files, begun after that commit, are emptied. Returns what was cut, for the log.
    public static func cutBack(directory: String, toCommitted position: String) throws -> [(file: String, bytes: UInt64)] {
        let parts = position.split(separator: "\t", omittingEmptySubsequences: false)
        guard parts.count == 2, let committed = UInt64(parts[1]) else {
            throw LogError(description: "unreadable capture position `\(position)` in the store")
        }
        let file = String(parts[0])
        let name = (file as NSString).lastPathComponent
        var cut: [(String, UInt64)] = []
        func truncate(_ path: String, to size: UInt64) throws {
            let bytes = try CaptureFile.cutBack(path, to: size)
            if bytes > 0 { cut.append((path, bytes)) }
        }
        if FileManager.default.fileExists(atPath: file) { try truncate(file, to: committed) }
        let later = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
        for other in later.sorted() where other.hasSuffix(".jsonl") && other > name {
            try truncate((directory as NSString).appendingPathComponent(other), to: 0)
        }
        return cut
    }

    public func close() {
        try? flush()
        try? handle?.close()
        handle = nil
    }

    /// Whether the payload carries its own `topic` field. Gateways' MQTT payloads rarely do, so a byte search
    /// answers most calls without decoding the message a second time.
    static func hasTopic(_ p: UnsafeRawBufferPointer) -> Bool {
        let needle = Array("\"topic\"".utf8)
        guard p.count >= needle.count else { return false }
        var found = false
        for i in 0...(p.count - needle.count) where p[i] == 0x22 {
            if (1..<needle.count).allSatisfy({ p[i + $0] == needle[$0] }) { found = true; break }
        }
        guard found else { return false }
        if case .success(let e) = EnvelopeDecoder.decode(p) { return e.topic != nil }
        return false
    }
}
