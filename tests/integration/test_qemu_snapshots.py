#!/usr/bin/python3
"""VM snapshots (with RAM), templates, linked and full clones, resize and their refusals, on a
real pvxd with real QEMU guests under TCG (the test guest of tests/guest, kernel through
`args:` set as root@pam over the local socket)."""
import json
import os
import re
import shutil
import subprocess
import threading
import time
import unittest
import urllib.parse

import harness
from harness import NODE
import guest_image

QEMU = shutil.which("qemu-system-x86_64")
BOOT_TIMEOUT = 300
TASK_TIMEOUT = 300
GIB = 1024 ** 3


def qemu_img_info(path):
    out = subprocess.run(["qemu-img", "info", "-U", "--output=json", path], check=True,
                         capture_output=True, text=True).stdout
    return json.loads(out)


def qcow2_snapshots(path):
    return [s["name"] for s in qemu_img_info(path).get("snapshots", [])]


@unittest.skipUnless(QEMU, "qemu-system-x86_64 is not installed")
class QemuSnapshots(harness.DaemonCase):

    @classmethod
    def setUpClass(cls):
        cls.kernel, cls.initrd = guest_image.ensure_test_guest()
        super().setUpClass()
        cls.next_vmid = 300

    # --- helpers ---------------------------------------------------------------------------
    def setUp(self):
        self.api = self.admin()

    def vm(self, vmid, sub=""):
        return "/nodes/%s/qemu/%d%s" % (NODE, vmid, sub)

    def new_vmid(self):
        QemuSnapshots.next_vmid += 1
        return QemuSnapshots.next_vmid

    def task_ok(self, upid, timeout=TASK_TIMEOUT):
        st = self.api.wait_task(upid, timeout)
        if st.get("exitstatus") != "OK":
            log = self.api.data("GET", "/nodes/%s/tasks/%s/log" % (NODE, urllib.parse.quote(upid, safe="")),
                                params={"limit": 200})
            raise AssertionError("task %s: %s\n%s" % (upid, st.get("exitstatus"),
                                                      "\n".join(l["t"] for l in log)))
        return st

    def create_vm(self, vmid, start=False, **extra):
        params = dict(vmid=vmid, name="snap-%d" % vmid, memory=192, cores=1, scsi0="local:1,format=qcow2",
                      ostype="l26", agent=1)
        params.update(extra)
        self.task_ok(self.api.data("POST", "/nodes/%s/qemu" % NODE, data=params))
        self.d.cli("pvesh", "set", self.vm(vmid, "/config"), "--args",
                   guest_image.args_line(self.kernel, self.initrd))
        self.addCleanup(self.destroy, vmid)
        if start:
            self.start(vmid)

    def destroy(self, vmid):
        api = self.admin()
        if api.get(self.vm(vmid, "/status/current")).status_code != 200:
            return
        if api.data("GET", self.vm(vmid, "/status/current"))["status"] == "running":
            api.wait_task(api.data("POST", self.vm(vmid, "/status/stop")), 120)
        r = api.delete(self.vm(vmid), params={"purge": 1})
        if r.status_code == 200:
            api.wait_task(r.json()["data"], 120)

    def start(self, vmid):
        self.task_ok(self.api.data("POST", self.vm(vmid, "/status/start")))

    def stop(self, vmid):
        self.task_ok(self.api.data("POST", self.vm(vmid, "/status/stop")))

    def status(self, vmid):
        return self.api.data("GET", self.vm(vmid, "/status/current"))

    def config(self, vmid):
        return self.api.data("GET", self.vm(vmid, "/config"))

    def volume_path(self, volid):
        storage = volid.split(":", 1)[0]
        return self.api.data("GET", "/nodes/%s/storage/%s/content/%s"
                             % (NODE, storage, urllib.parse.quote(volid, safe="")))["path"]

    def disk_volid(self, vmid, key="scsi0"):
        return self.config(vmid)[key].split(",")[0]

    def agent(self, vmid, command, method="POST", **params):
        path = self.vm(vmid, "/agent/" + command)
        if method == "GET":
            r = self.api.get(path, params=params)
        else:
            r = self.api.post(path, data=params)
        return r

    def wait_agent(self, vmid, timeout=BOOT_TIMEOUT):
        deadline = time.monotonic() + timeout
        last = None
        while time.monotonic() < deadline:
            last = self.agent(vmid, "ping")
            if last.status_code == 200:
                return
            time.sleep(1)
        raise AssertionError("guest agent of VM %d did not answer: %s" % (vmid, last.text if last else ""))

    def write_marker(self, vmid, text):
        r = self.agent(vmid, "file-write", file="/run/pvx-marker", content=text)
        self.assertEqual(r.status_code, 200, r.text)

    def read_marker(self, vmid):
        r = self.agent(vmid, "file-read", method="GET", file="/run/pvx-marker")
        self.assertEqual(r.status_code, 200, r.text)
        return r.json()["data"]["content"]

    def snapshots(self, vmid):
        return {s["name"]: s for s in self.api.data("GET", self.vm(vmid, "/snapshot"))}

    # --- snapshots with RAM -----------------------------------------------------------------
    def test_snapshot_with_ram_rollback_and_delete(self):
        vmid = self.new_vmid()
        self.create_vm(vmid)
        disk = self.volume_path(self.disk_volid(vmid))  # qemu-img info needs the image unlocked
        self.start(vmid)
        self.wait_agent(vmid)
        # /run is a tmpfs: the marker lives in guest RAM only.
        self.write_marker(vmid, "before")

        upid = self.api.data("POST", self.vm(vmid, "/snapshot"),
                             data={"snapname": "s1", "vmstate": 1, "description": "with ram"})
        self.task_ok(upid)
        self.assertEqual(self.status(vmid)["qmpstatus"], "running")
        snaps = self.snapshots(vmid)
        self.assertEqual(snaps["s1"]["vmstate"], 1)
        self.assertEqual(snaps["s1"]["description"], "with ram")
        self.assertGreater(snaps["s1"]["snaptime"], 1600000000)
        self.assertNotIn("parent", snaps["s1"])
        self.assertEqual(snaps["current"]["parent"], "s1")
        self.assertEqual(snaps["current"]["running"], 1)
        self.assertIn("s1", qcow2_snapshots(disk))
        snapconf = self.api.data("GET", self.vm(vmid, "/snapshot/s1/config"))
        state_volid = snapconf["vmstate"]
        self.assertRegex(state_volid, r"^local:%d/vm-%d-state-s1\.raw$" % (vmid, vmid))
        state_file = os.path.join(os.path.dirname(disk), "vm-%d-state-s1.raw" % vmid)
        self.assertGreater(os.stat(state_file).st_blocks, 0)  # the RAM went in
        self.assertEqual(str(snapconf["memory"]), "192")

        self.write_marker(vmid, "after")
        self.task_ok(self.api.data("POST", self.vm(vmid, "/snapshot"), data={"snapname": "s2"}))
        snaps = self.snapshots(vmid)
        self.assertEqual(snaps["s2"]["parent"], "s1")
        self.assertEqual(snaps["s2"]["vmstate"], 0)
        self.assertEqual(snaps["current"]["parent"], "s2")
        self.assertIn("s2", qcow2_snapshots(disk))

        # Rolling back to a snapshot with RAM brings the VM back running, in its old memory.
        self.stop(vmid)
        self.task_ok(self.api.data("POST", self.vm(vmid, "/snapshot/s1/rollback")))
        st = self.status(vmid)
        self.assertEqual(st["status"], "running")
        self.assertEqual(st["qmpstatus"], "running")
        self.wait_agent(vmid, 120)
        self.assertEqual(self.read_marker(vmid), "before")
        snaps = self.snapshots(vmid)
        self.assertEqual(snaps["current"]["parent"], "s1")
        self.assertNotIn("lock", self.config(vmid))
        self.assertTrue(os.path.exists(state_file), "rollback must keep the state volume")

        # Delete while running: through QEMU for the qcow2 disk.
        self.task_ok(self.api.delete(self.vm(vmid, "/snapshot/s2")).json()["data"])
        self.assertNotIn("s2", self.snapshots(vmid))
        self.assertNotIn("s2", qcow2_snapshots(disk))
        self.task_ok(self.api.delete(self.vm(vmid, "/snapshot/s1")).json()["data"])
        snaps = self.snapshots(vmid)
        self.assertEqual(list(snaps), ["current"])
        self.assertNotIn("parent", snaps["current"])
        self.assertEqual(qcow2_snapshots(disk), [])
        self.assertFalse(os.path.exists(state_file))

    def test_snapshot_stopped_rollback_and_cli(self):
        vmid = self.new_vmid()
        self.create_vm(vmid)
        disk = self.volume_path(self.disk_volid(vmid))
        self.d.cli("qm", "snapshot", vmid, "first", "--description", "cli made")
        self.assertIn("first", qcow2_snapshots(disk))
        self.api.data("PUT", self.vm(vmid, "/config"), data={"memory": 256})
        out = self.d.cli("qm", "listsnapshot", vmid).stdout
        self.assertIn("first", out)
        self.d.cli("qm", "rollback", vmid, "first")
        self.assertEqual(str(self.config(vmid)["memory"]), "192")
        self.assertEqual(self.status(vmid)["status"], "stopped")
        self.api.data("PUT", self.vm(vmid, "/snapshot/first/config"), data={"description": "renamed"})
        self.assertEqual(self.snapshots(vmid)["first"]["description"], "renamed")
        self.d.cli("qm", "delsnapshot", vmid, "first")
        self.assertEqual(qcow2_snapshots(disk), [])

    def test_snapshot_refusals(self):
        vmid = self.new_vmid()
        self.create_vm(vmid)
        r = self.api.post(self.vm(vmid, "/snapshot/nope/rollback"))
        self.assertEqual(r.status_code, 500)
        self.assertIn("snapshot 'nope' does not exist", r.reason + r.text)
        r = self.api.post(self.vm(vmid, "/snapshot"), data={"snapname": "current"})
        self.assertIn(r.status_code, (400, 500))
        self.assertIn("reserved name", r.reason + r.text)
        r = self.api.delete(self.vm(vmid, "/snapshot/nope"))
        self.assertEqual(r.status_code, 500)
        self.task_ok(self.api.data("POST", self.vm(vmid, "/snapshot"), data={"snapname": "dup"}))
        r = self.api.post(self.vm(vmid, "/snapshot"), data={"snapname": "dup"})
        self.assertEqual(r.status_code, 500)
        self.assertIn("already used", r.reason + r.text)
        # A VM with snapshots cannot become a template.
        r = self.api.post(self.vm(vmid, "/template"))
        self.assertEqual(r.status_code, 500)
        self.assertIn("contains snapshots", r.reason + r.text)
        feat = self.api.data("GET", self.vm(vmid, "/feature"), params={"feature": "snapshot"})
        self.assertEqual(feat["hasFeature"], 1)
        self.assertEqual(feat["nodes"], [NODE])
        feat = self.api.data("GET", self.vm(vmid, "/feature"), params={"feature": "clone"})
        self.assertEqual(feat["hasFeature"], 0)

    # --- templates and clones -------------------------------------------------------------
    def make_template(self):
        tpl = self.new_vmid()
        self.create_vm(tpl, smbios1="uuid=11111111-2222-4333-8444-555555555555",
                       net0="virtio=BC:24:11:00:00:01,link_down=1")
        self.task_ok(self.api.data("POST", self.vm(tpl, "/template")))
        conf = self.config(tpl)
        self.assertEqual(conf["template"], 1)
        self.assertRegex(conf["scsi0"], r"^local:%d/base-%d-disk-0\.qcow2," % (tpl, tpl))
        return tpl, conf

    def test_template_linked_and_full_clone(self):
        tpl, tconf = self.make_template()
        r = self.api.post(self.vm(tpl, "/snapshot"), data={"snapname": "onx"})
        self.assertEqual(r.status_code, 500)
        self.assertIn("you can't take a snapshot if it's a template", r.reason + r.text)
        r = self.api.post(self.vm(tpl, "/status/start"))
        if r.status_code == 200:  # refused in the task, as PVE's vm_start does
            self.assertNotEqual(self.api.wait_task(r.json()["data"])["exitstatus"], "OK")
        self.assertEqual(self.status(tpl)["status"], "stopped")

        linked = self.new_vmid()
        self.task_ok(self.api.data("POST", self.vm(tpl, "/clone"), data={"newid": linked, "name": "linked"}))
        self.addCleanup(self.destroy, linked)
        lconf = self.config(linked)
        self.assertEqual(lconf["name"], "linked")
        self.assertNotIn("template", lconf)
        self.assertRegex(lconf["scsi0"], r"^local:%d/base-%d-disk-0\.qcow2/%d/vm-%d-disk-0\.qcow2,"
                         % (tpl, tpl, linked, linked))
        info = qemu_img_info(self.volume_path(lconf["scsi0"].split(",")[0]))
        self.assertIn("base-%d-disk-0.qcow2" % tpl, info.get("backing-filename", ""))
        self.assertNotEqual(lconf["net0"], tconf["net0"])
        self.assertIn("link_down=1", lconf["net0"])
        self.assertNotIn("11111111-2222-4333-8444-555555555555", lconf["smbios1"])

        full = self.new_vmid()
        self.task_ok(self.api.data("POST", self.vm(tpl, "/clone"), data={"newid": full, "full": 1}))
        self.addCleanup(self.destroy, full)
        fconf = self.config(full)
        self.assertEqual(fconf["name"], "Copy-of-VM-" + tconf["name"])
        self.assertRegex(fconf["scsi0"], r"^local:%d/vm-%d-disk-0\.qcow2," % (full, full))
        finfo = qemu_img_info(self.volume_path(fconf["scsi0"].split(",")[0]))
        self.assertNotIn("backing-filename", finfo)
        self.assertEqual(finfo["virtual-size"], GIB)

        for vmid in (linked, full):
            self.start(vmid)
        for vmid in (linked, full):
            self.assertEqual(self.status(vmid)["qmpstatus"], "running")
            self.stop(vmid)

        # The new id is taken now.
        r = self.api.post(self.vm(tpl, "/clone"), data={"newid": linked})
        self.assertEqual(r.status_code, 500)
        self.assertIn("already exists", r.reason + r.text)

    def test_parallel_linked_clones(self):
        tpl, _ = self.make_template()
        ids = [self.new_vmid() for _ in range(10)]
        results = {}

        def clone(newid):
            api = self.admin()
            r = api.post(self.vm(tpl, "/clone"), data={"newid": newid})
            results[newid] = (r.status_code, r.text)
            if r.status_code == 200:
                results[newid] = (200, api.wait_task(r.json()["data"], TASK_TIMEOUT).get("exitstatus"))

        threads = [threading.Thread(target=clone, args=(i,)) for i in ids]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        for newid in ids:
            self.addCleanup(self.destroy, newid)
        self.assertEqual({i: results[i] for i in ids}, {i: (200, "OK") for i in ids})
        macs = {self.config(i)["net0"] for i in ids}
        self.assertEqual(len(macs), len(ids))
        self.assertNotIn("lock", self.config(tpl))

    def test_clone_refusals(self):
        vmid = self.new_vmid()
        self.create_vm(vmid)
        r = self.api.post(self.vm(vmid, "/clone"), data={"newid": vmid})
        self.assertEqual(r.status_code, 500)
        r = self.api.post(self.vm(vmid, "/clone"), data={"newid": self.new_vmid(), "full": 0})
        self.assertEqual(r.status_code, 500)
        self.assertIn("Linked clone feature is not supported", r.reason + r.text)
        r = self.api.post(self.vm(vmid, "/clone"), data={"newid": self.new_vmid(), "target": "othernode"})
        self.assertEqual(r.status_code, 400)
        # A stopped normal VM clones fully, with `lock: clone` meanwhile and none after.
        copy = self.new_vmid()
        self.task_ok(self.api.data("POST", self.vm(vmid, "/clone"), data={"newid": copy}))
        self.addCleanup(self.destroy, copy)
        self.assertNotIn("lock", self.config(vmid))
        self.assertRegex(self.config(copy)["scsi0"], r"^local:%d/vm-%d-disk-0\.qcow2," % (copy, copy))
        r = self.api.post(self.vm(vmid, "/migrate"), data={"target": "othernode"})
        self.assertEqual(r.status_code, 400)
        self.assertIn("cluster", r.text)

    # --- resize ----------------------------------------------------------------------------
    def test_resize_stopped_and_running(self):
        vmid = self.new_vmid()
        self.create_vm(vmid)
        path = self.volume_path(self.disk_volid(vmid))
        self.task_ok(self.api.data("PUT", self.vm(vmid, "/resize"), data={"disk": "scsi0", "size": "+64M"}))
        self.assertEqual(qemu_img_info(path)["virtual-size"], GIB + 64 * 1024 ** 2)
        self.assertIn("size=1088M", self.config(vmid)["scsi0"])
        r = self.api.put(self.vm(vmid, "/resize"), data={"disk": "scsi0", "size": "512M"})
        self.assertEqual(r.status_code, 400)
        self.assertIn("shrinking disks is not supported", r.text)

        self.start(vmid)
        self.task_ok(self.api.data("PUT", self.vm(vmid, "/resize"), data={"disk": "scsi0", "size": "2G"}))
        self.assertEqual(qemu_img_info(path)["virtual-size"], 2 * GIB)
        self.assertIn("size=2G", self.config(vmid)["scsi0"])
        blocks = self.api.data("POST", self.vm(vmid, "/monitor"), data={"command": "info block"})
        self.assertIn("drive-scsi0", blocks)
        self.stop(vmid)

    def test_move_disk_stopped(self):
        vmid = self.new_vmid()
        self.create_vm(vmid)
        target = os.path.join(self.d.root, "second")
        self.api.data("POST", "/storage", data={"storage": "second", "type": "dir", "path": target,
                                                "content": "images"})
        old = self.disk_volid(vmid)
        self.task_ok(self.api.data("POST", self.vm(vmid, "/move_disk"),
                                   data={"disk": "scsi0", "storage": "second", "format": "raw"}))
        conf = self.config(vmid)
        self.assertRegex(conf["scsi0"], r"^second:%d/vm-%d-disk-0\.raw," % (vmid, vmid))
        self.assertEqual(conf["unused0"], old)
        self.assertEqual(qemu_img_info(self.volume_path(conf["scsi0"].split(",")[0]))["format"], "raw")


if __name__ == "__main__":
    harness.main()
