import FuzzDriver
import Registry

// A live config of arbitrary bytes: a config or an error naming the key or file, never a crash.
let folder = inputFolder("config")
writeInput(UnsafeRawBufferPointer(start: nil, count: 0), to: folder + "/registry.yaml")
runFuzzer { bytes in
    writeInput(bytes, to: folder + "/config.yaml")
    _ = try? LiveConfig.load(path: folder + "/config.yaml")
}
