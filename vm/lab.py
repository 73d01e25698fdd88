"""The VM lab: minirun's privileged integration tests on Debian's own kernels.

Why: the runtime talks to the kernel directly (namespaces, mounts, devices,
ptys, cgroup layouts), so it has to be tested on the kernels people run, not
only on the host's.  Each run boots one throwaway guest for one kernel x
cgroup mode, runs tests/integration (and two e2e files the host cannot run:
Docker's systemd cgroup driver, tests/e2e/test_docker_systemd.py, which
needs systemd as init, and podman's checkpoint/restore,
tests/e2e/test_podman_checkpoint.py, which needs a criu that can dump on the
running kernel) with the guest's own python3 and pytest, brings back JUnit
XML, and throws the guest away.

    lab.py test [--kernels "bullseye sid"] [--modes v2] [--boot auto|vagrant|qemu]
                [--suite all|ci]
    lab.py boxes [KERNEL ...]        build the boxes only (vm/boxes.py)
    lab.py clean                     remove everything the lab made

Two ways to boot the same box (vm/boxes.py):
  vagrant  vagrant-libvirt, driven through python-vagrant; the payload (see
           stage_payload) is rsynced to /minirun and the suite runs over ssh.
  qemu     qemu directly, for hosts where libvirt cannot run: the box's disk
           opened snapshot=on, the payload shared read-only over 9p plus a
           writable results share; a unit baked into the box runs the suite
           and powers off.
--boot auto (the default) takes vagrant when libvirtd answers or can be
started, qemu otherwise.  Guests run under TCG; KVM only with --accel kvm.

Environment (the Makefile passes these through): LAB_BOOT, LAB_ACCEL,
LAB_TIMEOUT (seconds per run, boot included), LAB_JOBS (runs at a time),
LAB_CPUS, LAB_MEMORY, LAB_SUITE (all, or ci: CI_SUITE), LAB_PYTEST_ARGS
(replaces the test selection).
Results: vm/results/KERNEL-MODE/{junit.xml,pytest.log,console.log,guest.env,
run.log} and vm/results/summary.{txt,json}.
"""

import argparse
import glob
import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import time
import xml.etree.ElementTree as ET

import boxes
import hostvirt
import kernels

VM_DIR = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(VM_DIR)
RESULTS_DIR = os.environ.get("LAB_RESULTS", os.path.join(VM_DIR, "results"))
RUN_STATE_DIR = os.path.join(boxes.CACHE_DIR, "runs")   # vagrant dotfiles, qemu pidfiles

# The in-VM suite: all of tests/integration (under TCG on one vCPU, ~10x
# the host's time: 14-16 minutes a run), less the known failures of
# vm/kernels.py, and the e2e files the host cannot run: Docker's systemd
# cgroup driver (needs systemd as init) and podman's checkpoint/restore
# (needs a criu that can dump on the running kernel); the host e2e suite runs
# everything else.  Both need engines only the sid box carries: the other
# guests skip them, naming what is missing.
DOCKER_SYSTEMD = "tests/e2e/test_docker_systemd.py"
PODMAN_CHECKPOINT = "tests/e2e/test_podman_checkpoint.py"
SUITE = ["tests/integration", DOCKER_SYSTEMD, PODMAN_CHECKPOINT]
# What `make vm-ci` runs (LAB_SUITE=ci, `--suite ci`): the files whose outcome
# depends on the kernel.  They take about 40% of the suite's time; under TCG
# the whole suite now takes 45-50 min a run, too long for CI beside `make
# test`.  The files left out exercise the runtime's own logic (state, CLI,
# config validation, hooks, lifecycle), which `make test` covers on the host;
# `make vm-test` still runs everything.
CI_SUITE = ["tests/integration/" + name for name in [
    "test_seccomp.py",          # filter flags and actions, syscalls newer than the kernel or the profile
    "test_mounts.py",           # mount API, locked flags, id-mapped mounts, openat2 resolution
    "test_namespaces.py",       # which namespaces exist (time, cgroup), setns and unshare order
    "test_rootless.py",         # user namespaces, newuidmap, cgroup delegation
    "test_cgroups.py",          # controllers and interface files of each kernel
    "test_cgroup_manager.py",
    "test_cgroups_systemd.py",  # the systemd driver, against the guests' systemd
    "test_engine_fixtures.py",  # the engines' configs; Docker's systemd-driver one through systemd
    "test_devices.py",          # eBPF device programs (v2)
    "test_kill.py",             # cgroup.kill (5.14) or freeze + signal + thaw
    "test_capabilities.py",     # the last capability differs between kernels
    "test_security_labels.py",  # AppArmor in the guests
    "test_terminal.py",         # devpts
    "test_fds.py",              # close_range (5.9)
    "test_checkpoint.py",       # CRIU: the host's criu cannot dump on the host's kernel; the guests' can
]] + [
    # the real dockerd with its systemd cgroup driver, minirun and runc under
    # it, against the guests' systemd (only the sid box carries docker.io;
    # the other guests skip it)
    DOCKER_SYSTEMD,
    # podman checkpoint/restore through CRIU, minirun and runc under it (only
    # the sid box carries podman; the other guests skip it)
    PODMAN_CHECKPOINT,
]
SUITES = {"all": SUITE, "ci": CI_SUITE}
# Kernels `make vm-ci` boots for one thing their Debian carries, with what
# they run of the ci suite instead of all of it: bookworm for CRIU 3.17 (the
# older CRIU beside sid's 4.x; bullseye's Debian has no criu at all).
CI_ONLY = {"bookworm": ["tests/integration/test_checkpoint.py"]}

GUEST_RESULTS = "/var/tmp/lab-results"          # vagrant path, inside the guest
VAGRANT_PAST_UPLOAD = "Creating image (snapshot of base box volume)"
BASE_CMDLINE = "root=/dev/vda rw console=ttyS0,115200 mitigations=off panic=10"
# The whole integration suite (about 600 tests since exec, state trust and
# hostile input) takes 20-25 min under TCG on an idle 2-core host.
DEFAULT_TIMEOUT = 3000


def suite_name():
    name = os.environ.get("LAB_SUITE", "").strip() or "all"
    if name not in SUITES:
        raise SystemExit("lab: unknown suite %r; known: %s" % (name, ", ".join(SUITES)))
    return name


def pytest_args(kernel):
    custom = os.environ.get("LAB_PYTEST_ARGS", "").strip()
    if custom:
        return shlex.split(custom)
    suite = SUITES[suite_name()]
    if suite_name() == "ci" and kernel.name in CI_ONLY:
        suite = CI_ONLY[kernel.name]
    deselect = sorted(kernels.KNOWN_FAILURES.get(kernel.name, {}))
    if not deselect:
        return list(suite)
    return suite + ["-k", " and ".join("not " + t for t in deselect)]


def stage_payload(dest):
    """What a guest gets: minirun.py, tests/ (the engine fixtures in
    tests/fixtures come with it), bundles/build-rootfs.sh (the e2e tests'
    busybox image is built with it), vm/guest/ and the
    syscall probe of the security tests, built here: the guests have no
    compiler, and a static binary runs on every kernel of the matrix.  Shaped
    like the repo, so the boot unit baked into the boxes finds
    vm/guest/run-suite.sh where it always is."""
    shutil.rmtree(dest, ignore_errors=True)
    os.makedirs(dest)
    skip = shutil.ignore_patterns("__pycache__", ".pytest_cache", "*.pyc")
    shutil.copy2(os.path.join(REPO, "minirun.py"), dest)
    shutil.copytree(os.path.join(REPO, "tests"), os.path.join(dest, "tests"), ignore=skip)
    os.makedirs(os.path.join(dest, "bundles"))
    shutil.copy2(os.path.join(REPO, "bundles", "build-rootfs.sh"), os.path.join(dest, "bundles"))
    shutil.copytree(os.path.join(VM_DIR, "guest"), os.path.join(dest, "vm", "guest"))
    probe = os.path.join(dest, "syscall_probe")
    source = os.path.join(REPO, "tests", "integration", "probes", "syscall_probe.c")
    result = subprocess.run(["gcc", "-static", "-O2", "-o", probe, source],
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, universal_newlines=True)
    if result.returncode != 0:
        raise SystemExit("lab: cannot build the syscall probe (gcc -static):\n%s"
                         % result.stdout[-2000:])
    os.chmod(dest, 0o755)


def say(msg):
    print("lab: %s" % msg, flush=True)


def fmt_seconds(s):
    s = int(round(s))
    return "%dm%02ds" % (s // 60, s % 60) if s >= 60 else "%ds" % s


class Run:
    """One kernel x cgroup mode."""

    def __init__(self, kernel, mode):
        self.kernel = kernel
        self.mode = mode
        self.name = "%s-%s" % (kernel.name, mode)
        self.out = os.path.join(RESULTS_DIR, self.name)
        self.domain = hostvirt.PREFIX + self.name
        self.dotfile = os.path.join(RUN_STATE_DIR, self.name + ".vagrant")
        self.pidfile = os.path.join(RUN_STATE_DIR, self.name + ".qemu.pid")
        self.proc = None
        self.started = None
        self.seconds = None
        self.timed_out = False

    def cmdline(self, boot):
        args = [BASE_CMDLINE, kernels.CGROUP_MODES[self.mode][0]]
        if boot == "qemu":
            args.append("minirun.lab=9p")
        return " ".join(args)


# --------------------------------------------------------------------------
# inside a run (a child process of its own, so a timeout can kill it whole)

def vagrant_env(run, opts):
    box_dir = boxes.box_dir(run.kernel)
    kernel_image, initrd = hostvirt.install_kernel(box_dir, boxes.box_name(run.kernel))
    return dict(
        os.environ,
        LAB_BOX=boxes.box_name(run.kernel), LAB_KERNEL_IMAGE=kernel_image,
        LAB_INITRD=initrd, LAB_CMDLINE=run.cmdline("vagrant"),
        LAB_CONSOLE_LOG=os.path.join(run.out, "console.log"), LAB_RUN=run.name,
        LAB_ACCEL=opts.accel, LAB_CPUS=str(opts.cpus), LAB_MEMORY=str(opts.memory),
        LAB_NETWORK=opts.network, LAB_PAYLOAD=opts.payload, VAGRANT_DOTFILE_PATH=run.dotfile,
        VAGRANT_NO_COLOR="1", VAGRANT_CHECKPOINT_DISABLE="1")


def drop_progress_bars(logfile):
    """vagrant's upload progress is thousands of terminal redraws."""
    with open(logfile, errors="replace") as f:
        text = f.read()
    with open(logfile, "w") as f:
        f.write(re.sub(r"(\x1b\[K(Progress: [^\x1b\n]*)?)+", "", text))


def vagrant_machine(run, env, logfile):
    import vagrant   # python-vagrant: only the libvirt path needs it
    cm = vagrant.make_file_cm(logfile, mode="a")
    return vagrant.Vagrant(root=REPO, env=env, out_cm=cm, err_cm=cm)


def run_in_vagrant(run, opts, logfile):
    env = vagrant_env(run, opts)
    machine = vagrant_machine(run, env, logfile)
    try:
        say("%s: vagrant up (libvirt, %s)" % (run.name, opts.accel.upper()))
        try:
            machine.up(no_provision=True)
        finally:
            drop_progress_bars(logfile)
        ssh_config = os.path.join(RUN_STATE_DIR, run.name + ".ssh_config")
        with open(ssh_config, "w") as f:
            f.write(machine.ssh_config())
        ssh = ["ssh", "-F", ssh_config, "-o", "ServerAliveInterval=30", run.name]
        say("%s: running the suite over ssh" % run.name)
        command = "sudo sh /minirun/vm/guest/run-suite.sh /minirun %s %s" % (
            GUEST_RESULTS, " ".join(shlex.quote(a) for a in pytest_args(run.kernel)))
        with open(logfile, "a") as log:
            subprocess.run(ssh + [command], stdin=subprocess.DEVNULL, stdout=log,
                           stderr=subprocess.STDOUT)
            fetch = subprocess.Popen(ssh + ["sudo tar -C %s -cf - ." % GUEST_RESULTS],
                                     stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                     stderr=log)
            subprocess.run(["tar", "-C", run.out, "-xf", "-"], stdin=fetch.stdout,
                           stderr=log)
            fetch.wait()
    finally:
        say("%s: vagrant destroy" % run.name)
        machine.destroy()


def qemu_command(run, opts):
    box_dir = boxes.box_dir(run.kernel)
    if opts.accel == "kvm":
        machine, cpu = "pc,accel=kvm", "host"
    else:
        machine, cpu = "pc,accel=tcg", "qemu64"
    return [
        "qemu-system-x86_64", "-name", run.domain,
        "-machine", machine, "-cpu", cpu, "-smp", str(opts.cpus), "-m", str(opts.memory),
        "-nodefaults", "-no-user-config", "-display", "none", "-no-reboot",
        "-serial", "file:" + os.path.join(run.out, "console.log"),
        "-kernel", os.path.join(box_dir, "vmlinuz"),
        "-initrd", os.path.join(box_dir, "initrd.img"),
        "-append", run.cmdline("qemu"),
        "-drive", "file=%s,if=virtio,format=qcow2,snapshot=on" % os.path.join(box_dir, "box.img"),
        "-device", "virtio-rng-pci",
        "-virtfs", "local,path=%s,mount_tag=repo,security_model=none,readonly=on" % opts.payload,
        "-virtfs", "local,path=%s,mount_tag=results,security_model=none" % run.out,
        "-nic", "none", "-pidfile", run.pidfile,
    ]


def run_in_qemu(run, opts, logfile):
    with open(os.path.join(run.out, "pytest-args"), "w") as f:
        f.write("".join(a + "\n" for a in pytest_args(run.kernel)))
    say("%s: qemu (direct, %s)" % (run.name, opts.accel.upper()))
    with open(logfile, "a") as log:
        cmd = qemu_command(run, opts)
        log.write("+ %s\n" % " ".join(shlex.quote(a) for a in cmd))
        log.flush()
        subprocess.run(cmd, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT)
    try:
        os.unlink(run.pidfile)
    except OSError:
        pass


def run_one(args):
    """The body of one run (`lab.py _run`); the parent judges it by the files
    it leaves in the run's results directory."""
    kernel = kernels.KERNELS[args.kernel]
    run = Run(kernel, args.mode)
    logfile = os.path.join(run.out, "run.log")
    try:
        if args.boot == "vagrant":
            run_in_vagrant(run, args, logfile)
        else:
            run_in_qemu(run, args, logfile)
    except subprocess.CalledProcessError as e:
        say("%s: %s failed with exit status %s (see %s)"
            % (run.name, " ".join(str(a) for a in e.cmd[:2]), e.returncode,
               os.path.relpath(logfile, REPO)))
        return 1
    return 0


# --------------------------------------------------------------------------
# cleanup: nothing of a run may outlive it

def kill_qemu(run):
    try:
        with open(run.pidfile) as f:
            pid = int(f.read().strip())
        with open("/proc/%d/cmdline" % pid, "rb") as f:
            if run.domain.encode() in f.read():   # still our qemu, not a reused pid
                os.kill(pid, signal.SIGKILL)
    except (OSError, ValueError):
        pass
    for path in (run.pidfile,):
        try:
            os.unlink(path)
        except OSError:
            pass


def cleanup_run(run, opts, boot):
    """Make sure the run's VM is gone, whatever state it was left in."""
    kill_qemu(run)
    if boot == "vagrant":
        if glob.glob(os.path.join(run.dotfile, "machines", "*", "libvirt", "id")):
            logfile = os.path.join(run.out, "run.log")
            try:
                os.makedirs(run.out, exist_ok=True)
                vagrant_machine(run, vagrant_env(run, opts), logfile).destroy()
            except Exception as e:   # the fallback below removes it by name
                say("%s: vagrant destroy failed (%s); removing the domain with virsh"
                    % (run.name, e))
        if hostvirt.remove_domain(run.domain):
            say("%s: removed leftover domain %s" % (run.name, run.domain))
        for vol in hostvirt.volumes():
            if vol.startswith(run.domain + ".") or vol.startswith(run.domain + "-"):
                hostvirt.remove_volume(vol)
        if upload_interrupted(run):
            # a half-uploaded box volume would be reused as it is by the next run
            box = boxes.box_name(run.kernel)
            for vol in hostvirt.volumes():
                if vol.startswith(box + "_vagrant_box_image_"):
                    say("%s: removing the half-uploaded box volume %s" % (run.name, vol))
                    hostvirt.remove_volume(vol)
    shutil.rmtree(run.dotfile, ignore_errors=True)
    try:
        os.unlink(os.path.join(RUN_STATE_DIR, run.name + ".ssh_config"))
    except OSError:
        pass


def upload_interrupted(run):
    try:
        with open(os.path.join(run.out, "run.log"), errors="replace") as f:
            log = f.read()
    except OSError:
        return False
    return "Uploading base box image" in log and VAGRANT_PAST_UPLOAD not in log


# --------------------------------------------------------------------------
# results

def read_env(path):
    values = {}
    try:
        with open(path) as f:
            for line in f:
                key, sep, value = line.rstrip("\n").partition("=")
                if sep:
                    values[key] = value
    except OSError:
        pass
    return values


def read_junit(path):
    """(tests, failures, errors, skipped, [failed test ids]) or None."""
    try:
        root = ET.parse(path).getroot()
    except (OSError, ET.ParseError):
        return None
    suites = [root] if root.tag == "testsuite" else list(root.iter("testsuite"))
    totals = [0, 0, 0, 0]
    failed = []
    for suite in suites:
        for i, key in enumerate(("tests", "failures", "errors", "skipped")):
            totals[i] += int(suite.get(key, 0))
        for case in suite.iter("testcase"):
            if case.find("failure") is not None or case.find("error") is not None:
                failed.append("%s::%s" % (case.get("classname", ""), case.get("name", "")))
    return totals + [failed]


def verdict(run):
    """The run's row: what the guest was, which cgroup mode it really got,
    and how the tests went."""
    guest = read_env(os.path.join(run.out, "guest.env"))
    junit = read_junit(os.path.join(run.out, "junit.xml"))
    wanted = kernels.CGROUP_MODES[run.mode][1]
    row = {"kernel": run.kernel.name, "mode": run.mode, "uname": guest.get("kernel", "-"),
           "python": guest.get("python", "-"), "pytest": guest.get("pytest", "-"),
           "cgroup": guest.get("cgroup", "-"), "seconds": run.seconds,
           "tests": None, "failed": []}
    problems = []
    if run.timed_out:
        row["result"] = "timeout"
    elif not guest:
        row["result"] = "error"
        problems.append("no results came back (see %s)" % os.path.relpath(run.out, REPO))
    else:
        if guest.get("cgroup") not in wanted:
            problems.append("asked for cgroup %s (%s), the guest has %s"
                            % (run.mode, "/".join(wanted), guest.get("cgroup")))
        if run.kernel.kernel and not guest.get("kernel", "").startswith(run.kernel.kernel + "."):
            problems.append("expected kernel %s.x, the guest runs %s"
                            % (run.kernel.kernel, guest.get("kernel")))
        if run.kernel.python and not guest.get("python", "").startswith(run.kernel.python + "."):
            problems.append("expected Python %s, the guest has %s"
                            % (run.kernel.python, guest.get("python")))
        if junit is None:
            problems.append("no junit.xml")
        else:
            tests, failures, errors, skipped, failed = junit
            row["tests"] = {"tests": tests, "failures": failures, "errors": errors,
                            "skipped": skipped}
            row["failed"] = failed
            if failures or errors or tests == 0:
                problems.append("%d failed, %d errors" % (failures, errors))
        try:
            with open(os.path.join(run.out, "pytest-exit")) as f:
                exit_status = f.read().strip()
        except OSError:
            exit_status = "missing"
        if exit_status != "0":
            problems.append("pytest exit status %s" % exit_status)
        row["result"] = "fail" if problems else "pass"
    row["problems"] = problems
    return row


def passed_and_failed(tests):
    """(passed, failed) of a run's JUnit totals; an error counts as a failure."""
    failed = tests["failures"] + tests["errors"]
    return tests["tests"] - failed - tests["skipped"], failed


def table(rows):
    header = ("kernel", "cgroup", "result", "tests", "uname -r", "python", "time")
    lines = []
    for r in rows:
        t = r["tests"]
        if t:
            passed, failed = passed_and_failed(t)
            tests = "%d passed" % passed
            if failed:
                tests += ", %d failed" % failed
            if t["skipped"]:
                tests += ", %d skipped" % t["skipped"]
        else:
            tests = "-"
        cgroup = "%s (%s)" % (r["mode"], r["cgroup"])
        lines.append((r["kernel"], cgroup, r["result"], tests, r["uname"], r["python"],
                      fmt_seconds(r["seconds"]) if r["seconds"] is not None else "-"))
    widths = [max(len(str(x)) for x in col) for col in zip(header, *lines)]
    out = []
    for i, line in enumerate([header] + lines):
        out.append("  ".join(str(x).ljust(w) for x, w in zip(line, widths)).rstrip())
        if i == 0:
            out.append("  ".join("-" * w for w in widths))
    return "\n".join(out)


# --------------------------------------------------------------------------
# the driver

def choose_boot(opts):
    """vagrant (libvirt) when it can work here, else the direct-qemu path."""
    if opts.boot == "qemu":
        return "qemu"
    missing = hostvirt.have_tools()
    why = ""
    if missing:
        why = "missing " + ", ".join(missing)
    else:
        ok, why = hostvirt.ensure_libvirtd(say)
        if ok:
            return "vagrant"
    if opts.boot == "vagrant":
        raise SystemExit("lab: the vagrant/libvirt path cannot run here: %s" % why)
    say("libvirt cannot run here (%s): booting the boxes directly with qemu" % why)
    return "qemu"


def prepare_vagrant(selected, opts):
    """Add the boxes to vagrant (once per recipe) and create the network."""
    import vagrant
    machine = vagrant.Vagrant(root=REPO, env=dict(os.environ, LAB_BOX="-", LAB_KERNEL_IMAGE="-",
                                                  LAB_INITRD="-", LAB_CMDLINE="-",
                                                  LAB_CONSOLE_LOG="-", LAB_RUN="-",
                                                  LAB_PAYLOAD="-"))
    known = {b.name for b in machine.box_list()}
    for kernel in selected:
        name = boxes.box_name(kernel)
        for box in known:
            if box.startswith("%s%s-" % (boxes.BOX_PREFIX, kernel.name)) and box != name:
                remove_vagrant_box(box)
        for vol in hostvirt.volumes():
            if vol.startswith("%s%s-" % (boxes.BOX_PREFIX, kernel.name)) and \
                    "_vagrant_box_image_" in vol and not vol.startswith(name + "_"):
                hostvirt.remove_volume(vol)
        if name not in known:
            say("adding box %s to vagrant" % name)
            archive = boxes.box_archive(kernel)
            try:
                machine.box_add(name, archive, provider="libvirt", force=True)
            finally:
                os.unlink(archive)
    hostvirt.ensure_network(opts.network)


def remove_vagrant_box(name):
    say("removing vagrant box %s" % name)
    # from / : vagrant would load the lab's Vagrantfile from the repo
    subprocess.run(["vagrant", "box", "remove", "--force", "--all", name], cwd="/",
                   stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL)


def spawn(run, opts, boot):
    shutil.rmtree(run.out, ignore_errors=True)
    os.makedirs(run.out)
    os.chmod(run.out, 0o755)
    argv = [sys.executable, os.path.abspath(__file__), "_run", run.kernel.name, run.mode,
            "--boot", boot, "--accel", opts.accel, "--cpus", str(opts.cpus),
            "--memory", str(opts.memory), "--network", opts.network,
            "--payload", opts.payload]
    run.started = time.monotonic()
    run.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, start_new_session=True)


def kill_tree(run):
    if run.proc and run.proc.poll() is None:
        try:
            os.killpg(run.proc.pid, signal.SIGKILL)
        except OSError:
            pass
        run.proc.wait()


def can_start(run, active, boot):
    """vagrant-libvirt uploads a box into the storage pool on its first use;
    a second `vagrant up` of the same box meanwhile fails on the half-made
    volume.  So it waits until the first one is past the upload."""
    if boot != "vagrant":
        return True
    for other in active:
        if other.kernel.name == run.kernel.name:
            try:
                with open(os.path.join(other.out, "run.log")) as f:
                    if VAGRANT_PAST_UPLOAD not in f.read():
                        return False
            except OSError:
                return False
    return True


def execute(runs, opts, boot):
    """Run them, opts.jobs at a time; each is killed at opts.timeout."""
    pending = list(runs)
    active = []
    try:
        while pending or active:
            while pending and len(active) < opts.jobs:
                run = next((r for r in pending if can_start(r, active, boot)), None)
                if run is None:
                    break
                pending.remove(run)
                cleanup_run(run, opts, boot)        # a leftover of an earlier, killed lab
                spawn(run, opts, boot)
                active.append(run)
            time.sleep(1)
            for run in list(active):
                elapsed = time.monotonic() - run.started
                if run.proc.poll() is None and elapsed > opts.timeout:
                    say("%s: timeout after %s: killing the guest" % (run.name, fmt_seconds(elapsed)))
                    run.timed_out = True
                    kill_tree(run)
                if run.proc.poll() is not None:
                    run.seconds = time.monotonic() - run.started
                    active.remove(run)
                    cleanup_run(run, opts, boot)
                    row = verdict(run)
                    say("%s: %s (%s)" % (run.name, row["result"], fmt_seconds(run.seconds)))
    finally:
        for run in active:
            kill_tree(run)
            cleanup_run(run, opts, boot)


def parse_list(values):
    names = []
    for v in values or []:
        names.extend(v.replace(",", " ").split())
    return names


def cmd_test(opts):
    if os.geteuid() != 0:
        raise SystemExit("lab: run the lab as root (debootstrap, libvirt, qemu)")
    os.environ["LAB_SUITE"] = opts.suite   # the runs (`lab.py _run`) inherit it
    suite_name()
    selected = kernels.select(parse_list(opts.kernels))
    modes = parse_list(opts.modes)
    for m in modes:
        if m not in kernels.CGROUP_MODES:
            raise SystemExit("lab: unknown cgroup mode %r; known: %s"
                             % (m, ", ".join(kernels.CGROUP_MODES)))
    runs = [Run(k, m) for k in selected for m in (modes or k.modes)]
    started = time.monotonic()

    before = time.monotonic()
    boxes.build_all(selected, jobs=2)
    boxes_seconds = time.monotonic() - before
    boot = choose_boot(opts)
    os.makedirs(RUN_STATE_DIR, exist_ok=True)
    os.makedirs(RESULTS_DIR, exist_ok=True)
    # one per lab invocation: a guest reads it (9p) for its whole run
    opts.payload = os.path.join(RUN_STATE_DIR, "payload-%d" % os.getpid())
    stage_payload(opts.payload)
    if boot == "vagrant":
        prepare_vagrant(selected, opts)
    say("%d run(s) via %s, %s, %d at a time, %s timeout each: %s"
        % (len(runs), boot, opts.accel.upper(), opts.jobs, fmt_seconds(opts.timeout),
           " ".join(r.name for r in runs)))

    # a SIGTERM (CI's time limit) must still throw the guests away
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    try:
        execute(runs, opts, boot)
    finally:
        if boot == "vagrant":
            hostvirt.remove_network()
        shutil.rmtree(opts.payload, ignore_errors=True)

    rows = [verdict(r) for r in runs]
    text = table(rows)
    total = time.monotonic() - started
    summary = "%s\n\nsuite: %s; boot: %s, accel: %s; boxes ready in %s; total %s\n" % (
        text, "LAB_PYTEST_ARGS" if os.environ.get("LAB_PYTEST_ARGS", "").strip() else opts.suite,
        boot, opts.accel, fmt_seconds(boxes_seconds), fmt_seconds(total))
    if not os.environ.get("LAB_PYTEST_ARGS", "").strip():
        for kernel in selected:
            by_reason = {}
            for test, why in sorted(kernels.KNOWN_FAILURES.get(kernel.name, {}).items()):
                by_reason.setdefault(why, []).append(test)
            for why, tests in by_reason.items():
                summary += "%s: not run, known failure (vm/kernels.py): %s\n    %s\n" % (
                    kernel.name, why, "\n    ".join(tests))
    for r in rows:
        for p in r["problems"]:
            summary += "%s-%s: %s\n" % (r["kernel"], r["mode"], p)
        for f in r["failed"][:20]:
            summary += "%s-%s: FAILED %s\n" % (r["kernel"], r["mode"], f)
    with open(os.path.join(RESULTS_DIR, "summary.txt"), "w") as f:
        f.write(summary)
    with open(os.path.join(RESULTS_DIR, "summary.json"), "w") as f:
        json.dump({"boot": boot, "accel": opts.accel, "seconds": round(total),
                   "boxes_seconds": round(boxes_seconds), "runs": rows}, f, indent=1)
    print("\n" + summary, flush=True)
    print("results: %s" % os.path.relpath(RESULTS_DIR, REPO))
    bad = [r for r in rows if r["result"] != "pass"]
    # one closing line over all runs, as CI reads it (a run that did not
    # pass counts as at least one failure: a timeout, a wrong cgroup mode)
    passed = sum(passed_and_failed(r["tests"])[0] for r in rows if r["tests"])
    failed = sum(max(1, passed_and_failed(r["tests"])[1] if r["tests"] else 1) for r in bad)
    print("lab: %d passed, %d failed" % (passed, failed), flush=True)
    return 1 if bad else 0


def cmd_boxes(opts):
    boxes.main(parse_list(opts.kernels))   # builds what is missing, lists them all
    return 0


def cmd_clean(opts):
    """Everything the lab made, found by name; libvirtd keeps running."""
    for name in os.listdir(RUN_STATE_DIR) if os.path.isdir(RUN_STATE_DIR) else []:
        if name.endswith(".qemu.pid"):
            kernel, _, mode = name[:-len(".qemu.pid")].rpartition("-")
            if kernel in kernels.KERNELS:
                kill_qemu(Run(kernels.KERNELS[kernel], mode))
    if shutil.which("virsh") and hostvirt.libvirt_answers():
        for dom in hostvirt.domains():
            say("removing domain %s" % dom)
            hostvirt.remove_domain(dom)
        for vol in hostvirt.volumes():
            say("removing volume %s" % vol)
            hostvirt.remove_volume(vol)
        hostvirt.remove_network()
    if shutil.which("vagrant"):
        out = subprocess.run(["vagrant", "box", "list"], cwd="/", stdout=subprocess.PIPE,
                             stderr=subprocess.DEVNULL, universal_newlines=True).stdout
        for line in out.splitlines():
            name = line.split(" ")[0]
            if name.startswith(boxes.BOX_PREFIX):
                remove_vagrant_box(name)
    for path in hostvirt.installed_kernels():
        os.unlink(path)
    for path in (boxes.CACHE_DIR, RESULTS_DIR):
        if os.path.exists(path):
            say("removing %s" % os.path.relpath(path, REPO))
            boxes.remove_tree(path)
    return 0


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter,
                                     epilog=__doc__.split("\n\n", 1)[1])
    sub = parser.add_subparsers(dest="command")
    env = os.environ.get

    def run_options(p):
        p.add_argument("--accel", choices=("tcg", "kvm"), default=env("LAB_ACCEL") or "tcg",
                       help="qemu accelerator (default tcg; /dev/kvm is not trusted)")
        p.add_argument("--kvm", dest="accel", action="store_const", const="kvm",
                       help="same as --accel kvm")
        p.add_argument("--cpus", type=int, default=int(env("LAB_CPUS") or 1))
        p.add_argument("--memory", type=int, default=int(env("LAB_MEMORY") or 2048),
                       help="guest memory in MiB")
        p.add_argument("--network", default=env("LAB_NETWORK") or "192.168.121.0/24",
                       help="the isolated libvirt network's /24")

    test = sub.add_parser("test", help="run the matrix and print the table")
    test.add_argument("--kernels", action="append", help="names from vm/kernels.py (default all)")
    test.add_argument("--modes", action="append", help="cgroup modes: v2, v1 (default: each kernel's own)")
    test.add_argument("--boot", choices=("auto", "vagrant", "qemu"), default=env("LAB_BOOT") or "auto")
    test.add_argument("--suite", choices=sorted(SUITES), default=env("LAB_SUITE") or "all",
                      help="all of tests/integration, or ci: the kernel-dependent files (CI_SUITE)")
    test.add_argument("--timeout", type=int, default=int(env("LAB_TIMEOUT") or DEFAULT_TIMEOUT),
                      help="seconds per run, boot included (default %d)" % DEFAULT_TIMEOUT)
    test.add_argument("--jobs", type=int, default=int(env("LAB_JOBS") or 2),
                      help="runs at a time (default 2: one per host core)")
    run_options(test)

    box = sub.add_parser("boxes", help="build the boxes that are missing")
    box.add_argument("kernels", nargs="*")
    sub.add_parser("clean", help="remove everything the lab made")

    one = sub.add_parser("_run", help=argparse.SUPPRESS)
    one.add_argument("kernel")
    one.add_argument("mode")
    one.add_argument("--boot", required=True)
    one.add_argument("--payload", required=True)
    run_options(one)

    opts = parser.parse_args(argv)
    if opts.command == "test":
        return cmd_test(opts)
    if opts.command == "boxes":
        return cmd_boxes(opts)
    if opts.command == "clean":
        return cmd_clean(opts)
    if opts.command == "_run":
        return run_one(opts)
    parser.print_help()
    return 2


if __name__ == "__main__":
    sys.exit(main())
