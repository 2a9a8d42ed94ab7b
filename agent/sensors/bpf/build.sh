#!/bin/sh
# Builds the libbpf sensor into dist/sensor/runwarden-sensor: vmlinux.h from this host's BTF, the CO-RE object,
# its skeleton, and the loader (libbpf linked statically where libbpf.a exists). Without clang, bpftool, the libbpf
# and libelf headers or kernel BTF it says so in one line and exits 0: the eBPF sensor then runs bpftrace.
# Skipped when the binary is newer than its sources.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../../.." && pwd)
out="$root/dist/sensor"
obj="$out/build"
bin="$out/runwarden-sensor"
PATH="$PATH:/usr/sbin:/sbin"

cc=""
for c in cc gcc clang; do if command -v "$c" >/dev/null 2>&1; then cc=$c; break; fi; done
missing=""
command -v clang >/dev/null 2>&1 || missing="$missing clang"
command -v bpftool >/dev/null 2>&1 || missing="$missing bpftool"
[ -n "$cc" ] || missing="$missing cc"
if [ -n "$cc" ]; then
  for h in bpf/libbpf.h libelf.h zlib.h; do
    printf '#include <%s>\n' "$h" | "$cc" -E -x c - >/dev/null 2>&1 || missing="$missing $h"
  done
fi
[ -r /sys/kernel/btf/vmlinux ] || missing="$missing /sys/kernel/btf/vmlinux"
if [ -n "$missing" ]; then
  echo "runwarden: libbpf sensor not built (missing:$missing; apt-get install clang llvm libbpf-dev bpftool); the eBPF sensor will use bpftrace"
  exit 0
fi

if [ -x "$bin" ]; then
  stale=0
  for f in "$here/runwarden.bpf.c" "$here/runwarden-sensor.c" "$here/runwarden.h" "$here/build.sh"; do
    [ "$f" -nt "$bin" ] && stale=1
  done
  [ $stale = 0 ] && exit 0
fi

mkdir -p "$obj"
[ -s "$obj/vmlinux.h" ] || bpftool btf dump file /sys/kernel/btf/vmlinux format c > "$obj/vmlinux.h"
clang -g -O2 -Wall -target bpf -D__TARGET_ARCH_x86 -I"$obj" -I"$here" -c "$here/runwarden.bpf.c" -o "$obj/runwarden.bpf.o"
# DWARF is not needed at run time (BTF and CO-RE relocations stay): a smaller object embedded in the loader.
for s in llvm-strip llvm-strip-14 llvm-strip-15 llvm-strip-16; do
  if command -v "$s" >/dev/null 2>&1; then "$s" -g "$obj/runwarden.bpf.o"; break; fi
done
bpftool gen skeleton "$obj/runwarden.bpf.o" name runwarden_bpf > "$obj/runwarden.skel.h"
libbpf="-lbpf"
if "$cc" -print-file-name=libbpf.a | grep -q /; then libbpf="-Wl,-Bstatic -lbpf -Wl,-Bdynamic"; fi
# -pthread: the loader detaches its probes from threads at stop (glibc before 2.34 keeps pthread apart).
# shellcheck disable=SC2086 # $libbpf is several words on purpose
"$cc" -O2 -Wall -pthread -I"$obj" -I"$here" -o "$bin.tmp" "$here/runwarden-sensor.c" $libbpf -lelf -lz
mv "$bin.tmp" "$bin"
echo "runwarden: built $bin"
