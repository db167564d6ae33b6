#!/usr/bin/python3
"""The real client: the npm package `proxmox-api` (pinned in npm-client/package-lock.json),
unmodified, driving a VM's lifecycle against a real pvxd with a ticket login and an API token.

The package is installed once per cache dir (PVX_NPM_CLIENT_DIR, default <build>/npm-client)
with `npm ci` from the npm registry; node and npm come from Debian (scripts/install-deps.sh)."""
import filecmp
import json
import os
import shutil
import subprocess
import unittest

import harness
from harness import NODE, TESTER, TESTER_PW

HERE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "npm-client")
FILES = ("package.json", "package-lock.json", "vm_lifecycle.mjs")


def client_dir():
    default = os.path.join(os.path.dirname(harness.bin_path("pvxd")), "..", "npm-client")
    return os.path.abspath(os.environ.get("PVX_NPM_CLIENT_DIR", default))


def install_client():
    """Copies the client files next to their node_modules and runs `npm ci` when the lock changed."""
    target = client_dir()
    os.makedirs(target, exist_ok=True)
    lock_changed = not os.path.exists(os.path.join(target, "package-lock.json")) or not filecmp.cmp(
        os.path.join(HERE, "package-lock.json"), os.path.join(target, "package-lock.json"), shallow=False)
    for name in FILES:
        shutil.copyfile(os.path.join(HERE, name), os.path.join(target, name))
    if lock_changed or not os.path.isdir(os.path.join(target, "node_modules", "proxmox-api")):
        subprocess.run(["npm", "ci", "--no-audit", "--no-fund", "--loglevel=error"], cwd=target, check=True,
                       timeout=600)
    return target


@unittest.skipUnless(shutil.which("node") and shutil.which("npm"), "node and npm are not installed")
class NpmProxmoxApi(harness.DaemonCase):

    @classmethod
    def setUpClass(cls):
        cls.dir = install_client()
        super().setUpClass()

    def run_script(self, vmid):
        env = dict(os.environ, PVX_PORT=str(self.d.port), PVX_USER=TESTER, PVX_PASSWORD=TESTER_PW,
                   PVX_TOKEN_ID=self.token_full, PVX_TOKEN_SECRET=self.token_secret, PVX_VMID=str(vmid))
        res = subprocess.run(["node", "vm_lifecycle.mjs"], cwd=self.dir, env=env, capture_output=True, text=True,
                             timeout=300)
        self.assertEqual(res.returncode, 0, "node failed:\n%s\n%s\npvxd log:\n%s" % (res.stdout, res.stderr,
                                                                                    self.d.log_text()[-3000:]))
        return json.loads(res.stdout.strip().splitlines()[-1])

    def test_vm_lifecycle(self):
        seen = self.run_script(4400)
        self.assertEqual(seen["nodes"], [NODE])
        self.assertTrue(seen["version"])
        self.assertEqual(seen["create"], "OK")
        self.assertEqual(seen["config"]["name"], "npm-vm")
        self.assertEqual(str(seen["config"]["memory"]), "160")
        self.assertEqual(seen["config"]["cores"], 1)
        self.assertRegex(seen["config"]["scsi0"], r"^local:4400/vm-4400-disk-0\.qcow2,size=1G$")
        # A stopped VM takes changes at once: nothing stays pending.
        self.assertEqual(str(seen["updated"]["memory"]), "256")
        self.assertEqual(seen["updated"]["description"], "set by proxmox-api")
        pending = {k for k in seen["pendingKeys"]}
        self.assertIn("memory", pending)  # /pending lists every key, with no `pending` value when applied
        self.assertEqual(seen["snapshot"], "OK")
        self.assertEqual(seen["snapshots"], ["current", "npmsnap"])
        self.assertEqual(seen["listed"], [{"status": "stopped", "name": "npm-vm"}])
        self.assertEqual(seen["resource"], [{"id": "qemu/4400", "type": "qemu", "status": "stopped"}])
        self.assertTrue(seen["tokenListed"])
        # The client raises PVE's 400 with the parameter named.
        self.assertIn("400", seen["badParam"])
        self.assertIn("cores", seen["badParam"])
        self.assertEqual(seen["destroy"], "OK")
        self.assertFalse(seen["afterDestroy"])


if __name__ == "__main__":
    harness.main()
