#!/usr/bin/python3
"""VMs end to end on a real pvxd with real QEMU (TCG): create with a disk, a CD-ROM and a NIC on
a bridge made through the API, typed config reads, pending changes of a running VM, start and
status, an ACPI shutdown the guest honours, stop, a crashed QEMU, re-adopting a running VM after
a pvxd restart, failed starts that leave nothing behind, locks, protection, permissions and the
`qm` CLI.

The suite runs in a network namespace of its own (it re-executes itself under `ip netns exec`),
so its bridge and taps never touch the host. The guest is tests/guest's kernel + initrd, booted
through `args:` (set as root@pam over the local socket)."""
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import unittest
import urllib.parse

import harness
from harness import NODE
import guest_image

QEMU = shutil.which("qemu-system-x86_64")
BRIDGE = "vmbr1"
TASK_TIMEOUT = 180
MIB = 1024 ** 2
GIB = 1024 ** 3


def run(*argv, check=True):
    return subprocess.run(list(argv), check=check, capture_output=True, text=True)


def link_exists(name):
    return os.path.exists("/sys/class/net/%s" % name)


def link_master(name):
    try:
        return os.path.basename(os.readlink("/sys/class/net/%s/master" % name))
    except OSError:
        return None


def alive(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().split(") ")[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


@unittest.skipUnless(QEMU, "qemu-system-x86_64 is not installed")
class QemuSuite(harness.DaemonCase):
    daemon_args = ("--no-default-bridge", "--no-kvm")

    @classmethod
    def setUpClass(cls):
        cls.kernel, cls.initrd = guest_image.ensure_test_guest()
        super().setUpClass()
        s = cls.daemon.login(harness.TESTER, harness.TESTER_PW)
        s.data("POST", "/nodes/%s/network" % NODE, data={"iface": BRIDGE, "type": "bridge", "autostart": 1})
        st = s.wait_task(s.data("PUT", "/nodes/%s/network" % NODE), 60)
        assert st["exitstatus"] == "OK", st
        assert link_exists(BRIDGE)

    # --- helpers -----------------------------------------------------------------------
    def setUp(self):
        self.api = self.admin()

    def vm(self, vmid, sub=""):
        return "/nodes/%s/qemu/%d%s" % (NODE, vmid, sub)

    def run_dir(self):
        return os.path.join(self.d.data_dir, "run", "qemu-server")

    def task_log(self, upid):
        lines = self.api.data("GET", "/nodes/%s/tasks/%s/log" % (NODE, urllib.parse.quote(upid, safe="")),
                              params={"limit": 0})
        return "\n".join(l["t"] for l in lines)

    def task(self, upid, timeout=TASK_TIMEOUT):
        st = self.api.wait_task(upid, timeout)
        return st["exitstatus"], self.task_log(upid)

    def task_ok(self, upid, timeout=TASK_TIMEOUT):
        status, log = self.task(upid, timeout)
        self.assertEqual(status, "OK", log)
        return log

    def create(self, vmid, boot_guest=True, **extra):
        params = dict(vmid=vmid, name="vm%d" % vmid, memory=192, cores=1, scsi0="local:1,format=qcow2",
                      cdrom="none", net0="virtio,bridge=%s" % BRIDGE, serial0="socket", vga="serial0", ostype="l26")
        params.update(extra)
        self.task_ok(self.api.data("POST", "/nodes/%s/qemu" % NODE, data=params))
        if boot_guest:
            self.d.cli("pvesh", "set", self.vm(vmid, "/config"), "--args",
                       guest_image.args_line(self.kernel, self.initrd))
        self.addCleanup(self.destroy, vmid)

    def destroy(self, vmid):
        api = self.admin()
        if api.get(self.vm(vmid, "/status/current")).status_code != 200:
            return
        if api.data("GET", self.vm(vmid, "/status/current"))["status"] == "running":
            api.wait_task(api.data("POST", self.vm(vmid, "/status/stop"), data={"skiplock": 0}), 120)
        api.put(self.vm(vmid, "/config"), data={"delete": "protection"})
        self.d.cli("qm", "unlock", vmid, check=False)
        api.wait_task(api.data("DELETE", self.vm(vmid)), 120)

    def volume_path(self, volid):
        return self.api.data("GET", "/nodes/%s/storage/local/content/%s" % (NODE, urllib.parse.quote(volid, safe="")))["path"]

    def status(self, vmid):
        return self.api.data("GET", self.vm(vmid, "/status/current"))

    def start(self, vmid, serial=False):
        self.task_ok(self.api.data("POST", self.vm(vmid, "/status/start")))
        return guest_image.SerialLog(os.path.join(self.run_dir(), "%d.serial0" % vmid)) if serial else None

    def stop(self, vmid):
        self.task_ok(self.api.data("POST", self.vm(vmid, "/status/stop")))

    def wait_stopped(self, vmid, timeout=30):
        deadline = time.monotonic() + timeout
        while self.status(vmid)["status"] != "stopped":
            if time.monotonic() > deadline:
                self.fail("VM %d still running after %ds" % (vmid, timeout))
            time.sleep(0.2)

    def wait_gone(self, name, timeout=15):
        deadline = time.monotonic() + timeout
        while link_exists(name):
            if time.monotonic() > deadline:
                self.fail("%s still exists after %ds" % (name, timeout))
            time.sleep(0.2)

    def qemu_pids(self, vmid):
        """QEMU processes of this daemon's VM, found by their command line."""
        pids = []
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                with open("/proc/%s/cmdline" % entry, "rb") as f:
                    argv = f.read().split(b"\0")
            except OSError:
                continue
            if argv and argv[0].endswith(b"qemu-system-x86_64") and self.d.data_dir.encode() in b" ".join(argv) \
                    and b"%d.qmp" % vmid in b" ".join(argv) and alive(int(entry)):
                pids.append(int(entry))
        return pids

    # --- tests -------------------------------------------------------------------------
    def test_01_create_and_typed_config(self):
        self.create(101, boot_guest=False)
        conf = self.api.data("GET", self.vm(101, "/config"))
        self.assertEqual(conf["memory"], "192")  # memory is a property string in PVE 8+
        self.assertEqual(conf["cores"], 1)
        self.assertRegex(conf["scsi0"], r"^local:101/vm-101-disk-0\.qcow2,size=1G$")
        self.assertEqual(conf["ide2"], "none,media=cdrom")
        self.assertRegex(conf["net0"], r"^virtio=BC:24:11(:[0-9A-F]{2}){3},bridge=vmbr1$")
        self.assertRegex(conf["smbios1"], r"^uuid=[0-9a-f-]{36}$")
        self.assertRegex(conf["vmgenid"], r"^[0-9a-f-]{36}$")
        self.assertRegex(conf["meta"], r"^creation-qemu=\d+\.\d+\.\d+,ctime=\d+$")
        self.assertEqual(conf["boot"], "order=scsi0;ide2;net0")
        self.assertRegex(conf["digest"], r"^[0-9a-f]{40}$")
        disk = self.volume_path("local:101/vm-101-disk-0.qcow2")
        self.assertTrue(os.path.exists(disk), disk)
        entry = [v for v in self.api.data("GET", "/nodes/%s/qemu" % NODE) if v["vmid"] == 101][0]
        self.assertEqual(entry["status"], "stopped")
        self.assertEqual(entry["maxmem"], 192 * MIB)
        self.assertEqual(entry["maxdisk"], GIB)
        self.assertEqual(entry["name"], "vm101")
        # A second create of the same id is refused at once, and the first VM stays as it was.
        r = self.api.post("/nodes/%s/qemu" % NODE, data={"vmid": 101, "memory": 128})
        self.assertEqual(r.status_code, 500, r.text)
        self.assertIn("VM 101 already exists", r.text)
        self.assertEqual(self.api.data("GET", self.vm(101, "/config"))["digest"], conf["digest"])

    def test_02_start_status_pending_stop(self):
        self.create(102)
        self.start(102)
        st = self.status(102)
        self.assertEqual(st["status"], "running")
        self.assertEqual(st["qmpstatus"], "running")
        self.assertEqual(st["ha"], {"managed": 0})
        self.assertEqual(st["maxmem"], 192 * MIB)
        self.assertIn(st["pid"], self.qemu_pids(102))
        self.assertEqual(link_master("tap102i0"), BRIDGE)
        nodestatus = self.api.data("GET", "/nodes/%s/status" % NODE)
        self.assertEqual(nodestatus["kvm"]["usable"], 0)
        self.assertIn("--no-kvm", nodestatus["kvm"]["reason"])
        # The start log says the VM runs without KVM, and the task is still OK.
        starts = self.api.data("GET", "/nodes/%s/tasks" % NODE, params={"vmid": 102, "typefilter": "qmstart"})
        self.assertIn("warning: KVM not available", self.task_log(starts[0]["upid"]))
        # A change of a running VM waits in [PENDING]; GET /config shows it, ?current=1 does not.
        self.api.put(self.vm(102, "/config"), data={"memory": 256, "name": "renamed"})
        self.assertEqual(self.api.data("GET", self.vm(102, "/config"))["memory"], "256")
        current = self.api.data("GET", self.vm(102, "/config"), params={"current": 1})
        self.assertEqual(current["memory"], "192")
        self.assertEqual(current["name"], "renamed")  # fast-plug: applied at once
        pending = {e["key"]: e for e in self.api.data("GET", self.vm(102, "/pending"))}
        self.assertEqual(pending["memory"]["value"], "192")
        self.assertEqual(pending["memory"]["pending"], "256")
        listing = {v["vmid"]: v for v in self.api.data("GET", "/nodes/%s/qemu" % NODE, params={"full": 1})}
        self.assertEqual(listing[102]["status"], "running")
        self.assertEqual(listing[102]["qmpstatus"], "running")
        self.assertEqual(listing[102]["pid"], st["pid"])
        self.stop(102)
        self.assertEqual(self.status(102)["status"], "stopped")
        self.assertEqual(self.qemu_pids(102), [])
        self.assertFalse(link_exists("tap102i0"))
        # The next start applies what was pending.
        self.start(102)
        self.assertEqual(self.api.data("GET", self.vm(102, "/config"), params={"current": 1})["memory"], "256")
        self.assertEqual(self.api.data("GET", self.vm(102, "/pending")),
                         [e for e in self.api.data("GET", self.vm(102, "/pending")) if "pending" not in e])
        self.stop(102)

    def test_03_acpi_shutdown_is_honoured(self):
        self.create(103)
        serial = self.start(103, serial=True)
        self.addCleanup(serial.close)
        serial.wait_for(guest_image.MARK_READY)
        pid = self.status(103)["pid"]
        log = self.task_ok(self.api.data("POST", self.vm(103, "/status/shutdown"), data={"timeout": 120}), 150)
        self.assertNotIn("terminating", log)  # the guest powered off itself
        serial.wait_for(guest_image.MARK_POWER_BUTTON, 5)
        self.assertEqual(self.status(103)["status"], "stopped")
        self.assertFalse(alive(pid))
        self.assertFalse(link_exists("tap103i0"))

    def test_04_crash_then_start_again(self):
        self.create(104)
        self.start(104)
        pid = self.status(104)["pid"]
        os.kill(pid, signal.SIGKILL)
        self.wait_stopped(104)
        self.wait_gone("tap104i0")  # the exit watcher cleaned up
        self.start(104)
        st = self.status(104)
        self.assertEqual(st["status"], "running")
        self.assertNotEqual(st["pid"], pid)
        self.stop(104)

    def test_05_restart_of_pvxd_readopts_running_vm(self):
        self.create(105)
        self.start(105)
        pid = self.status(105)["pid"]
        self.assertEqual(self.d.stop(), 0)
        self.assertTrue(alive(pid), "QEMU must outlive pvxd")
        self.d.start()
        self.api = self.admin()
        st = self.status(105)
        self.assertEqual(st["status"], "running")
        self.assertEqual(st["pid"], pid)
        self.assertEqual(st["qmpstatus"], "running")
        # Still controllable: a crash is noticed by the new daemon, and stop works.
        self.task_ok(self.api.data("POST", self.vm(105, "/status/suspend")))
        self.assertEqual(self.status(105)["qmpstatus"], "paused")
        self.task_ok(self.api.data("POST", self.vm(105, "/status/resume")))
        self.assertEqual(self.status(105)["qmpstatus"], "running")
        os.kill(pid, signal.SIGKILL)
        self.wait_stopped(105)
        self.wait_gone("tap105i0")

    def test_06_failed_starts_leave_nothing_running(self):
        cases = [
            (106, {"net0": "virtio,bridge=vmbr9"}, "bridge 'vmbr9' does not exist"),
            (107, {"cdrom": "local:iso/missing.iso"}, "volume 'local:iso/missing.iso' does not exist"),
        ]
        for vmid, extra, message in cases:
            with self.subTest(vmid=vmid):
                self.create(vmid, **extra)
                status, log = self.task(self.api.data("POST", self.vm(vmid, "/status/start")))
                self.assertIn(message, status)
                self.assertEqual(self.status(vmid)["status"], "stopped")
                self.assertEqual(self.qemu_pids(vmid), [])
                self.assertFalse(link_exists("tap%di0" % vmid))
        # A passed-through PCI device this host does not have (hostpci is root's to set).
        self.create(109, boot_guest=False)
        self.d.cli("pvesh", "set", self.vm(109, "/config"), "--hostpci0", "0000:fe:1f.7")
        status, log = self.task(self.api.data("POST", self.vm(109, "/status/start")))
        self.assertIn("hostpci0: PCI device '0000:fe:1f.7' does not exist on this host", status)
        self.assertEqual(self.qemu_pids(109), [])
        self.assertFalse(link_exists("tap109i0"))
        # A storage that does not exist: the create fails and leaves no config and no volume.
        status, log = self.task(self.api.data("POST", "/nodes/%s/qemu" % NODE, data={
            "vmid": 108, "scsi0": "local:1,format=qcow2", "scsi1": "nosuchstore:1"}))
        self.assertIn("storage 'nosuchstore' does not exist", status)
        self.assertEqual(self.api.get(self.vm(108, "/config")).status_code, 500)
        images = os.path.join(self.api.data("GET", "/storage/local")["path"], "images")
        self.assertTrue(os.path.isdir(images), images)
        self.assertFalse(os.path.exists(os.path.join(images, "108")))

    def test_07_locked_vm_refuses_operations(self):
        self.create(109, boot_guest=False)
        self.d.cli("qm", "set", 109, "--lock", "backup")
        status, _ = self.task(self.api.data("POST", self.vm(109, "/status/start")))
        self.assertEqual(status, "VM is locked (backup)")
        r = self.api.put(self.vm(109, "/config"), data={"memory": 256})
        self.assertEqual(r.status_code, 500, r.text)
        self.assertIn("VM is locked (backup)", r.text)
        self.d.cli("qm", "unlock", 109)
        self.assertNotIn("lock", self.api.data("GET", self.vm(109, "/config")))
        # While one operation holds the VM, a second one waits and gives up with PVE's words. A VM
        # with nothing to boot never answers the power button, so the shutdown holds it long.
        self.create(110, boot_guest=False)
        self.start(110)
        serial_less_shutdown = self.api.data("POST", self.vm(110, "/status/shutdown"),
                                             data={"timeout": 20, "forceStop": 0})
        time.sleep(1)
        status, _ = self.task(self.api.data("POST", self.vm(110, "/status/suspend")))
        self.assertIn("can't lock file '/var/lock/qemu-server/lock-110.conf' - got timeout", status)
        self.task(serial_less_shutdown)
        self.stop(110)

    def test_08_protected_vm_is_not_destroyed(self):
        self.create(111, boot_guest=False, protection=1)
        r = self.api.delete(self.vm(111))
        self.assertEqual(r.status_code, 500, r.text)
        self.assertIn("can't remove VM 111 - protection mode enabled", r.text)
        self.api.put(self.vm(111, "/config"), data={"delete": "protection"})
        disk = self.volume_path("local:111/vm-111-disk-0.qcow2")
        self.assertTrue(os.path.exists(disk))
        self.task_ok(self.api.data("DELETE", self.vm(111)))
        self.assertFalse(os.path.exists(disk))
        self.assertEqual(self.api.get(self.vm(111, "/config")).status_code, 500)
        # A running VM is not destroyed either.
        self.create(112)
        self.start(112)
        r = self.api.delete(self.vm(112))
        self.assertEqual(r.status_code, 500, r.text)
        self.assertIn("VM 112 is running - destroy failed", r.text)
        self.stop(112)

    def test_09_unprivileged_user_is_refused(self):
        self.create(113, boot_guest=False)
        s = self.d.login(harness.NOPRIV, harness.NOPRIV_PW)
        r = s.post("/nodes/%s/qemu" % NODE, data={"vmid": 114, "memory": 128})
        self.assertEqual(r.status_code, 403, r.text)
        self.assertEqual(s.post(self.vm(113, "/status/start")).status_code, 403)
        self.assertEqual(s.put(self.vm(113, "/config"), data={"memory": 128}).status_code, 403)
        self.assertEqual([v for v in s.data("GET", "/nodes/%s/qemu" % NODE)], [])
        # The tester (Administrator) may not set `args`: that is root's alone, as in PVE.
        r = self.api.put(self.vm(113, "/config"), data={"args": "-no-reboot"})
        self.assertEqual(r.status_code, 403, r.text)
        self.assertIn("only root can set 'args' config", r.text)
        self.assertEqual(self.api.get(self.vm(114, "/config")).status_code, 500)

    def test_10_qm_cli(self):
        d = self.d
        d.cli("qm", "create", 120, "--memory", 128, "--scsi0", "local:1,format=qcow2",
              "--net0", "virtio,bridge=%s" % BRIDGE, "--name", "clivm")
        self.addCleanup(self.destroy, 120)
        self.assertIn("status: stopped", d.cli("qm", "status", 120).stdout)
        cmd = d.cli("qm", "showcmd", 120).stdout
        self.assertIn("120.qmp", cmd)
        self.assertIn("ifname=tap120i0", cmd)
        d.cli("qm", "start", 120)
        self.assertEqual(d.cli("qm", "status", 120).stdout, "status: running\n")
        out = d.cli("qm", "list").stdout.splitlines()
        self.assertEqual(out[0].split(), ["VMID", "NAME", "STATUS", "MEM(MB)", "BOOTDISK(GB)", "PID"])
        row = [l.split() for l in out[1:] if l.split()[0] == "120"][0]
        self.assertEqual(row[1:5], ["clivm", "running", "128", "1.00"])
        self.assertEqual(int(row[5]), self.status(120)["pid"])
        d.cli("qm", "set", 120, "--memory", 256)
        self.assertIn("new memory: 256", d.cli("qm", "pending", 120).stdout)
        self.assertIn("name: clivm", d.cli("qm", "config", 120).stdout)
        d.cli("qm", "stop", 120)
        self.assertEqual(d.cli("qm", "status", 120).stdout, "status: stopped\n")
        d.cli("qm", "destroy", 120)
        self.assertNotIn("120", [l.split()[0] for l in d.cli("qm", "list").stdout.splitlines()[1:]])

    def test_11_qm_importovf(self):
        d = self.d
        work = tempfile.mkdtemp(prefix="pvx-ovf-")
        self.addCleanup(shutil.rmtree, work, True)
        run("qemu-img", "create", "-f", "vmdk", os.path.join(work, "app-disk1.vmdk"), "64M")
        ovf = os.path.join(work, "app.ovf")
        with open(ovf, "w") as f:
            f.write(OVF_TEMPLATE)
        dry = json.loads(d.cli("qm", "importovf", 130, ovf, "local", "--dryrun", 1).stdout)
        self.assertEqual(dry["qm"], {"name": "ovf-app", "memory": 192, "cores": 2, "ostype": "l26"})
        self.assertEqual(dry["disks"], [{"disk_address": "scsi0", "backing_file": os.path.join(work, "app-disk1.vmdk")}])
        self.assertNotIn("130", [l.split()[0] for l in d.cli("qm", "list").stdout.splitlines()[1:]])

        d.cli("qm", "importovf", 130, ovf, "local", "--format", "qcow2", timeout=120)
        self.addCleanup(self.destroy, 130)
        conf = self.api.data("GET", self.vm(130, "/config"))
        self.assertEqual((conf["name"], str(conf["memory"]), conf["cores"], conf["ostype"]), ("ovf-app", "192", 2, "l26"))
        self.assertRegex(conf["scsi0"], r"^local:130/vm-130-disk-0\.qcow2,size=64M$")
        self.assertEqual(conf["boot"], "order=scsi0")

        # A disk image that is missing: refused before anything is created.
        os.unlink(os.path.join(work, "app-disk1.vmdk"))
        res = d.cli("qm", "importovf", 131, ovf, "local", check=False)
        self.assertNotEqual(res.returncode, 0)
        self.assertIn("does not exist", res.stderr)
        self.assertNotIn("131", [l.split()[0] for l in d.cli("qm", "list").stdout.splitlines()[1:]])

    def test_12_capabilities(self):
        caps = "/nodes/%s/capabilities/qemu" % NODE
        machines = self.api.data("GET", caps + "/machines")
        version = subprocess.run([QEMU, "--version"], capture_output=True, text=True).stdout.split()[3]
        major_minor = ".".join(version.split(".")[:2])
        ids = {m["id"]: m for m in machines}
        self.assertEqual(ids["pc-i440fx-" + major_minor], {"id": "pc-i440fx-" + major_minor, "type": "i440fx",
                                                            "version": major_minor})
        self.assertEqual(ids["pc-q35-" + major_minor]["type"], "q35")
        models = {m["name"]: m for m in self.api.data("GET", caps + "/cpu")}
        self.assertEqual(models["host"]["vendor"], "default")
        self.assertEqual(models["EPYC"]["vendor"], "AuthenticAMD")
        self.assertIn("x86-64-v2-AES", models)
        self.assertIn("aes", [f["name"] for f in self.api.data("GET", caps + "/cpu-flags")])
        self.assertEqual(self.api.data("GET", caps + "/migration"), {"has-dbus-vmstate": 0})
        # Reading the lists is everyone's; the migration capabilities need Sys.Audit on the node.
        s = self.d.login(harness.NOPRIV, harness.NOPRIV_PW)
        self.assertEqual(s.get(caps + "/cpu").status_code, 200)
        self.assertEqual(s.get(caps + "/migration").status_code, 403)


OVF_TEMPLATE = """<?xml version="1.0"?>
<Envelope xmlns="http://schemas.dmtf.org/ovf/envelope/1" xmlns:ovf="http://schemas.dmtf.org/ovf/envelope/1"
  xmlns:rasd="http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_ResourceAllocationSettingData">
  <References><File ovf:href="app-disk1.vmdk" ovf:id="file1"/></References>
  <DiskSection><Disk ovf:diskId="vmdisk1" ovf:fileRef="file1" ovf:capacity="64" ovf:capacityAllocationUnits="byte * 2^20"/></DiskSection>
  <VirtualSystem ovf:id="ovf-app">
    <Name>ovf-app</Name>
    <OperatingSystemSection ovf:id="95"/>
    <VirtualHardwareSection>
      <Item><rasd:InstanceID>1</rasd:InstanceID><rasd:ResourceType>3</rasd:ResourceType><rasd:VirtualQuantity>2</rasd:VirtualQuantity></Item>
      <Item><rasd:InstanceID>2</rasd:InstanceID><rasd:ResourceType>4</rasd:ResourceType><rasd:AllocationUnits>byte * 2^20</rasd:AllocationUnits><rasd:VirtualQuantity>192</rasd:VirtualQuantity></Item>
      <Item><rasd:InstanceID>3</rasd:InstanceID><rasd:ResourceType>6</rasd:ResourceType></Item>
      <Item><rasd:InstanceID>4</rasd:InstanceID><rasd:ResourceType>17</rasd:ResourceType><rasd:Parent>3</rasd:Parent>
        <rasd:AddressOnParent>0</rasd:AddressOnParent><rasd:HostResource>ovf:/disk/vmdisk1</rasd:HostResource></Item>
    </VirtualHardwareSection>
  </VirtualSystem>
</Envelope>
"""

if __name__ == "__main__":
    if os.geteuid() != 0:
        print("test_qemu: needs root for network namespaces and taps; skipped")
        sys.exit(0)
    if not harness.in_own_netns():
        # Built out here: the namespace has no route to the package mirror.
        try:
            guest_image.ensure_test_guest()
        except guest_image.GuestUnavailable as e:
            print("test_qemu: %s" % e)
        sys.exit(harness.rerun_in_own_netns(__file__, "pvx-itest-qemu"))
    harness.main()
