#!/usr/bin/env bash
# Installs what GuestMemory's real QEMU guests need, when it is missing (docs/qemu.md, "Packages"):
#   qemu-system-x86  QEMU (qemu-system-x86_64)
#   busybox-static   the guests' userland (/bin/busybox, statically linked)
#   e2fsprogs        mkfs.ext4, for a guest's own disk (GuestDisk)
#   zstd             the peer `gmm bench qemu-store` compresses QEMU's own stream with (zstd -3)
#   kmod             depmod, for the modules.dep an unpacked kernel package lacks (only then)
#   a kernel         the newest /boot/vmlinuz-* with its /lib/modules/VERSION; when /boot has none,
#                    Debian's linux-image-amd64 kernel package is downloaded and unpacked into
#                    /var/cache/gmm-qemu/linux-image (not installed: installing a kernel would run
#                    initramfs and boot-loader hooks and change what this machine boots, and took
#                    nearly 4 minutes here; unpacking takes seconds and touches nothing else).
# Needs root and Debian's package registry when something is missing; does nothing otherwise.
# Parallel callers (two test projects at once) take turns on a lock file.
set -euo pipefail
export PATH="$PATH:/usr/sbin:/sbin" # depmod and mkfs.ext4 live there; a test's PATH may lack them
cache=/var/cache/gmm-qemu/linux-image
lock=${TMPDIR:-/tmp}/gmm-qemu-packages.lock

have_kernel() {
  local root k v
  for root in / "$cache"; do
    for k in "$root"/boot/vmlinuz-*; do
      [ -f "$k" ] || continue
      v=${k##*/vmlinuz-}
      [ -f "$root/lib/modules/$v/modules.dep" ] || [ -f "$root/usr/lib/modules/$v/modules.dep" ] && return 0
    done
  done
  return 1
}

installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'; }

missing() {
  need=()
  command -v qemu-system-x86_64 >/dev/null 2>&1 || need+=(qemu-system-x86)
  installed busybox-static || need+=(busybox-static)
  command -v mkfs.ext4 >/dev/null 2>&1 || need+=(e2fsprogs) # GuestDisk: a guest's own ext4 disk (gmm bench qemu-balloon)
  command -v zstd >/dev/null 2>&1 || need+=(zstd)
  kernel=1
  # An unpacked kernel package has no modules.dep (its postinst runs depmod): kmod's depmod makes it.
  if have_kernel; then kernel=0; fi # not `have_kernel && kernel=0`: as the function's last command its status would end the script under set -e
  if [ $kernel -eq 1 ] && ! command -v depmod >/dev/null 2>&1; then need+=(kmod); fi
}

missing
if [ ${#need[@]} -eq 0 ] && [ $kernel -eq 0 ]; then exit 0; fi

exec 9>"$lock"
flock -w 1200 9 || { echo "qemu-packages: waited 20 minutes for $lock" >&2; exit 1; }
missing # another caller may have installed them meanwhile
if [ ${#need[@]} -eq 0 ] && [ $kernel -eq 0 ]; then exit 0; fi

if [ "$(id -u)" != 0 ]; then
  echo "qemu-packages: missing ${need[*]} $([ $kernel -eq 1 ] && echo a guest kernel); run as root, or: apt-get install --no-install-recommends qemu-system-x86 busybox-static linux-image-amd64" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive

apt_install() {
  apt-get install -y -q --no-install-recommends "$@" || { apt-get update -q && apt-get install -y -q --no-install-recommends "$@"; }
}

if [ ${#need[@]} -gt 0 ]; then
  echo "qemu-packages: installing ${need[*]}" >&2
  apt_install "${need[@]}" >&2
fi

if [ $kernel -eq 1 ]; then
  echo "qemu-packages: unpacking Debian's kernel into $cache" >&2
  find_image() { apt-cache depends linux-image-amd64 2>/dev/null | awk '/Depends: linux-image-[0-9]/ { print $2; exit }'; }
  image=$(find_image)
  if [ -z "$image" ]; then apt-get update -q >&2; image=$(find_image); fi
  [ -n "$image" ] || { echo "qemu-packages: no linux-image-amd64 in the package lists" >&2; exit 1; }
  work=$(mktemp -d)
  chmod a+rwx "$work" # so apt downloads as its own user, not unsandboxed as root
  trap 'rm -rf "$work"' EXIT
  (cd "$work" && apt-get download -q "$image" >&2)
  mkdir -p "$(dirname "$cache")"
  rm -rf "$cache.tmp"
  dpkg-deb -x "$work"/*.deb "$cache.tmp"
  version=${image#linux-image-}
  modules=$cache.tmp/lib/modules; [ -d "$modules/$version" ] || modules=$cache.tmp/usr/lib/modules
  [ -d "$modules/$version" ] || { echo "qemu-packages: $image has no modules/$version" >&2; exit 1; }
  depmod -b "${modules%/lib/modules}" "$version" >&2
  rm -rf "$cache"
  mv "$cache.tmp" "$cache"
fi
missing
if [ ${#need[@]} -gt 0 ] || [ $kernel -eq 1 ]; then
  echo "qemu-packages: still missing ${need[*]} $([ $kernel -eq 1 ] && echo a guest kernel) after installing" >&2
  exit 1
fi
