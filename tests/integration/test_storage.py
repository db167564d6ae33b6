#!/usr/bin/python3
"""Storage end to end: a real pvxd, Debian's python3-proxmoxer and curl as clients, dir storages
on the test's own directories, a btrfs storage on a loop device, uploads streamed through the
API, download-url against HTTP and HTTPS servers on loopback, and the pvesm CLI."""
import hashlib
import http.server
import os
import shutil
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import unittest

import harness
from harness import NODE, NOPRIV, NOPRIV_PW, TESTER, TESTER_PW

try:
    from proxmoxer import ProxmoxAPI
    from proxmoxer.core import ResourceException
except ImportError as e:  # pragma: no cover - environment problem, not a test result
    sys.exit("python3-proxmoxer is not importable by %s: %s (run with /usr/bin/python3)" % (sys.executable, e))

IS_ROOT = os.geteuid() == 0


def follow(api, upid, timeout=120):
    return harness.follow_with_proxmoxer(api, upid, timeout)


def task_log(api, upid):
    return "\n".join(l["t"] for l in api.nodes(NODE).tasks(upid).log.get(limit=1000))


def write_file(path, size, seed=b"pvx"):
    block = hashlib.sha256(seed).digest() * 2048  # 64 KiB of varied bytes
    with open(path, "wb") as f:
        left = size
        while left > 0:
            f.write(block[:min(left, len(block))])
            left -= len(block)


def sha256_of(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


class FileServer:
    """http.server on 127.0.0.1 serving one directory; optionally HTTPS with a self-signed cert."""

    def __init__(self, directory, tls=False):
        handler = lambda *a, **kw: QuietHandler(*a, directory=directory, **kw)
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.scheme = "http"
        if tls:
            cert = os.path.join(directory, "..", "srv.pem")
            key = os.path.join(directory, "..", "srv.key")
            subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                            "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
                            "-keyout", key, "-out", cert], check=True, capture_output=True)
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.load_cert_chain(cert, key)
            self.httpd.socket = ctx.wrap_socket(self.httpd.socket, server_side=True)
            self.scheme = "https"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def url(self, name):
        return "%s://127.0.0.1:%d/%s" % (self.scheme, self.httpd.server_address[1], name)

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


class Storage(harness.DaemonCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.api = ProxmoxAPI("127.0.0.1", port=cls.daemon.port, user=TESTER, password=TESTER_PW,
                             verify_ssl=False)
        cls.work = tempfile.mkdtemp(prefix="pvx-storage-")
        cls.local_path = os.path.join(cls.daemon.data_dir, "storage", "local")

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.work, ignore_errors=True)
        super().tearDownClass()

    def add_dir(self, sid, content="iso,vztmpl,images,rootdir,backup,snippets,import", **extra):
        path = os.path.join(self.work, sid)
        self.api.storage.post(storage=sid, type="dir", path=path, content=content, **extra)
        self.addCleanup(self._remove_storage, sid)
        return path

    def _remove_storage(self, sid):
        try:
            self.api.storage(sid).delete()
        except ResourceException:
            pass

    # --- configuration -------------------------------------------------------------------
    def test_default_local_storage(self):
        cfg = self.api.storage("local").get()
        self.assertEqual(cfg["type"], "dir")
        self.assertEqual(cfg["path"], self.local_path)
        self.assertEqual(set(cfg["content"].split(",")),
                         {"iso", "vztmpl", "backup", "images", "rootdir", "snippets"})
        self.assertIn("digest", cfg)
        st = self.api.nodes(NODE).storage("local").status.get()
        self.assertEqual(st["active"], 1)
        self.assertGreater(st["total"], 0)
        self.assertGreaterEqual(st["total"], st["avail"])

    def test_add_update_remove_dir(self):
        path = self.add_dir("d1", content="iso,images")
        for sub in ("template/iso", "images"):
            self.assertTrue(os.path.isdir(os.path.join(path, sub)), sub)
        listed = {s["storage"]: s for s in self.api.nodes(NODE).storage.get()}
        self.assertIn("d1", listed)
        self.assertEqual(listed["d1"]["content"], "images,iso")
        self.assertEqual(listed["d1"]["type"], "dir")
        self.assertEqual(listed["d1"]["active"], 1)
        # content filter: d1 holds no backups
        self.assertNotIn("d1", [s["storage"] for s in self.api.nodes(NODE).storage.get(content="backup")])
        self.assertEqual([s["storage"] for s in self.api.storage.get(type="dir") if s["storage"] == "d1"], ["d1"])

        digest = self.api.storage("d1").get()["digest"]
        self.api.storage("d1").put(content="iso,vztmpl", digest=digest)
        self.assertEqual(self.api.storage("d1").get()["content"], "iso,vztmpl")
        with self.assertRaises(ResourceException) as cm:  # stale digest
            self.api.storage("d1").put(content="iso", digest=digest)
        self.assertEqual(cm.exception.status_code, 400)
        self.api.storage("d1").put(disable=1)
        self.assertEqual(self.api.nodes(NODE).storage.get(storage="d1")[0]["enabled"], 0)
        self.api.storage("d1").put(delete="disable")
        self.assertNotIn("disable", self.api.storage("d1").get())

        # the file is PVE's section config
        cfg = self.d.cli("pvesh", "get", "/storage/d1", "--output-format", "json").stdout
        self.assertIn('"path"', cfg)
        self.api.storage("d1").delete()
        self.assertNotIn("d1", [s["storage"] for s in self.api.storage.get()])

    def test_bad_configuration_is_refused_with_the_parameter_named(self):
        cases = [
            (dict(storage="b1", type="dir"), "path"),                                  # required key missing
            (dict(storage="b2", type="dir", path="relative/path"), "path"),           # not absolute
            (dict(storage="b3", type="dir", path="/tmp/x", content="videos"), "content"),
            (dict(storage="b4", type="dir", path="/tmp/x", vgname="vg0"), "vgname"),  # key of another type
            (dict(storage="1bad", type="dir", path="/tmp/x"), "storage"),
            (dict(storage="b5", type="nosuch", path="/tmp/x"), "type"),
        ]
        for params, name in cases:
            r = self.admin().post("/storage", data=params)
            self.assertEqual(r.status_code, 400, (params, r.text))
            self.assertIn(name, r.json().get("errors", {}), (params, r.text))
        r = self.admin().post("/storage", data=dict(storage="local", type="dir", path="/tmp/y"))
        self.assertEqual(r.status_code, 400)
        self.assertIn("already defined", r.text)
        r = self.admin().put("/storage/local", data=dict(path="/elsewhere"))
        self.assertEqual(r.status_code, 400)  # path is fixed after creation
        self.assertIn("path", r.json().get("errors", {}))

    def test_unprivileged_user_is_refused(self):
        s = self.d.login(NOPRIV, NOPRIV_PW)
        self.assertEqual(s.data("GET", "/storage"), [])
        self.assertEqual(s.data("GET", "/nodes/%s/storage" % NODE), [])
        r = s.post("/storage", data=dict(storage="np", type="dir", path=os.path.join(self.work, "np")))
        self.assertEqual(r.status_code, 403)
        self.assertEqual(s.get("/nodes/%s/storage/local/content" % NODE).status_code, 403)
        r = s.post("/nodes/%s/storage/local/content" % NODE, data=dict(vmid=100, filename="", size="1M"))
        self.assertEqual(r.status_code, 403)
        files = {"filename": ("x.iso", b"data")}
        r = s.post("/nodes/%s/storage/local/upload" % NODE, data={"content": "iso"}, files=files)
        self.assertEqual(r.status_code, 403)
        r = s.post("/nodes/otherxnode/storage/local/upload", data={"content": "iso"}, files=files)
        self.assertNotEqual(r.status_code, 200)
        r = s.post("/nodes/%s/storage/local/download-url" % NODE,
                   data=dict(content="iso", filename="x.iso", url="http://127.0.0.1:1/x.iso"))
        self.assertEqual(r.status_code, 403)
        self.assertEqual(s.get("/nodes/%s/scan/lvm" % NODE).status_code, 403)
        # Audit on one storage shows that storage and its ISOs, nothing else.
        harness.grant(self.d, "/storage/local", NOPRIV, "PVEDatastoreUser")
        self.addCleanup(lambda: self.d.cli("pveum", "acl", "delete", "/storage/local", "--users", NOPRIV,
                                           "--roles", "PVEDatastoreUser", check=False))
        self.assertEqual([x["storage"] for x in s.data("GET", "/nodes/%s/storage" % NODE)], ["local"])
        self.assertEqual(s.post("/storage", data=dict(storage="np", type="dir", path="/tmp/np")).status_code, 403)

    # --- volumes -------------------------------------------------------------------------
    def test_allocate_list_inspect_and_free_images(self):
        self.add_dir("img")
        sv = self.api.nodes(NODE).storage("img")
        v0 = sv.content.post(vmid=100, filename="", size="4M")
        v1 = sv.content.post(vmid=100, filename="vm-100-disk-7.qcow2", size="1G")
        v2 = sv.content.post(vmid=101, filename="", size="1024", format="qcow2")
        self.assertEqual(v0, "img:100/vm-100-disk-0.raw")
        self.assertEqual(v1, "img:100/vm-100-disk-7.qcow2")
        self.assertEqual(v2, "img:101/vm-101-disk-0.qcow2")
        listed = {c["volid"]: c for c in sv.content.get()}
        self.assertEqual(listed[v0]["size"], 4 << 20)
        self.assertEqual(listed[v1]["size"], 1 << 30)
        self.assertEqual(listed[v1]["format"], "qcow2")
        self.assertEqual(listed[v2]["vmid"], 101)
        self.assertEqual([c["volid"] for c in sv.content.get(vmid=101)], [v2])
        info = sv.content(v1).get()  # the volume id travels unescaped in the path, as clients send it
        self.assertTrue(info["path"].endswith("/images/100/vm-100-disk-7.qcow2"))
        self.assertEqual(info["size"], 1 << 30)
        self.assertEqual(self.d.cli("pvesm", "path", v1).stdout.strip(), info["path"])

        r = self.admin().post("/nodes/%s/storage/img/content" % NODE, data=dict(vmid=100, filename="vm-101-disk-1.raw", size="1M"))
        self.assertEqual(r.status_code, 400)
        self.assertIn("filename", r.json()["errors"])
        r = self.admin().post("/nodes/%s/storage/img/content" % NODE, data=dict(vmid=100, filename="", size="12X"))
        self.assertEqual(r.status_code, 400)
        self.assertIn("size", r.json()["errors"])
        r = self.admin().post("/nodes/%s/storage/img/content" % NODE, data=dict(vmid=100, filename="vm-100-disk-3.foo", size="1M"))
        self.assertEqual(r.status_code, 400)
        self.assertIn("filename", r.json()["errors"])
        # a bad copy target is refused at once, naming it
        for target in ("img:100/../../../tmp/evil.raw", "img:100/vm-100-disk-9.subvol", "img:iso/x.iso", "nosuch"):
            r = self.admin().post("/nodes/%s/storage/img/content/%s" % (NODE, v2), data={"target": target})
            self.assertIn(r.status_code, (400, 500), (target, r.text))
            if r.status_code == 400:
                self.assertIn("target", r.json().get("errors", {}), (target, r.text))

        upid = sv.content(v0).delete()
        self.assertEqual(follow(self.api, upid)["exitstatus"], "OK")
        self.assertIsNone(sv.content(v1).delete(delay=5))
        self.assertEqual([c["volid"] for c in sv.content.get()], [v2])
        # copy within the storage runs as a task
        upid = sv.content(v2).post(target="img:102/vm-102-disk-0.qcow2")
        self.assertEqual(follow(self.api, upid)["exitstatus"], "OK")
        self.assertIn("img:102/vm-102-disk-0.qcow2", [c["volid"] for c in sv.content.get()])

    def test_hostile_volume_ids(self):
        self.add_dir("hv")
        s = self.admin()
        for vol in ("hv:../../etc/passwd", "hv:iso/../../../etc/passwd", "hv:iso/..%2F..%2Fx.iso",
                    "local:iso/x.iso", "hv:/etc/passwd", "hv:100/vm-101-disk-0.raw"):
            # (requests folds "/../" in URLs itself; such requests then miss the route: 501)
            r = s.get("/nodes/%s/storage/hv/content/%s" % (NODE, vol))
            self.assertIn(r.status_code, (400, 404, 501), (vol, r.status_code, r.text))
            r = s.delete("/nodes/%s/storage/hv/content/%s" % (NODE, vol))
            self.assertIn(r.status_code, (400, 404, 501), (vol, r.status_code, r.text))
        # The same ids escaped, so they reach pvxd intact.
        for vol in ("hv:../../etc/passwd", "hv:iso/../../../etc/passwd"):
            r = s.get("/nodes/%s/storage/hv/content/%s" % (NODE, vol.replace("/", "%2F")))
            self.assertEqual(r.status_code, 400, (vol, r.text))
            self.assertIn("volume", r.json().get("errors", {}))
        self.assertTrue(os.path.exists("/etc/passwd"))

    def test_content_type_the_storage_does_not_allow(self):
        self.add_dir("isoonly", content="iso")
        r = self.admin().post("/nodes/%s/storage/isoonly/content" % NODE, data=dict(vmid=100, filename="", size="1M"))
        self.assertEqual(r.status_code, 400)
        self.assertIn("does not support", r.text)
        files = {"filename": ("t.tar.zst", b"x")}
        r = self.admin().post("/nodes/%s/storage/isoonly/upload" % NODE, data={"content": "vztmpl"}, files=files)
        self.assertEqual(r.status_code, 400)
        self.assertIn("content", r.json().get("errors", {}))
        self.assertEqual(os.listdir(os.path.join(self.work, "isoonly")), ["template"])  # nothing left behind

    # --- uploads -------------------------------------------------------------------------
    def test_upload_iso_with_proxmoxer_and_checksum(self):
        path = self.add_dir("up")
        iso = os.path.join(self.work, "debian test.iso")
        write_file(iso, 3 * 1024 * 1024 + 17)
        digest = sha256_of(iso)
        with open(iso, "rb") as f:
            upid = self.api.nodes(NODE).storage("up").upload.post(
                content="iso", filename=f, checksum=digest, **{"checksum-algorithm": "sha256"})
        st = follow(self.api, upid)
        self.assertEqual(st["exitstatus"], "OK", task_log(self.api, upid))
        stored = os.path.join(path, "template", "iso", "debian_test.iso")  # PVE's name normalisation
        self.assertEqual(sha256_of(stored), digest)
        content = self.api.nodes(NODE).storage("up").content.get(content="iso")
        self.assertEqual([(c["volid"], c["size"]) for c in content], [("up:iso/debian_test.iso", os.path.getsize(iso))])
        # the same name again is refused and the first file stays
        with open(iso, "rb") as f:
            with self.assertRaises(ResourceException) as cm:
                self.api.nodes(NODE).storage("up").upload.post(content="iso", filename=f)
        self.assertEqual(cm.exception.status_code, 400)
        self.assertEqual(sha256_of(stored), digest)
        self.assertEqual(self.leftovers(path), [])

    def test_upload_template_with_curl_progress_and_bad_checksum(self):
        path = self.add_dir("up2")
        tmpl = os.path.join(self.work, "debian-12-standard_12.7-1_amd64.tar.zst")
        write_file(tmpl, 2 * 1024 * 1024, seed=b"tmpl")
        s = self.admin()
        base = [
            "curl", "-sS", "-k", "--fail-with-body", "-H", "CSRFPreventionToken: " + s.csrf,
            "-b", "PVEAuthCookie=" + s.ticket.replace(":", "%3A").replace("=", "%3D").replace("+", "%2B"),
            "-F", "content=vztmpl", "-F", "filename=@" + tmpl,
            self.d.url("/nodes/%s/storage/up2/upload" % NODE)]
        bad = base[:-1] + ["-F", "checksum-algorithm=sha256", "-F", "checksum=" + "0" * 64, base[-1]]
        out = subprocess.run(bad, capture_output=True, text=True, timeout=60)
        self.assertEqual(out.returncode, 0, out.stderr + out.stdout)
        upid = __import__("json").loads(out.stdout)["data"]
        st = follow(self.api, upid)
        self.assertIn("checksum mismatch", st["exitstatus"])
        self.assertEqual(self.api.nodes(NODE).storage("up2").content.get(content="vztmpl"), [])
        self.assertEqual(self.leftovers(path), [])
        good = base[:-1] + ["-F", "checksum-algorithm=sha256", "-F", "checksum=" + sha256_of(tmpl), base[-1]]
        out = subprocess.run(good, capture_output=True, text=True, timeout=60)
        upid = __import__("json").loads(out.stdout)["data"]
        self.assertEqual(follow(self.api, upid)["exitstatus"], "OK")
        content = self.api.nodes(NODE).storage("up2").content.get(content="vztmpl")
        self.assertEqual([c["volid"] for c in content], ["up2:vztmpl/debian-12-standard_12.7-1_amd64.tar.zst"])
        self.assertEqual(content[0]["format"], "tgz")

    def test_upload_cut_short_leaves_nothing(self):
        path = self.add_dir("up3")
        s = self.admin()
        import socket as socketlib
        body_head = ("--b0undary\r\nContent-Disposition: form-data; name=\"content\"\r\n\r\niso\r\n"
                     "--b0undary\r\nContent-Disposition: form-data; name=\"filename\"; filename=\"cut.iso\"\r\n\r\n")
        req = ("POST /api2/json/nodes/%s/storage/up3/upload HTTP/1.1\r\nHost: x\r\n"
               "Cookie: PVEAuthCookie=%s\r\nCSRFPreventionToken: %s\r\n"
               "Content-Type: multipart/form-data; boundary=b0undary\r\nContent-Length: %d\r\n\r\n"
               % (NODE, __import__("urllib.parse").parse.quote(s.ticket, safe=""), s.csrf, 10 * 1024 * 1024))
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        with socketlib.create_connection(("127.0.0.1", self.d.port)) as raw:
            with ctx.wrap_socket(raw) as tls:
                tls.sendall(req.encode() + body_head.encode() + b"x" * (2 * 1024 * 1024))
                time.sleep(0.5)
        deadline = time.monotonic() + 10
        while self.leftovers(path) and time.monotonic() < deadline:
            time.sleep(0.1)
        self.assertEqual(self.leftovers(path), [])
        self.assertEqual(self.api.nodes(NODE).storage("up3").content.get(), [])

    @unittest.skipUnless(IS_ROOT, "needs root to mount a small tmpfs")
    def test_disk_full_during_upload(self):
        path = os.path.join(self.work, "small")
        os.makedirs(path)
        subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", path], check=True)
        self.addCleanup(subprocess.run, ["umount", "-l", path])
        self.api.storage.post(storage="small", type="dir", path=path, content="iso")
        self.addCleanup(self._remove_storage, "small")
        big = os.path.join(self.work, "big.iso")
        write_file(big, 12 * 1024 * 1024)
        with open(big, "rb") as f:
            r = self.admin().post("/nodes/%s/storage/small/upload" % NODE, data={"content": "iso"},
                                  files={"filename": ("big.iso", f)})
        self.assertEqual(r.status_code, 507, r.text)
        self.assertIn("No space left", r.text)
        self.assertEqual(self.leftovers(path), [])
        self.assertEqual(os.listdir(os.path.join(path, "template", "iso")), [])
        # pvxd still serves
        self.assertEqual(self.api.version.get()["release"], "9.1")

    # --- download-url --------------------------------------------------------------------
    def test_download_url_http_https_and_checksum(self):
        path = self.add_dir("dl", content="iso,vztmpl")
        srvdir = os.path.join(self.work, "srv")
        os.makedirs(srvdir, exist_ok=True)
        src = os.path.join(srvdir, "remote.iso")
        write_file(src, 5 * 1024 * 1024 + 3, seed=b"remote")
        plain = FileServer(srvdir)
        self.addCleanup(plain.close)
        sd = self.api.nodes(NODE).storage("dl")
        upid = sd("download-url").post(url=plain.url("remote.iso"), filename="remote.iso", content="iso",
                                       checksum=sha256_of(src), **{"checksum-algorithm": "sha256"})
        self.assertEqual(follow(self.api, upid)["exitstatus"], "OK", task_log(self.api, upid))
        self.assertEqual(sha256_of(os.path.join(path, "template", "iso", "remote.iso")), sha256_of(src))

        upid = sd("download-url").post(url=plain.url("missing.iso"), filename="missing.iso", content="iso")
        self.assertIn("404", follow(self.api, upid)["exitstatus"] + task_log(self.api, upid))
        upid = sd("download-url").post(url=plain.url("remote.iso"), filename="bad.iso", content="iso",
                                       checksum="0" * 64, **{"checksum-algorithm": "sha256"})
        self.assertIn("checksum mismatch", follow(self.api, upid)["exitstatus"])
        self.assertFalse(os.path.exists(os.path.join(path, "template", "iso", "bad.iso")))

        tls = FileServer(srvdir, tls=True)
        self.addCleanup(tls.close)
        upid = sd("download-url").post(url=tls.url("remote.iso"), filename="selfsigned.iso", content="iso")
        st = follow(self.api, upid)
        self.assertNotEqual(st["exitstatus"], "OK")  # the certificate is not trusted
        self.assertIn("certificate", (st["exitstatus"] + task_log(self.api, upid)).lower())
        upid = sd("download-url").post(url=tls.url("remote.iso"), filename="selfsigned.iso", content="iso",
                                       **{"verify-certificates": 0})
        self.assertEqual(follow(self.api, upid)["exitstatus"], "OK", task_log(self.api, upid))
        self.assertEqual(self.leftovers(path), [])

        r = self.admin().post("/nodes/%s/storage/dl/download-url" % NODE,
                              data=dict(url="file:///etc/passwd", filename="p.iso", content="iso"))
        self.assertEqual(r.status_code, 400)
        self.assertIn("url", r.json()["errors"])
        r = self.admin().post("/nodes/%s/storage/dl/download-url" % NODE,
                              data=dict(url=plain.url("remote.iso"), filename="x.exe", content="iso"))
        self.assertEqual(r.status_code, 400)
        self.assertIn("filename", r.json()["errors"])

    # --- network storage that is not there -----------------------------------------------
    def test_unreachable_nfs_server_fails_fast(self):
        start = time.monotonic()
        r = self.admin().post("/storage", data=dict(storage="nfs1", type="nfs", server="127.0.0.1",
                                                    export="/srv/nfs", content="iso"))
        self.assertGreaterEqual(r.status_code, 400)
        self.assertIn("not online", r.text)
        self.assertLess(time.monotonic() - start, 30)
        self.assertNotIn("nfs1", [s["storage"] for s in self.api.storage.get()])
        self.assertIn("version", self.api.version.get())

    # --- backups: notes, protection, prune -------------------------------------------------
    def test_backup_notes_protection_and_prune(self):
        path = self.add_dir("bk", content="backup")
        dump = os.path.join(path, "dump")
        names = ["vzdump-qemu-100-2024_01_0%d-12_00_00.vma.zst" % d for d in range(1, 6)]
        for n in names:
            with open(os.path.join(dump, n), "wb") as f:
                f.write(b"backup")
        sb = self.api.nodes(NODE).storage("bk")
        vol = "bk:backup/" + names[0]
        sb.content(vol).put(notes="first\nsecond", protected=1)
        info = sb.content(vol).get()
        self.assertEqual(info["notes"], "first\nsecond")
        self.assertEqual(info["protected"], 1)
        listed = {c["volid"]: c for c in sb.content.get(content="backup")}
        self.assertEqual(listed[vol]["notes"], "first")
        self.assertEqual(listed[vol]["vmid"], 100)
        with self.assertRaises(ResourceException):
            sb.content(vol).delete()

        plan = {p["volid"]: p["mark"] for p in sb.prunebackups.get(**{"prune-backups": "keep-last=2"})}
        self.assertEqual(plan[vol], "protected")
        self.assertEqual(plan["bk:backup/" + names[4]], "keep")
        self.assertEqual(plan["bk:backup/" + names[3]], "keep")
        self.assertEqual(plan["bk:backup/" + names[1]], "remove")
        out = self.d.cli("pvesm", "prune-backups", "bk", "--dry-run", "1", "--keep-last", "2").stdout
        self.assertRegex(out, r"bk:backup/%s\s.*remove" % names[1].replace(".", r"\."))
        self.assertRegex(out, r"bk:backup/%s\s.*protected" % names[0].replace(".", r"\."))
        r = self.admin().get("/nodes/%s/storage/bk/prunebackups" % NODE, params={"prune-backups": "keep-all=1,keep-last=1"})
        self.assertEqual(r.status_code, 400)
        self.assertIn("prune-backups", r.json()["errors"])
        upid = sb.prunebackups.delete(**{"prune-backups": "keep-last=2"})
        self.assertEqual(follow(self.api, upid)["exitstatus"], "OK")
        left = sorted(os.listdir(dump))
        self.assertIn(names[0], left)
        self.assertNotIn(names[1], left)
        self.assertIn(names[4], left)

    # --- btrfs on a loop device ----------------------------------------------------------
    @unittest.skipUnless(IS_ROOT and shutil.which("mkfs.btrfs") and shutil.which("losetup"),
                         "needs root, losetup and btrfs-progs")
    def test_btrfs_storage(self):
        img = os.path.join(self.work, "btrfs.img")
        with open(img, "wb") as f:
            f.truncate(256 * 1024 * 1024)
        loop = subprocess.run(["losetup", "--find", "--show", img], check=True, capture_output=True,
                              text=True).stdout.strip()
        self.addCleanup(subprocess.run, ["losetup", "-d", loop])
        subprocess.run(["mkfs.btrfs", "-q", "-f", loop], check=True, capture_output=True)
        mnt = os.path.join(self.work, "btrfs")
        os.makedirs(mnt)
        subprocess.run(["mount", loop, mnt], check=True)
        self.addCleanup(subprocess.run, ["umount", "-l", mnt])
        self.api.storage.post(storage="bt", type="btrfs", path=mnt, content="images,rootdir,iso")
        self.addCleanup(self._remove_storage, "bt")
        sv = self.api.nodes(NODE).storage("bt")
        vol = sv.content.post(vmid=200, filename="", size="16M")
        self.assertEqual(vol, "bt:200/vm-200-disk-0.raw")
        ct = sv.content.post(vmid=201, filename="", size="0", format="subvol")
        self.assertEqual(ct, "bt:201/subvol-201-disk-0.subvol")
        subvols = subprocess.run(["btrfs", "subvolume", "list", mnt], capture_output=True, text=True).stdout
        self.assertIn("vm-200-disk-0", subvols)
        self.assertIn("subvol-201-disk-0", subvols)
        listed = {c["volid"]: c for c in sv.content.get()}
        self.assertEqual(listed[vol]["size"], 16 << 20)
        self.assertEqual(listed[ct]["content"], "rootdir")
        st = sv.status.get()
        self.assertEqual(st["type"], "btrfs")
        self.assertEqual(st["active"], 1)
        self.assertEqual(follow(self.api, sv.content(vol).delete())["exitstatus"], "OK")
        self.assertNotIn("vm-200-disk-0", subprocess.run(["btrfs", "subvolume", "list", mnt],
                                                         capture_output=True, text=True).stdout)

    # --- pvesm ---------------------------------------------------------------------------
    def test_pvesm_commands(self):
        path = os.path.join(self.work, "cli")
        self.d.cli("pvesm", "add", "dir", "cli", "--path", path, "--content", "images,iso")
        self.addCleanup(self._remove_storage, "cli")
        self.d.cli("pvesm", "set", "cli", "--content", "images,iso,snippets")
        status = self.d.cli("pvesm", "status").stdout
        self.assertIn("cli", status)
        vol = self.d.cli("pvesm", "alloc", "cli", "300", "", "2M").stdout.strip()
        self.assertEqual(vol, "cli:300/vm-300-disk-0.raw")
        self.assertIn(vol, self.d.cli("pvesm", "list", "cli").stdout)
        p = self.d.cli("pvesm", "path", vol).stdout.strip()
        self.assertEqual(p, os.path.join(path, "images", "300", "vm-300-disk-0.raw"))
        with open(p, "r+b") as f:
            f.write(b"exported-data")
        dump = os.path.join(self.work, "vol.raw+size")
        self.d.cli("pvesm", "export", vol, "raw+size", dump)
        out = self.d.cli("pvesm", "import", "cli:301/vm-301-disk-0.raw", "raw+size", dump).stdout.strip()
        self.assertEqual(out, "cli:301/vm-301-disk-0.raw")
        with open(os.path.join(path, "images", "301", "vm-301-disk-0.raw"), "rb") as f:
            self.assertEqual(f.read(13), b"exported-data")
        # pvesm path computes names of volumes that do not exist yet, as PVE's does
        self.assertTrue(self.d.cli("pvesm", "path", "cli:300/vm-300-disk-9.qcow2").stdout.strip().endswith(
            "/images/300/vm-300-disk-9.qcow2"))
        self.d.cli("pvesm", "free", vol)
        self.assertNotIn(vol, self.d.cli("pvesm", "list", "cli").stdout)
        self.assertIn("APIVER", self.d.cli("pvesm", "apiinfo").stdout)
        res = self.d.cli("pvesm", "scan", "nfs", "999.1.1.1", check=False)
        self.assertNotEqual(res.returncode, 0)
        self.assertIn("server", res.stderr)
        self.d.cli("pvesm", "remove", "cli")
        self.assertNotIn("cli", [s["storage"] for s in self.api.storage.get()])

    def leftovers(self, path):
        """Temporary upload/download files anywhere below a storage."""
        found = []
        for root, _dirs, files in os.walk(path):
            found += [os.path.join(root, f) for f in files if f.startswith(".pvx-")]
        return found


if __name__ == "__main__":
    harness.main()
