"""Node networking with a real pvxd: the default NAT bridge with its supervised dnsmasq, DHCP and
masquerading checked with real packets, bridges, VLANs and bonds created through the API and
checked with `ip -j` and `bridge -j`, pending changes, revert, a failed apply that rolls back,
bad input, permissions, and a restart.

The suite runs in a network namespace of its own (it re-executes itself under `ip netns exec`),
so pvxd's vmbr0, its nftables table and every test host live only there; the "hosts" of the
tests are further namespaces attached with veth pairs. Traffic never leaves them.
"""
import json
import os
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
import unittest

import harness



def run(*argv, check=True, ns=None):
    argv = [str(a) for a in argv]
    if ns:
        argv = ["ip", "netns", "exec", ns] + argv
    res = subprocess.run(argv, capture_output=True, text=True, timeout=60)
    if check and res.returncode != 0:
        raise AssertionError("%s failed (%d): %s" % (" ".join(argv), res.returncode, res.stderr.strip()))
    return res


def ip_json(*args, ns=None):
    out = run("ip", "-j", *args, ns=ns).stdout
    return json.loads(out) if out.strip() else []


def link(name):
    found = ip_json("-d", "link", "show", "dev", name) if run("ip", "link", "show", "dev", name, check=False).returncode == 0 else []
    return found[0] if found else None


def addrs(name):
    return sorted("%s/%d" % (a["local"], a["prefixlen"]) for e in ip_json("addr", "show", "dev", name)
                  for a in e.get("addr_info", []) if a.get("scope") != "link")


def port_vids(name):
    """{vid: flags} of a bridge port as `bridge -j vlan` shows them (ranges expanded)."""
    out = {}
    for entry in json.loads(run("bridge", "-j", "vlan", "show", "dev", name).stdout or "[]"):
        for v in entry.get("vlans", []):
            for vid in range(v["vlan"], v.get("vlanEnd", v["vlan"]) + 1):
                out[vid] = sorted(v.get("flags", []))
    return out


def ping(target, ns, check=True, wait=3):
    """busybox's ping: Debian's iputils-ping is not always installed, busybox is a test dependency."""
    return run("busybox", "ping", "-c", "1", "-W", str(wait), target, ns=ns, check=check)


def kernel_can(*link_add):
    """Minimal VM kernels are built without some drivers (bonding, 8021q, bridge VLAN filtering):
    probe with `ip link add` in the suite's namespace and leave those parts out when missing."""
    ok = run("ip", "link", "add", "pvxprobe0", *link_add, check=False).returncode == 0
    run("ip", "link", "del", "pvxprobe0", check=False)
    return ok


def kernel_has_bonding():
    return kernel_can("type", "bond")


def kernel_has_vlan_filtering():
    return kernel_can("type", "bridge", "vlan_filtering", "1")


def kernel_has_8021q():
    return kernel_can("link", "lo", "type", "vlan", "id", "5")


def kernel_state():
    """What a failed apply must leave unchanged: links with master/mtu/flags, addresses, VLANs."""
    links = {}
    for l in ip_json("-d", "link"):
        kind = l.get("linkinfo", {}).get("info_kind", "")
        links[l["ifname"]] = (kind, l.get("master", ""), l["mtu"], "UP" in l["flags"])
    vlans = json.loads(run("bridge", "-j", "vlan", "show").stdout or "[]")
    addresses = sorted((e["ifname"], a["local"], a["prefixlen"]) for e in ip_json("addr")
                       for a in e.get("addr_info", []) if a.get("scope") != "link")
    return links, json.dumps(vlans, sort_keys=True), addresses


UDHCPC_SCRIPT = """#!/bin/sh
case "$1" in
  bound|renew)
    ip addr flush dev "$interface"
    ip addr add "$ip/${mask:-24}" dev "$interface"
    [ -n "$router" ] && ip route replace default via "${router%% *}" dev "$interface"
    ;;
esac
exit 0
"""


class NetworkSuite(harness.DaemonCase):
    daemon_args = ()  # the default NAT bridge is what this suite is about

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="pvx-net-")
        cls.script = os.path.join(cls.tmp, "udhcpc.sh")
        with open(cls.script, "w") as f:
            f.write(UDHCPC_SCRIPT)
        os.chmod(cls.script, 0o755)
        cls.hosts = []
        super().setUpClass()

    @classmethod
    def tearDownClass(cls):
        try:
            super().tearDownClass()
        finally:
            for ns in cls.hosts:
                run("ip", "netns", "del", ns, check=False)

    # --- helpers -----------------------------------------------------------------------
    def node_path(self, suffix=""):
        return "/nodes/%s/network%s" % (self.d.node, suffix)

    def listing(self, session=None, **params):
        r = (session or self.admin()).get(self.node_path(), params=params)
        self.assertEqual(r.status_code, 200, r.text)
        return r.json()

    def entry(self, iface):
        for e in self.listing()["data"]:
            if e["iface"] == iface:
                return e
        return None

    def apply(self, expect_ok=True):
        s = self.admin()
        upid = s.data("PUT", self.node_path())
        st = s.wait_task(upid, timeout=60)
        if expect_ok:
            self.assertEqual(st["exitstatus"], "OK", self.task_log(upid))
        return st, upid

    def task_log(self, upid):
        node = upid.split(":")[1]
        lines = self.admin().data("GET", "/nodes/%s/tasks/%s/log" % (node, upid), params={"limit": 0})
        return "\n".join(l["t"] for l in lines)

    def add_host(self, name, bridge="vmbr0"):
        """A namespace "host" whose eth0 is a veth peer plugged into `bridge`."""
        ns = "%s-%d" % (name, os.getpid())
        run("ip", "netns", "add", ns)
        self.hosts.append(ns)
        host_side = "v" + name
        run("ip", "link", "add", host_side, "type", "veth", "peer", "name", host_side + "p")
        run("ip", "link", "set", host_side + "p", "netns", ns)
        run("ip", "-n", ns, "link", "set", host_side + "p", "name", "eth0")
        run("ip", "-n", ns, "link", "set", "lo", "up")
        run("ip", "-n", ns, "link", "set", "eth0", "up")
        run("ip", "link", "set", host_side, "master", bridge, "up")
        return ns

    def dhcp(self, ns):
        run("busybox", "udhcpc", "-i", "eth0", "-n", "-q", "-t", "8", "-T", "1", "-s", self.script, ns=ns)
        got = [a["local"] for e in ip_json("addr", "show", "dev", "eth0", ns=ns)
               for a in e.get("addr_info", []) if a["family"] == "inet"]
        self.assertEqual(len(got), 1, got)
        return got[0]

    def dnsmasq_pid(self):
        path = os.path.join(self.d.data_dir, "network", "dnsmasq-vmbr0.pid")
        try:
            pid = int(open(path).read().strip())
        except (OSError, ValueError):
            return 0
        try:
            with open("/proc/%d/comm" % pid) as f:
                return pid if f.read().strip() == "dnsmasq" else 0
        except OSError:
            return 0

    def wait_for(self, what, fn, timeout=15):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            v = fn()
            if v:
                return v
            time.sleep(0.2)
        self.fail("timed out waiting for " + what)

    def errors_of(self, r):
        self.assertEqual(r.status_code, 400, r.text)
        return r.json().get("errors") or {}

    # --- the default bridge --------------------------------------------------------------
    def test_01_default_nat_bridge(self):
        br = link("vmbr0")
        self.assertIsNotNone(br, "vmbr0 was not created at first start")
        self.assertEqual(br["linkinfo"]["info_kind"], "bridge")
        self.assertIn("UP", br["flags"])
        # A fresh namespace has no routes but loopback's, so the first candidate subnet is free.
        self.assertEqual(addrs("vmbr0"), ["10.187.0.1/24"])
        with open("/proc/sys/net/ipv4/ip_forward") as f:
            self.assertEqual(f.read().strip(), "1")
        rules = json.loads(run("nft", "-j", "list", "table", "ip", "pvx_nat").stdout)["nftables"]
        masq = [r for r in rules if "rule" in r and any("masquerade" in e for e in r["rule"]["expr"])]
        self.assertTrue(masq, rules)
        self.wait_for("dnsmasq", self.dnsmasq_pid)

        e = self.entry("vmbr0")
        self.assertEqual(e["type"], "bridge")
        self.assertEqual(e["cidr"], "10.187.0.1/24")
        self.assertEqual(e["address"], "10.187.0.1")
        self.assertEqual(e["method"], "static")
        self.assertEqual(e["families"], ["inet"])
        self.assertEqual(e["active"], 1)
        self.assertEqual(e["autostart"], 1)
        self.assertEqual(e["bridge_ports"], "")
        self.assertIn("NAT", e.get("comments", ""))

    def test_02_listing_matches_ip(self):
        checked = 0
        for e in self.listing()["data"]:
            l = link(e["iface"])
            if l is None:
                continue
            checked += 1
            self.assertEqual(bool(e.get("active")), "UP" in l["flags"], e)
            if "cidr" in e:
                self.assertIn(e["cidr"], addrs(e["iface"]), e)
            if e["type"] == "bridge":
                ports = sorted(p["ifname"] for p in ip_json("link", "show", "master", e["iface"]))
                configured = sorted(e.get("bridge_ports", "").split())
                self.assertTrue(set(configured) <= set(ports), (configured, ports))
        self.assertGreater(checked, 0)
        # Filters.
        types = {e["type"] for e in self.listing(type="any_bridge")["data"]}
        self.assertEqual(types, {"bridge"})
        self.assertEqual(self.listing(type="bond")["data"], [])

    def test_03_dhcp_leases_and_ping(self):
        a = self.add_host("pvxa")
        b = self.add_host("pvxb")
        ip_a, ip_b = self.dhcp(a), self.dhcp(b)
        for ip in (ip_a, ip_b):
            self.assertTrue(ip.startswith("10.187.0."), ip)
            self.assertGreaterEqual(int(ip.rsplit(".", 1)[1]), 100)
        self.assertNotEqual(ip_a, ip_b)
        ping(ip_b, ns=a)
        ping(ip_a, ns=b)
        ping("10.187.0.1", ns=a)  # the bridge itself
        with open(os.path.join(self.d.data_dir, "network", "dnsmasq-vmbr0.leases")) as f:
            leases = f.read()
        self.assertIn(ip_a, leases)
        self.assertIn(ip_b, leases)

    def test_04_masquerade_to_the_outside(self):
        inside = self.hosts[0] if self.hosts else self.add_host("pvxa")
        if not any(a["family"] == "inet" for e in ip_json("addr", "show", "dev", "eth0", ns=inside)
                   for a in e.get("addr_info", [])):
            self.dhcp(inside)
        outside = "pvxout-%d" % os.getpid()
        run("ip", "netns", "add", outside)
        self.hosts.append(outside)
        run("ip", "link", "add", "uplink0", "type", "veth", "peer", "name", "uplink0p")
        run("ip", "link", "set", "uplink0p", "netns", outside)
        run("ip", "addr", "add", "198.51.100.1/24", "dev", "uplink0")
        run("ip", "link", "set", "uplink0", "up")
        run("ip", "-n", outside, "addr", "add", "198.51.100.2/24", "dev", "uplink0p")
        run("ip", "-n", outside, "link", "set", "uplink0p", "up")
        # The outside has no route back to 10.187.0.0/24: only masqueraded packets get answers.
        ping("198.51.100.2", ns=inside)
        # Proof that it is the rule: without pvx's table the same ping gets no answer.
        saved = run("nft", "list", "table", "ip", "pvx_nat").stdout
        run("nft", "delete", "table", "ip", "pvx_nat")
        try:
            self.assertNotEqual(ping("198.51.100.2", ns=inside, check=False, wait=2).returncode, 0)
        finally:
            with tempfile.NamedTemporaryFile("w", suffix=".nft", delete=False) as f:
                f.write(saved)
            run("nft", "-f", f.name)
            os.unlink(f.name)
        ping("198.51.100.2", ns=inside)

    def test_05_dnsmasq_is_restarted(self):
        old = self.wait_for("dnsmasq", self.dnsmasq_pid)
        os.kill(old, signal.SIGKILL)
        new = self.wait_for("a new dnsmasq", lambda: (lambda p: p if p and p != old else 0)(self.dnsmasq_pid()), timeout=20)
        self.assertNotEqual(new, old)
        c = self.add_host("pvxc")
        self.assertTrue(self.dhcp(c).startswith("10.187.0."))

    # --- staged changes and apply -----------------------------------------------------------
    def make_nics(self, *names):
        for n in names:
            if not link(n):
                run("ip", "link", "add", n, "type", "veth", "peer", "name", n + "p")

    def test_06_create_apply_bridge_bond_vlans(self):
        self.make_nics("nic1", "nic2", "nic3")
        bonding, filtering, vlans = kernel_has_bonding(), kernel_has_vlan_filtering(), kernel_has_8021q()
        missing = [n for n, ok in (("bonding", bonding), ("bridge VLAN filtering", filtering), ("8021q", vlans)) if not ok]
        if missing:
            print("\n  this kernel lacks %s: those parts are left out" % ", ".join(missing), file=sys.stderr)
        raw = "bond0" if bonding else "nic1"
        s = self.admin()
        vmbr9 = {"iface": "vmbr9", "type": "bridge", "bridge_ports": "nic3", "cidr": "192.168.99.1/24",
                 "comments": "lab trunk", "autostart": 1}
        if filtering:
            vmbr9.update({"bridge_vlan_aware": 1, "bridge_vids": "10 20-30"})
        s.data("POST", self.node_path(), data=vmbr9)
        ports10 = "nic2" if bonding else "nic1 nic2"
        s.data("POST", self.node_path(), data={"iface": "vmbr10", "type": "bridge", "bridge_ports": ports10,
                                              "mtu": 1400, "cidr": "192.168.100.1/24", "gateway": "192.168.100.254"})
        if bonding:
            s.data("POST", self.node_path(), data={
                "iface": "bond0", "type": "bond", "slaves": "nic1", "bond_mode": "active-backup",
                "bond-primary": "nic1", "mtu": 1400})
        if vlans:
            s.data("POST", self.node_path(), data={"iface": "vlan55", "type": "vlan", "vlan-raw-device": raw})
            s.data("POST", self.node_path(), data={"iface": "vmbr9.10", "type": "vlan", "cidr": "10.10.0.2/24"})

        listed = self.listing()
        self.assertIn("changes", listed)
        self.assertIn("+iface vmbr9 inet static", listed["changes"])
        self.assertIsNone(link("vmbr9"), "a staged change must not touch the kernel")
        e = {x["iface"]: x for x in listed["data"]}
        self.assertEqual(e["vmbr10"]["mtu"], 1400)
        if filtering:
            self.assertEqual(e["vmbr9"]["bridge_vids"], "10 20-30")
        if vlans:
            self.assertEqual(e["vlan55"]["vlan-id"], 55)
            self.assertEqual(e["vlan55"]["vlan-raw-device"], raw)

        st, upid = self.apply()
        br = link("vmbr9")
        self.assertEqual(br["linkinfo"]["info_kind"], "bridge")
        self.assertEqual(addrs("vmbr9"), ["192.168.99.1/24"])
        self.assertEqual(link("nic3")["master"], "vmbr9")
        self.assertIn("UP", br["flags"])
        br10 = link("vmbr10")
        self.assertEqual(br10["mtu"], 1400)
        self.assertEqual(addrs("vmbr10"), ["192.168.100.1/24"])
        for port in ports10.split():
            self.assertEqual(link(port)["master"], "vmbr10")
        default = [r for r in ip_json("route", "show", "default")]
        self.assertEqual([(r["gateway"], r["dev"]) for r in default], [("192.168.100.254", "vmbr10")])
        if filtering:
            self.assertEqual(br["linkinfo"]["info_data"]["vlan_filtering"], 1)
            vids = port_vids("nic3")
            for vid in [10] + list(range(20, 31)):
                self.assertIn(vid, vids)
            self.assertNotIn(11, vids)
        if bonding:
            bond = link("bond0")
            self.assertEqual(bond["linkinfo"]["info_kind"], "bond")
            self.assertEqual(bond["linkinfo"]["info_data"]["mode"], "active-backup")
            self.assertEqual(bond["mtu"], 1400)
            self.assertEqual(link("nic1")["master"], "bond0")
        if vlans:
            v55 = link("vlan55")
            self.assertEqual(v55["linkinfo"]["info_data"]["id"], 55)
            self.assertEqual(v55["link"], raw)
            self.assertEqual(link("vmbr9.10")["linkinfo"]["info_data"]["id"], 10)
            self.assertEqual(addrs("vmbr9.10"), ["10.10.0.2/24"])

        after = self.listing()
        self.assertNotIn("changes", after)
        e = {x["iface"]: x for x in after["data"]}
        self.assertEqual(e["vmbr9"]["active"], 1)
        self.assertEqual(e["vmbr9"]["comments"], "lab trunk\n")
        self.assertEqual(e["vmbr10"]["gateway"], "192.168.100.254")
        if bonding:
            self.assertEqual(e["bond0"]["slaves"], "nic1")
        # Applying again changes nothing.
        st, upid = self.apply()
        self.assertIn("nothing to change", self.task_log(upid))

    def test_07_revert_drops_pending_changes(self):
        before = kernel_state()
        s = self.admin()
        s.data("POST", self.node_path(), data={"iface": "vmbr7", "type": "bridge"})
        s.data("PUT", self.node_path("/vmbr9"), data={"type": "bridge", "cidr": "192.168.97.1/24"})
        self.assertIn("changes", self.listing())
        self.assertEqual(self.entry("vmbr9")["cidr"], "192.168.97.1/24")  # the list shows what is staged
        s.data("DELETE", self.node_path())
        self.assertNotIn("changes", self.listing())
        self.assertIsNone(self.entry("vmbr7"))
        self.assertEqual(self.entry("vmbr9")["cidr"], "192.168.99.1/24")
        self.assertEqual(kernel_state(), before)

    def test_08_failed_apply_rolls_back(self):
        self.make_nics("gone0")
        s = self.admin()
        s.data("PUT", self.node_path("/vmbr9"), data={"type": "bridge", "cidr": "192.168.98.1/24", "mtu": 1450})
        s.data("POST", self.node_path(), data={"iface": "vmbr8", "type": "bridge", "bridge_ports": "gone0",
                                              "cidr": "192.168.88.1/24"})
        run("ip", "link", "del", "gone0")  # the port vanishes between staging and applying
        before = kernel_state()
        st, upid = self.apply(expect_ok=False)
        self.assertNotEqual(st["exitstatus"], "OK")
        self.assertIn("gone0", st["exitstatus"] + self.task_log(upid))
        self.assertEqual(kernel_state(), before, self.task_log(upid))
        self.assertIsNone(link("vmbr8"))
        self.assertIn("changes", self.listing())  # the staged file stays for the admin to fix
        s.data("DELETE", self.node_path())

    # --- bad input ----------------------------------------------------------------------------
    def test_09_bad_input_is_refused_and_nothing_staged(self):
        s = self.admin()
        p = self.node_path()
        cases = [
            ({"iface": "vmbr5", "type": "bridge", "cidr": "10.0.0.300/24"}, "cidr"),
            ({"iface": "vmbr5", "type": "bridge", "cidr": "10.20.0.1/24", "gateway": "10.20.0.9"}, "gateway"),  # vmbr10 has one
            ({"iface": "vmbr5", "type": "bridge", "cidr": "10.20.0.1/24", "gateway": "10.30.0.1"}, "gateway"),
            ({"iface": "vmbr5", "type": "bridge", "bridge_ports": "nosuch0"}, "bridge_ports"),
            ({"iface": "vmbr5", "type": "bridge", "bridge_ports": "vmbr5"}, "bridge_ports"),
            ({"iface": "vmbr5", "type": "bridge", "bridge_ports": "nic3"}, "bridge_ports"),  # vmbr9 has it
            ({"iface": "vlan9", "type": "vlan", "vlan-raw-device": "nic1", "vlan-id": 5000}, "vlan-id"),
            ({"iface": "nic1.4095", "type": "vlan"}, "iface"),
            ({"iface": "bond1", "type": "bond"}, "slaves"),
            ({"iface": "vmbr0", "type": "bridge"}, "iface"),  # exists
            ({"iface": "vmbr5", "type": "OVSBridge"}, "type"),
            ({"iface": "vmbr5", "type": "bridge", "mtu": 100}, "mtu"),
        ]
        for params, key in cases:
            r = s.post(p, data=params)
            self.assertIn(key, self.errors_of(r), (params, r.text))
        self.assertNotIn("changes", self.listing())

    def test_10_host_devices_are_read_only(self):
        run("ip", "link", "add", "hostbr0", "type", "bridge")
        try:
            e = self.entry("hostbr0")
            self.assertIsNotNone(e, "the host's bridge is listed")
            self.assertEqual(e["type"], "bridge")
            s = self.admin()
            r = s.put(self.node_path("/hostbr0"), data={"type": "bridge", "comments": "mine now"})
            self.assertIn("iface", self.errors_of(r))
            r = s.delete(self.node_path("/hostbr0"))
            self.assertIn("iface", self.errors_of(r))
            # Nor can its ports be taken, or the bridge itself be made a port or a slave.
            run("ip", "link", "add", "hostp0", "type", "veth", "peer", "name", "hostp0p")
            run("ip", "link", "set", "hostp0", "master", "hostbr0")
            for params, key in (({"iface": "vmbr5", "type": "bridge", "bridge_ports": "hostp0"}, "bridge_ports"),
                                ({"iface": "vmbr5", "type": "bridge", "bridge_ports": "hostbr0"}, "bridge_ports"),
                                ({"iface": "bond5", "type": "bond", "slaves": "hostbr0"}, "slaves")):
                self.assertIn(key, self.errors_of(s.post(self.node_path(), data=params)), params)
            self.assertEqual(link("hostp0")["master"], "hostbr0")
            self.assertNotIn("changes", self.listing())
        finally:
            run("ip", "link", "del", "hostp0", check=False)
            run("ip", "link", "del", "hostbr0", check=False)

    def test_11_bridge_used_by_a_guest_cannot_be_deleted(self):
        db = sqlite3.connect(os.path.join(self.d.data_dir, "config.db"), timeout=10)
        path = "nodes/%s/qemu-server/4242.conf" % self.d.node
        with db:
            db.execute("INSERT INTO files (path, data, version, mtime) VALUES (?, ?, 1, ?)",
                       (path, b"name: user\nnet0: virtio=BC:24:11:00:00:01,bridge=vmbr9,firewall=1\n", int(time.time())))
        try:
            r = self.admin().delete(self.node_path("/vmbr9"))
            self.assertEqual(r.status_code, 400, r.text)
            self.assertIn("4242", r.text)
            self.assertNotIn("changes", self.listing())
        finally:
            with db:
                db.execute("DELETE FROM files WHERE path = ?", (path,))
            db.close()
        # Without users it goes (staged), and revert brings it back.
        if self.entry("vmbr9.10"):
            self.admin().data("DELETE", self.node_path("/vmbr9.10"))
        self.admin().data("DELETE", self.node_path("/vmbr9"))
        self.assertIsNone(self.entry("vmbr9"))
        self.admin().data("DELETE", self.node_path())
        self.assertIsNotNone(self.entry("vmbr9"))

    def test_12_unprivileged_user_is_refused(self):
        s = self.d.login(harness.NOPRIV, harness.NOPRIV_PW)
        self.assertEqual(self.listing(session=s)["data"], [])
        self.assertEqual(s.get(self.node_path("/vmbr0")).status_code, 403)
        self.assertEqual(s.post(self.node_path(), data={"iface": "vmbr4", "type": "bridge"}).status_code, 403)
        self.assertEqual(s.put(self.node_path()).status_code, 403)
        self.assertEqual(s.delete(self.node_path()).status_code, 403)
        self.assertEqual(s.delete(self.node_path("/vmbr0")).status_code, 403)

    def test_13_proxmoxer(self):
        from proxmoxer import ProxmoxAPI
        api = ProxmoxAPI("127.0.0.1", port=self.d.port, user=harness.TESTER, password=harness.TESTER_PW,
                         verify_ssl=False)
        node = api.nodes(self.d.node)
        bridges = {e["iface"] for e in node.network.get(type="any_bridge")}
        self.assertIn("vmbr0", bridges)
        self.assertIn("vmbr9", bridges)
        node.network.post(iface="vmbr3", type="bridge", autostart=1)
        self.assertEqual(node.network("vmbr3").get()["type"], "bridge")
        node.network.delete()
        self.assertNotIn("vmbr3", {e["iface"] for e in node.network.get()})

    def test_14_restart_keeps_the_network(self):
        before = addrs("vmbr0"), link("vmbr9")["linkinfo"]["info_kind"]
        old = self.dnsmasq_pid()
        self.assertEqual(self.d.stop(), 0)
        self.d.start()
        self.assertEqual((addrs("vmbr0"), link("vmbr9")["linkinfo"]["info_kind"]), before)
        new = self.wait_for("dnsmasq after restart", self.dnsmasq_pid)
        self.assertNotEqual(new, old)
        self.assertIn("cidr", self.entry("vmbr0"))
        # Still exactly one dnsmasq for the bridge (zombies wait for this host's late-reaping init).
        def alive_dnsmasq(pid):
            try:
                stat = open("/proc/%s/stat" % pid).read()
            except OSError:
                return False
            name, state = stat[stat.index("(") + 1:stat.rindex(")")], stat[stat.rindex(")") + 2]
            return name == "dnsmasq" and state not in "ZX"
        procs = [p for p in os.listdir("/proc") if p.isdigit() and alive_dnsmasq(p)]
        self.assertEqual(len(procs), 1, procs)


    def test_15_interrupted_apply_is_undone_at_start(self):
        """A pvxd killed in the middle of an apply: the next start takes the kernel back to the
        applied file (here: a bridge the staged file adds had been created already), even when the
        applied file itself cannot come up whole (vmbr9's port is gone meanwhile)."""
        self.admin().data("POST", self.node_path(), data={"iface": "vmbr6", "type": "bridge", "cidr": "10.66.0.1/24"})
        self.d.kill()
        run("ip", "link", "add", "vmbr6", "type", "bridge")  # the half that was done
        run("ip", "addr", "add", "10.66.0.1/24", "dev", "vmbr6")
        run("ip", "link", "del", "nic3")
        run("ip", "link", "del", "vmbr9")  # as after a reboot: pvxd brings it up again, without nic3
        marker = os.path.join(self.d.data_dir, "network", "apply-in-progress")
        open(marker, "w").close()
        self.d.start()
        self.assertIsNone(link("vmbr6"))
        self.assertFalse(os.path.exists(marker))
        self.assertIsNotNone(link("vmbr9"), "the rest still comes up, one interface at a time")
        self.assertEqual(addrs("vmbr9"), ["192.168.99.1/24"])
        self.assertIn("removing the devices the interrupted apply added", self.d.log_text())
        self.assertIn("changes", self.listing())  # the staged change is still there to apply or revert
        self.assertEqual(self.entry("vmbr6")["cidr"], "10.66.0.1/24")
        self.admin().data("DELETE", self.node_path())


class NoDefaultBridge(unittest.TestCase):
    """--no-default-bridge: a first start creates nothing."""

    def test_no_bridge_created(self):
        ns = "pvxnd-%d" % os.getpid()
        run("ip", "netns", "add", ns)
        d = harness.Daemon(extra_args=("--no-default-bridge",), prefix=("ip", "netns", "exec", ns), http_ready=False)
        try:
            d.start()
            links = [l["ifname"] for l in ip_json("link", ns=ns)]
            self.assertEqual(links, ["lo"])
            res = d.cli("pvesh", "get", "/nodes/%s/network" % d.node, "--output-format", "json")
            self.assertEqual(json.loads(res.stdout), [])
            self.assertEqual(d.stop(), 0)
        finally:
            d.cleanup()
            run("ip", "netns", "del", ns, check=False)


class ManageHostNetwork(unittest.TestCase):
    """--manage-host-network: pvx owns a PVE-style interfaces file, stages edits in `<file>.new`
    beside it and applies them; what it does not know in the file survives. Driven through
    the CLI (the local socket), since this pvxd lives in a namespace of its own."""

    HOST_FILE = """auto lo
iface lo inet loopback

iface nicx inet manual

auto vmbr1
iface vmbr1 inet static
        address 192.0.2.10/24
        bridge-ports nicx
        bridge-stp off
        bridge-fd 0
        post-up echo up
#host uplink

source /etc/network/interfaces.d/*
"""

    def setUp(self):
        self.ns = "pvxmh-%d" % os.getpid()
        run("ip", "netns", "add", self.ns)
        run("ip", "-n", self.ns, "link", "set", "lo", "up")
        run("ip", "-n", self.ns, "link", "add", "nicx", "type", "veth", "peer", "name", "nicxp")
        self.etc = tempfile.mkdtemp(prefix="pvx-etc-")
        self.file = os.path.join(self.etc, "interfaces")
        with open(self.file, "w") as f:
            f.write(self.HOST_FILE)
        self.d = harness.Daemon(extra_args=("--manage-host-network", "--interfaces-file", self.file),
                                prefix=("ip", "netns", "exec", self.ns), http_ready=False)
        self.d.start()

    def tearDown(self):
        try:
            self.assertEqual(self.d.stop(), 0)
        finally:
            self.d.cleanup()
            run("ip", "netns", "del", self.ns, check=False)
            subprocess.run(["rm", "-rf", self.etc])

    def pvesh(self, *args):
        res = self.d.cli("pvesh", *args, "--output-format", "json")
        return json.loads(res.stdout) if res.stdout.strip() else None

    def apply(self):
        upid = self.pvesh("set", "/nodes/%s/network" % self.d.node)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            st = self.pvesh("get", "/nodes/%s/tasks/%s/status" % (self.d.node, upid))
            if st["status"] == "stopped":
                self.assertEqual(st["exitstatus"], "OK")
                return
            time.sleep(0.2)
        self.fail("apply did not finish")

    def test_owns_the_host_file(self):
        path = "/nodes/%s/network" % self.d.node
        listed = {e["iface"]: e for e in self.pvesh("get", path)}
        self.assertEqual(set(listed), {"nicx", "vmbr1"})  # loopback is not listed, as in PVE
        self.assertEqual(listed["vmbr1"]["cidr"], "192.0.2.10/24")
        self.assertEqual(listed["vmbr1"]["options"], ["post-up echo up"])
        self.assertNotIn("exists", listed["vmbr1"])  # the host's ifupdown has not brought it up here
        # Nothing ran at start: in this mode the host's own networking applies the file at boot.
        self.assertNotIn("vmbr1", [l["ifname"] for l in ip_json("link", ns=self.ns)])

        self.apply()
        links = {l["ifname"]: l for l in ip_json("-d", "link", ns=self.ns)}
        self.assertEqual(links["vmbr1"]["linkinfo"]["info_kind"], "bridge")
        self.assertEqual(links["nicx"]["master"], "vmbr1")
        with open(self.file) as f:
            self.assertEqual(f.read(), self.HOST_FILE, "applying what is there rewrites nothing")

        self.pvesh("create", path, "--iface", "vmbr2", "--type", "bridge", "--cidr", "198.51.100.1/24")
        self.assertTrue(os.path.exists(self.file + ".new"))
        with open(self.file) as f:
            self.assertEqual(f.read(), self.HOST_FILE, "edits are staged beside the file")
        self.pvesh("delete", path)
        self.assertFalse(os.path.exists(self.file + ".new"))

        self.pvesh("create", path, "--iface", "vmbr2", "--type", "bridge", "--cidr", "198.51.100.1/24")
        self.apply()
        self.assertFalse(os.path.exists(self.file + ".new"))
        with open(self.file) as f:
            text = f.read()
        for kept in ("\tpost-up echo up\n", "#host uplink\n", "source /etc/network/interfaces.d/*\n",
                     "iface vmbr2 inet static\n\taddress 198.51.100.1/24\n"):
            self.assertIn(kept, text)
        addrs2 = [a["local"] for e in ip_json("addr", "show", "dev", "vmbr2", ns=self.ns) for a in e["addr_info"]
                  if a["family"] == "inet"]
        self.assertEqual(addrs2, ["198.51.100.1"])


if __name__ == "__main__":
    if os.geteuid() != 0:
        print("test_network: needs root for network namespaces; skipped")
        sys.exit(0)
    if not harness.in_own_netns():
        sys.exit(harness.rerun_in_own_netns(__file__, "pvx-itest-net"))
    harness.main()
