import Foundation
import CMosquitto

/// State of a publisher shared with its callbacks: connection and outstanding QoS 1 acknowledgements.
final class PublisherBox: @unchecked Sendable {
    let cond = NSCondition()
    var connected = false
    var connackCode: Int32 = -1
    var outstanding = 0
    /// Called with each acknowledged message id (QoS 1: the broker's PUBACK), on libmosquitto's thread.
    var acknowledged: (@Sendable (Int32) -> Void)?
}

/// A publisher for simulated gateways, benchmarks and tests. `publish` blocks while the inflight window is full.
public final class MQTTPublisher: @unchecked Sendable {
    public let settings: MQTTSettings
    private let box = PublisherBox()
    private let opaque: UnsafeMutableRawPointer
    private let mosq: OpaquePointer
    private var running = false

    /// `acknowledged`, if given, is called on libmosquitto's thread with the id `publish` returned, once the broker
    /// acknowledged that message (a publisher that keeps its own ledger, and re-sends elsewhere what was not).
    public init(settings: MQTTSettings, acknowledged: (@Sendable (Int32) -> Void)? = nil) throws(MQTTError) {
        self.settings = settings
        box.acknowledged = acknowledged
        opaque = Unmanaged.passRetained(box).toOpaque()
        do { mosq = try Mosquitto.client(settings, obj: opaque) } catch {
            Unmanaged<PublisherBox>.fromOpaque(opaque).release()
            throw error
        }
        mosquitto_connect_callback_set(mosq) { _, obj, rc in
            guard let obj else { return }
            let b = Unmanaged<PublisherBox>.fromOpaque(obj).takeUnretainedValue()
            b.cond.lock(); b.connackCode = rc; b.connected = rc == 0; b.cond.broadcast(); b.cond.unlock()
        }
        mosquitto_disconnect_callback_set(mosq) { _, obj, _ in
            guard let obj else { return }
            let b = Unmanaged<PublisherBox>.fromOpaque(obj).takeUnretainedValue()
            b.cond.lock(); b.connected = false; b.cond.broadcast(); b.cond.unlock()
        }
        mosquitto_publish_callback_set(mosq) { _, obj, mid in
            guard let obj else { return }
            let b = Unmanaged<PublisherBox>.fromOpaque(obj).takeUnretainedValue()
            b.cond.lock(); b.outstanding -= 1; b.cond.broadcast(); b.cond.unlock()
            b.acknowledged?(mid)
        }
    }

    public func connect(timeout: Double = 10) throws(MQTTError) {
        let rc = mosquitto_connect(mosq, settings.host, Int32(settings.port), Int32(settings.keepalive))
        guard rc == Mosquitto.ok else {
            throw MQTTError("cannot connect to the MQTT broker at \(settings.host):\(settings.port): \(Mosquitto.error(rc)); is it running?")
        }
        _ = mosquitto_loop_start(mosq)
        running = true
        let deadline = Date().addingTimeInterval(timeout)
        box.cond.lock(); defer { box.cond.unlock() }
        while !box.connected && box.connackCode <= 0 {
            if box.connackCode > 0 { break }
            if !box.cond.wait(until: deadline) {
                throw MQTTError("no answer from the MQTT broker at \(settings.host):\(settings.port) within \(Int(timeout)) s")
            }
        }
        if !box.connected {
            throw MQTTError("the MQTT broker at \(settings.host):\(settings.port) refused the connection: \(String(cString: mosquitto_connack_string(box.connackCode)))")
        }
    }

    /// Whether the connection is up (false from a drop until libmosquitto's reconnect got a CONNACK).
    public var isConnected: Bool { box.cond.lock(); defer { box.cond.unlock() }; return box.connected }

    /// Queues a message and returns its message id (the one `acknowledged` is called with).
    @discardableResult
    public func publish(topic: String, payload: [UInt8], qos: Int, retain: Bool = false) throws(MQTTError) -> Int32 {
        box.cond.lock()
        while box.outstanding >= settings.maxInflight {
            if !box.cond.wait(until: Date().addingTimeInterval(30)) {
                box.cond.unlock()
                throw MQTTError("the MQTT broker did not acknowledge messages for 30 s")
            }
        }
        box.outstanding += 1
        box.cond.unlock()
        var mid: Int32 = 0
        let rc = payload.withUnsafeBytes { p in
            mosquitto_publish(mosq, &mid, topic, Int32(p.count), p.baseAddress, Int32(qos), retain)
        }
        guard rc == Mosquitto.ok else {
            box.cond.lock(); box.outstanding -= 1; box.cond.unlock()
            throw MQTTError("publish to \(topic) failed: \(Mosquitto.error(rc))")
        }
        return mid
    }

    /// Waits until every publish has been acknowledged (QoS 1) or sent (QoS 0).
    public func waitForAcks(timeout: Double) throws(MQTTError) {
        let deadline = Date().addingTimeInterval(timeout)
        box.cond.lock(); defer { box.cond.unlock() }
        while box.outstanding > 0 {
            if !box.cond.wait(until: deadline) {
                throw MQTTError("\(box.outstanding) message(s) not acknowledged by the broker within \(Int(timeout)) s")
            }
        }
    }

    public func disconnect() {
        guard running else { return }
        running = false
        Mosquitto.shutdown(mosq)
    }

    deinit {
        disconnect()
        mosquitto_destroy(mosq)
        Unmanaged<PublisherBox>.fromOpaque(opaque).release()
    }
}
