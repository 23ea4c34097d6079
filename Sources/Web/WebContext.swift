import Hummingbird
import NIOCore

/// Hummingbird's request context plus the client's address (for the login throttle) and a small upload limit.
public struct WebContext: RequestContext, RemoteAddressRequestContext {
    public var coreContext: CoreRequestContextStorage
    public let remoteAddress: SocketAddress?

    public init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        remoteAddress = source.channel.remoteAddress
    }

    public var maxUploadSize: Int { WebLimits.formBytes }

    /// The client's IP address, or `unknown` (in-process tests).
    var client: String { remoteAddress?.ipAddress ?? "unknown" }
}
