#!/bin/sh
# Records testdata/captures/guest_workload.pcapng: a real Linux guest (QEMU, the host's kernel,
# busybox) using ringside as its virtio-fs back-end, through `ringside serve --record --snapshot`.
# Run from the repository root as root with deno on PATH (needs qemu-system-x86, linux-image-amd64,
# busybox-static):
#   sh testdata/captures/make_guest_capture.sh
set -eu
out="$PWD/testdata/captures/guest_workload.pcapng"
work=$(mktemp -d)
mkdir -p "$work/share/src"
for i in $(seq 1 40); do echo "line $i needle" > "$work/share/src/f$i.txt"; done
rm -rf "$out" "$out.snapshot"
ringside() { deno run -A cli/main.ts "$@"; }
# its own process group, so that stopping it reaches deno behind any npm wrapper
setsid deno run -A cli/main.ts serve --socket "$work/vfs.sock" --shared-dir "$work/share" \
  --record "$out" --snapshot &
serve=$!
while [ ! -S "$work/vfs.sock" ]; do sleep 0.2; done
ringside vm --vhost-user "$work/vfs.sock" --timeout 200 -c 'cd /mnt && ls src | wc -l &&
  grep -rl needle src | wc -l && mkdir d && echo hi > d/a && mv d/a d/b && ln d/b d/c &&
  ln -s b d/s && cat d/s && cat nothere 2>/dev/null; rm -r d; echo done'
/bin/kill -s TERM -- "-$serve"
wait "$serve" || true
rm -rf "$work"
ls -l "$out"
