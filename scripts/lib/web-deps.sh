# Installs what the real-browser test needs when it is missing: Debian's headless Chromium and its driver, a
# small CJK font (Chinese pages render as boxes without one), and Selenium from PyPI. Nothing is downloaded at
# test time: Selenium is pointed at /usr/bin/chromium and /usr/bin/chromedriver.
install_web_deps() {
    local need=()
    for p in chromium chromium-driver fonts-wqy-microhei; do
        dpkg -s "$p" >/dev/null 2>&1 || need+=("$p")
    done
    if [ ${#need[@]} -gt 0 ]; then
        local sudo=""
        [ "$(id -u)" -ne 0 ] && sudo="sudo"
        echo "installing: ${need[*]}"
        $sudo apt-get update -qq
        DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${need[@]}" >/dev/null
    fi
    python3 -c "import selenium" 2>/dev/null || python3 -m pip install -q selenium
}
