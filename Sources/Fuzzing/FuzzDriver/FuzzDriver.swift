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
