#!/usr/bin/python3
"""Unchanged real clients driving containers on a real pvxd with real LXC: python3-proxmoxer
and Ansible's community.general `proxmox` (LXC) module (Debian's packages).
The template is the busybox one `pveam build` makes. Runs in a network namespace of its own, as
test_lxc.py does."""
import os
import shutil
import subprocess
import sys
import tempfile
import unittest

import harness
from harness import NODE, TESTER, TESTER_PW

try:
    from proxmoxer import ProxmoxAPI
except ImportError:  # pragma: no cover
    ProxmoxAPI = None

PLAYBOOK = os.environ.get("PVX_ANSIBLE_PLAYBOOK") or shutil.which("ansible-playbook")
BRIDGE = "vmbr8"


@unittest.skipUnless(os.path.exists("/usr/bin/lxc-start"), "lxc is not installed")
class LxcClients(harness.DaemonCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        subprocess.run(["ip", "link", "add", BRIDGE, "type", "bridge"], check=True)
        subprocess.run(["ip", "link", "set", BRIDGE, "up"], check=True)
        out = cls.daemon.cli("pveam", "build", "local").stdout.strip().splitlines()
        cls.template = [l for l in out if l.startswith("local:vztmpl/")][-1]

    @classmethod
    def tearDownClass(cls):
        try:
            super().tearDownClass()
        finally:
            subprocess.run(["ip", "link", "del", BRIDGE], capture_output=True)

    def proxmoxer(self):
        return ProxmoxAPI("127.0.0.1:%d" % self.d.port, user=TESTER, password=TESTER_PW, verify_ssl=False)

    def status(self, api, vmid):
        return api.nodes(NODE).lxc(vmid).status.current.get()

    @unittest.skipUnless(ProxmoxAPI, "python3-proxmoxer is not installed")
    def test_proxmoxer_lifecycle(self):
        api = self.proxmoxer()
        vmid = int(api.cluster.nextid.get())
        upid = api.nodes(NODE).lxc.post(vmid=vmid, ostemplate=self.template, hostname="pxr-ct", memory=128,
                                        rootfs="local:0", net0="name=eth0,bridge=%s,ip=10.78.0.2/24" % BRIDGE,
                                        password="pxr-secret", unprivileged=1)
        self.assertEqual(harness.follow_with_proxmoxer(api, upid, 120)["exitstatus"], "OK")
        conf = api.nodes(NODE).lxc(vmid).config.get()
        self.assertEqual(conf["hostname"], "pxr-ct")
        self.assertEqual(conf["memory"], 128)
        self.assertEqual(conf["unprivileged"], 1)
        self.assertIn(vmid, [int(c["vmid"]) for c in api.nodes(NODE).lxc.get()])
        upid = api.nodes(NODE).lxc(vmid).status.start.post()
        self.assertEqual(harness.follow_with_proxmoxer(api, upid, 120)["exitstatus"], "OK")
        st = self.status(api, vmid)
        self.assertEqual(st["status"], "running")
        self.assertGreater(st["pid"], 0)
        api.nodes(NODE).lxc(vmid).config.put(memory=160, description="from proxmoxer")
        self.assertEqual(api.nodes(NODE).lxc(vmid).config.get()["memory"], 160)
        ifaces = {i["name"]: i for i in api.nodes(NODE).lxc(vmid).interfaces.get()}
        self.assertEqual(ifaces["eth0"].get("inet"), "10.78.0.2/24")
        upid = api.nodes(NODE).lxc(vmid).status.shutdown.post(forceStop=1, timeout=30)
        self.assertEqual(harness.follow_with_proxmoxer(api, upid, 60)["exitstatus"], "OK")
        self.assertEqual(self.status(api, vmid)["status"], "stopped")
        upid = api.nodes(NODE).lxc(vmid).delete(purge=1)
        self.assertEqual(harness.follow_with_proxmoxer(api, upid, 60)["exitstatus"], "OK")
        self.assertNotIn(vmid, [int(c["vmid"]) for c in api.nodes(NODE).lxc.get()])

    @unittest.skipUnless(PLAYBOOK, "ansible-playbook is not installed (Debian package ansible)")
    def test_ansible_proxmox_module(self):
        work = tempfile.mkdtemp(prefix="pvx-ansible-lxc-")
        self.addCleanup(shutil.rmtree, work, True)
        vmid = 4400
        base = {"node": NODE, "vmid": vmid}
        lxc = "community.general.proxmox"
        r = self.play(work, [
            ("create", lxc, dict(base, hostname="ans-ct", ostemplate=self.template, password="ans-secret",
                                 storage="local", disk="0", memory=128, swap=64, cores=1, unprivileged=True,
                                 netif={"net0": "name=eth0,bridge=%s,ip=10.78.0.3/24" % BRIDGE}, timeout=120)),
            ("create again", lxc, dict(base, hostname="ans-ct", ostemplate=self.template, storage="local",
                                       unprivileged=True)),
            ("start", lxc, dict(base, state="started", timeout=120)),
        ])
        self.assertTrue(r["create"]["changed"], r["create"])
        self.assertFalse(r["create again"]["changed"], r["create again"])
        self.assertTrue(r["start"]["changed"], r["start"])
        admin = self.admin()
        st = admin.data("GET", "/nodes/%s/lxc/%d/status/current" % (NODE, vmid))
        self.assertEqual(st["status"], "running")
        conf = admin.data("GET", "/nodes/%s/lxc/%d/config" % (NODE, vmid))
        self.assertEqual(conf["swap"], 64)
        r = self.play(work, [
            ("stop", lxc, dict(base, state="stopped", timeout=120)),
            ("remove", lxc, dict(base, state="absent", timeout=120)),
        ])
        self.assertTrue(r["stop"]["changed"], r["stop"])
        self.assertTrue(r["remove"]["changed"], r["remove"])
        self.assertNotIn(vmid, [c["vmid"] for c in admin.data("GET", "/nodes/%s/lxc" % NODE)])

    def play(self, work, tasks):
        return harness.run_playbook(self.d, work, tasks)


if __name__ == "__main__":
    if os.geteuid() != 0:
        print("test_lxc_clients: needs root for containers; skipped")
        sys.exit(0)
    if not harness.in_own_netns():
        sys.exit(harness.rerun_in_own_netns(__file__, "pvx-itest-lxcc", cgroups=True))
    harness.main()
