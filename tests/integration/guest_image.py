"""The bootable test guest of the VM suites (tests/guest): builds it once per cache dir and says
how a VM config boots it. PVE configs have no kernel key, so the kernel goes in through `args:`.

PVX_TEST_GUEST_DIR names the cache dir (default <repo>/build/test-guest); the kernel .deb is kept
in its debs/ so later builds need no network. Parallel suites share one build through a lock.
"""
import fcntl
import os
import shlex
import socket
import subprocess
import threading
import time

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BUILD_SCRIPT = os.path.join(REPO, "tests", "guest", "build-test-guest.sh")
BUILD_TIMEOUT = 1800.0
BOOT_TIMEOUT = 300

KERNEL_CMDLINE = "console=ttyS0 panic=-1"

# Lines the guest prints on ttyS0 (see tests/guest/README.md).
MARK_BOOTED = "PVX-GUEST: booted "          # + kernel release
MARK_CLOUDINIT = "PVX-GUEST: cloudinit "    # + files on the cloud-init drive
MARK_HOSTNAME = "PVX-GUEST: hostname "      # + local-hostname from the cloud-init drive
MARK_NET = "PVX-GUEST: net "                # + ifname mac, one per NIC
MARK_QGA_STARTED = "PVX-GUEST: qemu-ga started"
MARK_READY = "PVX-GUEST: ready"
MARK_POWER_BUTTON = "PVX-GUEST: power button"
MARK_SHUTDOWN = "PVX-GUEST: shutdown"

_built = {}


class GuestUnavailable(RuntimeError):
    """The guest could not be built (no kernel package, no busybox/qemu-guest-agent...)."""


def guest_dir():
    return os.environ.get("PVX_TEST_GUEST_DIR") or os.path.join(REPO, "build", "test-guest")


def ensure_test_guest(bzimage=False):
    """(kernel, initrd) paths, building them first when missing or stale.

    The kernel is the ELF vmlinux taken out of Debian's bzImage (QEMU loads it through its PVH
    entry, which saves the in-guest decompression: seconds under TCG); bzimage=True gives the
    untouched vmlinuz. Both boot the same kernel with the same initrd.
    """
    out = guest_dir()
    if out not in _built:
        os.makedirs(out, exist_ok=True)
        with open(os.path.join(out, ".ensure.lock"), "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                proc = subprocess.run([BUILD_SCRIPT, out], capture_output=True, text=True,
                                      timeout=BUILD_TIMEOUT)
            except subprocess.TimeoutExpired as e:
                raise GuestUnavailable("test guest build timed out after %ds" % e.timeout) from e
        if proc.returncode != 0:
            raise GuestUnavailable("test guest build failed (exit %d): %s"
                                   % (proc.returncode, proc.stderr.strip()[-2000:]))
        _built[out] = True
    vmlinuz = os.path.join(out, "vmlinuz")
    vmlinux = os.path.join(out, "vmlinux")
    initrd = os.path.join(out, "initrd.img")
    kernel = vmlinuz if bzimage or not os.path.exists(vmlinux) else vmlinux
    return kernel, initrd


def kernel_release():
    """The guest kernel's `uname -r`, as printed after MARK_BOOTED (after ensure_test_guest)."""
    with open(os.path.join(guest_dir(), "kernel-release")) as f:
        return f.read().strip()


def args_line(kernel, initrd, append=KERNEL_CMDLINE):
    """The `args:` value of a VM config that boots the guest directly, without any disk."""
    return "-kernel %s -initrd %s -append %s" % (
        shlex.quote(kernel), shlex.quote(initrd), shlex.quote(append))


class SerialLog:
    """Collects what the guest prints on serial0 (QEMU's unix socket) from a background thread."""

    def __init__(self, path, timeout=30):
        self.text = ""
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        deadline = time.monotonic() + timeout
        while True:
            try:
                self.sock.connect(path)
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self):
        while True:
            try:
                chunk = self.sock.recv(4096)
            except OSError:
                return
            if not chunk:
                return
            self.text += chunk.decode(errors="replace")

    def wait_for(self, mark, timeout=BOOT_TIMEOUT):
        deadline = time.monotonic() + timeout
        while mark not in self.text:
            if time.monotonic() > deadline:
                raise AssertionError("guest did not print %r within %ds; serial:\n%s" % (mark, timeout, self.text[-3000:]))
            time.sleep(0.2)

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def wait_for_shell(self, timeout=BOOT_TIMEOUT):
        """Until the guest's serial shell answers: it starts after "ready", so the guest is fully up
        (its power button honoured) even when the markers were printed before anyone listened."""
        deadline = time.monotonic() + timeout
        while "PVX-PROBE-42" not in self.text:
            if time.monotonic() > deadline:
                raise AssertionError("guest shell did not answer within %ds; serial:\n%s" % (timeout, self.text[-3000:]))
            self.sock.sendall(b"\necho PVX-PROBE-$((6*7))\n")
            time.sleep(2)

