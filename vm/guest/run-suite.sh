#!/bin/sh
# Runs inside a lab guest, as root, on either boot path:
#   run-suite.sh SRC OUT [PYTEST ARGS...]
# Records what the guest really is (kernel, Python, pytest, and the cgroup
# layout it booted with, read from /sys/fs/cgroup), then runs the integration
# tests from a local copy of SRC (SRC may be a read-only share; minirun caches
# its bytecode beside itself).  SRC is the payload vm/lab.py staged: minirun.py
# tests/ (engine fixtures included), bundles/build-rootfs.sh, and the syscall
# probe built on the host.
# Leaves guest.env, junit.xml, pytest.log and pytest-exit in OUT.
set -u
src=$1 out=$2
shift 2
work=/var/tmp/minirun-lab
rm -rf "$work"
mkdir -p "$work/minirun" "$out"
cp -a "$src/minirun.py" "$src/tests" "$src/bundles" "$work/minirun/"
find "$work" -name __pycache__ -type d -prune -exec rm -rf {} +
# the guests have no compiler: the security tests use the probe the host built
if [ -f "$src/syscall_probe" ]; then
    cp "$src/syscall_probe" "$work/syscall_probe"
    chmod 755 "$work/syscall_probe"
    export MINIRUN_SYSCALL_PROBE="$work/syscall_probe"
fi

# unified: cgroup2 at /sys/fs/cgroup.  hybrid: v1 controllers on a tmpfs
# there, cgroup2 at /sys/fs/cgroup/unified.  legacy: v1 only.
cgroup_mode() {
    if [ "$(stat -fc %T /sys/fs/cgroup)" = cgroup2fs ]; then
        echo unified
    elif [ "$(stat -fc %T /sys/fs/cgroup/unified 2>/dev/null)" = cgroup2fs ]; then
        echo hybrid
    else
        echo legacy
    fi
}

{
    echo "kernel=$(uname -r)"
    echo "python=$(python3 -c 'import sys; print("%d.%d.%d" % sys.version_info[:3])')"
    echo "pytest=$(python3 -c 'import pytest; print(pytest.__version__)')"
    echo "cgroup=$(cgroup_mode)"
    echo "v1_hierarchies=$(awk '$3 == "cgroup"' /proc/mounts | wc -l)"
    echo "cmdline=$(cat /proc/cmdline)"
    echo "uptime_at_start=$(cut -d' ' -f1 /proc/uptime)"
} > "$out/guest.env"
cat "$out/guest.env"

cd "$work/minirun"
{
    MINIRUN_PYTHON=/usr/bin/python3 python3 -m pytest -p no:cacheprovider -rfE \
        --junitxml="$out/junit.xml" "$@" </dev/null
    echo $? > "$out/pytest-exit"
} 2>&1 | tee "$out/pytest.log"
sync
exit "$(cat "$out/pytest-exit")"
