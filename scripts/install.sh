#!/usr/bin/env bash
# Builds cityeye (release) and installs it as PREFIX/bin/cityeye (default PREFIX=/usr/local).
#   bash scripts/install.sh              # then: cityeye --version
#   PREFIX=$HOME/.local bash scripts/install.sh
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib/deps.sh
source scripts/lib/build.sh
install_deps
build_release cityeye
prefix=${PREFIX:-/usr/local}
mkdir -p "$prefix/bin"
install -m 0755 "$(swift build -c release --show-bin-path)/cityeye" "$prefix/bin/cityeye"
echo "installed $prefix/bin/cityeye ($("$prefix/bin/cityeye" --version), $(git describe --always --dirty 2>/dev/null || echo 'no git'))"
case ":$PATH:" in *":$prefix/bin:"*) ;; *) echo "note: $prefix/bin is not on your PATH" ;; esac
