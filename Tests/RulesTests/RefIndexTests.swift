import XCTest
@testable import Rules

final class RefIndexTests: XCTestCase {
    /// Random sets and removes, checked against a Dictionary after every step: removal shifts entries back, and a
    /// mistake there loses keys that collide (small key ranges make long probe runs).
    func testAgreesWithADictionaryUnderRandomSetsAndRemoves() {
        var rng = SystemRandomNumberGenerator()
        for range in [8, 64, 5_000] {
            var index = RefIndex()
            var model: [Int32: Int32] = [:]
            for step in 0..<40_000 {
                let ref = Int32.random(in: 0..<Int32(range), using: &rng)
                if Bool.random(using: &rng) || model.count < 4 {
                    index.set(ref, Int32(step))
                    model[ref] = Int32(step)
                } else {
                    index.remove(ref)
                    model[ref] = nil
                }
                XCTAssertEqual(index.count, model.count)
                if step % 97 == 0 {
                    for r in 0..<Int32(range) where index[r] != model[r] {
                        return XCTFail("range \(range), step \(step): \(r) gives \(String(describing: index[r])), expected \(String(describing: model[r]))")
                    }
                    XCTAssertEqual(Dictionary(uniqueKeysWithValues: index.entries.map { ($0.ref, $0.slot) }), model)
                }
            }
        }
    }

    func testAnEmptyIndexFindsNothingAndRemovingAnAbsentKeyChangesNothing() {
        var index = RefIndex()
        XCTAssertNil(index[0])
        index.remove(3)
        index.set(3, 7)
        index.remove(4)
        XCTAssertEqual(index[3], 7)
        XCTAssertEqual(index.count, 1)
    }
}
