import Dispatch
import CoreMetrics
import Hummingbird
import Foundation

/// Counts requests by route (the pattern, e.g. `/incidents/{id}`, never the concrete path: ids would make a series
/// each), method and status, and times them until the response starts (an event stream counts once, when it
/// opens). Records through swift-metrics with the factory it is given.
public struct HTTPMetricsMiddleware<Context: RequestContext>: RouterMiddleware {
    let cache: Cache

    public init(factory: any MetricsFactory) { cache = Cache(factory: factory) }

    public func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let started = DispatchTime.now().uptimeNanoseconds
        let status: HTTPResponse.Status
        let response: Response
        do {
            response = try await next(request, context)
            status = response.status
        } catch {
            let s = (error as? any HTTPResponseError)?.status ?? .internalServerError
            cache.record(route: Self.route(context), method: request.method, status: s, since: started)
            throw error
        }
        cache.record(route: Self.route(context), method: request.method, status: status, since: started)
        return response
    }

    /// The matched route's pattern; `unmatched` for a path no route serves (Hummingbird names those `NotFound`).
    static func route(_ context: Context) -> String {
        guard let path = context.endpointPath, path != "NotFound" else { return "unmatched" }
        return path
    }

    /// One counter and timer per (route, method, status), made once: the factory's look-up takes a lock.
    final class Cache: @unchecked Sendable {
        struct Key: Hashable { var route: String, method: HTTPRequest.Method, status: Int }
        let factory: any MetricsFactory
        private let lock = NSLock()
        private var made: [Key: (CoreMetrics.Counter, CoreMetrics.Timer)] = [:]

        init(factory: any MetricsFactory) { self.factory = factory }

        func record(route: String, method: HTTPRequest.Method, status: HTTPResponse.Status, since started: UInt64) {
            let key = Key(route: route, method: method, status: status.code)
            let (counter, timer) = lock.withLock {
                if let m = made[key] { return m }
                let dims = [("route", route), ("method", method.rawValue), ("status", String(status.code))]
                let m = (CoreMetrics.Counter(label: "cityeye_http_requests_total", dimensions: dims, factory: factory),
                         CoreMetrics.Timer(label: "cityeye_http_request_duration_seconds", dimensions: dims, factory: factory))
                made[key] = m
                return m
            }
            counter.increment()
            timer.recordNanoseconds(Int64(DispatchTime.now().uptimeNanoseconds - started))
        }
    }
}
