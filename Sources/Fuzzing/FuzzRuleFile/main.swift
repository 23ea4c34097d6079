import FuzzDriver
import Foundation
import Rules

// A rule file of arbitrary bytes, loaded as `cityeye rules check` loads one: problems, never a crash.
let folder = NSTemporaryDirectory() + "cityeye-fuzz-rules-\(getpid())"
try? FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
runFuzzer { bytes in
    _ = FileManager.default.createFile(atPath: folder + "/rules.yaml", contents: Data(bytes))
    _ = RuleSet.check(directory: folder)
}
