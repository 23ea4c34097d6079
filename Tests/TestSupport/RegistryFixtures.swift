/// Registry files the tests share, written once.
public enum RegistryFixtures {
    /// One community, changzhengqiao: workers w-li, w-wang (czq-g1), w-chen (czq-g2), supervisor s-zhao; the elevator
    /// czq-elev-01 (subject czq-b3-elevator, czq-g1) and the smoke detector czq-smoke-01 (czq-g2).
    public static let changzhengqiao = """
    communities:
      - {id: changzhengqiao, name: 长征桥社区, timezone: Asia/Shanghai}
    grids:
      - {id: czq-g1, community: changzhengqiao, name: Buildings 1-6}
      - {id: czq-g2, community: changzhengqiao, name: Buildings 7-9}
    workers:
      - {id: w-li, name: 李敏, grid: czq-g1, role: worker}
      - {id: w-wang, name: 王芳, grid: czq-g1, role: worker}
      - {id: w-chen, name: 陈刚, grid: czq-g2, role: worker}
      - {id: s-zhao, name: 赵强, community: changzhengqiao, role: supervisor}
    devices:
      - {id: czq-elev-01, type: elevator, community: changzhengqiao, grid: czq-g1, subject: czq-b3-elevator}
      - {id: czq-smoke-01, type: smoke_detector, community: changzhengqiao, grid: czq-g2}
    """

    /// Two communities, changzhengqiao and wenhui, one grid each: worker w-li, supervisors s-zhao and s-wu; an elevator
    /// and a smoke detector in czq-g1, a smoke detector in wh-g1 (a gateway of one community speaking for another's).
    public static let twoCommunities = """
    communities:
      - {id: changzhengqiao, name: 长征桥社区, timezone: Asia/Shanghai}
      - {id: wenhui, name: 文晖街道, timezone: Asia/Shanghai}
    grids:
      - {id: czq-g1, community: changzhengqiao, name: Buildings 1-6}
      - {id: wh-g1, community: wenhui, name: Block A}
    workers:
      - {id: w-li, name: 李敏, grid: czq-g1, role: worker}
      - {id: s-zhao, name: 赵强, community: changzhengqiao, role: supervisor}
      - {id: s-wu, name: 吴, community: wenhui, role: supervisor}
    devices:
      - {id: czq-elev-01, type: elevator, community: changzhengqiao, grid: czq-g1}
      - {id: czq-smoke-01, type: smoke_detector, community: changzhengqiao, grid: czq-g1}
      - {id: wh-smoke-01, type: smoke_detector, community: wenhui, grid: wh-g1}
    """

    /// The elevator scenario's registry as shipped: workers w-li, w-wang (czq-g1), w-chen (czq-g2); supervisors
    /// s-zhao, s-zhou.
    public static var elevatorScenario: String {
        get throws { try String(contentsOf: Repo.scenarios.appendingPathComponent("elevator/registry.yaml"), encoding: .utf8) }
    }
}
