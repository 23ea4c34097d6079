import FuzzDriver
import Foundation
import Registry

// A live config of arbitrary bytes: a config or an error naming the key or file, never a crash.
let folder = NSTemporaryDirectory() + "cityeye-fuzz-config-\(getpid())"
try? FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
_ = FileManager.default.createFile(atPath: folder + "/registry.yaml", contents: Data())
runFuzzer { bytes in
    _ = FileManager.default.createFile(atPath: folder + "/config.yaml", contents: Data(bytes))
    _ = try? LiveConfig.load(path: folder + "/config.yaml")
}
