#!/usr/bin/python3
"""The real client: Debian's python3-proxmoxer 1.2 (/usr/lib/python3/dist-packages/proxmoxer)
against a real pvxd, with ticket and API-token authentication."""
import sys
import time

import harness
from harness import NODE, NOPRIV, NOPRIV_PW, TESTER, TESTER_PW

try:
    from proxmoxer import ProxmoxAPI
    from proxmoxer.core import ResourceException
    from proxmoxer.backends.https import AuthenticationError
except ImportError as e:  # pragma: no cover - environment problem, not a test result
    sys.exit("python3-proxmoxer is not importable by %s: %s (run with /usr/bin/python3)" % (sys.executable, e))


follow = harness.follow_with_proxmoxer


class Proxmoxer(harness.DaemonCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.api = ProxmoxAPI("127.0.0.1", port=cls.daemon.port, user=TESTER, password=TESTER_PW,
                             verify_ssl=False)

    def test_login_and_version(self):
        v = self.api.version.get()
        self.assertGreaterEqual(int(v["version"].split(".")[0]), 7)
        ticket, csrf = self.api.get_tokens()
        self.assertTrue(ticket.startswith("PVE:%s:" % TESTER))
        self.assertTrue(csrf)

    def test_host_port_syntax(self):
        api = ProxmoxAPI("127.0.0.1:%d" % self.d.port, user=TESTER, password=TESTER_PW, verify_ssl=False)
        self.assertIn("version", api.version.get())

    def test_nodes(self):
        nodes = self.api.nodes.get()
        self.assertEqual([n["node"] for n in nodes], [NODE])
        self.assertEqual(nodes[0]["type"], "node")
        self.assertEqual(nodes[0]["status"], "online")
        self.assertIn("cpu", self.api.nodes(NODE).status.get())

    def test_cluster_resources(self):
        res = self.api.cluster.resources.get(type="node")
        self.assertEqual([r["id"] for r in res], ["node/" + NODE])
        self.assertEqual(int(self.api.cluster.nextid.get()), 100)

    def test_task_followed_to_ok(self):
        upid = self.api.nodes(NODE).startall.post()
        self.assertTrue(upid.startswith("UPID:%s:" % NODE))
        st = follow(self.api, upid)
        self.assertEqual(st["exitstatus"], "OK")
        log = self.api.nodes(NODE).tasks(upid).log.get(start=0, limit=50)
        self.assertGreaterEqual(len(log), 1)
        self.assertEqual(log[0]["n"], 1)
        tasks = self.api.nodes(NODE).tasks.get()
        entry = [t for t in tasks if t["upid"] == upid]
        self.assertEqual(len(entry), 1)
        self.assertEqual(entry[0]["status"], "OK")

    def test_ticket_renewal_path(self):
        # proxmoxer renews by posting the current ticket as the password.
        auth = self.api._store["session"].auth
        old = auth.pve_auth_ticket
        auth._getNewTokens()
        self.assertTrue(auth.pve_auth_ticket.startswith("PVE:%s:" % TESTER))
        self.assertIn("version", self.api.version.get())
        self.assertTrue(old)

    def test_token_auth(self):
        user, tok = self.token_full.split("!")
        api = ProxmoxAPI("127.0.0.1", port=self.d.port, user=user, token_name=tok,
                         token_value=self.token_secret, verify_ssl=False)
        self.assertIn("version", api.version.get())
        upid = api.nodes(NODE).startall.post()
        self.assertEqual(upid.split(":")[7], self.token_full)
        self.assertEqual(follow(api, upid)["exitstatus"], "OK")

    def test_bad_token_is_401(self):
        user, tok = self.token_full.split("!")
        api = ProxmoxAPI("127.0.0.1", port=self.d.port, user=user, token_name=tok,
                         token_value="00000000-0000-4000-8000-000000000000", verify_ssl=False)
        with self.assertRaises(ResourceException) as cm:
            api.version.get()
        self.assertEqual(cm.exception.status_code, 401)

    def test_wrong_password_raises_authentication_error(self):
        with self.assertRaises(AuthenticationError):
            ProxmoxAPI("127.0.0.1", port=self.d.port, user=TESTER, password="wrong", verify_ssl=False)

    def test_error_400_maps_to_resource_exception(self):
        with self.assertRaises(ResourceException) as cm:
            self.api.cluster.nextid.get(vmid="abc")
        e = cm.exception
        self.assertEqual(e.status_code, 400)
        self.assertEqual(e.content, "Parameter verification failed.")
        # proxmoxer 1.2 looks for "errors" inside "data" (null here), so it never shows them;
        # the reason phrase is what its users see.

    def test_error_403_maps_to_resource_exception(self):
        api = ProxmoxAPI("127.0.0.1", port=self.d.port, user=NOPRIV, password=NOPRIV_PW, verify_ssl=False)
        with self.assertRaises(ResourceException) as cm:
            api.nodes(NODE).status.get()
        self.assertEqual(cm.exception.status_code, 403)
        self.assertIn("Sys.Audit", str(cm.exception))

    def test_error_501_unknown_path(self):
        with self.assertRaises(ResourceException) as cm:
            self.api.nodes(NODE)("no-such-thing").get()
        self.assertEqual(cm.exception.status_code, 501)


if __name__ == "__main__":
    harness.main()
