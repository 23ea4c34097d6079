import FuzzDriver
import Registry

// A registry file of arbitrary bytes: a registry or an error naming the file, never a crash.
runFuzzer { bytes in
    _ = try? RegistryLoader.parse(yaml: String(decoding: bytes, as: UTF8.self), file: "fuzz.yaml")
}
