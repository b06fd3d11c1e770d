#!/bin/bash -e
# Files of the ReeferWatch Raspberry Pi image: data partition, read-only root once
# provisioned, hardware watchdog, and the boot command line without the root resize.
install -D -m 0755 files/pi-storage "${ROOTFS_DIR}/usr/lib/reeferwatch/pi-storage"
install -D -m 0755 files/pi-readonly "${ROOTFS_DIR}/usr/lib/reeferwatch/pi-readonly"
for unit in reeferwatch-pi-storage.service reeferwatch-pi-readonly.service; do
    install -D -m 0644 "files/${unit}" "${ROOTFS_DIR}/etc/systemd/system/${unit}"
done
install -D -m 0644 files/10-pi-data.conf \
    "${ROOTFS_DIR}/etc/systemd/system/reeferwatch-edge.service.d/10-pi-data.conf"
install -D -m 0644 files/90-reeferwatch-watchdog.conf \
    "${ROOTFS_DIR}/etc/systemd/system.conf.d/90-reeferwatch-watchdog.conf"
install -d -m 0755 "${ROOTFS_DIR}/var/lib/rwdata" "${ROOTFS_DIR}/var/lib/reeferwatch"
if ! grep -q '^LABEL=rwdata ' "${ROOTFS_DIR}/etc/fstab"; then
    cat files/fstab.reeferwatch >>"${ROOTFS_DIR}/etc/fstab"
fi

BOOT="${ROOTFS_DIR}/boot/firmware"
# the SoC watchdog (systemd's RuntimeWatchdogSec drives it)
if ! grep -q '^dtparam=watchdog=on' "${BOOT}/config.txt"; then
    printf '\n# ReeferWatch: hardware watchdog\ndtparam=watchdog=on\n' >>"${BOOT}/config.txt"
fi
# Raspberry Pi OS grows the root partition over the whole card at first boot (the firstboot
# init script, or "resize" for the initramfs). Keep root as built: the rest of the card
# becomes the data partition.
sed -i -e 's| init=/usr/lib/raspberrypi-sys-mods/firstboot||' -e 's| resize\b||' \
    "${BOOT}/cmdline.txt"
install -d -m 0755 "${BOOT}/reeferwatch"
cat >"${BOOT}/reeferwatch/README.txt" <<'README'
Put the enrollment bundle here: the files of `reeferwatch-central device enroll`
(ca.pem, device.pem, device.key, signing.key, edge.toml) and the site's site.toml.
They are installed at first boot and then erased from this card. See docs/deployment.md.
README
