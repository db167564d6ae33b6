#!/usr/bin/python3
"""The multi-call CLI (build/bin/pvx and its links) against a real pvxd over DIR/pvxd.sock, where
the caller is root@pam."""
import json
import os
import stat
import subprocess

import harness
from harness import NODE, TESTER

TOOLS = ("qm", "pct", "pvesm", "pveum", "pvecm", "pvesh", "vzdump", "ha-manager")


class Cli(harness.DaemonCase):
    with_users = False  # the pveum commands are tested one by one below

    def pvesh(self, *args, check=True):
        return self.d.cli("pvesh", *args, check=check)

    # --- pvesh ----------------------------------------------------------------------------
    def test_get_version_text_and_json(self):
        out = self.pvesh("get", "/version").stdout
        self.assertIn("version", out)
        data = json.loads(self.pvesh("get", "/version", "--output-format", "json").stdout)
        self.assertIn("version", data)
        self.assertIn("release", data)

    def test_get_nodes_json(self):
        nodes = json.loads(self.pvesh("get", "/nodes", "--output-format", "json").stdout)
        self.assertEqual([n["node"] for n in nodes], [NODE])
        self.assertEqual(nodes[0]["type"], "node")

    def test_output_formats(self):
        pretty = self.pvesh("get", "/version", "--output-format", "json-pretty").stdout
        self.assertGreater(pretty.count("\n"), 2)
        self.assertIn("version", json.loads(pretty))
        yaml = self.pvesh("get", "/version", "--output-format", "yaml").stdout
        self.assertRegex(yaml, r"(?m)^\s*version:\s*\S+")

    def test_ls_root(self):
        out = self.pvesh("ls", "/").stdout
        lines = {l.split()[-1]: l.split()[0] for l in out.splitlines() if l.strip()}
        for name in ("access", "cluster", "nodes", "version"):
            self.assertIn(name, lines, out)
        self.assertTrue(lines["nodes"].startswith("D"), out)
        self.assertTrue(lines["version"].startswith("-r"), out)

    def test_ls_node(self):
        out = self.pvesh("ls", "/nodes/%s" % NODE).stdout
        self.assertIn("tasks", out)
        self.assertIn("status", out)

    def test_usage(self):
        out = self.pvesh("usage", "/cluster/nextid").stdout
        self.assertIn("pvesh get /cluster/nextid", out)
        self.assertIn("--vmid", out)

    def test_socket_caller_is_root(self):
        perms = json.loads(self.pvesh("get", "/access/permissions", "--output-format", "json").stdout)
        self.assertIn("/", perms)
        self.assertIn("Sys.Audit", perms["/"])

    def test_socket_mode(self):
        st = os.stat(self.d.socket_path)
        self.assertTrue(stat.S_ISSOCK(st.st_mode))
        self.assertEqual(stat.S_IMODE(st.st_mode), 0o600)

    def test_set_and_get_options(self):
        self.pvesh("set", "/cluster/options", "--description", "set by pvesh")
        opts = json.loads(self.pvesh("get", "/cluster/options", "--output-format", "json").stdout)
        self.assertEqual(opts.get("description", "").rstrip("\n"), "set by pvesh")

    def test_create_task(self):
        res = self.pvesh("create", "/nodes/%s/startall" % NODE)
        self.assertEqual(res.returncode, 0)
        self.assertTrue("UPID:" in res.stdout or "no guests" in res.stdout, res.stdout)

    # --- errors and exit codes ------------------------------------------------------------
    def test_parameter_error_exit_code(self):
        res = self.pvesh("get", "/cluster/nextid", "--vmid", "abc", check=False)
        self.assertNotEqual(res.returncode, 0)
        self.assertIn("vmid", res.stderr)

    def test_unknown_path_exit_code(self):
        res = self.pvesh("get", "/no/such/path", check=False)
        self.assertNotEqual(res.returncode, 0)
        self.assertTrue(res.stderr.strip())

    def test_unknown_subcommand(self):
        res = self.pvesh("frobnicate", "/version", check=False)
        self.assertNotEqual(res.returncode, 0)

    def test_no_daemon(self):
        env = dict(os.environ, PVX_DATA_DIR=os.path.join(self.d.root, "nowhere"))
        res = subprocess.run([harness.bin_path("pvesh"), "get", "/version"], env=env,
                             capture_output=True, text=True, timeout=30)
        self.assertNotEqual(res.returncode, 0)
        self.assertIn("pvxd", res.stderr)

    def test_data_dir_option(self):
        env = dict(os.environ)
        env.pop("PVX_DATA_DIR", None)
        res = subprocess.run([harness.bin_path("pvesh"), "--data-dir", self.d.data_dir, "get", "/version",
                              "--output-format", "json"], env=env, capture_output=True, text=True, timeout=30)
        self.assertEqual(res.returncode, 0, res.stderr)
        self.assertIn("version", json.loads(res.stdout))

    # --- multi-call -----------------------------------------------------------------------
    def test_links_exist(self):
        for tool in TOOLS:
            p = harness.bin_path(tool)
            self.assertTrue(os.path.islink(p), p)
            self.assertEqual(os.path.basename(os.readlink(p)), "pvx")

    def test_pvx_pvesh_equals_link(self):
        a = self.d.cli("pvesh", "get", "/nodes", "--output-format", "json").stdout
        b = self.d.cli("pvesh", "get", "/nodes", "--output-format", "json", via_pvx=True).stdout
        self.assertEqual(json.loads(a)[0]["node"], json.loads(b)[0]["node"])

    def test_tool_help_via_link_and_pvx(self):
        for tool in ("qm", "pveum"):
            a = self.d.cli(tool, "help")
            b = self.d.cli(tool, "help", via_pvx=True)
            self.assertIn("USAGE: %s" % tool, a.stdout)
            self.assertEqual(a.stdout, b.stdout)

    def test_pvx_unknown_tool(self):
        res = subprocess.run([harness.bin_path("pvx"), "nosuchtool"], capture_output=True, text=True, timeout=30)
        self.assertNotEqual(res.returncode, 0)

    # --- pveum bootstrap commands (PVE syntax) ---------------------------------------------
    def test_pveum_useradd_and_login(self):
        self.d.cli("pveum", "useradd", "cli1@pve", "--password", "cli-pass-1")
        s = self.d.login("cli1@pve", "cli-pass-1")
        self.assertEqual(s.get("/version").status_code, 200)

    def test_pveum_user_add(self):
        self.d.cli("pveum", "user", "add", "cli2@pve", "--password", "cli-pass-2", "--comment", "second")
        users = json.loads(self.pvesh("get", "/access/users", "--output-format", "json").stdout)
        self.assertIn("cli2@pve", [u["userid"] for u in users])

    def test_pveum_aclmod(self):
        self.d.cli("pveum", "useradd", "cli3@pve", "--password", "cli-pass-3")
        s = self.d.login("cli3@pve", "cli-pass-3")
        self.assertEqual(s.get("/nodes/%s/status" % NODE).status_code, 403)
        self.d.cli("pveum", "aclmod", "/", "--users", "cli3@pve", "--roles", "PVEAuditor")
        s = self.d.login("cli3@pve", "cli-pass-3")
        self.assertEqual(s.get("/nodes/%s/status" % NODE).status_code, 200)

    def test_pveum_acl_modify(self):
        self.d.cli("pveum", "useradd", "cli4@pve", "--password", "cli-pass-4")
        self.d.cli("pveum", "acl", "modify", "/nodes", "--users", "cli4@pve", "--roles", "PVEAuditor",
                   "--propagate", "1")
        s = self.d.login("cli4@pve", "cli-pass-4")
        self.assertEqual(s.get("/nodes/%s/status" % NODE).status_code, 200)

    def test_pveum_token_add(self):
        self.d.cli("pveum", "useradd", "cli5@pve", "--password", "cli-pass-5")
        self.d.cli("pveum", "aclmod", "/", "--users", "cli5@pve", "--roles", "Administrator")
        res = self.d.cli("pveum", "user", "token", "add", "cli5@pve", "tok", "--privsep", "0",
                         "--output-format", "json")
        d = json.loads(res.stdout)
        self.assertEqual(d["full-tokenid"], "cli5@pve!tok")
        self.assertRegex(d["value"], harness.UUID_RE.pattern)
        tok = self.d.token_session(d["full-tokenid"], d["value"])
        self.assertEqual(tok.get("/nodes/%s/status" % NODE).status_code, 200)


if __name__ == "__main__":
    harness.main()
