import XCTest
import Foundation
import Model

final class JSONStringWriterTests: XCTestCase {
    func quoted(_ s: String) -> String {
        var out: [UInt8] = []
        JSONText.appendQuoted(s, to: &out)
        return String(decoding: out, as: UTF8.self)
    }

    func decoded(_ s: String) throws -> String {
        var out = Array("[".utf8)
        JSONText.appendQuoted(s, to: &out)
        out.append(UInt8(ascii: "]"))
        return try XCTUnwrap(JSONDecoder().decode([String].self, from: Data(out)).first)
    }

    func testJSONDecoderReadsBackEveryCase() throws {
        let controls = String(String.UnicodeScalarView((0..<0x20).map { Unicode.Scalar(UInt8($0)) }))
        let cases = [
            "", "plain", "quote\"inside", "back\\slash", "\\\"", controls, "tab\tnew\nline\r", "\u{7F}del",
            "line\u{2028}sep\u{2029}para", "\u{2028}", "\u{2027}\u{202A}€", "长者/7", "emoji 👩‍👩‍👧 and é", "end\u{1F}",
        ]
        for s in cases {
            XCTAssertEqual(try decoded(s), s, quoted(s))
        }
    }

    func testEscapesQuotesBackslashAndControlsAsUnicodeEscapes() {
        XCTAssertEqual(quoted("a\"b\\c"), #""a\"b\\c""#)
        XCTAssertEqual(quoted("\n\t\u{0}\u{1F}"), #""\u000a\u0009\u0000\u001f""#)
        XCTAssertEqual(quoted("x\u{2028}y\u{2029}z"), #""x\u2028y\u2029z""#)
    }

    func testLeavesOtherUTF8Verbatim() {
        for s in ["长者/7", "€ \u{2027} \u{202A} \u{7F}", "👩‍👩‍👧", "/slash"] {
            XCTAssertEqual(quoted(s), "\"\(s)\"")
            var out: [UInt8] = []
            JSONText.appendQuoted(s, to: &out)
            XCTAssertEqual(out.count, s.utf8.count + 2, s)
        }
    }

    func testAppendsAfterWhatIsAlreadyWritten() {
        var out = Array("{\"k\":".utf8)
        JSONText.appendQuoted("v\n", to: &out)
        XCTAssertEqual(String(decoding: out, as: UTF8.self), #"{"k":"v\u000a""#)
    }
}
