import XCTest
import TestSupport
import Model
import Store
import Accounts

final class AccountsTests: XCTestCase {
    var f: Fixture!
    override func setUpWithError() throws { f = try Fixture(for: self) }

    func testPasswordIsStoredOnlyAsBcryptHashAndVerifies() throws {
        let passwords = Passwords(store: f.store, cost: 4)
        try passwords.set("电梯 secret 1", for: "w-li", registry: f.registry, at: Fixture.t0, by: "root")
        let account = try XCTUnwrap(f.store.account(worker: "w-li"))
        XCTAssertTrue(account.passwordHash.hasPrefix("$2"), account.passwordHash)
        XCTAssertFalse(account.passwordHash.contains("secret"))
        XCTAssertEqual(account.setBy, "root")
        XCTAssertTrue(try passwords.verify("电梯 secret 1", for: "w-li"))
        XCTAssertFalse(try passwords.verify("电梯 secret 2", for: "w-li"))
        XCTAssertFalse(try passwords.verify("电梯 secret 1", for: "w-chen"), "no account")
    }

    func testOnlyRegistryPeopleWithLongEnoughPasswords() {
        let passwords = Passwords(store: f.store, cost: 4)
        XCTAssertThrowsError(try passwords.set("long enough", for: "w-nobody", registry: f.registry, at: Fixture.t0, by: "root")) {
            XCTAssertEqual(($0 as? AccountError)?.code, .unknownPerson)
        }
        XCTAssertThrowsError(try passwords.set("short", for: "w-li", registry: f.registry, at: Fixture.t0, by: "root")) {
            XCTAssertEqual(($0 as? AccountError)?.code, .weakPassword)
        }
        XCTAssertThrowsError(try passwords.set(String(repeating: "x", count: 73), for: "w-li", registry: f.registry, at: Fixture.t0, by: "root")) {
            XCTAssertEqual(($0 as? AccountError)?.code, .weakPassword)
        }
        XCTAssertEqual(try f.store.accounts(), [])
    }

    func testTenWrongPasswordsSlowDownTheAccountAndTheClient() {
        let throttle = LoginThrottle()
        var now = Fixture.t0
        for _ in 0..<9 {
            throttle.failed(account: "w-li", client: "10.0.0.1", at: now)
            now = now + 100
        }
        XCTAssertNil(throttle.wait(account: "w-li", client: "10.0.0.1", at: now), "nine wrong: not yet slowed")
        throttle.failed(account: "w-li", client: "10.0.0.1", at: now)
        XCTAssertEqual(throttle.wait(account: "w-li", client: "10.0.0.9", at: now), 1000, "the account, from any client")
        XCTAssertEqual(throttle.wait(account: "w-chen", client: "10.0.0.1", at: now), 1000, "the client, for any account")
        XCTAssertNil(throttle.wait(account: "w-chen", client: "10.0.0.9", at: now))
        XCTAssertNil(throttle.wait(account: "w-li", client: "10.0.0.1", at: now + 1000))
        throttle.failed(account: "w-li", client: "10.0.0.1", at: now + 1000)
        XCTAssertEqual(throttle.wait(account: "w-li", client: "10.0.0.1", at: now + 1000), 2000, "each further failure doubles")
        throttle.succeeded(account: "w-li", client: "10.0.0.1")
        XCTAssertNil(throttle.wait(account: "w-li", client: "10.0.0.1", at: now + 1000))
    }

    func testSessionsEndWhenIdleOrClosed() throws {
        let book = SessionBook(idle: 10 * Durations.minute)
        let s = book.open(worker: "w-li", at: Fixture.t0)
        XCTAssertEqual(s.token.count, 64)
        XCTAssertNotEqual(s.token, s.csrf)
        XCTAssertEqual(book.session(token: s.token, at: Fixture.t0 + 9 * Durations.minute)?.worker, "w-li")
        XCTAssertNotNil(book.session(token: s.token, at: Fixture.t0 + 18 * Durations.minute), "a request restarts the idle clock")
        XCTAssertNil(book.session(token: s.token, at: Fixture.t0 + 29 * Durations.minute))
        let t = book.open(worker: "w-li", at: Fixture.t0)
        book.close(token: t.token)
        XCTAssertNil(book.session(token: t.token, at: Fixture.t0))
        XCTAssertNil(book.session(token: "forged", at: Fixture.t0))
    }

    func testSetPasswordCommandReadsStandardInputAndListShowsIt() throws {
        f.store.close()
        let set = try CityEyeBinary.run(["people", "set-password", "s-zhao", "--db", f.path], stdin: "cockpit-pass\n")
        XCTAssertEqual(set.code, 0, set.err)
        let store = try Store(path: f.path, create: false)
        defer { store.close() }
        XCTAssertTrue(try Passwords(store: store).verify("cockpit-pass", for: "s-zhao"))
        let list = try CityEyeBinary.run(["people", "list", "--db", f.path])
        XCTAssertEqual(list.code, 0, list.err)
        let row = try XCTUnwrap(list.out.split(separator: "\n").first { $0.hasPrefix("s-zhao") })
        XCTAssertTrue(row.contains(" by "), String(row))
        XCTAssertTrue(list.out.split(separator: "\n").contains { $0.hasPrefix("w-li") && $0.hasSuffix("no password") })
        let unknown = try CityEyeBinary.run(["people", "set-password", "w-nobody", "--db", f.path], stdin: "long enough\n")
        XCTAssertEqual(unknown.code, 1)
        XCTAssertTrue(unknown.err.contains("not a worker or supervisor"), unknown.err)
        let empty = try CityEyeBinary.run(["people", "set-password", "w-li", "--db", f.path], stdin: "")
        XCTAssertEqual(empty.code, 1)
    }
}
