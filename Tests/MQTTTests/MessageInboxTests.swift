import XCTest
@testable import MQTT

final class MessageInboxTests: XCTestCase {
    func message(_ i: Int) -> MQTTMessage { MQTTMessage(topic: "t/\(i)", payload: Array("m\(i)".utf8)) }

    func testWakesOnlyWhenItWasEmptyAndTakesBoundedBatchesInOrder() {
        let inbox = MessageInbox()
        XCTAssertTrue(inbox.put(message(0)))
        XCTAssertFalse(inbox.put(message(1)))
        for i in 2..<5 { XCTAssertFalse(inbox.put(message(i))) }
        XCTAssertEqual(inbox.take(upTo: 2).map(\.topic), ["t/0", "t/1"])
        XCTAssertFalse(inbox.put(message(5)), "not empty: what the bounded take left is still waiting")
        XCTAssertEqual(inbox.count, 4)
        XCTAssertEqual(inbox.take().map(\.topic), ["t/2", "t/3", "t/4", "t/5"])
        XCTAssertEqual(inbox.take(upTo: 10).count, 0)
        XCTAssertTrue(inbox.put(message(6)), "drained: the next message wakes the consumer again")
    }

    func testABacklogTakenInSmallBatchesKeepsEveryMessageOnce() {
        let inbox = MessageInbox()
        var next = 0, taken: [String] = []
        // The receiver stays ahead of the consumer, so the inbox never drains until the end.
        while next < 50_000 {
            for _ in 0..<3 { _ = inbox.put(message(next)); next += 1 }
            taken += inbox.take(upTo: 2).map(\.topic)
        }
        while inbox.count > 0 { taken += inbox.take(upTo: 2_000).map(\.topic) }
        XCTAssertEqual(taken, (0..<next).map { "t/\($0)" })
    }

    func testAFullInboxBlocksTheReceiverUntilTheConsumerTakesOrItCloses() {
        let inbox = MessageInbox(capacity: 2)
        _ = inbox.put(message(0)); _ = inbox.put(message(1))
        let third = expectation(description: "third put returns")
        let fourth = expectation(description: "fourth put returns")
        let order = Seen()
        let (m2, m3) = (message(2), message(3))
        Thread.detachNewThread {
            _ = inbox.put(m2); order.add("put 2"); third.fulfill()
            _ = inbox.put(m3); order.add("put 3"); fourth.fulfill()
        }
        Thread.sleep(forTimeInterval: 0.2)
        XCTAssertEqual(inbox.count, 2, "the receiver waits while the inbox is full")
        XCTAssertEqual(order.all, [])
        order.add("take")
        XCTAssertEqual(inbox.take(upTo: 1).map(\.topic), ["t/0"])
        wait(for: [third], timeout: 5)
        Thread.sleep(forTimeInterval: 0.2)
        XCTAssertEqual(order.all, ["take", "put 2"], "full again: the fourth waits")
        inbox.close()
        wait(for: [fourth], timeout: 5)
        XCTAssertEqual(inbox.take().map(\.topic), ["t/1", "t/2", "t/3"], "closing lets it through; nothing is dropped")
    }
}

private final class Seen: @unchecked Sendable {
    private let lock = NSLock()
    private var items: [String] = []
    func add(_ s: String) { lock.lock(); items.append(s); lock.unlock() }
    var all: [String] { lock.lock(); defer { lock.unlock() }; return items }
}
