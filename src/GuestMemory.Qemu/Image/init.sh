#!/bin/busybox sh
# GuestMemory's guest init (docs/qemu.md, "The guest image"). It runs as PID 1 from the initramfs that
# GuestImage builds: mounts the kernel's file systems, loads the modules listed in /etc/gmm-modules in
# that order (the builder resolved their dependencies), starts a heartbeat on the console (ttyS0) and
# then serves the host's commands on the second serial port (ttyS1).
#
# Command channel (ttyS1, raw mode): the host sends one line per command, "ID COMMAND ARGS...". After
# the command has ended the guest answers with a header line "=ID STATUS LINES" and then exactly LINES
# lines of output, each prefixed with "|" (so output can never be taken for a header). Once at start
# it sends "#ready UPTIME". Arguments were checked by the host; they are still quoted here.

/bin/busybox mkdir -p /proc /sys /dev /tmp /run /mnt /bin /sbin
/bin/busybox --install -s /bin
export PATH=/bin:/sbin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mount -t tmpfs -o size=85% tmpfs /tmp
mkdir -p /tmp/w
echo 1 > /proc/sys/kernel/printk_ratelimit 2>/dev/null

for m in $(cat /etc/gmm-modules); do
  insmod "/lib/modules/$m.ko" || echo "gmm: insmod $m failed"
done

# The heartbeat: a counter on the console every second (a resumed guest's counter goes on) and in
# /run/heartbeat for the 'heartbeat' command.
(
  n=0
  while true; do
    n=$((n + 1))
    echo "$n" > /run/heartbeat
    echo "gmm-heartbeat $n"
    sleep 1
  done
) > /dev/console 2>&1 &

fill() { # fill NAME MIB KIND [ARG]
  f="/tmp/w/$1"
  case "$3" in
    zero) dd if=/dev/zero of="$f" bs=1048576 count="$2" 2>/dev/null ;;
    random) dd if=/dev/urandom of="$f" bs=1048576 count="$2" 2>/dev/null ;;
    byte) dd if=/dev/zero bs=1048576 count="$2" 2>/dev/null | tr '\000' "\\$(printf %03o "$4")" > "$f" ;;
    text)
      # Page i of the file is "SEED:iiiiiiii;" repeated and cut at 4096 bytes (GuestWorkload.TextPage).
      awk -v seed="$4" -v pages=$(($2 * 256)) 'BEGIN {
        for (i = 0; i < pages; i++) {
          s = sprintf("%s:%08d;", seed, i); while (length(s) < 4096) s = s s
          printf "%s", substr(s, 1, 4096)
        } }' > "$f" ;;
    *) echo "unknown fill kind: $3"; return 2 ;;
  esac
}

run() { # run COMMAND ARGS...
  c="$1"; shift
  case "$c" in
    ping) echo pong ;;
    echo) echo "$*" ;;
    meminfo) cat /proc/meminfo ;;
    heartbeat) cat /run/heartbeat ;;
    uptime) cat /proc/uptime ;;
    drop-caches) sync && echo 3 > /proc/sys/vm/drop_caches ;;
    fill) fill "$@" ;;
    free) rm -f "/tmp/w/$1" ;;
    free-all) rm -rf /tmp/w && mkdir /tmp/w ;; # no glob: the loop runs with set -f
    copy) cp -a "$1" "/tmp/w/$2" ;;
    idle) sleep "$1" ;;
    sync) sync ;;
    *) echo "unknown command: $c"; return 127 ;;
  esac
}

exec 3<>/dev/ttyS1
stty raw -echo <&3
echo "#ready $(cut -d' ' -f1 /proc/uptime)" >&3
set -f # no file name expansion of the host's words
while read -r id line <&3; do
  case "$line" in
    "sh "*) sh -c "${line#sh }" ;; # the rest of the line is a script, passed as it came
    *) run $line ;;
  esac > /run/gmm-out 2>&1 < /dev/null
  status=$?
  awk -v id="$id" -v status="$status" '{ out[NR] = $0 } END { print "=" id " " status " " NR; for (i = 1; i <= NR; i++) print "|" out[i] }' /run/gmm-out >&3
done
echo "gmm: the command channel closed" > /dev/console
exec sleep 2147483647
