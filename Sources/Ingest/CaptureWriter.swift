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
            let (y, m, d) = RFC3339.civilFromDays(local.dayNumber)
            let name = String(format: "%04d-%02d-%02d.jsonl", y, m, d)
            let path = (directory as NSString).appendingPathComponent(name)
            PrivateFiles.createFile(path)
            guard let h = FileHandle(forWritingAtPath: path) else { throw LogError(description: "cannot write capture log \(path)") }
            try h.seekToEnd()
            handle = h
            day = local.dayNumber
        }
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
        buffer.append(0x0A)
        if buffer.count > 1 << 20 { try flush() }
    }

    public func flush() throws {
        guard !buffer.isEmpty, let handle else { return }
        try handle.write(contentsOf: buffer)
        buffer.removeAll(keepingCapacity: true)
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
