#if canImport(Glibc)
import Glibc
#endif

/// A whole file's bytes, read with POSIX calls. (Foundation's `FileManager.contents(atPath:)` and
/// `String(contentsOfFile:)` leak their 4 KiB buffer on an empty file: found by the fuzzer with LeakSanitizer.)
public enum FileBytes {
    /// The bytes, or the `errno` of the failure (`ENOENT`: no such file).
    public static func read(_ path: String) -> Result<[UInt8], FileError> {
        let f = open(path, O_RDONLY | O_CLOEXEC)
        guard f >= 0 else { return .failure(FileError(errno)) }
        defer { close(f) }
        var out: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 1 << 20)
        while true {
            let n = chunk.withUnsafeMutableBytes { Glibc.read(f, $0.baseAddress!, $0.count) }
            if n < 0 {
                if errno == EINTR { continue }
                return .failure(FileError(errno))
            }
            if n == 0 { return .success(out) }
            out.append(contentsOf: chunk[0..<n])
        }
    }

    public struct FileError: Error, Sendable, CustomStringConvertible {
        public let errno: Int32
        init(_ e: Int32) { errno = e }
        public var isMissing: Bool { errno == ENOENT }
        public var description: String { String(cString: strerror(errno)) }
    }
}
