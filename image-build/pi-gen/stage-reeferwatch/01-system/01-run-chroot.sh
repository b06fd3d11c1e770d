#!/bin/bash -e
# Inside the image: enable the units, switch off what would write into the RAM overlay of the
# read-only root, rebuild the initramfs with overlayroot, lock the build-time console account.
systemctl enable reeferwatch-firstboot.service reeferwatch-edge.service \
    reeferwatch-pi-storage.service reeferwatch-pi-readonly.service
for unit in dphys-swapfile.service apt-daily.timer apt-daily-upgrade.timer man-db.timer; do
    if systemctl list-unit-files "${unit}" >/dev/null 2>&1; then
        systemctl disable "${unit}" || true
    fi
done
update-initramfs -u -k all
passwd -l "${FIRST_USER_NAME:?pi-gen sets FIRST_USER_NAME}"
