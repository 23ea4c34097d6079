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
        // Sized from fstat (a file that grows meanwhile is read to its end all the same), never zero-filled first.
        var st = stat()
        var capacity = fstat(f, &st) == 0 && st.st_size > 0 ? Int(st.st_size) + 1 : 64 << 10
        var out: [UInt8] = []
        while true {
            var failure: Int32?
            var atEnd = false
            let tail = [UInt8](unsafeUninitializedCapacity: capacity) { buffer, count in
                count = 0
                while count < buffer.count {
                    let n = Glibc.read(f, buffer.baseAddress! + count, buffer.count - count)
                    if n < 0 {
                        if errno == EINTR { continue }
                        failure = errno
                        return
                    }
                    if n == 0 { atEnd = true; return }
                    count += n
                }
            }
            if let failure { return .failure(FileError(failure)) }
            if atEnd && out.isEmpty { return .success(tail) }
            out.append(contentsOf: tail)
            if atEnd { return .success(out) }
            capacity = max(capacity, 64 << 10)
        }
    }

    public struct FileError: Error, Sendable, CustomStringConvertible {
        public let errno: Int32
        init(_ e: Int32) { errno = e }
        public var isMissing: Bool { errno == ENOENT }
        public var description: String { String(cString: strerror(errno)) }
    }
}
