#!/usr/bin/python3
"""Debian's Ansible (community.general proxmox_* modules, unchanged) against a real pvxd:
storage information and template uploads/removals the way playbooks do them."""
import os
import shutil
import tempfile
import unittest

import harness
from harness import NODE

PLAYBOOK = os.environ.get("PVX_ANSIBLE_PLAYBOOK") or shutil.which("ansible-playbook")


@unittest.skipUnless(PLAYBOOK, "ansible-playbook is not installed (Debian package ansible)")
class Ansible(harness.DaemonCase):

    def setUp(self):
        self.work = tempfile.mkdtemp(prefix="pvx-ansible-")
        self.addCleanup(shutil.rmtree, self.work, True)

    def play(self, tasks):
        return harness.run_playbook(self.d, self.work, tasks, timeout=300)

    def test_storage_info(self):
        info = "community.general.proxmox_storage_info"
        r = self.play([("all storages", info, {}), ("local storage", info, {"storage": "local"})])
        self.assertIn("local", [s["storage"] for s in r["all storages"]["proxmox_storages"]])
        local = r["local storage"]["proxmox_storages"][0]
        self.assertEqual(local["type"], "dir")
        self.assertIn("vztmpl", local["content"])

    def test_template_upload_idempotence_and_removal(self):
        tmpl = os.path.join(self.work, "alpine-3.19-default_20240207_amd64.tar.xz")
        with open(tmpl, "wb") as f:
            f.write(os.urandom(300 * 1024))
        iso = os.path.join(self.work, "tiny.iso")
        with open(iso, "wb") as f:
            f.write(os.urandom(100 * 1024))
        mod = "community.general.proxmox_template"
        base = {"node": NODE, "storage": "local"}
        name = os.path.basename(tmpl)
        r = self.play([
            ("upload template", mod, dict(base, content_type="vztmpl", src=tmpl)),
            ("upload template again", mod, dict(base, content_type="vztmpl", src=tmpl)),
            ("upload iso", mod, dict(base, content_type="iso", src=iso)),
            ("remove template", mod, dict(base, content_type="vztmpl", template=name, state="absent")),
            ("remove template again", mod, dict(base, content_type="vztmpl", template=name, state="absent")),
        ])
        self.assertTrue(r["upload template"]["changed"], r["upload template"])
        self.assertFalse(r["upload template again"]["changed"])
        self.assertTrue(r["upload iso"]["changed"])
        self.assertTrue(r["remove template"]["changed"])
        self.assertFalse(r["remove template again"]["changed"])
        content = self.admin().data("GET", "/nodes/%s/storage/local/content" % NODE)
        volids = [c["volid"] for c in content]
        self.assertIn("local:iso/tiny.iso", volids)
        self.assertNotIn("local:vztmpl/" + name, volids)


if __name__ == "__main__":
    harness.main()
