import Crypto
import Model

/// The headers that let a receiver check a webhook: `X-CityEye-Signature: sha256=<hex HMAC-SHA256(secret, body)>`
/// over the exact body bytes, and `X-CityEye-Delivery: <id>`, the same on every retry, to drop repeats by.
public enum WebhookSignature {
    public static let signatureHeader = "X-CityEye-Signature"
    public static let deliveryHeader = "X-CityEye-Delivery"

    public static func value(secret: [UInt8], body: [UInt8]) -> String {
        "sha256=" + Hex.string(HMAC<SHA256>.authenticationCode(for: body, using: SymmetricKey(data: secret)))
    }
}
