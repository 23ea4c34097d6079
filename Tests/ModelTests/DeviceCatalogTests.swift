import XCTest
@testable import Model

final class DeviceCatalogTests: XCTestCase {
    /// The catalog's slot holds up to 54 bytes of an id and compares longer ids with the device's own: every id is
    /// found, and ids that differ only after the slot's bytes, or by one byte in length, are not.
    func testFindsIdsOfEveryLengthAndNothingElse() {
        let lengths = [1, 2, 53, 54, 55, 200, 65_535, 70_000]
        let ids = lengths.map { String(repeating: "d", count: $0 - 1) + "x" }
        let catalog = DeviceCatalog(devices: ids.map { Device(id: $0, type: "elevator", community: "c", grid: "g") },
                                    communities: [Community(id: "c", name: "C")])
        for id in ids {
            XCTAssertNotNil(catalog.ref(of: id), "\(id.count) bytes")
            XCTAssertEqual(catalog.ref(of: id).map(catalog.id(of:)), id)
            XCTAssertNil(catalog.ref(of: String(id.dropLast()) + "y"), "\(id.count) bytes, last byte differs")
            XCTAssertNil(catalog.ref(of: id + "x"), "\(id.count + 1) bytes")
        }
        XCTAssertNil(catalog.ref(of: ""))
    }

    func testEachDeviceKnowsItsCommunityTypeSubjectAndClock() throws {
        let catalog = DeviceCatalog(devices: [
            Device(id: "wm-1", type: "water_meter", community: "wh", grid: "g9", subject: "home-1"),
            Device(id: "band-1", type: "band", community: "wh", grid: "g9", subject: "home-1"),
            Device(id: "lift-1", type: "elevator", community: "czq", grid: "g1"),
        ], communities: [Community(id: "czq", name: "长征桥"), Community(id: "wh", name: "文晖", timezone: "Europe/Berlin")])
        XCTAssertEqual(catalog.devices.map(\.id), ["band-1", "lift-1", "wm-1"], "in id order")
        let band = try XCTUnwrap(catalog.ref(of: "band-1")), meter = try XCTUnwrap(catalog.ref(of: "wm-1"))
        let lift = try XCTUnwrap(catalog.ref(of: "lift-1"))
        XCTAssertEqual(catalog.subjectIndex(of: band), catalog.subjectIndex(of: meter), "one household")
        XCTAssertNotEqual(catalog.subjectIndex(of: band), catalog.subjectIndex(of: lift))
        XCTAssertEqual(catalog.community(of: meter), "wh")
        XCTAssertEqual(catalog.types[catalog.typeIndex(of: lift)], "elevator")
        XCTAssertEqual(catalog.clock(of: band).timeZone.identifier, "Europe/Berlin")
        XCTAssertEqual(catalog.clock(of: lift).timeZone.identifier, Community.defaultTimezone)
        XCTAssertEqual(catalog[lift].grid, "g1")
        XCTAssertEqual(catalog.clock(ofCommunity: "wh")?.timeZone.identifier, "Europe/Berlin")
        XCTAssertEqual(catalog.clock(ofCommunity: "czq")?.timeZone.identifier, Community.defaultTimezone)
        XCTAssertNil(catalog.clock(ofCommunity: "x"))
        XCTAssertNil(catalog.device("nope"))
    }

    func testUsualTopicIsTheDevicesOwnCommunityAndIdOnly() throws {
        let catalog = DeviceCatalog(devices: [Device(id: "d1", type: "gate", community: "czq", grid: "g1")],
                                    communities: [Community(id: "czq", name: "C")])
        let d1 = try XCTUnwrap(catalog.ref(of: "d1"))
        func usual(_ t: String) -> String? {
            var t = t
            return t.withUTF8 { catalog.usualTopic(UnsafeRawBufferPointer($0), of: d1, device: "d1") }
        }
        XCTAssertEqual(usual("cityeye/czq/d1"), "czq")
        XCTAssertNil(usual("cityeye/wh/d1"))
        XCTAssertNil(usual("cityeye/czq/d2"))
        XCTAssertNil(usual("other/czq/d1"))
        XCTAssertNil(usual("cityeye/czq/d1/x"))
    }
}
