#!/usr/bin/env bash
# Build a small root filesystem for the test/demo bundles from the host's own
# binaries; nothing is downloaded.
#
#   bundles/build-rootfs.sh DEST
#
# With Debian's static busybox (package busybox-static) at /bin/busybox, DEST
# gets a copy of it plus one relative symlink per applet in DEST/bin.
# Otherwise /bin/sh and a handful of host tools are copied together with every
# library ldd names (at the same paths, dynamic loader included).
#
# Environment: BUSYBOX=PATH uses another static busybox; BUSYBOX=none forces
# the fallback. Rebuilding over an existing DEST is fine.
set -euo pipefail

if [ $# -ne 1 ] || [ -z "$1" ]; then
    echo "usage: $0 DEST" >&2
    exit 2
fi
DEST=$1
BUSYBOX=${BUSYBOX:-/bin/busybox}

# A busybox we can use: runs, lists its applets, and is statically linked.
# ldd prints "not a dynamic executable" (or "statically linked" for static-pie)
# and exits non-zero for those, hence the `|| true`.
static_busybox() {
    local bb=$1 out
    [ -x "$bb" ] || return 1
    "$bb" --list >/dev/null 2>&1 || return 1
    out=$(LC_ALL=C ldd "$bb" 2>&1 || true)
    case $out in
        *"not a dynamic executable"* | *"statically linked"*) return 0 ;;
    esac
    return 1
}

# Copy a file over DEST's copy without writing into it in place: a container
# still running the old binary would make that fail with ETXTBSY.
install_file() {
    local src=$1 dst=$2
    mkdir -p "$(dirname "$dst")"
    cp -L "$src" "$dst.tmp.$$"
    chmod "$(stat -Lc %a "$src")" "$dst.tmp.$$"
    mv -f "$dst.tmp.$$" "$dst"
}

mkdir -p "$DEST"
DEST=$(cd "$DEST" && pwd -P)
mkdir -p "$DEST"/{bin,proc,sys,dev,tmp,etc,root,run,var/tmp}
chmod 1777 "$DEST/tmp" "$DEST/var/tmp"
chmod 0700 "$DEST/root"

if [ "$BUSYBOX" != none ] && static_busybox "$BUSYBOX"; then
    install_file "$BUSYBOX" "$DEST/bin/busybox"
    n=0
    while IFS= read -r applet; do
        case $applet in
            "" | busybox | */* | . | ..) continue ;;
        esac
        link=$DEST/bin/$applet
        if [ -L "$link" ]; then
            # ours from an earlier build (or someone else's link): keep it if
            # it already points at busybox, else leave it alone
            [ "$(readlink "$link")" = busybox ] && n=$((n + 1))
            continue
        fi
        [ -e "$link" ] && continue          # a real file of that name: clash
        ln -s busybox "$link"
        n=$((n + 1))
    done < <("$DEST/bin/busybox" --list)
    echo "build-rootfs: $DEST: static busybox with $n applets"
else
    [ "$BUSYBOX" = none ] || echo "build-rootfs: no static busybox at $BUSYBOX; copying host tools" >&2
    # what the bundles and tests use; `type -P` finds the binary even where
    # the shell has a builtin of that name (echo, true)
    tools=(sh ls cat echo sleep id hostname mount ps true false sed head)
    copied=()
    declare -A libs=()
    for t in "${tools[@]}"; do
        src=$(type -P "$t" 2>/dev/null || true)
        [ -n "$src" ] || continue
        install_file "$src" "$DEST/bin/$t"
        copied+=("$t")
        # "libc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x...)" and
        # "/lib64/ld-linux-x86-64.so.2 (0x...)"; vdso lines have no path
        while read -r lib; do
            libs[$lib]=1
        done < <(LC_ALL=C ldd "$src" 2>/dev/null | sed -n \
                   -e 's/^.*=> \(\/[^ ]*\) (0x[0-9a-f]*)$/\1/p' \
                   -e 's/^[[:space:]]*\(\/[^ ]*\) (0x[0-9a-f]*)$/\1/p' || true)
    done
    for lib in "${!libs[@]}"; do
        install_file "$lib" "$DEST$lib"
    done
    echo "build-rootfs: $DEST: host tools (${copied[*]}) and ${#libs[@]} libraries"
fi

cat > "$DEST/etc/passwd" <<'PASSWD'
root:x:0:0:root:/root:/bin/sh
nobody:x:65534:65534:nobody:/nonexistent:/bin/sh
PASSWD
cat > "$DEST/etc/group" <<'GROUP'
root:x:0:
tty:x:5:
nogroup:x:65534:
GROUP
# Placeholders for the runtime (or an engine) to bind-mount over.
cat > "$DEST/etc/hosts" <<'HOSTS'
127.0.0.1	localhost
::1	localhost ip6-localhost ip6-loopback
HOSTS
: > "$DEST/etc/hostname"
: > "$DEST/etc/resolv.conf"
