#if canImport(Glibc)
import Glibc
#endif

@_silgen_name("LLVMFuzzerRunDriver")
private func runDriver(_ argc: UnsafeMutablePointer<Int32>, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>>,
                       _ callback: @convention(c) (UnsafePointer<UInt8>?, Int) -> Int32) -> Int32

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
    exit(runDriver(&argc, &argv) { fuzzerTestOneInput($0, $1) })
}
