import Hummingbird
import ServiceLifecycle

extension WebApp {
    func addLiveRoutes(_ router: Router<WebContext>) {
        router.get("/static/app.css") { _, _ in Self.asset(Assets.css, type: "text/css; charset=utf-8") }
        router.get("/static/app.js") { _, _ in Self.asset(Assets.js, type: "text/javascript; charset=utf-8") }
        // Server-Sent Events: `change` with the newest audit row id whenever it moves, and `notice` for each
        // incident dispatched, escalated or reopened to the signed-in person since (after the `Last-Event-ID` a
        // reconnecting page sends, if the feed still has it); a comment every 5 s keeps proxies from closing a quiet
        // stream (and tells us when the page is gone).
        router.get("/api/changes") { request, _ -> Response in
            guard let v = viewer(request) else {
                return Response(status: .unauthorized, headers: [.contentType: "text/plain; charset=utf-8"],
                                body: .init(byteBuffer: ByteBuffer(string: "sign in first\n")))
            }
            let feed = self.feed
            let clients = metrics.sseClients
            return Response(status: .ok, headers: [.contentType: "text/event-stream", .cacheControl: "no-store"],
                            body: .init { writer in
                clients.increment()
                defer { clients.decrement() }
                var last = feed.latest
                let person = v.person.id
                // A page that reconnects gets at once what it missed meanwhile.
                let since = request.headers[.init("Last-Event-ID")!].flatMap { Int64($0) }.map { min($0, last) } ?? last
                let missed = feed.notices(for: person, after: since).filter { $0.row <= last }.map { $0.event(v.language) }
                var noticed = last
                try await writer.write(ByteBuffer(string: "retry: 1000\n: at \(last)\n\n" + missed.joined()))
                var quiet = 0
                // Ends at shutdown (the server waits for open responses), or when a write finds the page gone.
                while !feed.stopped && !Task.isCancelled && !Task.isShuttingDownGracefully {
                    try await Task.sleep(for: .milliseconds(200))
                    let now = feed.latest
                    if now != last {
                        last = now
                        quiet = 0
                        var out = ""
                        for n in feed.notices(for: person, after: noticed) { out += n.event(v.language) }
                        noticed = now
                        try await writer.write(ByteBuffer(string: out + "event: change\ndata: \(now)\n\n"))
                    } else {
                        quiet += 1
                        if quiet >= 25 { quiet = 0; try await writer.write(ByteBuffer(string: ": quiet\n\n")) }
                    }
                }
                try await writer.finish(nil)
            })
        }
    }

    static func asset(_ text: String, type: String) -> Response {
        Response(status: .ok, headers: [.contentType: type, .cacheControl: "max-age=300"],
                 body: .init(byteBuffer: ByteBuffer(string: text)))
    }
}
