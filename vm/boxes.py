"""Build the VM lab's boxes locally from Debian's own packages.

No box is downloaded.  A box is one suite debootstrapped (its kernel, systemd,
sshd, python3, python3-pytest) into an ext4 filesystem image that `mke2fs -d`
fills without a loop device or a mount, converted to qcow2.  The box
directory holds what vagrant-libvirt's box format wants (box.img,
metadata.json) plus the suite's kernel and initramfs, because both boot paths
boot the kernel directly: that is how each run chooses its cgroup mode on the
kernel command line.  The same directory is added to vagrant (`vagrant box
add`) for the libvirt path and booted as is by the direct-qemu path.

Boxes are cached in vm/.cache/boxes/NAME-KEY, where KEY hashes the recipe:
the kernel's entry in kernels.py, the common package list, this file and the
guest files baked into the box.  Change any of them and the box is rebuilt.

    python3 vm/boxes.py [--vagrant] [KERNEL ...]     build what is missing
"""

import argparse
import glob
import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
import uuid

import kernels

VM_DIR = os.path.dirname(os.path.abspath(__file__))
GUEST_DIR = os.path.join(VM_DIR, "guest")
CACHE_DIR = os.environ.get("LAB_CACHE", os.path.join(VM_DIR, ".cache"))
BOXES_DIR = os.path.join(CACHE_DIR, "boxes")
BUILD_DIR = os.path.join(CACHE_DIR, "build")
MIRROR = os.environ.get("LAB_MIRROR", "http://deb.debian.org/debian")
BOX_PREFIX = "minirun-lab-"
DISK_SIZE = "4G"   # sparse: the qcow2 holds only what is used (~0.7 GB)

# Guest files baked into the box: (file in vm/guest, path in the box, mode)
BAKED_FILES = [
    ("minirun-lab.service", "etc/systemd/system/minirun-lab.service", 0o644),
    ("minirun-lab-boot", "usr/local/sbin/minirun-lab-boot", 0o755),
    ("80-lab.network", "etc/systemd/network/80-lab.network", 0o644),
]

# Units a throwaway test guest never needs; under TCG they only cost time.
MASKED_UNITS = [
    "apt-daily.timer", "apt-daily-upgrade.timer", "man-db.timer",
    "e2scrub_all.timer", "e2scrub_reap.service", "fstrim.timer",
    "systemd-timesyncd.service", "systemd-networkd-wait-online.service",
    "systemd-tmpfiles-clean.timer", "dpkg-db-backup.timer",
    "modprobe@drm.service", "modprobe@efi_pstore.service",
    "getty-static.service", "getty@.service", "serial-getty@.service",
]

# Units of the engines some boxes carry (docker.io, containerd, podman,
# netavark): masked, so a guest boots as fast as one without them and no
# daemon of the box's own meets the tests; the tests that use the engines
# start private daemons (podman needs none).  netavark enables its DHCP proxy
# (socket and service) on install; podman's API service, its restart and
# auto-update units and its transient-state cleaner are masked in case a
# release enables them.
ENGINE_UNITS = ["docker.service", "docker.socket", "containerd.service",
                "podman.service", "podman.socket", "podman-restart.service",
                "podman-auto-update.service", "podman-auto-update.timer",
                "podman-clean-transient.service",
                "netavark-dhcp-proxy.service", "netavark-dhcp-proxy.socket",
                "netavark-firewalld-reload.service"]

# Modules udev would load for emulated hardware and CPU features the tests
# never touch (kvm for the emulated svm/vmx, wireless, graphics, watchdogs,
# crypto accelerators): each costs seconds of boot under TCG.
BLACKLISTED_MODULES = [
    "kvm", "kvm_amd", "kvm_intel", "ccp", "cfg80211", "rfkill", "drm", "bochs",
    "vmw_vmci", "vmw_vsock_vmci_transport", "vsock_loopback", "pcspkr",
    "psmouse", "serio_raw", "evdev", "joydev", "iTCO_wdt", "intel_pmc_bxt",
    "lpc_ich", "i2c_i801", "i2c_piix4", "parport_pc", "ppdev", "floppy",
    "sr_mod", "aesni_intel", "ghash_clmulni_intel", "sha1_ssse3",
    "sha256_ssse3", "sha512_ssse3", "crct10dif_pclmul", "polyval_clmulni",
    "intel_rapl_msr", "intel_rapl_common",
]

# The initramfs only has to find an ext4 root on a virtio disk (the
# generators' default takes most of the kernel, ~35 MB to unpack under TCG).
INITRAMFS_MODULES = ["virtio_pci", "virtio_blk", "ext4", "crc32c_generic"]

# The well-known vagrant key every base box accepts (config.ssh.insert_key is
# off: the guest lives minutes on an isolated network).
VAGRANT_PUBLIC_KEY_GLOB = "/usr/share/rubygems-integration/all/gems/vagrant-*/keys/vagrant.pub"


def log(msg):
    print("boxes: %s" % msg, flush=True)


def packages(kernel):
    return kernels.COMMON_PACKAGES + [kernel.initramfs] + list(kernel.packages)


def recipe_key(kernel):
    """A hash of everything that goes into the kernel's box."""
    h = hashlib.sha256()
    h.update(repr((tuple(kernel), packages(kernel), DISK_SIZE)).encode())
    with open(os.path.abspath(__file__), "rb") as f:
        h.update(f.read())
    for name, dest, mode in BAKED_FILES:
        h.update(("%s %o\n" % (dest, mode)).encode())
        with open(os.path.join(GUEST_DIR, name), "rb") as f:
            h.update(f.read())
    return h.hexdigest()[:10]


def box_name(kernel):
    return "%s%s-%s" % (BOX_PREFIX, kernel.name, recipe_key(kernel))


def box_dir(kernel):
    return os.path.join(BOXES_DIR, box_name(kernel))


def is_built(kernel):
    return os.path.exists(os.path.join(box_dir(kernel), "complete"))


def box_info(kernel):
    with open(os.path.join(box_dir(kernel), "info.json")) as f:
        return json.load(f)


# --------------------------------------------------------------------------
# mounts and cleanup: a build never leaves a mount behind

def mounts_under(top):
    top = os.path.realpath(top)
    found = []
    with open("/proc/self/mountinfo") as f:
        for line in f:
            point = line.split()[4].replace("\\040", " ")
            if point == top or point.startswith(top + "/"):
                found.append(point)
    return found


def unmount_under(path):
    """Unmount whatever debootstrap or a package script left mounted there
    (sid's leaves /proc mounted in the new root)."""
    for point in sorted(mounts_under(path), key=len, reverse=True):
        log("unmounting %s" % point)
        subprocess.run(["umount", "-l", point])
    left = mounts_under(path)
    if left:
        raise SystemExit("boxes: cannot unmount %s" % ", ".join(left))


def remove_tree(path):
    """rm -rf that first unmounts whatever a crashed build left."""
    unmount_under(path)
    if os.path.lexists(path):
        subprocess.run(["rm", "-rf", "--one-file-system", path], check=True)


def run(argv, logfile=None, **kwargs):
    """Run a build step; its output goes to the build log, and a failure
    shows the log's tail."""
    if logfile is None:
        return subprocess.run(argv, check=True, stdin=subprocess.DEVNULL, **kwargs)
    with open(logfile, "a") as out:
        out.write("+ %s\n" % " ".join(argv))
        out.flush()
        proc = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=out,
                              stderr=subprocess.STDOUT, **kwargs)
    if proc.returncode != 0:
        with open(logfile) as f:
            tail = f.readlines()[-25:]
        raise SystemExit("boxes: %s failed (exit %d); end of %s:\n%s"
                         % (argv[0], proc.returncode, logfile, "".join(tail)))
    return proc


# --------------------------------------------------------------------------
# the build

def debootstrap(kernel, root, logfile):
    run(["debootstrap", "--variant=minbase", "--components=main",
         "--include=" + ",".join(packages(kernel)),
         kernel.suite, root, MIRROR], logfile,
        env=dict(os.environ, DEBIAN_FRONTEND="noninteractive", LC_ALL="C"))


def write(root, path, text, mode=0o644):
    dest = os.path.join(root, path)
    os.makedirs(os.path.dirname(dest), exist_ok=True)
    with open(dest, "w") as f:
        f.write(text)
    os.chmod(dest, mode)


def configure(root, logfile):
    """Make the debootstrapped tree a bootable, vagrant-ready test guest."""
    write(root, "etc/hostname", "minirun-lab\n")
    write(root, "etc/hosts", "127.0.0.1 localhost\n127.0.1.1 minirun-lab\n")
    write(root, "etc/fstab", "/dev/vda / ext4 rw,errors=remount-ro 0 1\n")
    # volatile journal: nothing a thrown-away guest writes is kept
    write(root, "etc/systemd/journald.conf.d/lab.conf", "[Journal]\nStorage=volatile\n")
    write(root, "etc/ssh/sshd_config.d/lab.conf", "UseDNS no\nGSSAPIAuthentication no\n")
    for name, dest, mode in BAKED_FILES:
        with open(os.path.join(GUEST_DIR, name)) as f:
            write(root, dest, f.read(), mode)

    keys = sorted(glob.glob(VAGRANT_PUBLIC_KEY_GLOB))
    if not keys:
        raise SystemExit("boxes: vagrant's public key (%s) is missing: is vagrant installed?"
                         % VAGRANT_PUBLIC_KEY_GLOB)
    with open(keys[-1]) as f:
        pubkey = f.read()

    def chroot(*argv):
        run(["chroot", root] + list(argv), logfile, env=dict(
            os.environ, LC_ALL="C", PATH="/usr/sbin:/usr/bin:/sbin:/bin"))

    chroot("useradd", "--create-home", "--shell", "/bin/bash", "--user-group", "vagrant")
    write(root, "etc/sudoers.d/vagrant", "vagrant ALL=(ALL) NOPASSWD: ALL\n", 0o440)
    write(root, "home/vagrant/.ssh/authorized_keys", pubkey, 0o600)
    chroot("chown", "-R", "vagrant:vagrant", "/home/vagrant/.ssh")
    os.chmod(os.path.join(root, "home/vagrant/.ssh"), 0o700)
    chroot("passwd", "--lock", "root")

    chroot("systemctl", "enable", "systemd-networkd.service", "ssh.service",
           "minirun-lab.service")
    for unit in MASKED_UNITS:
        chroot("systemctl", "mask", unit)
    engines = engine_units_in(root)
    if engines:
        # disable first: masking leaves the .wants links of an enabled unit
        chroot("systemctl", "disable", *engines)
        chroot("systemctl", "mask", *engines)
    write(root, "etc/modprobe.d/minirun-lab.conf",
          "".join("blacklist %s\n" % m for m in BLACKLISTED_MODULES))
    small_initramfs(root, chroot)
    chroot("apt-get", "clean")
    for path in glob.glob(os.path.join(root, "var/lib/apt/lists/*_*")):
        os.unlink(path)
    # Not a first boot (no preset-all, no firstboot units), and nothing in
    # /usr newer than /etc and /var (no ldconfig or catalog update at boot).
    # Every guest of a box shares this machine-id: DHCP identifies them by MAC.
    write(root, "etc/machine-id", uuid.uuid4().hex + "\n", 0o444)
    for stamp in ("etc/.updated", "var/.updated"):
        write(root, stamp, "# written by the minirun lab box build\n")


def engine_units_in(root):
    """The ENGINE_UNITS that the packages installed in `root` brought."""
    return [unit for unit in ENGINE_UNITS
            if any(os.path.exists(os.path.join(root, d, unit))
                   for d in ("lib/systemd/system", "usr/lib/systemd/system"))]


def small_initramfs(root, chroot):
    """Regenerate the initramfs with only what finds the root disk."""
    version = kernel_files(root)[0]
    if os.path.exists(os.path.join(root, "usr/bin/dracut")):
        write(root, "etc/dracut.conf.d/minirun-lab.conf",
              'hostonly="no"\ndrivers=" %s "\n' % " ".join(INITRAMFS_MODULES))
        chroot("dracut", "--force", "/boot/initrd.img-" + version, version)
    else:
        write(root, "etc/initramfs-tools/conf.d/minirun-lab.conf", "MODULES=list\n")
        write(root, "etc/initramfs-tools/modules", "".join(m + "\n" for m in INITRAMFS_MODULES))
        chroot("update-initramfs", "-u", "-k", version)


def kernel_files(root):
    """The one vmlinuz and initrd.img the suite's kernel package installed."""
    vmlinuz = sorted(glob.glob(os.path.join(root, "boot", "vmlinuz-*")))
    if len(vmlinuz) != 1:
        raise SystemExit("boxes: expected one kernel in %s/boot, found %r" % (root, vmlinuz))
    version = os.path.basename(vmlinuz[0])[len("vmlinuz-"):]
    initrd = os.path.join(root, "boot", "initrd.img-" + version)
    if not os.path.exists(initrd):
        raise SystemExit("boxes: the initramfs for %s is missing (%s)" % (version, initrd))
    return version, vmlinuz[0], initrd


def python_version(root):
    out = subprocess.run(["chroot", root, "python3", "-c",
                          "import sys; print('%d.%d.%d' % sys.version_info[:3])"],
                         stdout=subprocess.PIPE, universal_newlines=True, check=True)
    return out.stdout.strip()


def make_box(kernel, root, dest, logfile):
    """Fill dest with box.img, the kernel, the initramfs and the metadata;
    returns the box's info (build() completes it and writes info.json)."""
    version, vmlinuz, initrd = kernel_files(root)
    info = {"name": kernel.name, "suite": kernel.suite, "kernel": version, "python": python_version(root),
            "built": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    shutil.copy(vmlinuz, os.path.join(dest, "vmlinuz"))
    shutil.copy(initrd, os.path.join(dest, "initrd.img"))
    raw = os.path.join(dest, "disk.raw")
    run(["mke2fs", "-q", "-F", "-t", "ext4", "-L", "minirun-lab", "-d", root, raw, DISK_SIZE],
        logfile)
    run(["qemu-img", "convert", "-O", "qcow2", raw, os.path.join(dest, "box.img")], logfile)
    os.unlink(raw)
    size_gb = int(DISK_SIZE.rstrip("G"))
    with open(os.path.join(dest, "metadata.json"), "w") as f:
        json.dump({"provider": "libvirt", "format": "qcow2", "virtual_size": size_gb}, f)
    with open(os.path.join(dest, "Vagrantfile"), "w") as f:
        f.write('# minirun lab box %s: boots its own kernel directly (see the top-level\n'
                '# Vagrantfile, which passes vmlinuz/initrd.img and the command line).\n'
                'Vagrant.configure("2") do |config|\n'
                '  config.vm.provider :libvirt do |lv|\n'
                '    lv.driver = "qemu"\n'
                '  end\n'
                'end\n' % box_name(kernel))
    return info


def build(kernel):
    """Build the kernel's box unless the cache has it; returns its directory."""
    dest = box_dir(kernel)
    if is_built(kernel):
        return dest
    name = os.path.basename(dest)
    work = os.path.join(BUILD_DIR, name)
    remove_tree(work)
    os.makedirs(work)
    logfile = os.path.join(work, "build.log")
    root = os.path.join(work, "root")
    started = time.monotonic()
    log("%s: debootstrap %s from %s (log: %s)" % (name, kernel.suite, MIRROR, logfile))
    try:
        debootstrap(kernel, root, logfile)
        configure(root, logfile)
        unmount_under(root)
        staging = os.path.join(work, "box")
        os.makedirs(staging)
        info = make_box(kernel, root, staging, logfile)
    finally:
        remove_tree(root)
    remove_tree(dest)
    os.makedirs(BOXES_DIR, exist_ok=True)
    os.rename(staging, dest)
    shutil.copy(logfile, os.path.join(dest, "build.log"))
    remove_tree(work)
    info["box"] = name
    info["build_seconds"] = round(time.monotonic() - started)
    with open(os.path.join(dest, "info.json"), "w") as f:
        json.dump(info, f, indent=1)
    open(os.path.join(dest, "complete"), "w").close()
    log("%s: built in %ds (kernel %s, python %s)"
        % (name, info["build_seconds"], info["kernel"], info["python"]))
    prune(kernel)
    return dest


def box_archive(kernel):
    """The box as the .box file `vagrant box add` takes (an uncompressed tar:
    the qcow2 is the bulk); the caller removes it once added."""
    archive = os.path.join(CACHE_DIR, box_name(kernel) + ".box")
    run(["tar", "-C", box_dir(kernel), "-cf", archive, "metadata.json", "Vagrantfile",
         "box.img", "vmlinuz", "initrd.img", "info.json"])
    return archive


def prune(kernel):
    """Drop cached boxes of the same kernel built from an older recipe."""
    keep = box_name(kernel)
    for old in glob.glob(os.path.join(BOXES_DIR, "%s%s-*" % (BOX_PREFIX, kernel.name))):
        if os.path.basename(old) != keep:
            log("removing outdated box %s" % os.path.basename(old))
            remove_tree(old)


def build_all(selected, jobs=2):
    """Build the missing boxes, `jobs` at a time (debootstrap is mostly
    waiting on the network and dpkg: two in parallel on two cores pay)."""
    missing = [k for k in selected if not is_built(k)]
    if not missing:
        return
    if jobs <= 1 or len(missing) == 1:
        for k in missing:
            build(k)
        return
    procs = []
    failed = []
    pending = list(missing)
    while pending or procs:
        while pending and len(procs) < jobs:
            k = pending.pop(0)
            procs.append((k, subprocess.Popen(
                [sys.executable, os.path.abspath(__file__), "--jobs", "1", "--quiet", k.name],
                stdin=subprocess.DEVNULL)))
        k, proc = procs.pop(0)
        if proc.wait() != 0:
            failed.append(k.name)
    if failed:
        raise SystemExit("boxes: building %s failed" % ", ".join(failed))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("kernels", nargs="*", help="names from vm/kernels.py (default: all)")
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--quiet", action="store_true", help="no summary at the end")
    args = parser.parse_args(argv)
    if os.geteuid() != 0:
        raise SystemExit("boxes: building a box needs root (debootstrap, chroot)")
    selected = kernels.select(args.kernels)
    build_all(selected, args.jobs)
    for k in selected if not args.quiet else ():
        info = box_info(k)
        log("%-9s %s  kernel %s  python %s" % (k.name, box_name(k), info["kernel"], info["python"]))


if __name__ == "__main__":
    main()
