import Foundation
import CMosquitto

enum Mosquitto {
    /// `mosquitto_lib_init` once per process.
    static let initialised: Bool = { mosquitto_lib_init() == Int32(MOSQ_ERR_SUCCESS.rawValue) }()

    /// Disconnects and stops the network thread. When not connected (the broker is away) the thread would keep
    /// reconnecting and a polite stop would wait forever, so it is cancelled instead.
    static func shutdown(_ m: OpaquePointer) {
        let rc = mosquitto_disconnect(m)
        _ = mosquitto_loop_stop(m, rc != ok)
    }

    /// libmosquitto's text for an error code (for `MOSQ_ERR_ERRNO`, the current errno's text).
    static func error(_ rc: Int32) -> String {
        if rc == Int32(MOSQ_ERR_ERRNO.rawValue) { return String(cString: strerror(errno)) }
        return String(cString: mosquitto_strerror(rc))
    }

    static let ok = Int32(MOSQ_ERR_SUCCESS.rawValue)

    /// Creates a client with credentials and TLS set; `obj` is handed to every callback.
    static func client(_ s: MQTTSettings, obj: UnsafeMutableRawPointer) throws(MQTTError) -> OpaquePointer {
        _ = initialised
        guard let m = mosquitto_new(s.clientID, s.cleanSession, obj) else {
            throw MQTTError("cannot create an MQTT client (client id \(s.clientID))")
        }
        if let u = s.username {
            let rc = mosquitto_username_pw_set(m, u, s.password)
            guard rc == ok else { mosquitto_destroy(m); throw MQTTError("MQTT username/password: \(error(rc))") }
        }
        if let t = s.tls {
            for f in [t.caFile, t.certFile, t.keyFile].compactMap({ $0 }) where !FileManager.default.isReadableFile(atPath: f) {
                mosquitto_destroy(m)
                throw MQTTError("TLS file \(f) cannot be read")
            }
            let rc = mosquitto_tls_set(m, t.caFile, nil, t.certFile, t.keyFile, nil)
            guard rc == ok else { mosquitto_destroy(m); throw MQTTError("TLS set-up with \(t.caFile): \(error(rc))") }
        }
        _ = mosquitto_max_inflight_messages_set(m, UInt32(max(1, s.maxInflight)))
        return m
    }
}
