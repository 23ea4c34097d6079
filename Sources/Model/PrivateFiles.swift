#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Files City Eye creates that hold what people and devices reported (the store, capture logs): readable by the
/// owner's group, never by everyone, whatever the umask (under the usual 022 they would come out 644/755).
public enum PrivateFiles {
    public static let fileMode: mode_t = 0o640
    public static let directoryMode: mode_t = 0o750

    /// Creates an empty file with `fileMode` if there is none; true if it created one. An existing file is left alone.
    @discardableResult
    public static func createFile(_ path: String) -> Bool {
        let fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, fileMode)
        guard fd >= 0 else { return false }
        _ = fchmod(fd, fileMode)  // open's mode is filtered by the umask; fchmod's is not
        close(fd)
        return true
    }

    /// Creates a folder (and missing parents) with `directoryMode`; existing folders are left alone.
    public static func createDirectory(_ path: String) {
        var parts: [Substring] = []
        for part in path.split(separator: "/", omittingEmptySubsequences: false) {
            parts.append(part)
            let prefix = parts.joined(separator: "/")
            guard !prefix.isEmpty, mkdir(prefix, directoryMode) == 0 else { continue }
            _ = chmod(prefix, directoryMode)
        }
    }
}
