import FuzzDriver
import Model
import Ingest

// The envelope decoder and validator on arbitrary bytes: never a crash, a hang or a leak, and the same verdict and
// envelope with and without the device catalog (the decoder's fast path).
let registry = Registry(
    communities: [Community(id: "changzhengqiao", name: "长征桥社区")],
    grids: [Grid(id: "czq-g1", community: "changzhengqiao", name: "G1")], workers: [],
    devices: ["czq-elev-01", "d", "czq-gate-01", "长征桥-1"].map {
        Device(id: $0, type: "elevator", community: "changzhengqiao", grid: "czq-g1")
    })
let validator = EventValidator(registry: registry)

runFuzzer { bytes in
    let plain = EnvelopeDecoder.decode(bytes)
    let fast = EnvelopeDecoder.decode(bytes, devices: validator.devices)
    switch (plain, fast) {
    case (.success(let a), .success(var b)):
        precondition(a == b, "the catalog's fast path decoded another envelope")
        precondition(b.deviceRef == registry.catalog.ref(of: b.device), "wrong device reference")
        _ = validator.validate(&b, topic: nil)
        _ = validator.validate(a, topic: "cityeye/changzhengqiao/\(a.device)")
    case (.failure(let a), .failure(let b)):
        precondition(a.reason == b.reason, "verdicts differ: \(a.reason) vs \(b.reason)")
    default:
        preconditionFailure("one decoder accepted what the other rejected")
    }
}
