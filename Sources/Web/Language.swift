/// The pages' language: Chinese (zh-CN) for the people who use them, English on request (`?lang=en` or the
/// `lang` cookie).
public enum Language: String, Sendable, Equatable, CaseIterable {
    case zh = "zh-CN"
    case en

    public init?(tag: String) {
        switch tag.lowercased() {
        case "zh-cn", "zh": self = .zh
        case "en", "en-us", "en-gb": self = .en
        default: return nil
        }
    }

    /// The phrase in this language; the English text is the key, and a phrase missing from the table stays English.
    func t(_ english: String) -> String {
        self == .en ? english : Self.chinese[english] ?? english
    }

    static let chinese: [String: String] = [
        "City Eye": "城市之眼",
        "Sign in": "登录",
        "Sign out": "退出",
        "Worker id": "工号",
        "Password": "密码",
        "Wrong id or password.": "工号或密码错误。",
        "Too many wrong passwords: try again in %@ s.": "密码错误次数过多：请 %@ 秒后再试。",
        "My incidents": "我的事件",
        "Nothing to do: no open incident is assigned to you.": "暂无待办：没有分派给您的未完成事件。",
        "Acknowledge": "确认接单",
        "Resolve": "办结",
        "What was done on site": "现场处置情况",
        "Close": "核验关闭",
        "Reopen": "重新打开",
        "Why it is reopened": "重新打开的原因",
        "Details": "详情",
        "Acknowledge within": "确认剩余",
        "Resolve within": "办结剩余",
        "overdue": "已超时",
        "escalated": "已上报",
        "cleared": "已解除",
        "Cockpit": "数字驾驶舱",
        "Open": "未完成",
        "Escalated": "已上报",
        "Overdue": "超时",
        "By scenario": "按场景",
        "By grid": "按网格",
        "By worker": "按网格员",
        "Escalated to me": "上报给我的",
        "Incidents": "事件列表",
        "Filter": "筛选",
        "all": "全部",
        "not closed": "未关闭",
        "Status": "状态",
        "Scenario": "场景",
        "Grid": "网格",
        "Worker": "网格员",
        "Severity": "等级",
        "Rule": "规则",
        "Device": "设备",
        "Subject": "对象",
        "Where": "位置",
        "Seen": "发生",
        "times": "次",
        "Assignee": "处理人",
        "Audit trail": "处置记录",
        "Time": "时间",
        "Actor": "操作人",
        "Via": "渠道",
        "Action": "操作",
        "Note": "备注",
        "Incident": "事件",
        "Last seen": "最近发生",
        "Back": "返回",
        "Refused": "操作被拒绝",
        "Not found": "未找到",
        "Bad request": "请求无效",
        "critical": "紧急",
        "major": "重要",
        "minor": "一般",
        "dispatched": "已派单",
        "acknowledged": "已接单",
        "resolved": "已办结",
        "closed": "已关闭",
        "live": "实时",
        "Nothing here.": "暂无。",
        "Total": "合计",
        "Raised per hour, 7 days": "近 7 天每小时新增事件",
        "peak": "峰值",
        "What happened": "发生了什么",
        "Incident #%@ dispatched to you": "新事件 #%@ 已派给您",
        "Incident #%@ escalated to you": "事件 #%@ 已上报给您",
        "Incident #%@ reopened for you": "事件 #%@ 已重新打开，请处理",
        "Open it": "查看",
        "Dismiss": "关闭",
        "Event type": "事件类型",
        "Data": "数据",
        "(clock)": "（定时）",
        "%@ more occurrence(s) not kept": "中间另有 %@ 次发生未保留",
        ": ": "：",
        "Raised by the clock": "由定时规则触发",
        "Repeated by the clock": "定时规则再次触发",
        "a timed rule came due": "定时规则到期",
        "held since %@": "自 %@ 起持续",
        "nothing heard since %@": "自 %@ 起无消息",
        "not followed up since %@": "自 %@ 起未跟进",
        "too little in the window since %@": "自 %@ 起累计不足",
        "No events kept: the incident is older than the record of events.": "未保留事件：该事件早于事件记录功能。",
    ]
}
