#!/usr/bin/python3
"""The wire rules of /api2/json that real clients depend on (pve-client-usage.md section 1),
checked with plain requests against a real pvxd."""
import gzip
import http.client
import re
import socket
import ssl
import sys
import urllib.parse

import requests

import harness
from harness import JSON_CT, NODE, NOPRIV, NOPRIV_PW, TESTER, TESTER_PW

UPID_RE = re.compile(r"^UPID:[^:/\s]+:[0-9A-F]{8}:[0-9A-F]{8,9}:[0-9A-F]{8}:[^:/\s]*:[^:/\s]*:[^:/\s]+:$")


def q(upid):
    return urllib.parse.quote(upid, safe="")


class ApiBasics(harness.DaemonCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.adm = cls.daemon.login(TESTER, TESTER_PW)

    # --- envelope -------------------------------------------------------------------------
    def test_envelope_and_content_type(self):
        r = self.adm.get("/version")
        self.assertEqual(r.status_code, 200)
        self.assertEqual(r.headers["Content-Type"], JSON_CT)
        body = r.json()
        self.assertIn("data", body)
        self.assertIsInstance(body["data"], dict)

    def test_version_fields(self):
        v = self.adm.data("GET", "/version")
        for key in ("version", "release", "repoid"):
            self.assertIn(key, v)
        # Ansible gates features on the PVE version: it must look like PVE >= 7.
        self.assertGreaterEqual(int(v["version"].split(".")[0]), 7, v)
        self.assertRegex(v["repoid"], r"^[0-9a-fA-F]{8,64}$")

    # --- login ----------------------------------------------------------------------------
    def test_login_form_body(self):
        r = self.d.request("POST", "/access/ticket", data={"username": TESTER, "password": TESTER_PW})
        self.assertEqual(r.status_code, 200, r.text)
        self.assertEqual(r.headers["Content-Type"], JSON_CT)
        d = r.json()["data"]
        self.assertEqual(d["username"], TESTER)
        self.assertTrue(d["ticket"].startswith("PVE:%s:" % TESTER), d["ticket"])
        self.assertRegex(d["CSRFPreventionToken"], r"^[0-9A-F]{8}:\S+$")
        self.assertIsInstance(d["cap"], dict)

    def test_login_body_without_content_type(self):
        # The Ansible inventory plugin posts a pre-encoded string: requests sends no Content-Type.
        body = "username=%s&password=%s" % (urllib.parse.quote(TESTER), urllib.parse.quote(TESTER_PW))
        req = requests.Request("POST", self.d.url("/access/ticket"), data=body).prepare()
        self.assertNotIn("Content-Type", req.headers)
        r = requests.Session().send(req, verify=False, timeout=30)
        self.assertEqual(r.status_code, 200, r.text)
        self.assertTrue(r.json()["data"]["ticket"].startswith("PVE:%s:" % TESTER))

    def test_login_json_body(self):
        r = self.d.request("POST", "/access/ticket", json={"username": TESTER, "password": TESTER_PW})
        self.assertEqual(r.status_code, 200, r.text)
        self.assertEqual(r.json()["data"]["username"], TESTER)

    def test_login_realm_parameter(self):
        r = self.d.request("POST", "/access/ticket",
                           data={"username": TESTER.split("@")[0], "realm": "pve", "password": TESTER_PW})
        self.assertEqual(r.status_code, 200, r.text)
        self.assertEqual(r.json()["data"]["username"], TESTER)

    def test_login_wrong_password(self):
        r = self.d.request("POST", "/access/ticket", data={"username": TESTER, "password": "wrong"})
        self.assertEqual(r.status_code, 401)
        self.assertIsNone(r.json()["data"])  # proxmoxer needs a JSON body with data null

    def test_login_unknown_user(self):
        r = self.d.request("POST", "/access/ticket", data={"username": "ghost@pve", "password": "x"})
        self.assertEqual(r.status_code, 401)
        self.assertIsNone(r.json()["data"])

    def test_login_unsupported_content_type(self):
        r = self.d.request("POST", "/access/ticket", data="username=a&password=b",
                           headers={"Content-Type": "text/plain"})
        self.assertEqual(r.status_code, 506, r.text)

    # --- ticket transport -----------------------------------------------------------------
    def test_ticket_cookie_raw(self):
        r = self.d.request("GET", "/nodes", headers={"Cookie": "PVEAuthCookie=" + self.adm.ticket})
        self.assertEqual(r.status_code, 200, r.text)

    def test_ticket_cookie_url_encoded(self):
        r = self.d.request("GET", "/nodes",
                           headers={"Cookie": "other=1; PVEAuthCookie=%s; x=y" % q(self.adm.ticket)})
        self.assertEqual(r.status_code, 200, r.text)

    def test_ticket_authorization_header(self):
        r = self.d.request("GET", "/nodes", headers={"Authorization": "PVEAuthCookie=" + self.adm.ticket})
        self.assertEqual(r.status_code, 200, r.text)

    def test_no_credentials(self):
        r = self.d.request("GET", "/nodes")
        self.assertEqual(r.status_code, 401)

    def test_forged_ticket(self):
        t = self.adm.ticket
        forged = t.replace(TESTER, NOPRIV, 1)
        r = self.d.request("GET", "/nodes", headers={"Cookie": "PVEAuthCookie=" + q(forged)})
        self.assertEqual(r.status_code, 401)

    def test_ticket_renewal(self):
        r = self.d.request("POST", "/access/ticket", data={"username": TESTER, "password": self.adm.ticket})
        self.assertEqual(r.status_code, 200, r.text)
        fresh = r.json()["data"]["ticket"]
        self.assertTrue(fresh.startswith("PVE:%s:" % TESTER))
        r = self.d.request("GET", "/version", headers={"Cookie": "PVEAuthCookie=" + q(fresh)})
        self.assertEqual(r.status_code, 200)

    def test_ticket_of_other_user_is_no_password(self):
        other = self.d.login(NOPRIV, NOPRIV_PW)
        r = self.d.request("POST", "/access/ticket", data={"username": TESTER, "password": other.ticket})
        self.assertEqual(r.status_code, 401)

    # --- CSRF -----------------------------------------------------------------------------
    def test_csrf_required_on_post_with_ticket(self):
        r = self.adm.post("/nodes/%s/startall" % NODE, csrf=False)
        self.assertEqual(r.status_code, 401, r.text)
        r = self.adm.post("/nodes/%s/startall" % NODE, csrf=False,
                          headers={"CSRFPreventionToken": "00000000:bogus"})
        self.assertEqual(r.status_code, 401, r.text)
        r = self.adm.post("/nodes/%s/startall" % NODE)
        self.assertEqual(r.status_code, 200, r.text)
        self.assertRegex(r.json()["data"], UPID_RE)

    # --- API tokens -----------------------------------------------------------------------
    def test_token_get_and_post_without_csrf(self):
        tok = self.token()
        v = tok.data("GET", "/version")
        self.assertIn("version", v)
        upid = tok.data("POST", "/nodes/%s/startall" % NODE)
        self.assertRegex(upid, UPID_RE)
        self.assertEqual(upid.split(":")[7], self.token_full)  # user@realm!tokenid in the UPID
        st = tok.wait_task(upid)
        self.assertEqual(st["exitstatus"], "OK")

    def test_token_bad_secret(self):
        bad = self.d.token_session(self.token_full, "00000000-0000-4000-8000-000000000000")
        self.assertEqual(bad.get("/version").status_code, 401)
        unknown = self.d.token_session(TESTER + "!nosuchtoken", self.token_secret)
        self.assertEqual(unknown.get("/version").status_code, 401)

    def test_token_does_not_replace_login_credentials(self):
        # POST /access/ticket has allowtoken 0 but is reachable without authentication, so PVE
        # either refuses the token (403, pve-client-usage.md 1.4) or ignores it; either way a
        # token must never stand in for the password.
        hdr = {"Authorization": "PVEAPIToken=%s=%s" % (self.token_full, self.token_secret)}
        r = self.d.request("POST", "/access/ticket", data={"username": TESTER, "password": "wrong"},
                           headers=hdr)
        self.assertIn(r.status_code, (401, 403), r.text)
        r = self.d.request("POST", "/access/ticket", data={"username": TESTER, "password": TESTER_PW},
                           headers=hdr)
        self.assertIn(r.status_code, (200, 403), r.text)
        if r.status_code == 403:
            self.assertIn("API token", r.reason + r.text)
        else:
            self.assertEqual(r.json()["data"]["username"], TESTER)

    # --- parameter errors -----------------------------------------------------------------
    def test_parameter_type_error_names_parameter(self):
        r = self.adm.get("/cluster/nextid", params={"vmid": "abc"})
        self.assertEqual(r.status_code, 400)
        self.assertEqual(r.reason, "Parameter verification failed.")
        body = r.json()
        self.assertIsNone(body["data"])
        self.assertIn("vmid", body["errors"])

    def test_unknown_parameter(self):
        r = self.adm.get("/cluster/nextid", params={"bogus": "1"})
        self.assertEqual(r.status_code, 400)
        self.assertIn("bogus", r.json()["errors"])
        self.assertIn("not defined in schema", r.json()["errors"]["bogus"])

    def test_repeated_keys_are_not_a_scalar(self):
        r = self.adm.get("/cluster/nextid", params=[("vmid", "150"), ("vmid", "151")])
        self.assertEqual(r.status_code, 400, r.text)
        self.assertIn("vmid", r.json()["errors"])

    def test_semicolon_pair_separator_and_dc_dropped(self):
        r = self.d.request("GET", "/cluster/resources?type=node;_dc=12345",
                           headers={"Cookie": "PVEAuthCookie=" + q(self.adm.ticket)})
        self.assertEqual(r.status_code, 200, r.text)
        self.assertTrue(all(e["type"] == "node" for e in r.json()["data"]))

    def test_query_overrides_body(self):
        url = self.d.url("/access/ticket") + "?" + urllib.parse.urlencode({"password": TESTER_PW})
        r = requests.post(url, data={"username": TESTER, "password": "wrong"}, verify=False, timeout=30)
        self.assertEqual(r.status_code, 200, r.text)
        url = self.d.url("/access/ticket") + "?" + urllib.parse.urlencode({"password": "wrong"})
        r = requests.post(url, data={"username": TESTER, "password": TESTER_PW}, verify=False, timeout=30)
        self.assertEqual(r.status_code, 401, r.text)

    def test_get_with_body(self):
        r = self.adm.get("/version", data="a=b",
                         headers={"Content-Type": "application/x-www-form-urlencoded"})
        self.assertEqual(r.status_code, 501, r.text)
        self.assertIn("Unexpected content", r.reason + r.text)

    # --- unknown paths and methods ----------------------------------------------------------
    def test_unknown_path(self):
        r = self.adm.get("/no/such/path")
        self.assertEqual(r.status_code, 501)

    def test_unknown_method_on_known_path(self):
        r = self.adm.delete("/version")
        self.assertEqual(r.status_code, 501)
        self.assertIn("not implemented", r.reason + r.text)

    # --- permissions ----------------------------------------------------------------------
    def test_permission_denied_names_privilege(self):
        s = self.d.login(NOPRIV, NOPRIV_PW)
        r = s.get("/nodes/%s/status" % NODE)
        self.assertEqual(r.status_code, 403, r.text)
        self.assertIn("Sys.Audit", r.reason + r.text)
        self.assertIsNone(r.json()["data"])

    def test_access_permissions(self):
        perms = self.adm.data("GET", "/access/permissions")
        self.assertIn("/", perms)
        self.assertIn("Sys.Audit", perms["/"])
        none = self.d.login(NOPRIV, NOPRIV_PW).data("GET", "/access/permissions")
        self.assertFalse(any("Sys.Audit" in p for p in none.values()), none)

    # --- nodes and cluster ----------------------------------------------------------------
    def test_nodes(self):
        nodes = self.adm.data("GET", "/nodes")
        self.assertEqual(len(nodes), 1)
        n = nodes[0]
        self.assertEqual(n["node"], NODE)
        self.assertEqual(n["type"], "node")
        self.assertEqual(n["id"], "node/" + NODE)
        self.assertEqual(n["status"], "online")

    def test_node_subpaths(self):
        idx = self.adm.data("GET", "/nodes/%s" % NODE)
        names = {e.get("name") for e in idx}
        self.assertTrue({"status", "tasks", "version", "time"} <= names, names)
        st = self.adm.data("GET", "/nodes/%s/status" % NODE)
        for key in ("cpu", "memory", "uptime"):
            self.assertIn(key, st)
        ver = self.adm.data("GET", "/nodes/%s/version" % NODE)
        self.assertIn("version", ver)
        t = self.adm.data("GET", "/nodes/%s/time" % NODE)
        self.assertIn("time", t)
        self.assertIn("timezone", t)

    def test_unknown_node(self):
        r = self.adm.get("/nodes/nosuchnode/status")
        self.assertGreaterEqual(r.status_code, 400)
        self.assertNotEqual(r.status_code, 200)

    def test_cluster_status(self):
        st = self.adm.data("GET", "/cluster/status")
        nodes = [e for e in st if e.get("type") == "node"]
        self.assertEqual(len(nodes), 1)
        self.assertEqual(nodes[0]["name"], NODE)
        self.assertEqual(nodes[0]["local"], 1)

    def test_cluster_resources_type_filter(self):
        res = self.adm.data("GET", "/cluster/resources", params={"type": "node"})
        self.assertEqual(len(res), 1)
        self.assertEqual(res[0]["type"], "node")
        self.assertEqual(res[0]["id"], "node/" + NODE)
        self.assertEqual(res[0]["node"], NODE)
        self.assertEqual(self.adm.data("GET", "/cluster/resources", params={"type": "vm"}), [])
        r = self.adm.get("/cluster/resources", params={"type": "bogus"})
        self.assertEqual(r.status_code, 400)
        self.assertIn("type", r.json()["errors"])

    def test_nextid(self):
        self.assertEqual(int(self.adm.data("GET", "/cluster/nextid")), 100)
        self.assertEqual(int(self.adm.data("GET", "/cluster/nextid", params={"vmid": 150})), 150)

    def test_cluster_options_readable(self):
        self.assertIsInstance(self.adm.data("GET", "/cluster/options"), dict)

    # --- tasks ----------------------------------------------------------------------------
    def test_task_lifecycle(self):
        upid = self.adm.data("POST", "/nodes/%s/startall" % NODE)
        self.assertRegex(upid, UPID_RE)
        parts = upid.split(":")
        self.assertEqual(parts[1], NODE)
        self.assertEqual(parts[5], "startall")
        self.assertEqual(parts[7], TESTER)
        st = self.adm.wait_task(upid)
        self.assertEqual(st["status"], "stopped")
        self.assertEqual(st["exitstatus"], "OK")
        self.assertEqual(st["upid"], upid)
        self.assertEqual(st["node"], NODE)
        self.assertEqual(st["type"], "startall")
        self.assertEqual(st["user"], TESTER)
        for key in ("pid", "pstart", "starttime"):
            self.assertIsInstance(st[key], int)

        base = "/nodes/%s/tasks/%s" % (NODE, q(upid))
        idx = {e.get("name") for e in self.adm.data("GET", base)}
        self.assertEqual(idx, {"log", "status"})

        r = self.adm.get(base + "/log", params={"start": 0, "limit": 1})
        self.assertEqual(r.status_code, 200)
        body = r.json()
        self.assertIn("total", body)
        self.assertGreaterEqual(body["total"], 1)
        self.assertEqual(len(body["data"]), 1)
        self.assertEqual(body["data"][0]["n"], 1)
        self.assertIsInstance(body["data"][0]["t"], str)
        full = self.adm.get(base + "/log", params={"start": 0, "limit": 500}).json()
        self.assertEqual(len(full["data"]), full["total"])
        self.assertEqual([e["n"] for e in full["data"]], list(range(1, full["total"] + 1)))
        if full["total"] >= 2:
            second = self.adm.data("GET", base + "/log", params={"start": 1, "limit": 1})
            self.assertEqual(second[0], full["data"][1])

        r = self.adm.get("/nodes/%s/tasks" % NODE, params={"limit": 500})
        self.assertEqual(r.status_code, 200)
        listing = r.json()
        self.assertIn("total", listing)
        mine = [t for t in listing["data"] if t["upid"] == upid]
        self.assertEqual(len(mine), 1, listing)
        self.assertEqual(mine[0]["status"], "OK")
        self.assertIn("endtime", mine[0])
        filtered = self.adm.data("GET", "/nodes/%s/tasks" % NODE, params={"typefilter": "startall"})
        self.assertTrue(all(t["type"] == "startall" for t in filtered))
        self.assertIn(upid, [t["upid"] for t in filtered])
        ctasks = self.adm.data("GET", "/cluster/tasks")
        self.assertIn(upid, [t["upid"] for t in ctasks])

        # DELETE of a finished task is accepted (nothing to stop).
        self.assertEqual(self.adm.delete(base).status_code, 200)

    def test_task_list_newest_first(self):
        a = self.adm.data("POST", "/nodes/%s/startall" % NODE)
        self.adm.wait_task(a)
        b = self.adm.data("POST", "/nodes/%s/stopall" % NODE)
        self.adm.wait_task(b)
        ups = [t["upid"] for t in self.adm.data("GET", "/nodes/%s/tasks" % NODE)]
        self.assertLess(ups.index(b), ups.index(a))

    def test_unknown_upid(self):
        fake = "UPID:%s:00001234:00005678:65A1B2C3:startall::%s:" % (NODE, TESTER)
        r = self.adm.get("/nodes/%s/tasks/%s/status" % (NODE, q(fake)))
        self.assertEqual(r.status_code, 400, r.text)
        self.assertIn("upid", r.json()["errors"])
        r = self.adm.get("/nodes/%s/tasks/%s/status" % (NODE, "not-a-upid"))
        self.assertEqual(r.status_code, 400, r.text)
        self.assertIn("upid", r.json()["errors"])

    def test_task_of_other_user_hidden_from_unprivileged(self):
        upid = self.adm.data("POST", "/nodes/%s/startall" % NODE)
        self.adm.wait_task(upid)
        s = self.d.login(NOPRIV, NOPRIV_PW)
        r = s.get("/nodes/%s/tasks/%s/status" % (NODE, q(upid)))
        self.assertEqual(r.status_code, 403, r.text)
        listed = s.data("GET", "/nodes/%s/tasks" % NODE)
        self.assertNotIn(upid, [t["upid"] for t in listed])

    # --- transport ------------------------------------------------------------------------
    def test_plain_http_redirects(self):
        for method, code in (("GET", 301), ("POST", 308)):
            with socket.create_connection(("127.0.0.1", self.d.port), timeout=10) as sock:
                sock.sendall(("%s /api2/json/version HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n"
                              "Content-Length: 0\r\nConnection: close\r\n\r\n"
                              % (method, self.d.port)).encode())
                resp = b""
                while True:
                    chunk = sock.recv(4096)
                    if not chunk:
                        break
                    resp += chunk
            head = resp.split(b"\r\n\r\n", 1)[0].decode("latin-1")
            status = int(head.split(" ", 2)[1])
            self.assertEqual(status, code, head)
            loc = re.search(r"(?im)^Location:\s*(\S+)", head)
            self.assertTrue(loc, head)
            self.assertTrue(loc.group(1).startswith("https://"), loc.group(1))
            self.assertTrue(loc.group(1).endswith("/api2/json/version"), loc.group(1))

    def test_gzip_on_large_response(self):
        for _ in range(8):  # enough task entries for a body well over 1 KiB
            self.adm.wait_task(self.adm.data("POST", "/nodes/%s/startall" % NODE))
        path = "/api2/json/nodes/%s/tasks?limit=500" % NODE
        ctx = ssl._create_unverified_context()
        conn = http.client.HTTPSConnection("127.0.0.1", self.d.port, context=ctx, timeout=30)
        hdr = {"Cookie": "PVEAuthCookie=" + q(self.adm.ticket), "Accept-Encoding": "gzip"}
        conn.request("GET", path, headers=hdr)
        r = conn.getresponse()
        raw = r.read()
        self.assertEqual(r.status, 200)
        self.assertEqual(r.getheader("Content-Encoding"), "gzip")
        plain = gzip.decompress(raw)
        self.assertGreater(len(plain), 1024)
        self.assertIn(b'"data"', plain)
        conn.request("GET", path, headers={"Cookie": hdr["Cookie"]})
        r = conn.getresponse()
        body = r.read()
        self.assertIsNone(r.getheader("Content-Encoding"))
        self.assertIn(b'"data"', body)
        conn.close()

    def test_keep_alive(self):
        ctx = ssl._create_unverified_context()
        conn = http.client.HTTPSConnection("127.0.0.1", self.d.port, context=ctx, timeout=30)
        hdr = {"Cookie": "PVEAuthCookie=" + q(self.adm.ticket)}
        conn.request("GET", "/api2/json/version", headers=hdr)
        r1 = conn.getresponse()
        r1.read()
        sock1 = conn.sock
        self.assertEqual(r1.status, 200)
        self.assertNotEqual((r1.getheader("Connection") or "").lower(), "close")
        conn.request("GET", "/api2/json/nodes", headers=hdr)
        r2 = conn.getresponse()
        r2.read()
        self.assertEqual(r2.status, 200)
        self.assertIs(conn.sock, sock1)  # same TCP connection, not reopened
        conn.close()

    def test_openapi_document(self):
        r = requests.get(self.d.base + "/api2/openapi.json", verify=False, timeout=30,
                         headers={"Cookie": "PVEAuthCookie=" + q(self.adm.ticket)})
        self.assertEqual(r.status_code, 200, r.text[:300])
        doc = r.json()
        self.assertIn("openapi", doc)
        self.assertIn("/version", str(list(doc.get("paths", {}).keys())))


if __name__ == "__main__":
    harness.main()
