#!/usr/bin/python3
"""Containers end to end on a real pvxd with real LXC: a busybox template made by `pveam build`,
privileged and unprivileged containers that start, get the address of their config inside and
reach the bridge, `pct exec`, push and pull, a clean shutdown, pending changes and live limits,
snapshots and rollback on a loop-mounted btrfs, templates and clones, a pvxd restart the
containers survive, bad input that fails clearly and leaves nothing mounted or running, and an
unprivileged user refused.

The suite runs in a network namespace of its own (re-executed under nsenter with the cgroup
hierarchies kept, which liblxc needs), so its bridge and veths never touch the host."""
import os
import re
import ssl
import subprocess
import sys
import tempfile
import time
import unittest
import urllib.parse

import harness
from harness import NODE

try:
    import websocket  # python3-websocket
except ImportError:  # pragma: no cover
    websocket = None

BRIDGE = "vmbr7"
BRIDGE_IP = "10.77.0.1"
TASK_TIMEOUT = 120


def run(*argv, check=True):
    return subprocess.run([str(a) for a in argv], check=check, capture_output=True, text=True)


def mounts_below(path):
    with open("/proc/self/mounts") as f:
        return [line.split()[1] for line in f if line.split()[1].startswith(path)]


def alive(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().split(") ")[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


@unittest.skipUnless(os.path.exists("/usr/bin/lxc-start"), "lxc is not installed")
class LxcSuite(harness.DaemonCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        d = cls.daemon
        run("ip", "link", "add", BRIDGE, "type", "bridge")
        run("ip", "addr", "add", BRIDGE_IP + "/24", "dev", BRIDGE)
        run("ip", "link", "set", BRIDGE, "up")
        out = d.cli("pveam", "build", "local").stdout.strip().splitlines()
        cls.template = [l for l in out if l.startswith("local:vztmpl/")][-1]
        cls.tmp = tempfile.mkdtemp(prefix="pvx-lxc-")
        # A loop-mounted btrfs for snapshots.
        cls.btrfs_img = os.path.join(cls.tmp, "btrfs.img")
        cls.btrfs_dir = os.path.join(cls.tmp, "btrfs")
        os.makedirs(cls.btrfs_dir)
        with open(cls.btrfs_img, "wb") as f:
            f.truncate(1 << 30)
        run("mkfs.btrfs", "-q", cls.btrfs_img)
        run("mount", "-o", "loop", cls.btrfs_img, cls.btrfs_dir)
        api = d.login(harness.TESTER, harness.TESTER_PW)
        api.data("POST", "/storage", data={"storage": "bt", "type": "btrfs", "path": cls.btrfs_dir,
                                           "content": "rootdir,images"})
        # A storage that cannot hold containers.
        iso_dir = os.path.join(cls.tmp, "isoonly")
        os.makedirs(iso_dir)
        api.data("POST", "/storage", data={"storage": "isoonly", "type": "dir", "path": iso_dir, "content": "iso"})

    @classmethod
    def tearDownClass(cls):
        try:
            super().tearDownClass()
        finally:
            run("umount", "-l", cls.btrfs_dir, check=False)
            run("ip", "link", "del", BRIDGE, check=False)
            subprocess.run(["rm", "-rf", cls.tmp])

    def setUp(self):
        self.api = self.admin()

    # --- helpers -------------------------------------------------------------------------
    def ct(self, vmid, sub=""):
        return "/nodes/%s/lxc/%d%s" % (NODE, vmid, sub)

    def task_ok(self, upid, timeout=TASK_TIMEOUT):
        st = self.api.wait_task(upid, timeout)
        if st["exitstatus"] != "OK":
            log = self.api.data("GET", "/nodes/%s/tasks/%s/log" % (NODE, upid), params={"limit": 200})
            self.fail("task %s: %s\n%s" % (upid, st["exitstatus"], "\n".join(l["t"] for l in log)))
        return st

    def task_error(self, upid, timeout=TASK_TIMEOUT):
        st = self.api.wait_task(upid, timeout)
        self.assertNotEqual(st["exitstatus"], "OK")
        return st["exitstatus"]

    def create(self, vmid, ip, **extra):
        params = {"vmid": vmid, "ostemplate": self.template, "hostname": "ct%d" % vmid,
                  "net0": "name=eth0,bridge=%s,ip=%s/24,gw=%s" % (BRIDGE, ip, BRIDGE_IP),
                  "rootfs": "local:0", "password": "pvx-test-pw"}
        params.update(extra)
        self.task_ok(self.api.data("POST", "/nodes/%s/lxc" % NODE, data=params))

    def start(self, vmid):
        self.task_ok(self.api.data("POST", self.ct(vmid, "/status/start")))

    def stop(self, vmid):
        self.task_ok(self.api.data("POST", self.ct(vmid, "/status/stop")))

    def status(self, vmid):
        return self.api.data("GET", self.ct(vmid, "/status/current"))

    def pct(self, *args, check=True):
        return self.d.cli("pct", *args, check=check)

    def inside(self, vmid, *command):
        return self.pct("exec", vmid, "--", *command).stdout

    def wait_for(self, vmid, command, want, timeout=20):
        deadline = time.time() + timeout
        out = ""
        while time.time() < deadline:
            out = self.pct("exec", vmid, "--", *command, check=False).stdout
            if want in out:
                return out
            time.sleep(0.3)
        self.fail("%r never showed %r: %r" % (command, want, out))

    def destroy(self, vmid):
        if self.status(vmid)["status"] == "running":
            self.stop(vmid)
        self.task_ok(self.api.data("DELETE", self.ct(vmid), params={"purge": 1}))

    # --- lifecycle -------------------------------------------------------------------------
    def test_privileged_lifecycle(self):
        self.create(301, "10.77.0.31", memory=256, cores=1)
        conf = self.api.data("GET", self.ct(301, "/config"))
        self.assertEqual(conf["ostype"], "debian")  # the template's os-release: ID_LIKE=debian
        self.assertEqual(conf["memory"], 256)
        self.assertRegex(conf["net0"], r"hwaddr=BC:24:11:")
        self.start(301)
        st = self.status(301)
        self.assertEqual(st["status"], "running")
        self.assertTrue(alive(st["pid"]))
        time.sleep(1.1)
        self.assertGreaterEqual(self.status(301)["uptime"], 1)
        # The address of the config, configured inside by the template's init.
        self.wait_for(301, ["ip", "-4", "addr", "show", "eth0"], "10.77.0.31/24")
        self.assertEqual(self.inside(301, "hostname").strip(), "ct301")
        self.inside(301, "ping", "-c", "1", "-W", "3", BRIDGE_IP)
        # push and pull
        src = os.path.join(self.tmp, "push.txt")
        with open(src, "w") as f:
            f.write("pushed by the test\n")
        self.pct("push", 301, src, "/root/pushed.txt", "--perms", "0600")
        self.assertEqual(self.inside(301, "cat", "/root/pushed.txt"), "pushed by the test\n")
        self.assertIn("-rw-------", self.inside(301, "ls", "-l", "/root/pushed.txt"))
        dst = os.path.join(self.tmp, "pulled.txt")
        self.pct("pull", 301, "/etc/hostname", dst)
        with open(dst) as f:
            self.assertEqual(f.read().strip(), "ct301")
        # The listing shows live figures.
        entry = [e for e in self.api.data("GET", "/nodes/%s/lxc" % NODE) if e["vmid"] == 301][0]
        self.assertEqual(entry["status"], "running")
        self.assertEqual(entry["maxmem"], 256 * 1024 * 1024)
        self.assertGreater(entry["mem"], 0)
        res = [e for e in self.api.data("GET", "/cluster/resources", params={"type": "vm"}) if e["id"] == "lxc/301"]
        self.assertEqual(res[0]["type"], "lxc")
        # A clean shutdown through the halt signal; nothing stays mounted.
        self.task_ok(self.api.data("POST", self.ct(301, "/status/shutdown"), data={"timeout": 30}))
        self.assertEqual(self.status(301)["status"], "stopped")
        self.assertFalse(alive(st["pid"]))
        self.assertEqual(mounts_below(os.path.join(self.d.data_dir, "run", "lxc", "301")), [])
        self.destroy(301)
        self.assertNotIn(301, [e["vmid"] for e in self.api.data("GET", "/nodes/%s/lxc" % NODE)])

    def test_unprivileged_container_maps_ids(self):
        self.create(302, "10.77.0.32", unprivileged=1, rootfs="local:1")
        self.start(302)
        pid = self.status(302)["pid"]
        with open("/proc/%d/uid_map" % pid) as f:
            self.assertEqual(f.read().split(), ["0", "100000", "65536"])
        self.assertIn("uid=0(root)", self.inside(302, "id"))
        # Files of the container belong to the mapped root on the host's side.
        self.assertEqual(self.inside(302, "stat", "-c", "%u", "/etc/hostname").strip(), "0")
        self.wait_for(302, ["ip", "-4", "addr", "show", "eth0"], "10.77.0.32/24")
        self.inside(302, "ping", "-c", "1", "-W", "3", BRIDGE_IP)
        self.destroy(302)

    def test_config_pending_and_live_limits(self):
        self.create(303, "10.77.0.33")
        self.start(303)
        cfg = self.api.data("GET", self.ct(303, "/config"))
        self.api.data("PUT", self.ct(303, "/config"), data={"memory": 384, "hostname": "renamed",
                                                            "digest": cfg["digest"]})
        with open("/sys/fs/cgroup/memory/lxc/303/memory.limit_in_bytes") as f:
            self.assertEqual(int(f.read()), 384 * 1024 * 1024)
        pending = {e["key"]: e for e in self.api.data("GET", self.ct(303, "/pending"))}
        self.assertEqual(pending["hostname"]["pending"], "renamed")
        self.assertEqual(self.api.data("GET", self.ct(303, "/config"), params={"current": 1})["hostname"], "ct303")
        # A stale digest is refused.
        r = self.api.put(self.ct(303, "/config"), data={"memory": 300, "digest": cfg["digest"]})
        self.assertEqual(r.status_code, 400)
        # Pending changes apply at the next start.
        self.stop(303)
        self.start(303)
        self.assertEqual(self.inside(303, "hostname").strip(), "renamed")
        self.destroy(303)

    def test_snapshot_rollback_on_btrfs_clone_and_template(self):
        self.create(304, "10.77.0.34", rootfs="bt:1")
        self.start(304)
        self.inside(304, "sh", "-c", "echo before > /root/state")
        self.task_ok(self.api.data("POST", self.ct(304, "/snapshot"), data={"snapname": "s1", "description": "first"}))
        self.inside(304, "sh", "-c", "echo after > /root/state")
        snaps = {s["name"]: s for s in self.api.data("GET", self.ct(304, "/snapshot"))}
        self.assertEqual(snaps["s1"]["description"], "first")
        self.assertEqual(snaps["current"]["parent"], "s1")
        self.task_ok(self.api.data("POST", self.ct(304, "/snapshot/s1/rollback"), data={"start": 1}))
        self.assertEqual(self.status(304)["status"], "running")
        self.assertEqual(self.inside(304, "cat", "/root/state").strip(), "before")
        self.stop(304)
        self.task_ok(self.api.data("DELETE", self.ct(304, "/snapshot/s1")))
        # Template, then a linked clone that boots with its own MAC and name.
        self.assertIsNone(self.api.data("POST", self.ct(304, "/template")))
        self.assertEqual(self.api.data("GET", self.ct(304, "/config"))["template"], 1)
        r = self.api.post(self.ct(304, "/status/start"))
        self.assertEqual(r.status_code, 500)
        self.task_ok(self.api.data("POST", self.ct(304, "/clone"), data={"newid": 305, "hostname": "clone305"}))
        c305 = self.api.data("GET", self.ct(305, "/config"))
        self.assertNotEqual(c305["net0"], self.api.data("GET", self.ct(304, "/config"))["net0"])
        self.api.data("PUT", self.ct(305, "/config"),
                      data={"net0": "name=eth0,bridge=%s,ip=10.77.0.35/24,gw=%s" % (BRIDGE, BRIDGE_IP)})
        self.start(305)
        self.assertEqual(self.inside(305, "cat", "/root/state").strip(), "before")
        self.assertEqual(self.inside(305, "hostname").strip(), "clone305")
        self.destroy(305)
        # A full clone of a stopped container on a directory storage.
        self.create(306, "10.77.0.36")
        self.task_ok(self.api.data("POST", self.ct(306, "/clone"), data={"newid": 307, "full": 1}))
        self.assertRegex(self.api.data("GET", self.ct(307, "/config"))["rootfs"], r"^local:307/subvol-307-disk-0")
        self.start(307)
        self.assertEqual(self.inside(307, "hostname").strip(), "ct306")
        self.destroy(307)
        self.destroy(306)
        self.destroy(304)

    def test_move_volume_and_resize(self):
        self.create(311, "10.77.0.51", rootfs="local:1")
        self.task_ok(self.api.data("PUT", self.ct(311, "/resize"), data={"disk": "rootfs", "size": "+512M"}))
        self.assertIn("size=1536M", self.api.data("GET", self.ct(311, "/config"))["rootfs"])
        self.task_ok(self.api.data("POST", self.ct(311, "/move_volume"),
                                   data={"volume": "rootfs", "storage": "bt", "delete": 1}))
        conf = self.api.data("GET", self.ct(311, "/config"))
        self.assertTrue(conf["rootfs"].startswith("bt:"), conf["rootfs"])
        self.assertFalse(any(k.startswith("unused") for k in conf))
        self.start(311)
        self.assertEqual(self.inside(311, "hostname").strip(), "ct311")
        size_kib = int(self.inside(311, "df", "-k", "/").splitlines()[-1].split()[1])
        self.assertGreater(size_kib, 1200 * 1024)
        self.destroy(311)

    def test_containers_survive_a_pvxd_restart(self):
        self.create(308, "10.77.0.38")
        self.start(308)
        pid = self.status(308)["pid"]
        self.d.stop()
        self.assertTrue(alive(pid))
        self.d.start()
        self.api = self.admin()
        st = self.status(308)
        self.assertEqual(st["status"], "running")
        self.assertEqual(st["pid"], pid)
        self.pct("exec", 308, "--", "true")
        self.stop(308)
        self.assertFalse(alive(pid))
        self.destroy(308)

    def test_pct_cli(self):
        self.pct("create", 309, self.template, "--rootfs", "local:1", "--hostname", "cli309")
        self.assertIn("cli309", self.pct("list").stdout)
        self.pct("set", 309, "--memory", "200", "--description", "from pct")
        self.assertIn("memory: 200", self.pct("config", 309).stdout)
        # mount, fsck and unmount of the stopped container's filesystem
        out = self.pct("mount", 309).stdout
        root = os.path.join(self.d.data_dir, "run", "lxc", "309", "rootfs")
        self.assertIn(root, out)
        with open(os.path.join(root, "etc", "hostname")) as f:
            self.assertEqual(f.read().strip(), "cli309")
        self.assertIn("lock: mounted", self.pct("config", 309).stdout)
        self.assertNotEqual(self.pct("start", 309, check=False).returncode, 0)
        self.pct("unmount", 309)
        self.assertEqual(mounts_below(root), [])
        self.assertNotIn("lock:", self.pct("config", 309).stdout)
        self.assertRegex(self.pct("fsck", 309, "--force").stdout, r"vm-309-disk-0.raw: .*files")
        self.pct("start", 309)
        self.assertIn("status: running", self.pct("status", 309).stdout)
        self.assertRegex(self.pct("df", 309).stdout, r"rootfs\s+local:309/vm-309-disk-0.raw\s+\S+")
        self.assertEqual(self.pct("exec", 309, "--", "sh", "-c", "echo $((6*7))").stdout.strip(), "42")
        rc = self.pct("exec", 309, "--", "sh", "-c", "exit 3", check=False).returncode
        self.assertEqual(rc, 3)
        self.pct("suspend", 309)
        self.pct("resume", 309)
        self.pct("reboot", 309)
        self.assertIn("status: running", self.pct("status", 309).stdout)
        self.pct("stop", 309)
        self.pct("destroy", 309)
        self.assertNotIn("cli309", self.pct("list").stdout)

    @unittest.skipUnless(websocket, "python3-websocket is not installed")
    def test_console_over_termproxy(self):
        self.create(310, "10.77.0.40", cmode="console")
        self.start(310)
        term = self.api.data("POST", self.ct(310, "/termproxy"))
        self.assertEqual(sorted(term), ["port", "ticket", "upid", "user"])
        url = "wss://127.0.0.1:%d/api2/json%s?port=%d&vncticket=%s" % (
            self.d.port, self.ct(310, "/vncwebsocket"), term["port"], urllib.parse.quote(term["ticket"], safe=""))
        ws = websocket.create_connection(url, sslopt={"cert_reqs": ssl.CERT_NONE},
                                         cookie="PVEAuthCookie=" + urllib.parse.quote(self.api.ticket, safe=""),
                                         subprotocols=["binary"], timeout=30)
        ws.send("%s:%s\n" % (term["user"], term["ticket"]))
        buf = b""
        deadline = time.monotonic() + 30

        def typed(text):
            ws.send("0:%d:%s" % (len(text), text))

        # The console has a shell or a getty (then root logs in with the password of create).
        step = "auth"
        while b"pvx-42" not in buf:
            self.assertLess(time.monotonic(), deadline, buf[-500:])
            if step == "auth" and buf.startswith(b"OK"):
                ws.send("1:100:30:")
                typed("\r")
                step = "prompt"
            elif step == "prompt" and re.search(rb"login: *$", buf):
                typed("root\r")
                step = "password"
            elif step == "password" and re.search(rb"[Pp]assword: *$", buf):
                typed("pvx-test-pw\r")
                step = "prompt"
            elif step == "prompt" and re.search(rb"[#$] *(\x1b\[6n)?$", buf):
                typed("echo pvx-$((6*7))\r")
                step = "command"
            try:
                ws.settimeout(0.5)
                data = ws.recv()
                buf += data.encode() if isinstance(data, str) else data
            except websocket.WebSocketTimeoutException:
                pass
        self.assertTrue(buf.startswith(b"OK"))
        ws.close()
        self.assertEqual(self.api.wait_task(term["upid"], 30)["exitstatus"], "OK")
        # A VNC console of a container is refused clearly.
        self.assertEqual(self.api.post(self.ct(310, "/vncproxy")).status_code, 501)
        self.destroy(310)

    # --- bad input and faults ---------------------------------------------------------------
    def bad_create(self, **params):
        base = {"vmid": 320, "ostemplate": self.template, "rootfs": "local:0"}
        base.update(params)
        r = self.api.post("/nodes/%s/lxc" % NODE, data=base)
        return r

    def test_bad_input_is_refused_clearly(self):
        r = self.bad_create(ostemplate="local:vztmpl/missing.tar.gz")
        self.assertEqual(r.status_code, 400)
        self.assertIn("ostemplate", r.json()["errors"])
        r = self.bad_create(rootfs="isoonly:1")
        self.assertEqual(r.status_code, 400)
        self.assertIn("container directories", r.json()["errors"]["rootfs"])
        r = self.bad_create(hostname="bad_host!")
        self.assertEqual(r.status_code, 400)
        self.assertIn("hostname", r.json()["errors"])
        r = self.bad_create(mp0="local:1,mp=/srv/../../etc")
        self.assertEqual(r.status_code, 400)
        self.assertIn("mp0", r.json()["errors"])
        # None of them left a config behind.
        self.assertNotIn(320, [e["vmid"] for e in self.api.data("GET", "/nodes/%s/lxc" % NODE)])

    def test_failed_starts_leave_nothing_behind(self):
        run_dir = os.path.join(self.d.data_dir, "run", "lxc")
        # A bind mount of a path that does not exist (set as root over the local socket).
        self.create(321, "10.77.0.41")
        self.pct("set", 321, "--mp0", "/nonexistent/pvx-path,mp=/mnt/x")
        upid = self.api.data("POST", self.ct(321, "/status/start"))
        self.assertIn("does not exist", self.task_error(upid))
        self.assertEqual(self.status(321)["status"], "stopped")
        self.assertEqual(mounts_below(os.path.join(run_dir, "321")), [])
        # A rootfs volume that is gone.
        self.create(322, "10.77.0.42", rootfs="local:1")
        vol = self.api.data("GET", self.ct(322, "/config"))["rootfs"].split(",")[0]
        path = self.api.data("GET", "/nodes/%s/storage/local/content/%s" % (NODE, vol))["path"]
        os.unlink(path)
        upid = self.api.data("POST", self.ct(322, "/status/start"))
        self.assertIn("does not exist", self.task_error(upid))
        self.assertEqual(self.status(322)["status"], "stopped")
        self.assertEqual(mounts_below(os.path.join(run_dir, "322")), [])
        # A missing bridge.
        self.create(323, "10.77.0.43")
        self.api.data("PUT", self.ct(323, "/config"), data={"net0": "name=eth0,bridge=nosuchbr0,ip=dhcp"})
        upid = self.api.data("POST", self.ct(323, "/status/start"))
        self.assertIn("nosuchbr0", self.task_error(upid))
        for vmid in (321, 323):
            self.task_ok(self.api.data("DELETE", self.ct(vmid)))
        # The volume that is gone cannot be freed: a warning, and the container is gone anyway.
        st = self.api.wait_task(self.api.data("DELETE", self.ct(322)), TASK_TIMEOUT)
        self.assertIn(st["exitstatus"], ("OK", "WARNINGS: 1"))
        self.assertEqual(self.api.get(self.ct(322, "/config")).status_code, 500)

    def test_unprivileged_user_is_refused(self):
        self.create(324, "10.77.0.44")
        nopriv = self.d.login(harness.NOPRIV, harness.NOPRIV_PW)
        self.assertEqual(nopriv.post(self.ct(324, "/status/start")).status_code, 403)
        self.assertEqual(nopriv.get(self.ct(324, "/config")).status_code, 403)
        self.assertEqual(nopriv.put(self.ct(324, "/config"), data={"memory": 128}).status_code, 403)
        self.assertEqual(nopriv.delete(self.ct(324)).status_code, 403)
        r = nopriv.post("/nodes/%s/lxc" % NODE, data={"vmid": 325, "ostemplate": self.template})
        self.assertEqual(r.status_code, 403)
        self.assertEqual([e for e in nopriv.data("GET", "/nodes/%s/lxc" % NODE)], [])
        self.task_ok(self.api.data("DELETE", self.ct(324)))


if __name__ == "__main__":
    if os.geteuid() != 0:
        print("test_lxc: needs root for containers and network namespaces; skipped")
        sys.exit(0)
    if not harness.in_own_netns():
        sys.exit(harness.rerun_in_own_netns(__file__, "pvx-itest-lxc", cgroups=True))
    harness.main()
