#!/bin/bash
# Install the ReeferWatch edge on a stock JetPack 6 Jetson (Ubuntu 22.04, Python 3.10), as root:
#   image-build/jetson/install.sh reeferwatch-edge_<version>_arm64.deb [--bundle DIR] [--force]
# The package must be built on a Jetson with `image-build/build-deb --extras edge,jetson`
# (JetPack's Python 3.10, and Jetson.GPIO in the venv). --bundle DIR provisions the box from an
# enrollment bundle (the folder of `reeferwatch-central device enroll` plus site.toml) and
# erases the secrets from DIR, as first boot does on a Raspberry Pi. image-build/jetson/README.md.
set -euo pipefail

say() { printf '==> %s\n' "$*" >&2; }
die() { printf 'jetson/install.sh: %s\n' "$*" >&2; exit 1; }

DEB=""
BUNDLE=""
FORCE=0
while [ $# -gt 0 ]; do
    case "$1" in
        --bundle) BUNDLE=$(realpath -e "$2") || die "--bundle: no such folder: $2"; shift 2 ;;
        --force) FORCE=1; shift ;;
        -h | --help) sed -n '2,7p' "$0"; exit 0 ;;
        -*) die "unknown option: $1 (see --help)" ;;
        *) DEB=$(realpath -e "$1") || die "no such file: $1"; shift ;;
    esac
done

[ -n "$DEB" ] || die "name the .deb (see --help)"
[ "$(id -u)" -eq 0 ] || die "run as root (sudo)"
[ "$(dpkg --print-architecture)" = arm64 ] || die "this is not an arm64 system"
if [ ! -e /etc/nv_tegra_release ] && [ "$FORCE" -ne 1 ]; then
    die "no /etc/nv_tegra_release: not a JetPack system (--force to install anyway)"
fi
depends=$(dpkg-deb -f "$DEB" Depends)
python=$(sed -n 's/.*\(python3\.[0-9][0-9]*\).*/\1/p' <<<"$depends" | head -n 1)
command -v "$python" >/dev/null ||
    die "the package was built for $python, which this system lacks: build it on the Jetson"
if ! dpkg-deb -c "$DEB" | grep -q '/site-packages/Jetson/GPIO/__init__.py'; then
    die "the package has no Jetson.GPIO: build it with image-build/build-deb --extras edge,jetson"
fi

say "installing $(basename "$DEB") and its dependencies (apt)"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y --no-install-recommends "$DEB"

say "service user and GPIO access"
# the package's postinst made the user and put it in gpio and video; JetPack has both groups
for group in gpio video; do
    id -nG reeferwatch | tr ' ' '\n' | grep -qx "$group" || adduser --quiet reeferwatch "$group"
done
# /dev/gpiochip* to group gpio (the package's udev rule); Jetson.GPIO opens /dev/gpiochip0
udevadm control --reload-rules
udevadm trigger --subsystem-match=gpio
udevadm settle
for chip in /dev/gpiochip*; do
    [ -e "$chip" ] || continue
    [ "$(stat -c %G "$chip")" = gpio ] || say "warning: $chip is not group gpio; check the udev rules"
done

systemctl daemon-reload
systemctl enable reeferwatch-edge.service reeferwatch-firstboot.service

if [ -n "$BUNDLE" ]; then
    say "provisioning from $BUNDLE"
    reeferwatch-edge provision --boot-dir "$BUNDLE" --etc-dir /etc/reeferwatch
fi
if [ -f /etc/reeferwatch/edge.toml ]; then
    say "self-test (configuration and local checks)"
    setpriv --reuid=reeferwatch --regid=reeferwatch --init-groups \
        reeferwatch-edge selftest --dry-run --config /etc/reeferwatch/edge.toml
    systemctl restart reeferwatch-edge.service
    say "running: journalctl -u reeferwatch-edge -f"
else
    say "installed, not configured: provision with --bundle DIR, or write /etc/reeferwatch/edge.toml"
fi
