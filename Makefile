# minirun: build, demo, test and benchmark targets.
#
#   make deps         apt-install what the tests need (only what is missing)
#   make bundles      build the busybox rootfs into bundles/*/rootfs
#   make demo         run the hello bundle with minirun (root)
#   make test         unit + integration + end-to-end tests (integration and e2e need root)
#   make unit         unit tests only (no root needed)
#   make integration  integration tests only
#   make e2e          end-to-end tests only: the real Docker, podman and containerd
#   make e2e-deps     apt-install the engines the e2e tests start (only what is missing)
#   make mutants      the mutation harness: each listed bug planted in a copy of minirun.py
#                     must be caught by its tests (slow, root; not part of make test);
#                     MUTANTS_ARGS="--only NAME", "-j 2", "--list", see tests/mutants/mutants.py
#   make bench        minirun vs runc vs crun, interleaved (installs runc and crun if missing);
#                     BENCH_ARGS="--rounds N" etc., see tests/bench/bench.py --help
#   make vm-test      the VM lab: integration tests in throwaway VMs, kernel x cgroup mode
#   make vm-ci        the lab's CI subset (oldest and newest kernel, cgroup v2; bookworm for CRIU)
#   make vm-boxes     build the lab's boxes only; make vm-clean removes all the lab made
#   make clean
#
# Variables: PYTHON (interpreter that runs minirun.py), EXTRA_TEST_PACKAGES
# (more pip packages for the test venv), PYTEST_ARGS, BENCH_ARGS; for the lab
# KERNELS, MODES and LAB_ARGS (see vm/lab.py --help).

SHELL := /bin/bash
.DEFAULT_GOAL := test

# The runtime is started through an absolute interpreter: a version-manager
# shim (pyenv) on PATH costs ~100 ms per call.
PYTHON ?= $(if $(wildcard /usr/bin/python3),/usr/bin/python3,python3)
# Tried for the venv when $(PYTHON) has no working venv/ensurepip module.
PYTHON_FALLBACK := $(if $(filter /usr/bin/python3,$(PYTHON)),python3,/usr/bin/python3)
export MINIRUN_PYTHON := $(PYTHON)

VENV := .venv
VENV_STAMP := $(VENV)/.minirun-packages
# python-vagrant drives the VM lab (vm/lab.py), grpcio is the e2e tests' CRI client
# (tests/e2e/cri.py); the runtime never imports either.
TEST_PACKAGES := pytest pytest-xdist python-vagrant grpcio
EXTRA_TEST_PACKAGES ?=
PYTEST_ARGS ?=
BENCH_ARGS ?=
MUTANTS_ARGS ?=

# Debian packages: what the tests need, and what the benchmark adds.
DEPS_PACKAGES := busybox-static iproute2 util-linux procps python3-venv gcc libc6-dev uidmap passwd
BENCH_PACKAGES := runc crun
# The engines the end-to-end tests start (tests/e2e), each privately: Docker
# on containerd (io.containerd.runc.v2 shim), podman with conmon, runc as the
# reference runtime, tini as docker-init, catatonit for podman --init.
E2E_PACKAGES := docker.io containerd runc podman conmon iptables containernetworking-plugins \
	tini catatonit
# The VM lab's host side, installed by the vm-* targets only (gcc builds the
# security tests' static syscall probe for the guests, which have no compiler).
VM_PACKAGES := qemu-system-x86 qemu-utils libvirt-daemon-system libvirt-daemon-driver-qemu \
	libvirt-clients dnsmasq-base iptables vagrant vagrant-libvirt debootstrap \
	debian-archive-keyring e2fsprogs rsync openssh-client python3-venv gcc libc6-dev

# The VM lab: KERNELS="bullseye sid" (default: all in vm/kernels.py),
# MODES="v2 v1" (default: each kernel's own), LAB_ARGS="--boot qemu ...".
KERNELS ?=
MODES ?=
LAB_ARGS ?=
LAB := $(VENV)/bin/python vm/lab.py

BUNDLES := hello shell sleeper
ROOTFS_DIRS := $(addprefix bundles/,$(addsuffix /rootfs,$(BUNDLES)))

UNIT_DIRS := $(wildcard tests/unit)
INTEGRATION_DIRS := $(wildcard tests/integration)
E2E_DIRS := $(wildcard tests/e2e)

# $(call apt_ensure,PACKAGES): apt-get install those of PACKAGES that are not
# installed; no apt work at all when none is missing. Non-interactive, no
# stdin, and it waits for a dpkg/apt lock held by someone else.
define apt_ensure
set -euo pipefail; \
missing=(); \
if ! command -v dpkg-query >/dev/null 2>&1; then \
	echo "deps: no dpkg here; make sure these are installed: $(1)" >&2; exit 0; \
fi; \
for p in $(1); do \
	dpkg-query -W -f='$${Status}' "$$p" 2>/dev/null | grep -q ' installed$$' || missing+=("$$p"); \
done; \
[ $${#missing[@]} -eq 0 ] && exit 0; \
echo "deps: installing $${missing[*]}"; \
sudo=; \
if [ "$$(id -u)" -ne 0 ]; then \
	if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then sudo="sudo -n"; \
	else echo "deps: missing $${missing[*]}: run 'make deps' as root" >&2; exit 1; fi; \
fi; \
apt=($$sudo env DEBIAN_FRONTEND=noninteractive apt-get -q -o DPkg::Lock::Timeout=300); \
for i in 1 2 3; do "$${apt[@]}" update </dev/null && break; \
	[ $$i -lt 3 ] || exit 1; echo "deps: apt-get update failed, retrying" >&2; sleep 10; done; \
"$${apt[@]}" install -y --no-install-recommends "$${missing[@]}" </dev/null
endef

.PHONY: all deps bench-deps e2e-deps venv rootfs bundles demo test unit integration e2e mutants bench clean \
	_need-root \
	vm-test vm-ci vm-boxes vm-clean

all: test

deps:
	@$(call apt_ensure,$(DEPS_PACKAGES))

bench-deps: deps
	@$(call apt_ensure,$(BENCH_PACKAGES))

e2e-deps: deps
	@$(call apt_ensure,$(E2E_PACKAGES))

# The venv is (re)built only when missing or when the package list changed.
venv:
	@set -euo pipefail; \
	want="$(strip $(TEST_PACKAGES) $(EXTRA_TEST_PACKAGES))"; \
	if [ -x $(VENV)/bin/python ] && [ "$$(cat $(VENV_STAMP) 2>/dev/null)" = "$$want" ]; then exit 0; fi; \
	if [ ! -x $(VENV)/bin/python ]; then \
		rm -rf $(VENV); \
		for py in $(PYTHON) $(PYTHON_FALLBACK); do \
			if "$$py" -c 'import venv, ensurepip' 2>/dev/null && "$$py" -m venv $(VENV); then break; fi; \
			rm -rf $(VENV); \
		done; \
		[ -x $(VENV)/bin/python ] || { echo "venv: neither $(PYTHON) nor $(PYTHON_FALLBACK) can create a venv" >&2; exit 1; }; \
	fi; \
	$(VENV)/bin/python -m pip install -q --disable-pip-version-check $$want </dev/null; \
	echo "$$want" > $(VENV_STAMP)

rootfs bundles:
	@set -e; for d in $(ROOTFS_DIRS); do bash bundles/build-rootfs.sh "$$d"; done

_need-root:
	@if [ "$$(id -u)" -ne 0 ]; then echo "make demo needs root (try: sudo make demo)" >&2; exit 1; fi

demo: _need-root deps bundles
	@[ -f minirun.py ] || { echo "demo: minirun.py is not there yet" >&2; exit 1; }
	$(PYTHON) minirun.py run --bundle bundles/hello minirun-demo-$$$$

# pytest exits 5 when it collected no tests: not a failure while a test
# directory is still empty.
define run_pytest
@if [ -z "$(strip $(1))" ]; then echo "no test directories ($(2)) yet: nothing to run"; exit 0; fi; \
rc=0; $(VENV)/bin/pytest -n auto -q $(PYTEST_ARGS) $(1) </dev/null || rc=$$?; \
if [ $$rc -eq 5 ]; then echo "no tests collected in $(strip $(1))"; rc=0; fi; \
exit $$rc
endef

test: deps e2e-deps venv bundles
	$(call run_pytest,$(UNIT_DIRS) $(INTEGRATION_DIRS) $(E2E_DIRS),tests/unit tests/integration tests/e2e)

unit: venv
	$(call run_pytest,$(UNIT_DIRS),tests/unit)

integration: deps venv bundles
	$(call run_pytest,$(INTEGRATION_DIRS),tests/integration)

e2e: e2e-deps venv bundles
	$(call run_pytest,$(E2E_DIRS),tests/e2e)

# Each mutant runs the narrowest tests that pin its behaviour, on its own copy
# of the repository; the table it prints goes into each issue's closing note.
mutants: deps venv bundles
	$(VENV)/bin/python tests/mutants/mutants.py $(MUTANTS_ARGS) </dev/null

bench: bench-deps
	$(PYTHON) tests/bench/bench.py $(BENCH_ARGS)

vm-boxes:
	@$(call apt_ensure,$(VM_PACKAGES))
	@$(MAKE) --no-print-directory venv
	$(LAB) boxes $(KERNELS)

vm-test:
	@$(call apt_ensure,$(VM_PACKAGES))
	@$(MAKE) --no-print-directory venv
	$(LAB) test --kernels "$(KERNELS)" --modes "$(MODES)" $(LAB_ARGS) </dev/null

# sid first: its run is the longest (~36 min under TCG), bullseye's (~29) runs
# beside it, and bookworm's short one (~6) follows in the first slot to free up.
vm-ci:
	@$(MAKE) --no-print-directory vm-test KERNELS="sid bullseye bookworm" MODES=v2 LAB_ARGS="--suite ci $(LAB_ARGS)"

# Everything the lab made: VMs, libvirt volumes and network, vagrant boxes,
# the box cache and the results (a libvirtd it started keeps running).
vm-clean:
	@if [ -x $(VENV)/bin/python ]; then $(LAB) clean; else $(PYTHON) vm/lab.py clean; fi

clean:
	rm -rf --one-file-system $(VENV) $(ROOTFS_DIRS) .pytest_cache
	find . -path ./.git -prune -o \( -name __pycache__ -o -name .pytest_cache \) -type d -prune -exec rm -rf {} +
