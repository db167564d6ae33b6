#!/usr/bin/python3
"""Debian's Ansible (community.general proxmox_* modules, unchanged) against a real pvxd:
storage information and template uploads/removals the way playbooks do them."""
import json
import os
import shutil
import subprocess
import sys
import tempfile
import unittest

import harness
from harness import NODE, TESTER, TESTER_PW

PLAYBOOK = os.environ.get("PVX_ANSIBLE_PLAYBOOK") or shutil.which("ansible-playbook")


@unittest.skipUnless(PLAYBOOK, "ansible-playbook is not installed (Debian package ansible)")
class Ansible(harness.DaemonCase):

    def setUp(self):
        self.work = tempfile.mkdtemp(prefix="pvx-ansible-")
        self.addCleanup(shutil.rmtree, self.work, True)

    def play(self, tasks):
        """Runs one playbook on localhost; returns each task's result by name. `tasks` are
        (name, module, args) triples; the connection arguments are added to every task."""
        auth = {"api_host": "127.0.0.1:%d" % self.d.port, "api_user": TESTER, "api_password": TESTER_PW,
                "validate_certs": False}
        book = [{"hosts": "localhost", "connection": "local", "gather_facts": False,
                 "tasks": [{"name": name, module: dict(auth, **args)} for name, module, args in tasks]}]
        path = os.path.join(self.work, "play.yml")
        with open(path, "w") as f:
            json.dump(book, f)  # YAML is a superset of JSON
        env = dict(os.environ, ANSIBLE_STDOUT_CALLBACK="json", ANSIBLE_PYTHON_INTERPRETER="/usr/bin/python3",
                   ANSIBLE_LOCALHOST_WARNING="false", ANSIBLE_INVENTORY_UNPARSED_WARNING="false",
                   ANSIBLE_HOME=os.path.join(self.work, ".ansible"))
        res = subprocess.run([PLAYBOOK, "-i", "localhost,", path], capture_output=True, text=True, env=env,
                             timeout=300)
        try:
            out = json.loads(res.stdout)
        except ValueError:
            raise AssertionError("ansible-playbook printed no JSON (exit %d):\n%s\n%s"
                                 % (res.returncode, res.stdout[-3000:], res.stderr[-3000:]))
        results = {}
        for play in out["plays"]:
            for task in play["tasks"]:
                results[task["task"]["name"]] = task["hosts"]["localhost"]
        if res.returncode != 0:
            failed = {k: v.get("msg") for k, v in results.items() if v.get("failed")}
            raise AssertionError("playbook failed: %s\n%s" % (failed, res.stderr[-2000:]))
        return results

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
