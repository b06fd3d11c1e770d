#!/bin/bash -e
# Install the reeferwatch-edge package (arm64, built with image-build/build-deb on an arm64
# host with Raspberry Pi OS bookworm's Python 3.11) from files/; apt resolves its Depends.
shopt -s nullglob
debs=(files/reeferwatch-edge_*_arm64.deb)
if [ "${#debs[@]}" -ne 1 ]; then
    echo "stage-reeferwatch: put exactly one reeferwatch-edge_*_arm64.deb into $(pwd)/files" >&2
    exit 1
fi
deb=$(basename "${debs[0]}")
install -m 0644 "${debs[0]}" "${ROOTFS_DIR}/tmp/${deb}"
on_chroot <<CHROOT
apt-get install -y --no-install-recommends "/tmp/${deb}"
rm -f "/tmp/${deb}"
CHROOT
