import Foundation
import Model

public struct LogError: Error, CustomStringConvertible, Sendable {
    public var description: String
}

/// Reads JSON Lines files in large chunks and hands each non-blank line to a closure, in place.
public enum LogReader {
    public static func forEachLine(path: String, chunkSize: Int = 4 << 20,
                                   _ body: (_ lineNumber: Int, _ line: UnsafeRawBufferPointer) throws -> Void) throws {
        let lines = try LogLines(path: path, chunkSize: chunkSize)
        while let line = try lines.next() { try body(lines.lineNumber, line) }
    }
}
