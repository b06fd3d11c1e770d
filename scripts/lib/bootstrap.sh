# shellcheck shell=bash
# Shared install steps of the README's two commands: system programs, then the Python venv.
# Sourced by scripts/demo and scripts/test; idempotent, so a second run installs nothing.

REPO_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
VENV="${REEFERWATCH_VENV:-$REPO_ROOT/.venv}"

say() { printf '\033[1m==>\033[0m %s\n' "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

apt_install() {
    # Install Debian packages when they are missing; needs root (as on a fresh machine or CI).
    local missing=()
    for pkg in "$@"; do
        dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    if [ "$(id -u)" -ne 0 ]; then
        die "missing system packages: ${missing[*]} — run as root, or: sudo apt-get install ${missing[*]}"
    fi
    say "installing ${missing[*]} (apt)"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >/dev/null
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

ensure_system_programs() {
    local want=()
    command -v ffmpeg >/dev/null && command -v ffprobe >/dev/null || want+=(ffmpeg)
    command -v mosquitto >/dev/null || [ -x /usr/sbin/mosquitto ] || want+=(mosquitto)
    python3 -c 'import ensurepip, venv' 2>/dev/null || want+=(python3-venv)
    if [ "${1:-}" = "for-tests" ]; then  # the browser test, the image checks
        command -v chromium >/dev/null || want+=(chromium fonts-noto-cjk)
        command -v systemd-analyze >/dev/null || want+=(systemd)
        command -v fakeroot >/dev/null || want+=(fakeroot)
        command -v shellcheck >/dev/null || want+=(shellcheck)
        command -v mmdebstrap >/dev/null || want+=(mmdebstrap)  # the .deb in a Debian rootfs
        command -v zstd >/dev/null || want+=(zstd)
        command -v parted >/dev/null || [ -x /usr/sbin/parted ] || want+=(parted)  # pi-storage test
        command -v udevadm >/dev/null || [ -x /usr/bin/udevadm ] || want+=(udev)  # pi-storage test
        [ -x /usr/bin/python3 ] || want+=(python3)
    fi
    [ ${#want[@]} -eq 0 ] || apt_install "${want[@]}"
}

pick_python() {
    for candidate in python3.11 python3.12 python3.13 python3; do
        if command -v "$candidate" >/dev/null &&
            "$candidate" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
            command -v "$candidate"
            return 0
        fi
    done
    die "Python 3.11 or newer is required (Debian 12: apt-get install python3)"
}

ensure_venv() {
    # $1: the extras to install, e.g. "dev" or "edge,central"
    local extras=$1 stamp
    stamp="$VENV/.reeferwatch-$extras-$(sha256sum "$REPO_ROOT/pyproject.toml" | cut -c1-16)"
    [ -f "$stamp" ] && return 0
    if [ ! -x "$VENV/bin/python" ]; then
        say "creating $VENV"
        "$(pick_python)" -m venv "$VENV"
    fi
    say "installing Python packages [$extras] into $VENV"
    "$VENV/bin/python" -m pip install -q --disable-pip-version-check --upgrade pip
    "$VENV/bin/python" -m pip install -q --disable-pip-version-check -e "${REPO_ROOT}[${extras}]"
    touch "$stamp"
}
