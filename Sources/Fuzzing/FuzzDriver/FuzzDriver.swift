import CFuzz
#if canImport(Glibc)
import Glibc
#endif

nonisolated(unsafe) private var target: ((UnsafeRawBufferPointer) -> Void)?

/// libFuzzer's archive refers to this symbol (the link fails without it); the driver is handed it below.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzerTestOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    target!(UnsafeRawBufferPointer(start: data, count: size))
    return 0
}

/// Runs libFuzzer (its flags from the command line) on `body`, which must never crash, hang or leak.
/// A fuzz executable's `main.swift` is one call to this: SwiftPM renames an executable's `main` to `<Module>_main`,
/// so libFuzzer's own `main` cannot be used; its driver is started from ours instead.
public func runFuzzer(_ body: @escaping (UnsafeRawBufferPointer) -> Void) -> Never {
    target = body
    var argc = CommandLine.argc
    var argv = CommandLine.unsafeArgv
    let rc = withUnsafeMutablePointer(to: &argv) { argvp in
        argvp.withMemoryRebound(to: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?.self, capacity: 1) {
            cityeye_run_fuzzer(&argc, $0) { fuzzerTestOneInput($0, $1) }
        }
    }
    if rc == -1 {
        let text = "built without libFuzzer: run scripts/fuzz.sh (swift build … -Xswiftc -sanitize=fuzzer,address)\n"
        _ = text.utf8CString.withUnsafeBufferPointer { write(2, $0.baseAddress, $0.count - 1) }
        exit(2)
    }
    exit(rc)
}

/// Writes an input where a loader reads it from: plain `write(2)`, no fsync, no temporary file and rename
/// (Foundation's `createFile` does both, and spent most of each execution in them).
public func writeInput(_ bytes: UnsafeRawBufferPointer, to path: String) {
    let f = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
    guard f >= 0 else { fatalError("cannot write the fuzz input \(path): \(String(cString: strerror(errno)))") }
    var done = 0
    while done < bytes.count {
        let n = write(f, bytes.baseAddress! + done, bytes.count - done)
        if n <= 0 { fatalError("cannot write the fuzz input \(path): \(String(cString: strerror(errno)))") }
        done += n
    }
    close(f)
}

/// A folder for a fuzz target's input files, in memory when /dev/shm exists.
public func inputFolder(_ name: String) -> String {
    let base = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp"
    let folder = "\(base)/cityeye-fuzz-\(name)-\(getpid())"
    mkdir(folder, 0o700)
    return folder
}
