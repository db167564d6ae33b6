#!/usr/bin/python3
"""Container templates on a real pvxd: an appliance index and a template served from loopback
(this machine has no internet), `pveam update`, `available`, `download` (checksum checked,
nothing left behind when it does not match), `list` and `remove`, the same through
/nodes/{node}/aplinfo, an unprivileged user refused, and `pveam build` making a busybox template
whose contents are checked."""
import hashlib
import http.server
import os
import subprocess
import sys
import tarfile
import tempfile
import threading
import unittest

import harness
from harness import NODE


class Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


class PveamSuite(harness.DaemonCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.www = tempfile.mkdtemp(prefix="pvx-pveam-www-")
        os.makedirs(os.path.join(cls.www, "system"))
        src = os.path.join(cls.www, "src")
        os.makedirs(os.path.join(src, "etc"))
        with open(os.path.join(src, "etc", "os-release"), "w") as f:
            f.write("ID=alpine\n")
        cls.good = "alpine-3.20-default_20240908_amd64.tar.xz"
        cls.bad = "debian-12-standard_12.7-1_amd64.tar.zst"
        for name in (cls.good, cls.bad):
            with tarfile.open(os.path.join(cls.www, "system", name), "w") as t:
                t.add(src, arcname=".")
        with open(os.path.join(cls.www, "system", cls.good), "rb") as f:
            good_sum = hashlib.sha512(f.read()).hexdigest()
        index = (
            "Package: alpine-3.20-default\nVersion: 20240908\nType: lxc\nOS: alpine\nSection: system\n"
            "Maintainer: Test <t@example.org>\nArchitecture: amd64\nLocation: system/%s\nsha512sum: %s\n"
            "Infopage: https://example.org/alpine\nDescription: Alpine 3.20\n A small Alpine system.\n .\n Second line.\n\n"
            "Package: debian-12-standard\nVersion: 12.7-1\nType: lxc\nOS: debian-12\nSection: system\n"
            "Location: system/%s\nmd5sum: 00000000000000000000000000000000\nDescription: Debian 12 (bad checksum)\n\n"
            "Package: evil\nVersion: 1\nLocation: system/../../etc/passwd\nDescription: refused\n\n"
            "Package: turnkey-x\nVersion: 1\nSection: turnkeylinux\nLocation: tk/turnkey-x_1_amd64.tar.gz\n"
            "md5sum: 11111111111111111111111111111111\nDescription: TurnKey X\n"
            % (cls.good, good_sum, cls.bad))
        with open(os.path.join(cls.www, "aplinfo.dat"), "w") as f:
            f.write(index)
        handler = lambda *a, **kw: Quiet(*a, directory=cls.www, **kw)  # noqa: E731
        cls.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        threading.Thread(target=cls.httpd.serve_forever, daemon=True).start()
        cls.base = "http://127.0.0.1:%d" % cls.httpd.server_address[1]
        os.makedirs(os.path.join(cls.daemon.data_dir, "apl-info"), exist_ok=True)
        with open(os.path.join(cls.daemon.data_dir, "apl-info", "sources"), "w") as f:
            f.write("# the test's index\n%s/aplinfo.dat\n" % cls.base)

    @classmethod
    def tearDownClass(cls):
        try:
            super().tearDownClass()
        finally:
            cls.httpd.shutdown()
            subprocess.run(["rm", "-rf", cls.www])

    def cache_dir(self):
        return os.path.join(self.d.data_dir, "storage", "local", "template", "cache")

    def test_1_update_available_download_list_remove(self):
        out = self.d.cli("pveam", "update").stdout
        self.assertIn("update successful", out)
        avail = self.d.cli("pveam", "available").stdout
        self.assertIn(self.good, avail)
        self.assertIn("turnkey-x_1_amd64.tar.gz", avail)
        self.assertNotIn("passwd", avail)
        api = self.admin()
        entries = {e["template"]: e for e in api.data("GET", "/nodes/%s/aplinfo" % NODE)}
        e = entries[self.good]
        self.assertEqual(e["package"], "alpine-3.20-default")
        self.assertEqual(e["headline"], "Alpine 3.20")
        self.assertEqual(e["location"], "%s/system/%s" % (self.base, self.good))
        self.assertEqual(e["section"], "system")
        self.assertEqual(e["source"], self.base + "/aplinfo.dat")
        self.assertNotIn("passwd", entries)

        self.d.cli("pveam", "download", "local", self.good)
        self.assertTrue(os.path.exists(os.path.join(self.cache_dir(), self.good)))
        self.assertIn("local:vztmpl/" + self.good, self.d.cli("pveam", "list", "local").stdout)
        # The checksum of the index must match: a failed task, no file.
        upid = api.data("POST", "/nodes/%s/aplinfo" % NODE, data={"storage": "local", "template": self.bad})
        st = api.wait_task(upid, 60)
        self.assertNotEqual(st["exitstatus"], "OK")
        self.assertFalse(os.path.exists(os.path.join(self.cache_dir(), self.bad)))
        self.assertEqual([f for f in os.listdir(self.cache_dir()) if f.startswith(".")], [])
        # Unknown templates and storages without template content are refused up front.
        r = api.post("/nodes/%s/aplinfo" % NODE, data={"storage": "local", "template": "nope.tar.gz"})
        self.assertEqual(r.status_code, 400)
        self.assertIn("template", r.json()["errors"])
        self.d.cli("pvesm", "add", "dir", "imgonly", "--path", os.path.join(self.d.root, "imgonly"), "--content", "images")
        r = api.post("/nodes/%s/aplinfo" % NODE, data={"storage": "imgonly", "template": self.good})
        self.assertEqual(r.status_code, 400)
        self.assertIn("storage", r.json()["errors"])

        self.d.cli("pveam", "remove", "local:vztmpl/" + self.good)
        self.assertFalse(os.path.exists(os.path.join(self.cache_dir(), self.good)))
        self.assertNotEqual(self.d.cli("pveam", "remove", "local:iso/x.iso", check=False).returncode, 0)

    def test_2_unprivileged_user_is_refused(self):
        nopriv = self.d.login(harness.NOPRIV, harness.NOPRIV_PW)
        r = nopriv.post("/nodes/%s/aplinfo" % NODE, data={"storage": "local", "template": self.good})
        self.assertEqual(r.status_code, 403)

    def test_3_build_a_busybox_template(self):
        out = self.d.cli("pveam", "build", "local").stdout.strip()
        self.assertRegex(out, r"^local:vztmpl/busybox-\d+\.\d+-pvx_[\d.]+-1_amd64\.tar\.gz$")
        path = os.path.join(self.cache_dir(), out.split("/", 1)[1])
        with tarfile.open(path) as t:
            names = set(t.getnames())
            self.assertIn("./sbin/init", names)
            self.assertIn("./etc/init.d/rcS", names)
            os_release = t.extractfile("./etc/os-release").read().decode()
            self.assertEqual(t.getmember("./etc/passwd").uid, 0)
        self.assertIn("ID=busybox", os_release)
        self.assertIn("ID_LIKE=debian", os_release)
        # The busybox inside runs on its own (its libraries came along).
        root = tempfile.mkdtemp(prefix="pvx-pveam-root-")
        try:
            subprocess.run(["tar", "-xzf", path, "-C", root], check=True)
            r = subprocess.run(["chroot", root, "/bin/sh", "-c", "echo $((6*7))"], capture_output=True, text=True)
            self.assertEqual(r.stdout.strip(), "42", r.stderr)
        finally:
            subprocess.run(["rm", "-rf", root])
        # --output writes a file instead.
        target = os.path.join(self.d.root, "out.tar.gz")
        self.assertEqual(self.d.cli("pveam", "build", "--output", target).stdout.strip(), target)
        self.assertTrue(os.path.getsize(target) > 100000)


if __name__ == "__main__":
    harness.main()
