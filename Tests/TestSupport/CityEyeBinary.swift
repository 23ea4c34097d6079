import Foundation

/// The built `cityeye` executable, run as an operator would: from the repository root, output collected.
public enum CityEyeBinary {
    public struct Result: Sendable {
        public var code: Int32
        public var out: String
        public var err: String
    }

    public static var url: URL {
        // The test bundle sits in the build products folder beside the executable.
        var dir = Bundle.main.bundleURL
        for _ in 0..<3 {
            let candidate = dir.appendingPathComponent("cityeye")
            if FileManager.default.isExecutableFile(atPath: candidate.path) { return candidate }
            dir = dir.deletingLastPathComponent()
        }
        return Repo.root.appendingPathComponent(".build/debug/cityeye")
    }

    /// Runs `cityeye args`, with `env` added to this process's environment and `stdin` (if any) as its input.
    @discardableResult
    public static func run(_ args: [String], stdin: String? = nil, env: [String: String] = [:]) throws -> Result {
        try run(program: url, args, stdin: stdin, env: env)
    }

    /// Runs any program from the repository root and collects its output.
    @discardableResult
    public static func run(program: URL, _ args: [String], stdin: String? = nil, env: [String: String] = [:]) throws -> Result {
        let p = Process()
        p.executableURL = program
        p.arguments = args
        p.currentDirectoryURL = Repo.root
        if !env.isEmpty { p.environment = ProcessInfo.processInfo.environment.merging(env) { $1 } }
        let out = Pipe(), err = Pipe(), input = Pipe()
        p.standardOutput = out
        p.standardError = err
        p.standardInput = input
        try p.run()
        if let stdin { input.fileHandleForWriting.write(Data(stdin.utf8)) }
        try input.fileHandleForWriting.close()
        let o = out.fileHandleForReading.readDataToEndOfFile()
        let e = err.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return Result(code: p.terminationStatus, out: String(decoding: o, as: UTF8.self), err: String(decoding: e, as: UTF8.self))
    }
}
