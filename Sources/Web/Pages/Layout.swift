/// The frame of every page: header with who is signed in, the language switch and sign-out; the live part
/// (`#live`) that the script swaps when the store changes.
enum Layout {
    static func page(title: String, language: Language, path: String, viewer: Viewer?, live: Bool, body: HTML) -> HTML {
        let other: Language = language == .zh ? .en : .zh
        let switchLink: HTML = "<a href=\"\(with(path, lang: other))\" lang=\"\(other.rawValue)\">\(other == .en ? "English" : "中文")</a>"
        var who: HTML = ""
        if let v = viewer {
            let home: HTML = v.isSupervisor ? "<a href=\"/cockpit\">\(language.t("Cockpit"))</a>" : "<a href=\"/\">\(language.t("My incidents"))</a>"
            who = """
            <span class="who">\(v.person.name) (\(v.person.id))</span>\(home)\
            <form method="post" action="/logout"><input type="hidden" name="csrf" value="\(v.session.csrf)">\
            <button type="submit">\(language.t("Sign out"))</button></form>
            """
        }
        let (open, close): (HTML, HTML) = live ? ("<div id=\"live\">", "</div>") : ("", "")
        let dot: HTML = live ? "<span class=\"live-dot\" title=\"\(language.t("live"))\"></span>" : ""
        return """
        <!doctype html>
        <html lang="\(language.rawValue)"><head><meta charset="utf-8">
        <meta name="viewport" content="width=device-width, initial-scale=1">
        <title>\(title) · \(language.t("City Eye"))</title>
        <link rel="stylesheet" href="/static/app.css"><script src="/static/app.js" defer></script></head>
        <body><header><h1>\(dot)\(language.t("City Eye")) · \(title)</h1>\(who)\(switchLink)</header>
        <main>\(open)\(body)\(close)</main></body></html>
        """
    }

    /// The same path and query with `lang=` set to `language` (any earlier `lang=` removed).
    static func with(_ path: String, lang language: Language) -> String {
        let parts = path.split(separator: "?", maxSplits: 1)
        let kept = parts.count > 1 ? parts[1].split(separator: "&").filter { !$0.hasPrefix("lang=") }.map(String.init) : []
        return String(parts.first ?? "/") + "?" + (kept + ["lang=" + language.rawValue]).joined(separator: "&")
    }

    /// A page that only says something: a refusal, a bad request, a missing incident.
    static func message(title: String, text: String, language: Language, viewer: Viewer?, back: String) -> HTML {
        page(title: title, language: language, path: back, viewer: viewer, live: false,
             body: "<p class=\"error\" role=\"alert\">\(text)</p><p><a href=\"\(back)\">\(language.t("Back"))</a></p>")
    }
}
