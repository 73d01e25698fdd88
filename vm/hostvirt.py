"""The host side of the lab's libvirt boot path, through virsh.

Why this exists: the lab must run on machines without systemd, where nothing
starts libvirtd, and on machines whose /dev/kvm is unusable.

* libvirtd is used if it answers; otherwise the lab starts virtlogd and
  libvirtd itself (and leaves them running: they are cheap and the next run
  reuses them).  It starts libvirtd in a private mount namespace whose
  /dev/kvm is a 0660 root:kvm node for the same device.  With the host's
  0600 root-only /dev/kvm, libvirtd (root) judges KVM usable while its qemu
  probe (as libvirt-qemu) cannot open it; the two never agree, so libvirtd
  re-probes qemu on every domain definition (~15-50 s each here).  The
  host's own /dev/kvm is left as it is.  Guests still run under TCG: the
  domain type is "qemu" unless the lab is asked for KVM.
* The lab's isolated network (no forwarding: the host reaches the guests, the
  guests reach nothing) is created before parallel runs, so two `vagrant up`s
  never race to create it, and removed at the end.
* Domains and volumes are named minirun-lab-*, so a killed run can be cleaned
  up by name, whatever state vagrant was left in.
"""

import os
import shutil
import subprocess
import tempfile
import time

URI = "qemu:///system"
PREFIX = "minirun-lab-"
NETWORK = "minirun-lab"
BRIDGE = "virbr-mlab"
KERNEL_DIR = "/var/lib/libvirt/boot"      # readable by libvirt's qemu user
NAMESPACE_DIR = "/run/minirun-lab"        # the kvm node, inside libvirtd's namespace only


def virsh(*args, check=False, timeout=120):
    return subprocess.run(["virsh", "-q", "-c", URI] + list(args), stdin=subprocess.DEVNULL,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          universal_newlines=True, check=check, timeout=timeout)


def have_tools():
    """What is missing for the libvirt path (empty when nothing is)."""
    missing = []
    for tool in ("virsh", "libvirtd", "vagrant", "qemu-system-x86_64"):
        if not shutil.which(tool):
            missing.append(tool)
    if not missing:
        plugins = subprocess.run(["vagrant", "plugin", "list"], stdout=subprocess.PIPE,
                                 stderr=subprocess.DEVNULL, universal_newlines=True).stdout
        if "vagrant-libvirt" not in plugins:
            missing.append("vagrant-libvirt")
    return missing


def libvirt_answers():
    try:
        return virsh("version", timeout=60).returncode == 0
    except subprocess.TimeoutExpired:
        return False


def _pid_alive(pidfile):
    try:
        with open(pidfile) as f:
            os.kill(int(f.read().strip()), 0)
        return True
    except (OSError, ValueError):
        return False


def ensure_libvirtd(log=print):
    """Make sure libvirtd answers; returns (ok, why-not)."""
    if libvirt_answers():
        return True, ""
    if not _pid_alive("/run/virtlogd.pid"):
        subprocess.run(["virtlogd", "-d"], stdin=subprocess.DEVNULL)
    if os.path.exists("/dev/kvm"):
        # a 0660 root:kvm node for the same device, in libvirtd's namespace only
        st = os.stat("/dev/kvm")
        script = (
            "set -e; mkdir -p {d}; mount -t tmpfs -o mode=0755,size=64k minirun-lab {d}; "
            "mknod -m 0660 {d}/kvm c {major} {minor}; chgrp kvm {d}/kvm; "
            "mount --bind {d}/kvm /dev/kvm; exec libvirtd -d"
        ).format(d=NAMESPACE_DIR, major=os.major(st.st_rdev), minor=os.minor(st.st_rdev))
        argv = ["unshare", "--mount", "--propagation", "slave", "sh", "-c", script]
        # capabilities cached by a libvirtd that saw another /dev/kvm
        for name in _listdir("/var/cache/libvirt/qemu/capabilities"):
            os.unlink(os.path.join("/var/cache/libvirt/qemu/capabilities", name))
    else:
        argv = ["libvirtd", "-d"]
    log("starting libvirtd (no service manager started it); it keeps running afterwards")
    result = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, universal_newlines=True)
    if result.returncode != 0:
        return False, "libvirtd did not start: %s" % result.stdout.strip()
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if libvirt_answers():
            return True, ""
        time.sleep(1)
    return False, "libvirtd started but does not answer on %s" % URI


def _listdir(path):
    try:
        return os.listdir(path)
    except OSError:
        return []


def ensure_network(address):
    """The lab's isolated network, e.g. address "192.168.121.0/24"."""
    if virsh("net-info", NETWORK).returncode == 0:
        if "Active:         yes" not in virsh("net-info", NETWORK).stdout:
            virsh("net-start", NETWORK, check=True)
        return
    base = address.split("/")[0].rsplit(".", 1)[0]
    xml = """<network ipv6='no'>
  <name>{name}</name>
  <bridge name='{bridge}' stp='on' delay='0'/>
  <ip address='{base}.1' netmask='255.255.255.0'>
    <dhcp><range start='{base}.2' end='{base}.254'/></dhcp>
  </ip>
</network>
""".format(name=NETWORK, bridge=BRIDGE, base=base)
    with tempfile.NamedTemporaryFile("w", suffix=".xml") as f:
        f.write(xml)
        f.flush()
        virsh("net-define", f.name, check=True)
    virsh("net-start", NETWORK, check=True)


def remove_network():
    if virsh("net-info", NETWORK).returncode == 0:
        virsh("net-destroy", NETWORK)
        virsh("net-undefine", NETWORK)


def domains():
    out = virsh("list", "--all", "--name").stdout
    return [d.strip() for d in out.splitlines() if d.strip().startswith(PREFIX)]


def remove_domain(name):
    """Destroy and undefine a lab domain and delete its disk volumes."""
    if virsh("dominfo", name).returncode != 0:
        return False
    virsh("destroy", name)
    if virsh("undefine", name, "--remove-all-storage", "--nvram").returncode != 0:
        virsh("undefine", name)
    return True


def volumes(pool="default"):
    """The lab's volumes in a pool: run disks and uploaded boxes."""
    if virsh("pool-info", pool).returncode != 0:
        return []
    out = virsh("vol-list", pool).stdout
    return [line.split()[0] for line in out.splitlines()
            if line.strip() and line.split()[0].startswith(PREFIX)]


def remove_volume(name, pool="default"):
    virsh("vol-delete", name, "--pool", pool)


def install_kernel(box_dir, box_name):
    """Copy the box's kernel and initramfs where libvirt's qemu can read
    them; returns (kernel, initrd) paths."""
    os.makedirs(KERNEL_DIR, exist_ok=True)
    paths = []
    for src, suffix in (("vmlinuz", ".vmlinuz"), ("initrd.img", ".initrd")):
        dest = os.path.join(KERNEL_DIR, box_name + suffix)
        if not os.path.exists(dest):
            subprocess.run(["cp", os.path.join(box_dir, src), dest + ".tmp"], check=True)
            os.rename(dest + ".tmp", dest)
        paths.append(dest)
    return paths


def installed_kernels():
    return [os.path.join(KERNEL_DIR, n) for n in _listdir(KERNEL_DIR) if n.startswith(PREFIX)]
