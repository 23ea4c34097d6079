# Installs the Debian packages City Eye needs when they are missing (root, or sudo if available).
# `install_deps tests` adds what only the tests need: postgresql-15 (the lease tests start their own server);
# `install_deps cluster` adds rabbitmq-server as well (scripts/cluster-broker.sh starts nodes of its own).
install_deps() {
    local need=() wanted=(mosquitto mosquitto-clients libmosquitto-dev libsqlite3-dev pkg-config)
    [ "${1:-}" = tests ] && wanted+=(postgresql-15)
    [ "${1:-}" = cluster ] && wanted+=(postgresql-15 rabbitmq-server)
    for p in "${wanted[@]}"; do
        dpkg -s "$p" >/dev/null 2>&1 || need+=("$p")
    done
    [ ${#need[@]} -eq 0 ] && return 0
    local sudo=""
    [ "$(id -u)" -ne 0 ] && sudo="sudo"
    echo "installing: ${need[*]}"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${need[@]}" >/dev/null
    # Debian starts a system mosquitto on 1883; we never use it (tests and the demo start their own
    # broker on a free loopback port), so leave it be.
    if [[ " ${need[*]} " == *" postgresql-15 "* ]]; then
        # The package creates a system cluster and may start it on 5432. The tests run their own server
        # (initdb in a temp folder, pg_ctl on a free loopback port: Tests/TestSupport/PostgresServer.swift),
        # so stop the one we just brought and keep it from starting at boot.
        $sudo pg_ctlcluster 15 main stop >/dev/null 2>&1 || true
        [ -f /etc/postgresql/15/main/start.conf ] && echo manual | $sudo tee /etc/postgresql/15/main/start.conf >/dev/null
    fi
    if [[ " ${need[*]} " == *" rabbitmq-server "* ]]; then
        # The package may start a system node (rabbit@<host>, epmd on 4369); the benchmark runs its own nodes on free
        # ports with a private epmd port, so stop the service: it owns nothing here.
        $sudo service rabbitmq-server stop >/dev/null 2>&1 || true
    fi
    return 0
}
if ! command -v swift >/dev/null 2>&1; then
    echo "swift not found: install Swift 6 (https://www.swift.org/install/linux/) and put it on PATH" >&2
    exit 1
fi
