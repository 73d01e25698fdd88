"""The kernel matrix of the VM lab: one entry per Debian suite.

Each entry names the suite whose own kernel (linux-image-amd64), python3 and
python3-pytest the box is built from, the kernel and Python series that suite
is expected to bring (the lab checks them inside the guest and reports what it
found), and the cgroup modes it runs in.  Adding a kernel is adding an entry
here; `make vm-test KERNELS=NAME` then builds its box on first use.

Everything in an entry is part of that box's build recipe: changing it
changes the box's cache key, so the box is rebuilt.
"""

from collections import OrderedDict, namedtuple

Kernel = namedtuple("Kernel", [
    "name",          # what KERNELS= names, and the box's name
    "suite",         # the Debian suite debootstrapped into the box
    "kernel",        # the kernel series it should boot, e.g. "5.10" ("" = newest, not checked)
    "python",        # the python3 series it should run, e.g. "3.9" ("" = not checked)
    "initramfs",     # the suite's initramfs generator package
    "packages",      # extra packages this suite needs in the box
    "modes",         # cgroup modes run by default, see CGROUP_MODES
])

# What every box holds besides the kernel and initramfs generator: an init
# (systemd, so vagrant and the cgroup switch work alike in every suite), what
# vagrant needs (sshd, sudo, rsync), and what the integration tests run.
COMMON_PACKAGES = [
    "linux-image-amd64", "systemd-sysv", "udev", "kmod", "e2fsprogs",
    "openssh-server", "sudo", "rsync",
    "python3", "python3-pytest",
    "busybox-static", "iproute2", "util-linux", "procps", "hostname",
    "uidmap",   # newuidmap/newgidmap: the rootless tests of subordinate ranges
]

# criu (bookworm and sid): checkpoint/restore (tests/integration/test_checkpoint.py).
# The development host's criu (Debian 12's 3.17) cannot dump on its 6.18
# kernel, so these tests run in the guests, with the oldest criu Debian ships
# and the newest (bookworm's 3.17 on 6.1, sid's 4.x on the newest kernel).
# bullseye has none: its archive has no criu, bullseye-backports is gone from
# the mirror, and bookworm's criu needs glibc 2.34 (bullseye has 2.31); the
# checkpoint tests skip there and in trixie, naming criu.  iptables with it:
# criu runs iptables to probe the kernel and, dumping a process in a network
# namespace of its own (a container's), iptables-save and iptables-restore to
# save its rules and lock its network (criu only suggests iptables).
KERNELS = OrderedDict((k.name, k) for k in [
    Kernel("bullseye", "bullseye", "5.10", "3.9", "initramfs-tools", [], ("v2", "v1")),
    Kernel("bookworm", "bookworm", "6.1", "3.11", "initramfs-tools", ["criu", "iptables"], ("v2",)),
    Kernel("trixie", "trixie", "6.12", "3.13", "initramfs-tools", [], ("v2",)),
    # sid moves: its kernel and Python are whatever is newest when the box is built.
    # docker.io (with containerd and runc) and docker-cli (its own package
    # since Debian's Docker 26; docker.io only recommends it): Docker's systemd
    # cgroup driver against the guest's systemd (tests/e2e/test_docker_systemd.py).
    # The box masks their units (vm/boxes.py ENGINE_UNITS); the test starts its own.
    # Not in bullseye: its Docker 20.10 refuses every container where AppArmor
    # is on (as in the guests) and apparmor_parser is missing, and the apparmor
    # package would change what the LSM tests find there.
    # podman (tests/e2e/test_podman_checkpoint.py): `podman container
    # checkpoint`/`restore` with --runtime minirun and --runtime runc, rootful,
    # --network none.  debootstrap installs Depends only, so what podman merely
    # recommends is named: conmon (a Depends, named for what the test runs:
    # podman's monitor, which starts the runtime), catatonit (podman --init),
    # runc (the reference runtime; docker.io depends on it too) and criu
    # (podman checks for it before any checkpoint, and the runtimes run it).
    # Its Depends bring the rest: crun (podman's default runtime, unused),
    # netavark (unused with --network none) and golang-github-containers-common
    # (/etc/containers/policy.json, registries.conf.d, containers.conf).  Not
    # slirp4netns, passt or fuse-overlayfs: rootless only (the tests run podman
    # as root, its storage on the guest kernel's overlayfs).
    # The box masks podman's and netavark's units (vm/boxes.py ENGINE_UNITS).
    Kernel("sid", "sid", "", "", "dracut",
           ["docker.io", "docker-cli", "criu", "iptables", "podman", "conmon", "catatonit",
            "runc"], ("v2",)),
])

# cgroup mode -> (kernel command line, what the guest must find at /sys/fs/cgroup)
#   v2: unified only.  v1: systemd's hybrid layout (v1 controllers, plus the
#   cgroup2 tree at /sys/fs/cgroup/unified), the layout older hosts run.
CGROUP_MODES = OrderedDict([
    ("v2", ("systemd.unified_cgroup_hierarchy=1 cgroup_no_v1=all", ("unified",))),
    ("v1", ("systemd.unified_cgroup_hierarchy=0", ("hybrid", "legacy"))),
])

OLDEST = "bullseye"
NEWEST = "sid"


def select(names):
    """KERNELS entries for a list of names (all of them for an empty list)."""
    if not names:
        return list(KERNELS.values())
    unknown = [n for n in names if n not in KERNELS]
    if unknown:
        raise SystemExit("unknown kernel(s) %s; known: %s"
                         % (", ".join(unknown), ", ".join(KERNELS)))
    return [KERNELS[n] for n in names]

# Tests a kernel's runs leave out, each with the reason, until the cause is
# fixed; the lab prints them under its table.  Not part of any box recipe.
KNOWN_FAILURES = {  # kernel name -> {test name: reason}
}
