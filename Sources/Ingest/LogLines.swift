import Foundation

/// A JSON Lines file read in large chunks and handed out one non-blank line at a time, in place: a line's bytes
/// stay valid until the next call of `next()`. The reader pulls, so a caller can stop after a batch of lines and go
/// on later (a replay commits one batch per transaction).
public final class LogLines {
    public let path: String
    /// The number of the line `next()` returned last (1-based, blank lines counted).
    public private(set) var lineNumber = 0
    /// Bytes of the file consumed so far, line ends included.
    public private(set) var bytesRead: Int64 = 0
    private let handle: FileHandle
    private var buffer: UnsafeMutableRawBufferPointer
    private var start = 0
    private var filled = 0
    private var eof = false

    public init(path: String, chunkSize: Int = 4 << 20) throws(LogError) {
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDir) else { throw LogError(description: "cannot read log \(path): no such file") }
        guard !isDir.boolValue else { throw LogError(description: "cannot read log \(path): it is a folder") }
        guard let fh = FileHandle(forReadingAtPath: path) else { throw LogError(description: "cannot read log \(path): permission denied") }
        self.path = path
        handle = fh
        buffer = .allocate(byteCount: max(chunkSize, 16), alignment: 16)
    }

    deinit {
        try? handle.close()
        buffer.deallocate()
    }

    /// The next non-blank line without its line end (LF or CRLF), or nil at the end of the file.
    public func next() throws(LogError) -> UnsafeRawBufferPointer? {
        while true {
            if start < filled {
                let rest = UnsafeRawBufferPointer(rebasing: buffer[start..<filled])
                var end: Int
                if let nl = memchr(rest.baseAddress!, 0x0A, rest.count) {
                    end = start + (UnsafeRawPointer(nl) - rest.baseAddress!)
                } else if eof {
                    end = filled
                } else {
                    try refill()
                    continue
                }
                lineNumber += 1
                let lineStart = start
                start = min(end + 1, filled)
                bytesRead += Int64(start - lineStart)
                if end > lineStart && buffer[end - 1] == 0x0D { end -= 1 }
                if !Self.isBlank(buffer, lineStart, end) { return UnsafeRawBufferPointer(rebasing: buffer[lineStart..<end]) }
            } else if eof {
                return nil
            } else {
                try refill()
            }
        }
    }

    private static func isBlank(_ p: UnsafeMutableRawBufferPointer, _ from: Int, _ to: Int) -> Bool {
        var k = from
        while k < to { let c = p[k]; if c != 0x20 && c != 0x09 { return false }; k += 1 }
        return true
    }

    /// Moves the unread rest to the front (growing the buffer if a line fills it) and reads more after it.
    private func refill() throws(LogError) {
        let remaining = filled - start
        if remaining > 0 && start > 0 { memmove(buffer.baseAddress!, buffer.baseAddress! + start, remaining) }
        start = 0
        filled = remaining
        if filled == buffer.count {
            let bigger = UnsafeMutableRawBufferPointer.allocate(byteCount: buffer.count * 2, alignment: 16)
            bigger.baseAddress!.copyMemory(from: buffer.baseAddress!, byteCount: filled)
            buffer.deallocate()
            buffer = bigger
        }
        let n = read(handle.fileDescriptor, buffer.baseAddress! + filled, buffer.count - filled)
        if n < 0 { throw LogError(description: "cannot read log \(path): read error \(errno)") }
        if n == 0 { eof = true }
        filled += n
    }
}
