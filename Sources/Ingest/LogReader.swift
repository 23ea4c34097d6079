import Foundation
import Model

public struct LogError: Error, CustomStringConvertible, Sendable {
    public var description: String
}

/// Reads JSON Lines files in large chunks and hands each non-blank line to a closure, in place.
public enum LogReader {
    public static func forEachLine(path: String, chunkSize: Int = 4 << 20,
                                   _ body: (_ lineNumber: Int, _ line: UnsafeRawBufferPointer) throws -> Void) throws {
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDir) else { throw LogError(description: "cannot read log \(path): no such file") }
        guard !isDir.boolValue else { throw LogError(description: "cannot read log \(path): it is a folder") }
        guard let fh = FileHandle(forReadingAtPath: path) else { throw LogError(description: "cannot read log \(path): permission denied") }
        defer { try? fh.close() }
        let fd = fh.fileDescriptor
        var buffer = [UInt8](repeating: 0, count: max(chunkSize, 16))
        var filled = 0
        var lineNumber = 0
        while true {
            if filled == buffer.count { buffer.append(contentsOf: [UInt8](repeating: 0, count: buffer.count)) }
            let n = buffer.withUnsafeMutableBytes { p in read(fd, p.baseAddress! + filled, p.count - filled) }
            if n < 0 { throw LogError(description: "cannot read log \(path): read error \(errno)") }
            let eof = n == 0
            filled += n
            var consumed = 0
            try buffer.withUnsafeBytes { p in
                var start = 0
                while start < filled {
                    let rest = UnsafeRawBufferPointer(rebasing: p[start..<filled])
                    let nl = memchr(rest.baseAddress!, 0x0A, rest.count)
                    var end: Int
                    if let nl {
                        end = start + (UnsafeRawPointer(nl) - rest.baseAddress!)
                    } else if eof {
                        end = filled
                    } else {
                        break
                    }
                    lineNumber += 1
                    let next = end + 1
                    if end > start && p[end - 1] == 0x0D { end -= 1 }
                    var blank = true
                    var k = start
                    while k < end { let c = p[k]; if c != 0x20 && c != 0x09 { blank = false; break }; k += 1 }
                    if !blank { try body(lineNumber, UnsafeRawBufferPointer(rebasing: p[start..<end])) }
                    start = min(next, filled)
                }
                consumed = start
            }
            if consumed > 0 {
                let remaining = filled - consumed
                if remaining > 0 {
                    buffer.withUnsafeMutableBytes { p in _ = memmove(p.baseAddress!, p.baseAddress! + consumed, remaining) }
                }
                filled = remaining
            }
            if eof { return }
        }
    }
}
