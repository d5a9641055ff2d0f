#!/bin/sh
# Installs the Debian packages that ringside's real-peer tests use (QEMU and
# its C virtiofsd, a guest kernel, busybox for the guest's initramfs, tshark,
# Chromium for the report test). Runs before the test suite: it installs only
# what is missing, and only when it can (root with apt-get); otherwise it says
# what is missing and the tests that need it skip loudly (or fail under CI).
set -u
pkgs="qemu-system-x86 linux-image-amd64 busybox-static tshark cpio xz-utils zstd file binutils gcc libc6-dev chromium"
missing=""
for p in $pkgs; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "system_deps: installing$missing" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q >&2 || exit 1
  # tshark asks whether non-root users may capture: answer no, without a prompt
  echo "wireshark-common wireshark-common/install-setuid boolean false" | debconf-set-selections 2>/dev/null
  # shellcheck disable=SC2086
  apt-get install -y -q --no-install-recommends $missing >&2 || exit 1
else
  echo "system_deps: missing Debian packages:$missing" >&2
  echo "system_deps: tests that need them will skip (or fail when CI is set); install them as root to run everything" >&2
fi
exit 0
