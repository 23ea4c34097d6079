enum LoginPage {
    /// `csrf` is the value of the login cookie the same response sets (the form must send it back).
    static func render(language: Language, csrf: String, next: String, worker: String = "", error: String? = nil) -> HTML {
        let t = language.t
        let problem: HTML = error.map { "<p class=\"error\" role=\"alert\">\($0)</p>" } ?? ""
        return Layout.page(title: t("Sign in"), language: language, path: "/login", viewer: nil, live: false, body: """
        <form class="login" method="post" action="/login">\(problem)
        <input type="hidden" name="csrf" value="\(csrf)"><input type="hidden" name="next" value="\(next)">
        <label for="worker">\(t("Worker id"))</label>
        <input type="text" id="worker" name="worker" value="\(worker)" autocomplete="username" autocapitalize="none" required>
        <label for="password">\(t("Password"))</label>
        <input type="password" id="password" name="password" autocomplete="current-password" required>
        <p><button type="submit" class="primary">\(t("Sign in"))</button></p></form>
        """)
    }
}
