import Model
import Store

/// The line the live engine logs after commits that moved chain heads — `audit heads <chain>=<row>:<hex> ...` with
/// the first 8 bytes of each MAC — and its reading back by `cityeye audit verify --heads`. Kept outside the store,
/// the log catches rows cut off the end of a chain, which the chain itself cannot.
public enum AuditHeadsLine {
    public static let prefix = "audit heads "
    public static let loggedMACBytes = 8

    /// nil when `heads` is empty.
    public static func format(_ heads: [String: AuditHead]) -> String? {
        guard !heads.isEmpty else { return nil }
        return prefix + heads.keys.sorted().map { chain in
            let h = heads[chain]!
            return "\(chain)=\(h.row):" + Hex.string(h.mac.prefix(loggedMACBytes))
        }.joined(separator: " ")
    }

    /// The last head of each chain in a log's text (other lines, e.g. the engine's other messages, are skipped).
    public static func parse(_ text: String, file: String) throws(AuditHeadsError) -> [String: AuditHead] {
        var out: [String: AuditHead] = [:]
        for (n, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            guard let r = line.range(of: prefix) else { continue }
            for item in line[r.upperBound...].split(separator: " ") {
                guard let eq = item.lastIndex(of: "="), let colon = item.lastIndex(of: ":"), eq < colon,
                      let row = Int64(item[item.index(after: eq)..<colon]),
                      let mac = bytes(hex: item[item.index(after: colon)...]), !mac.isEmpty else {
                    throw AuditHeadsError(file: file, line: n + 1, item: String(item))
                }
                out[String(item[..<eq])] = AuditHead(row: row, mac: mac)
            }
        }
        return out
    }

    static func bytes(hex: Substring) -> [UInt8]? {
        let u = Array(hex.utf8)
        guard u.count % 2 == 0 else { return nil }
        var out: [UInt8] = []
        for i in stride(from: 0, to: u.count, by: 2) {
            guard let hi = Hex.nibble(u[i]), let lo = Hex.nibble(u[i + 1]) else { return nil }
            out.append(hi << 4 | lo)
        }
        return out
    }

}

public struct AuditHeadsError: Error, CustomStringConvertible, Sendable {
    public var file: String
    public var line: Int
    public var item: String
    public var description: String {
        "\(file):\(line): `\(item)` is not a chain head; the engine logs them as `audit heads <chain>=<row>:<hex mac>`"
    }
}
