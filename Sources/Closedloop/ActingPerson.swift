import Foundation
import Model

/// Who performs a people's action and which way it came in, as the audit trail records it.
public struct ActingPerson: Sendable, Equatable {
    /// A worker or supervisor id from the registry.
    public var worker: String
    public var channel: AuditChannel
    /// The operating-system user who ran the command (the `cli` channel); empty for the web.
    public var osUser: String

    public init(worker: String, channel: AuditChannel, osUser: String = "") {
        self.worker = worker; self.channel = channel; self.osUser = osUser
    }

    /// A person acting from the command line, as the operating-system user running this process.
    public static func commandLine(worker: String) -> ActingPerson {
        ActingPerson(worker: worker, channel: .cli, osUser: OperatingSystemUser.current)
    }

    public static func web(worker: String) -> ActingPerson { ActingPerson(worker: worker, channel: .web) }
}

/// The effective operating-system user of this process.
public enum OperatingSystemUser {
    /// The login name of the effective user id, or `uid N` when the user database has no entry for it.
    public static var current: String {
        let uid = geteuid()
        guard let entry = getpwuid(uid), let name = entry.pointee.pw_name else { return "uid \(uid)" }
        return String(cString: name)
    }
}
