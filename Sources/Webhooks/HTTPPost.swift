import NIOCore
import NIOPosix
import NIOHTTP1
#if canImport(Glibc)
import Glibc
#endif
import Registry

/// Sends one webhook request and returns the HTTP status of the answer (a test hands the sender another).
public protocol WebhookTransport: Sendable {
    func post(to url: WebhookURL, headers: [(String, String)], body: [UInt8], timeoutSeconds: Int) async throws -> Int
}

/// Why a POST got no HTTP answer.
public enum HTTPPostError: Error, Sendable, CustomStringConvertible {
    case timedOut(seconds: Int)
    case closedBeforeAnswer
    case connect(String)

    public var description: String {
        switch self {
        case .timedOut(let s): "no answer within \(s) s"
        case .closedBeforeAnswer: "the receiver closed the connection before answering"
        case .connect(let why): "cannot connect: \(why)"
        }
    }
}

/// A plain HTTP/1.1 POST over SwiftNIO, one connection per request (`Connection: close`): no TLS, no redirects
/// followed (a 3xx is a failed attempt). NIO is already linked for the web app; this costs no new dependency.
public struct HTTPPost: WebhookTransport {
    public init() {}

    public func post(to url: WebhookURL, headers: [(String, String)], body: [UInt8], timeoutSeconds: Int) async throws -> Int {
        let loop = MultiThreadedEventLoopGroup.singleton.next()
        let answered = loop.makePromise(of: Int.self)
        var head = HTTPRequestHead(version: .http1_1, method: .POST, uri: url.target)
        head.headers.add(name: "Host", value: url.port == 80 ? url.hostForHeader : "\(url.hostForHeader):\(url.port)")
        head.headers.add(name: "Content-Type", value: "application/json")
        head.headers.add(name: "Content-Length", value: String(body.count))
        head.headers.add(name: "User-Agent", value: "cityeye")
        head.headers.add(name: "Connection", value: "close")
        for (name, value) in headers { head.headers.add(name: name, value: value) }
        let request = head
        let timeout = loop.scheduleTask(in: .seconds(Int64(timeoutSeconds))) {
            answered.fail(HTTPPostError.timedOut(seconds: timeoutSeconds))
        }
        let connected = ClientBootstrap(group: loop)
            .connectTimeout(.seconds(Int64(timeoutSeconds)))
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHTTPClientHandlers()
                    try channel.pipeline.syncOperations.addHandler(OneExchange(head: request, body: body, answered: answered))
                }
            }
            .connect(host: url.host, port: url.port)
        connected.whenComplete { result in
            switch result {
            case .success(let channel): answered.futureResult.whenComplete { _ in channel.close(promise: nil) }
            case .failure(let error): answered.fail(HTTPPostError.connect(Self.why(error)))
            }
        }
        defer { timeout.cancel() }
        return try await answered.futureResult.get()
    }

    /// A connect failure in a few words ("Connection refused", "cannot resolve host …"), not NIO's nested dump.
    static func why(_ error: Error) -> String {
        if let e = error as? NIOConnectionError {
            if let dns = e.dnsAError ?? e.dnsAAAAError { return "cannot resolve host \(e.host): \(dns)" }
            if let first = e.connectionErrors.first { return why(first.error) }
            return "no address for \(e.host)"
        }
        if let e = error as? IOError { return String(cString: strerror(e.errnoCode)) }
        if let e = error as? ChannelError, case .connectTimeout = e { return "connect timed out" }
        return "\(error)"
    }
}

/// Writes the request once the connection is up, and completes `answered` with the status once the answer has
/// been read to its end (or fails it when the connection goes first).
private final class OneExchange: ChannelInboundHandler {
    typealias InboundIn = HTTPClientResponsePart
    typealias OutboundOut = HTTPClientRequestPart

    private let head: HTTPRequestHead
    private let body: [UInt8]
    private let answered: EventLoopPromise<Int>
    private var status: Int?

    init(head: HTTPRequestHead, body: [UInt8], answered: EventLoopPromise<Int>) {
        self.head = head; self.body = body; self.answered = answered
    }

    func channelActive(context: ChannelHandlerContext) {
        context.write(wrapOutboundOut(.head(head)), promise: nil)
        context.write(wrapOutboundOut(.body(.byteBuffer(context.channel.allocator.buffer(bytes: body)))), promise: nil)
        context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
        context.fireChannelActive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let h): status = Int(h.status.code)
        case .body: break
        case .end:
            if let status { answered.succeed(status) } else { answered.fail(HTTPPostError.closedBeforeAnswer) }
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        // An answer whose end was never read (the receiver closed after the head) still has its status.
        if let status { answered.succeed(status) } else { answered.fail(HTTPPostError.closedBeforeAnswer) }
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        answered.fail(error)
        context.close(promise: nil)
    }
}
