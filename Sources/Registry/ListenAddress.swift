/// `host:port` for a server to listen on (`metrics.listen` of the live config, `listen` of the serve config).
public struct ListenAddress: Sendable, Equatable, CustomStringConvertible {
    public var host: String
    /// 0: any free port (the server prints the one it got).
    public var port: Int

    public init(host: String, port: Int) { self.host = host; self.port = port }

    /// `127.0.0.1:9464`, `localhost:0`, `0.0.0.0:8080`; nil for anything else.
    public init?(_ text: String) {
        guard let colon = text.lastIndex(of: ":"), colon != text.startIndex,
              let port = Int(text[text.index(after: colon)...]), (0...65535).contains(port) else { return nil }
        let host = String(text[..<colon])
        guard !host.contains(where: { $0 == " " || $0 == "/" }) else { return nil }
        self.init(host: host, port: port)
    }

    public var description: String { "\(host):\(port)" }
}
