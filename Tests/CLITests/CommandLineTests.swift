import XCTest
import Foundation

extension CLITests {
    func testVersionAndATypoedCommandSuggestsTheRightOne() throws {
        let v = try cityeye(["--version"])
        XCTAssertEqual(v.code, 0)
        XCTAssertNotNil(v.out.range(of: #"^\d+\.\d+\.\d+"#, options: .regularExpression), v.out)
        let typo = try cityeye(["incidnets", "--db", db])
        XCTAssertEqual(typo.code, 2, "bad usage")
        XCTAssertTrue(typo.err.contains("did you mean 'incidents'"), typo.err)
        let far = try cityeye(["frobnicate"])
        XCTAssertEqual(far.code, 2)
        XCTAssertFalse(far.err.contains("did you mean"), "nothing close: no guess")
    }
}
