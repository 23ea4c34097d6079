import Hummingbird
import Model
import Incidents
import Store
import Closedloop

extension WebApp {
    func addIncidentRoutes(_ router: Router<WebContext>) {
        router.get("/", use: page { request, _, v in
            if v.isSupervisor { return redirect("/cockpit") }
            let mine = try store.incidents(IncidentFilter(assignee: v.person.id, openOnly: true))
            return html(WorkerPage.render(mine, viewer: v, path: request.uri.path))
        })
        router.get("/cockpit", use: page { request, _, v in
            guard v.isSupervisor else {
                return message(.forbidden, "Refused", "the cockpit is for supervisors; \(v.person.id) is a \(v.person.role.rawValue)", request, viewer: v)
            }
            let q = query(request)
            let cq = CockpitQuery(status: q["status"] ?? "open", scenario: q["scenario"] ?? "", grid: q["grid"] ?? "", worker: q["worker"] ?? "")
            let here = request.uri.path + (request.uri.query.map { "?" + $0 } ?? "")
            let now = clock()
            let key = PageCache.Key(session: v.session.token, uri: here, language: v.language, row: feed.latest,
                                    hour: now.ms / Durations.hour)
            if let kept = cockpits.page(key) { return html(HTML(raw: kept)) }
            let data = try CockpitData.read(store, charts: charts, query: cq, viewer: v, now: now)
            let page = CockpitPage.render(data, query: cq, viewer: v, path: Self.localPath(here))
            cockpits.keep(page.text, for: key)
            return html(page)
        })
        router.get("/incidents/:id", use: page { request, context, v in
            guard let id = context.parameters.get("id", as: Int64.self), let i = try store.incident(id: id) else {
                return message(.notFound, "Not found", "no incident \(context.parameters.get("id") ?? "")", request, viewer: v)
            }
            guard v.maySee(i) else {
                return message(.forbidden, "Refused", "incident \(i.id) is assigned to \(i.assignee): only the assignee or a supervisor of \(i.community) may see it", request, viewer: v)
            }
            return html(IncidentPage.render(i, trail: try store.audit(of: i.id), events: try store.events(of: i.id), viewer: v,
                                            path: request.uri.path))
        })
        router.post("/incidents/:id/:verb", use: form { request, context, v, form in
            let back = Self.localPath(form["back"])
            guard let id = context.parameters.get("id", as: Int64.self) else {
                return message(.notFound, "Not found", "no such incident", request, viewer: v, back: back)
            }
            let note = form["note"] ?? ""
            guard note.utf8.count <= WebLimits.noteBytes else {
                return message(.badRequest, "Bad request", "the note is longer than \(WebLimits.noteBytes) bytes", request, viewer: v, back: back)
            }
            let action: PeopleAction
            switch context.parameters.get("verb") {
            case "ack": action = .acknowledge
            case "resolve": action = .resolve(note: note)
            case "close": action = .close
            case "reopen": action = .reopen(note: note)
            default: return message(.notFound, "Not found", "no such action", request, viewer: v, back: back)
            }
            do throws(ActionFailure) {
                _ = try PeopleActions.perform(action, on: id, by: .web(worker: v.person.id), registry: registry, store: store, at: clock())
                // The page this redirects to shows the change at once (kept pages are keyed by the feed's row).
                feed.poll()
            } catch .noIncident {
                return message(.notFound, "Not found", "no incident \(id)", request, viewer: v, back: back)
            } catch .refused(let refusal) {
                return message(.forbidden, "Refused", refusal.message, request, viewer: v, back: back)
            } catch {
                return message(.internalServerError, "Refused", error.description, request, viewer: v, back: back)
            }
            return redirect(back)
        })
    }
}
