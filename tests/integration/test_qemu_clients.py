#!/usr/bin/python3
"""Unchanged real clients driving VMs on a real pvxd: python3-proxmoxer and Ansible's
community.general proxmox_kvm and proxmox_snap modules (Debian's packages), with real QEMU
guests under TCG (the test guest of tests/guest). The guest's kernel comes in through `args:`,
which only root@pam may set, as in PVE: the suite sets it over the local socket (pvesh)."""
import os
import shutil
import tempfile
import time
import unittest

import harness
from harness import NODE, TESTER, TESTER_PW
import guest_image

try:
    from proxmoxer import ProxmoxAPI
except ImportError:  # pragma: no cover
    ProxmoxAPI = None

PLAYBOOK = os.environ.get("PVX_ANSIBLE_PLAYBOOK") or shutil.which("ansible-playbook")
QEMU = shutil.which("qemu-system-x86_64")


def set_args_as_root(daemon, vmid, args):
    daemon.cli("pvesh", "set", "/nodes/%s/qemu/%d/config" % (NODE, vmid), "--args", args)


def wait_for(pred, timeout, what):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = pred()
        if value:
            return value
        time.sleep(0.3)
    raise AssertionError("timed out waiting for " + what)


@unittest.skipUnless(QEMU, "qemu-system-x86_64 is not installed")
class QemuClients(harness.DaemonCase):

    @classmethod
    def setUpClass(cls):
        cls.kernel, cls.initrd = guest_image.ensure_test_guest()
        super().setUpClass()

    def proxmoxer(self):
        host = "127.0.0.1:%d" % self.d.port
        return ProxmoxAPI(host, user=TESTER, password=TESTER_PW, verify_ssl=False)

    def status(self, api, vmid):
        return api.nodes(NODE).qemu(vmid).status.current.get()

    @unittest.skipUnless(ProxmoxAPI, "python3-proxmoxer is not installed")
    def test_proxmoxer_lifecycle(self):
        api = self.proxmoxer()
        vmid = int(api.cluster.nextid.get())
        upid = api.nodes(NODE).qemu.post(vmid=vmid, name="pxr-vm", memory=192, cores=1,
                                         scsi0="local:1,format=qcow2", serial0="socket", vga="serial0",
                                         ostype="l26")
        self.assertEqual(harness.follow_with_proxmoxer(api, upid, 120)["exitstatus"], "OK")
        conf = api.nodes(NODE).qemu(vmid).config.get()
        self.assertEqual(conf["name"], "pxr-vm")
        self.assertEqual(conf["memory"], "192")  # a property string since PVE 8.1: `[current=]<MiB>`
        self.assertRegex(conf["scsi0"], r"^local:%d/vm-%d-disk-0\.qcow2,size=1G$" % (vmid, vmid))
        self.assertIn(vmid, [int(v["vmid"]) for v in api.nodes(NODE).qemu.get()])

        set_args_as_root(self.d, vmid, guest_image.args_line(self.kernel, self.initrd))
        upid = api.nodes(NODE).qemu(vmid).status.start.post()
        self.assertEqual(harness.follow_with_proxmoxer(api, upid, 120)["exitstatus"], "OK")
        st = self.status(api, vmid)
        self.assertEqual(st["status"], "running")
        self.assertEqual(st["qmpstatus"], "running")
        self.assertGreater(st["pid"], 0)

        # A change to a running VM's memory goes to pending, as in PVE.
        api.nodes(NODE).qemu(vmid).config.put(memory=256)
        pending = {e["key"]: e for e in api.nodes(NODE).qemu(vmid).pending.get()}
        self.assertEqual(pending["memory"].get("pending"), "256")
        self.assertEqual(pending["memory"].get("value"), "192")

        upid = api.nodes(NODE).qemu(vmid).snapshot.post(snapname="pxsnap", description="from proxmoxer")
        self.assertEqual(harness.follow_with_proxmoxer(api, upid, 120)["exitstatus"], "OK")
        names = [s["name"] for s in api.nodes(NODE).qemu(vmid).snapshot.get()]
        self.assertIn("pxsnap", names)
        self.assertIn("current", names)

        upid = api.nodes(NODE).qemu(vmid).status.stop.post()
        self.assertEqual(harness.follow_with_proxmoxer(api, upid, 60)["exitstatus"], "OK")
        self.assertEqual(self.status(api, vmid)["status"], "stopped")
        # Stopped: the pending memory was applied at the next start only; it is still pending now.
        upid = api.nodes(NODE).qemu(vmid).delete()
        self.assertEqual(harness.follow_with_proxmoxer(api, upid, 60)["exitstatus"], "OK")
        self.assertNotIn(vmid, [int(v["vmid"]) for v in api.nodes(NODE).qemu.get()])

    @unittest.skipUnless(PLAYBOOK, "ansible-playbook is not installed (Debian package ansible)")
    def test_ansible_proxmox_kvm_and_snap(self):
        work = tempfile.mkdtemp(prefix="pvx-ansible-kvm-")
        self.addCleanup(shutil.rmtree, work, True)
        vmid = 4321
        kvm = "community.general.proxmox_kvm"
        snap = "community.general.proxmox_snap"
        base = {"node": NODE, "vmid": vmid}

        r = self.play(work, [
            ("create", kvm, dict(base, name="ans-vm", memory=192, cores=1, ostype="l26",
                                 scsi={"scsi0": "local:1,format=qcow2"}, serial={"serial0": "socket"},
                                 vga="serial0", timeout=120)),
            ("create again", kvm, dict(base, name="ans-vm", memory=192, cores=1)),
            ("update", kvm, dict(base, name="ans-vm", memory=224, update=True)),
        ])
        self.assertTrue(r["create"]["changed"], r["create"])
        self.assertFalse(r["create again"]["changed"], r["create again"])
        self.assertTrue(r["update"]["changed"], r["update"])
        conf = self.admin().data("GET", "/nodes/%s/qemu/%d/config" % (NODE, vmid))
        self.assertEqual(conf["memory"], "224")

        set_args_as_root(self.d, vmid, guest_image.args_line(self.kernel, self.initrd))
        r = self.play(work, [("start", kvm, dict(base, state="started", timeout=120))])
        self.assertTrue(r["start"]["changed"], r["start"])
        # The stop below is an ACPI shutdown: the guest must be up to honour the power button.
        serial = guest_image.SerialLog(os.path.join(self.d.data_dir, "run", "qemu-server", "%d.serial0" % vmid))
        self.addCleanup(serial.close)
        serial.wait_for_shell()
        r = self.play(work, [
            ("current", kvm, dict(base, state="current")),
            ("snapshot", snap, {"hostname": "ans-vm", "vmid": vmid, "snapname": "ans1", "state": "present",
                                "timeout": 120}),
            ("snapshot again", snap, {"hostname": "ans-vm", "vmid": vmid, "snapname": "ans1", "state": "present"}),
            ("remove snapshot", snap, {"hostname": "ans-vm", "vmid": vmid, "snapname": "ans1", "state": "absent",
                                       "timeout": 120}),
            ("stop", kvm, dict(base, state="stopped", force=True, timeout=120)),
        ])
        self.assertEqual(r["current"]["status"], "running")
        self.assertTrue(r["snapshot"]["changed"], r["snapshot"])
        self.assertFalse(r["snapshot again"]["changed"], r["snapshot again"])
        self.assertTrue(r["remove snapshot"]["changed"], r["remove snapshot"])
        admin = self.admin()
        wait_for(lambda: admin.data("GET", "/nodes/%s/qemu/%d/status/current" % (NODE, vmid))["status"] == "stopped",
                 60, "the VM to stop")
        r = self.play(work, [("remove", kvm, dict(base, state="absent", timeout=120))])
        self.assertTrue(r["remove"]["changed"], r["remove"])
        vmids = [v["vmid"] for v in admin.data("GET", "/nodes/%s/qemu" % NODE)]
        self.assertNotIn(vmid, vmids)

    def play(self, work, tasks):
        return harness.run_playbook(self.d, work, tasks)


if __name__ == "__main__":
    harness.main()
