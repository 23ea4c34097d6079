import FuzzDriver
import Rules

// A rule file of arbitrary bytes, loaded as `cityeye rules check` loads one: problems, never a crash.
let folder = inputFolder("rules")
runFuzzer { bytes in
    writeInput(bytes, to: folder + "/rules.yaml")
    _ = RuleSet.check(directory: folder)
}
