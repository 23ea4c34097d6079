import Model

/// A request that cannot be understood: answered with 400 and this message.
struct BadRequest: Error, Equatable {
    var message: String
    init(_ message: String) { self.message = message }
}

/// An `application/x-www-form-urlencoded` body (or query string): each field at most once, valid UTF-8 and
/// percent-escapes, `+` for space.
struct FormBody: Equatable {
    private(set) var fields: [String: String] = [:]

    init(fields: [String: String]) { self.fields = fields }

    init(parsing bytes: some Collection<UInt8>) throws(BadRequest) {
        guard !bytes.isEmpty else { return }
        for pair in bytes.split(separator: UInt8(ascii: "&"), omittingEmptySubsequences: true) {
            let parts = pair.split(separator: UInt8(ascii: "="), maxSplits: 1, omittingEmptySubsequences: false)
            let name = try Self.decode(parts[0])
            let value = parts.count > 1 ? try Self.decode(parts[1]) : ""
            guard fields[name] == nil else { throw BadRequest("the form has the field \(name) twice") }
            fields[name] = value
        }
    }

    subscript(_ name: String) -> String? { fields[name] }

    static func decode(_ s: some Collection<UInt8>) throws(BadRequest) -> String {
        var out: [UInt8] = []
        out.reserveCapacity(s.count)
        var i = s.startIndex
        while i != s.endIndex {
            let c = s[i]
            if c == UInt8(ascii: "+") {
                out.append(UInt8(ascii: " "))
            } else if c == UInt8(ascii: "%") {
                let h = s.index(after: i)
                guard h != s.endIndex, s.index(after: h) != s.endIndex,
                      let hi = Hex.nibble(s[h]), let lo = Hex.nibble(s[s.index(after: h)]) else {
                    throw BadRequest("the form has a broken %-escape")
                }
                out.append(hi << 4 | lo)
                i = s.index(after: h)
            } else {
                out.append(c)
            }
            i = s.index(after: i)
        }
        guard let text = String(validating: out, as: UTF8.self) else { throw BadRequest("the form is not valid UTF-8") }
        return text
    }

}
