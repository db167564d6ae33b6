#!/usr/bin/python3
"""Hostile and sloppy clients against a real pvxd: malformed HTTP, request smuggling, oversized
and odd bodies, slow and many connections, forged credentials and privilege escalation attempts.

Every probe asserts the right answer (status code, unchanged state), and every probe ends with
the daemon still alive and answering /version. Probes that have been seen to kill pvxd live in
their own TestCase (RegexStackDepth), which restarts the daemon after each test so one crash
does not take the other probes down with it.
"""
import json
import re
import socket
import ssl
import time
import unittest
import urllib.parse
from concurrent.futures import ThreadPoolExecutor

import requests

import harness
from harness import NODE, NOPRIV, NOPRIV_PW, TESTER, TESTER_PW

FORM_CT = "application/x-www-form-urlencoded"
BODY_LIMIT = 512 * 1024


def q(s):
    return urllib.parse.quote(s, safe="")


def tls_exchange(port, data, timeout=10.0):
    """Sends raw bytes over TLS and returns everything the server sends until it closes
    (or the timeout passes)."""
    ctx = ssl._create_unverified_context()
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        with ctx.wrap_socket(s) as ss:
            ss.sendall(data if isinstance(data, bytes) else data.encode("latin-1"))
            out = b""
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                try:
                    chunk = ss.recv(65536)
                except (socket.timeout, ConnectionResetError, ssl.SSLError):
                    break
                if not chunk:
                    break
                out += chunk
            return out


def responses_in(raw):
    """The status lines of all HTTP responses in a raw byte stream."""
    return re.findall(rb"HTTP/1\.[01] (\d{3})[^\r\n]*\r\n", raw)


def status_of(raw):
    codes = responses_in(raw)
    return int(codes[0]) if codes else None


def head_of(raw):
    return raw.split(b"\r\n\r\n", 1)[0].decode("latin-1")


class HostileBase(harness.DaemonCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.adm = cls.daemon.login(TESTER, TESTER_PW)

    def assert_alive(self):
        self.assertIsNone(self.d.proc.poll(), "pvxd died:\n" + self.d.log_text()[-2000:])
        r = self.adm.get("/version", timeout=10)
        self.assertEqual(r.status_code, 200, r.text)

    def cookie_header(self, session=None):
        s = session or self.adm
        return "Cookie: PVEAuthCookie=%s\r\nCSRFPreventionToken: %s\r\n" % (q(s.ticket), s.csrf)

    def raw(self, data, timeout=10.0):
        return tls_exchange(self.d.port, data, timeout)

    def options(self):
        return self.adm.data("GET", "/cluster/options")

    def userids(self):
        return sorted(u["userid"] for u in self.adm.data("GET", "/access/users"))

    def acl(self):
        return sorted(json.dumps(e, sort_keys=True) for e in self.adm.data("GET", "/access/acl"))


# --------------------------------------------------------------------------------------------
class HostileHttp(HostileBase):
    """Malformed and abusive HTTP framing."""

    def test_header_without_colon(self):
        raw = self.raw("GET /api2/json/version HTTP/1.1\r\nHost: x\r\nBadHeader\r\n"
                       "Connection: close\r\n\r\n")
        self.assertEqual(status_of(raw), 400, raw[:300])
        self.assert_alive()

    def test_huge_header_line(self):
        raw = self.raw("GET /api2/json/version HTTP/1.1\r\nHost: x\r\nX-Big: %s\r\n"
                       "Connection: close\r\n\r\n" % ("a" * 100000))
        self.assertEqual(status_of(raw), 431, raw[:300])
        self.assert_alive()

    def test_many_headers(self):
        hdrs = "".join("X-H%d: v\r\n" % i for i in range(5000))
        raw = self.raw("GET /api2/json/version HTTP/1.1\r\nHost: x\r\n%sConnection: close\r\n\r\n" % hdrs)
        self.assertEqual(status_of(raw), 431, raw[:300])
        self.assert_alive()

    def test_huge_request_target(self):
        raw = self.raw("GET /api2/json/%s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n" % ("a" * 100000))
        self.assertIn(status_of(raw), (400, 414, 431), raw[:300])
        self.assert_alive()

    def test_unsupported_http_versions(self):
        for version in ("HTTP/2.0", "HTTP/0.9", "HTTP/1.x"):
            raw = self.raw("GET /api2/json/version %s\r\nHost: x\r\nConnection: close\r\n\r\n" % version)
            self.assertEqual(status_of(raw), 400, (version, raw[:300]))
        self.assert_alive()

    def test_smuggling_content_length_and_transfer_encoding(self):
        # A front proxy using Content-Length would see the GET below as a second request.
        smuggled = "GET /api2/json/version HTTP/1.1\r\nHost: x\r\n%s\r\n" % self.cookie_header()
        raw = self.raw("POST /api2/json/access/ticket HTTP/1.1\r\nHost: x\r\n"
                       "Content-Type: %s\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n"
                       "0\r\n\r\n%s" % (FORM_CT, smuggled), timeout=5)
        self.assertEqual(status_of(raw), 400, raw[:400])
        self.assertEqual(len(responses_in(raw)), 1, raw)  # the smuggled request is not served
        self.assert_alive()

    def test_smuggling_conflicting_content_lengths(self):
        body = "username=a%40pve&password=b"
        raw = self.raw("POST /api2/json/access/ticket HTTP/1.1\r\nHost: x\r\nContent-Type: %s\r\n"
                       "Content-Length: 5\r\nContent-Length: %d\r\n\r\n%s" % (FORM_CT, len(body), body),
                       timeout=5)
        self.assertEqual(status_of(raw), 400, raw[:400])
        self.assertEqual(len(responses_in(raw)), 1, raw)
        self.assert_alive()

    def test_bad_content_length_values(self):
        for value in ("-1", "99999999999999999999999", "abc", "1 2"):
            raw = self.raw("POST /api2/json/access/ticket HTTP/1.1\r\nHost: x\r\nContent-Type: %s\r\n"
                           "Content-Length: %s\r\nConnection: close\r\n\r\n" % (FORM_CT, value), timeout=5)
            self.assertEqual(status_of(raw), 400, (value, raw[:300]))
        self.assert_alive()

    def test_bad_chunk_sizes_get_400(self):
        # http/README.md: "malformed requests get 400". A broken chunked body is a malformed
        # request; the client deserves an answer rather than a silently dropped connection.
        for size in ("zz", "-5", "FFFFFFFFFFFFFFFFFFFF"):
            raw = self.raw("POST /api2/json/access/ticket HTTP/1.1\r\nHost: x\r\nContent-Type: %s\r\n"
                           "Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n%s\r\nabc\r\n0\r\n\r\n"
                           % (FORM_CT, size), timeout=5)
            self.assertEqual(status_of(raw), 400, "chunk size %r -> %r" % (size, raw[:300]))
        self.assert_alive()

    def test_body_limit_edges(self):
        before = self.options()
        # Exactly 512 KiB: accepted as a body, refused by the description's maxLength (64 KiB).
        body = "description=" + "a" * (BODY_LIMIT - len("description="))
        r = self.adm.put("/cluster/options", data=body, headers={"Content-Type": FORM_CT})
        self.assertEqual(r.status_code, 400, r.text[:300])
        self.assertIn("description", r.json()["errors"])
        # One byte more: 501, like PVE.
        r = self.adm.put("/cluster/options", data=body + "a", headers={"Content-Type": FORM_CT})
        self.assertEqual(r.status_code, 501, r.text[:300])
        # A chunked body without Content-Length that grows over the limit: 501 as well.
        r = self.adm.put("/cluster/options", data=(b"a" * 1024 for _ in range(600)),
                         headers={"Content-Type": FORM_CT})
        self.assertEqual(r.status_code, 501, r.text[:300])
        self.assertEqual(self.options(), before)
        self.assert_alive()

    def test_crlf_in_path_is_not_reflected_into_headers(self):
        # The reason phrase carries the error text; the path must not inject header lines.
        for path in ("/api2/json/foo%0D%0ASet-Cookie:%20evil=1", "/api2/json/foo%0DX-Injected:%201",
                     "/api2/json/foo%0AX-Injected:%201", "/api2/json/foo%00X-Injected:%201"):
            raw = self.raw("GET %s HTTP/1.1\r\nHost: x\r\n%sConnection: close\r\n\r\n"
                           % (path, self.cookie_header()))
            head = head_of(raw)
            self.assertEqual(status_of(raw), 501, raw[:300])
            self.assertNotRegex(head, r"(?im)^(Set-Cookie|X-Injected):", head)
            self.assertNotIn("\x00", head)
        self.assert_alive()

    def test_unknown_methods_and_targets(self):
        for line, code in (("TRACE /api2/json/version", 501), ("FOO /api2/json/version", 501),
                           ("PATCH /api2/json/cluster/options", 501), ("OPTIONS *", 501),
                           ("GET https://evil.example/api2/json/version", 501),
                           ("GET /api2/html/version", 501)):
            raw = self.raw("%s HTTP/1.1\r\nHost: x\r\n%sContent-Length: 0\r\nConnection: close\r\n\r\n"
                           % (line, self.cookie_header()))
            self.assertEqual(status_of(raw), code, (line, raw[:300]))
        self.assert_alive()

    def test_garbage_instead_of_tls(self):
        for data in (b"\x00" * 100, b"\x16\x03\x01\x00\x05hello", b"\xff" * 4096):
            with socket.create_connection(("127.0.0.1", self.d.port), timeout=5) as s:
                s.sendall(data)
                try:
                    while s.recv(4096):
                        pass
                except (socket.timeout, ConnectionResetError):
                    pass
        self.assert_alive()

    def test_many_stalled_connections_do_not_block_service(self):
        ctx = ssl._create_unverified_context()
        socks = []
        try:
            for _ in range(150):  # TCP only, never starting TLS
                socks.append(socket.create_connection(("127.0.0.1", self.d.port), timeout=10))
            for _ in range(150):  # TLS with a request header that never ends
                s = ctx.wrap_socket(socket.create_connection(("127.0.0.1", self.d.port), timeout=10))
                s.sendall(b"GET /api2/json/version HTTP/1.1\r\nHost: x\r\nX-Slow: ")
                socks.append(s)
            t0 = time.monotonic()
            self.assert_alive()
            self.assertLess(time.monotonic() - t0, 5.0)
            cookie = {"Cookie": "PVEAuthCookie=" + q(self.adm.ticket)}

            def one(_):
                try:
                    return requests.get(self.d.url("/version"), headers=cookie, verify=False,
                                        timeout=30).status_code
                except requests.RequestException as e:
                    return repr(e)[:100]
            with ThreadPoolExecutor(50) as ex:
                codes = list(ex.map(one, range(300)))
            self.assertEqual(codes, [200] * 300, [c for c in codes if c != 200][:5])
        finally:
            for s in socks:
                s.close()
        self.assert_alive()

    def test_slow_header_client_is_cut_off(self):
        # A byte-dripping client must not hold a connection forever (header timeout 20 s).
        ctx = ssl._create_unverified_context()
        with ctx.wrap_socket(socket.create_connection(("127.0.0.1", self.d.port), timeout=5)) as s:
            s.sendall(b"GET /api2/json/version HTTP/1.1\r\nHost: x\r\n")
            s.settimeout(1.0)
            t0 = time.monotonic()
            closed = False
            while time.monotonic() - t0 < 35:
                try:
                    s.sendall(b"X: y\r\n")
                    if s.recv(100) == b"":
                        closed = True
                        break
                except socket.timeout:
                    continue
                except (ConnectionResetError, BrokenPipeError, ssl.SSLError):
                    closed = True
                    break
            self.assertTrue(closed, "slow client still connected after 35 s")
        self.assert_alive()


# --------------------------------------------------------------------------------------------
class HostileParams(HostileBase):
    """Odd parameters, paths and bodies."""

    def test_path_traversal_segments(self):
        for path in ("/nodes/..%2F..%2Fetc/tasks", "/nodes/%2e%2e/tasks", "/nodes/%s%%00/tasks" % NODE,
                     "/nodes/%s/tasks/..%%2F..%%2F..%%2Fetc%%2Fpasswd/log" % NODE,
                     "/nodes/%s/../../version" % NODE, "/nodes/%ff%fe/status",
                     # A slash inside a UPID splits the path (PVE decodes before splitting): 501.
                     "/nodes/%s/tasks/UPID:%s:00000001:00000001:00000001:x:..%%2F..%%2Fetc:%s:/log"
                     % (NODE, NODE, TESTER)):
            raw = self.raw("GET /api2/json%s HTTP/1.1\r\nHost: x\r\n%sConnection: close\r\n\r\n"
                           % (path, self.cookie_header()))
            code = status_of(raw)
            self.assertIn(code, (400, 501), (path, raw[:300]))
            self.assertNotIn(b"root:", raw)
        self.assert_alive()

    def test_invalid_utf8_and_nul_in_parameters(self):
        r = self.adm.get("/cluster/resources?type=%ff%fe")
        self.assertEqual(r.status_code, 400, r.text)
        self.assertIn("type", r.json()["errors"])
        r = self.adm.get("/cluster/nextid?vmid=100%00")
        self.assertEqual(r.status_code, 400, r.text)
        self.assertIn("vmid", r.json()["errors"])
        r = self.adm.get("/version?%ff=1")
        self.assertEqual(r.status_code, 400, r.text)
        r = self.adm.get("/access/users/%ff%fe%fd@pve")
        self.assertIn(r.status_code, (400, 500), r.text)  # PVE: 500 "no such user"
        self.assertNotIn("basic_string", r.text)
        self.assert_alive()

    def test_integer_overflow_in_start_limit_vmid(self):
        base = "/nodes/%s/tasks" % NODE
        for params, name in (({"limit": "99999999999999999999"}, "limit"), ({"start": "-1"}, "start"),
                             ({"limit": "-1"}, "limit"), ({"start": "99999999999999999999"}, "start"),
                             ({"vmid": "99999999999999999999999"}, "vmid"),
                             ({"until": "99999999999999999999"}, "until")):
            r = self.adm.get(base, params=params)
            self.assertEqual(r.status_code, 400, (params, r.text))
            self.assertIn(name, r.json()["errors"])
        r = self.adm.get(base, params={"start": "9223372036854775807", "limit": "9223372036854775807"})
        self.assertEqual(r.status_code, 200, r.text)
        self.assertEqual(r.json()["data"], [])
        for vmid in ("99999999999999999999", "-1", "1e3", "0x10", " 100", "1000000000"):
            r = self.adm.get("/cluster/nextid", params={"vmid": vmid})
            self.assertEqual(r.status_code, 400, (vmid, r.text))
            self.assertIn("vmid", r.json()["errors"])
        self.assert_alive()

    def test_task_log_offsets(self):
        upid = self.adm.data("POST", "/nodes/%s/startall" % NODE)
        self.adm.wait_task(upid)
        path = "/nodes/%s/tasks/%s/log" % (NODE, q(upid))
        for params in ({"start": "99999999999"}, {"start": "9223372036854775807", "limit": "9223372036854775807"}):
            r = self.adm.get(path, params=params)
            self.assertEqual(r.status_code, 200, r.text)
            self.assertEqual(r.json()["data"], [])
        for params, name in (({"start": "-1"}, "start"), ({"limit": "99999999999999999999"}, "limit")):
            r = self.adm.get(path, params=params)
            self.assertEqual(r.status_code, 400, r.text)
            self.assertIn(name, r.json()["errors"])

    def test_malformed_upids(self):
        for upid in ("not-a-upid", "%", "UPID:", "UPID:%s:::::::" % NODE,
                     "UPID:%s:0000000G:00000001:00000001:x::%s:" % (NODE, TESTER),
                     "UPID:%s:-0000001:00000001:00000001:x::%s:" % (NODE, TESTER),
                     "UPID:%s:FFFFFFFFFFFFFFFF:FFFFFFFFFFFFFFFFFFFF:FFFFFFFFFFFFFFFF:x::%s:" % (NODE, TESTER),
                     "UPID:%s:00000001:00000001:00000001:x::%s" % (NODE, TESTER),
                     "UPID:%s:00000001:00000001:00000001:x::%s:extra:" % (NODE, TESTER),
                     "UPID:%s:00000001:00000001:00000001:x:..:%s:" % (NODE, TESTER),
                     "UPID:%s:00000001:00000001:00000001:x:\x00:%s:" % (NODE, TESTER),
                     "UPID:othernode:00000001:00000001:00000001:x::%s:" % TESTER,
                     "UPID:%s:00000001:00000001:00000001:%s::%s:" % (NODE, "x" * 3000, TESTER)):
            for sub in ("/log", "/status", ""):
                r = self.adm.get("/nodes/%s/tasks/%s%s" % (NODE, q(upid), sub))
                self.assertEqual(r.status_code, 400, (upid[:60], sub, r.text[:200]))
                self.assertIn("upid", r.json()["errors"])
            r = self.adm.delete("/nodes/%s/tasks/%s" % (NODE, q(upid)))
            self.assertEqual(r.status_code, 400, (upid[:60], r.text[:200]))
        self.assert_alive()

    def test_unknown_and_duplicated_parameters(self):
        r = self.adm.get("/nodes/%s/tasks" % NODE, params=[("limit", "1"), ("limit", "2")])
        self.assertEqual(r.status_code, 400, r.text)
        self.assertIn("limit", r.json()["errors"])
        r = self.adm.put("/cluster/options", data=[("description", "a")] * 10000)
        self.assertEqual(r.status_code, 400, r.text[:300])
        self.assertIn("description", r.json()["errors"])
        r = self.adm.put("/cluster/options", data="&".join("k%d=v" % i for i in range(10000)),
                         headers={"Content-Type": FORM_CT})
        self.assertEqual(r.status_code, 400, r.text[:300])
        self.assertIn("k0", r.json()["errors"])
        self.assertIn("k9999", r.json()["errors"])
        self.assert_alive()

    def test_json_bodies(self):
        before = self.options()
        jct = {"Content-Type": "application/json"}
        for body in ("[1,2,3]", '"x"', "null", "[" * 200000, '{"description": ', '{"a":1} trailing',
                     b'{"description": "\xff\xfe"}', '{"max_workers": 1e999}'):
            r = self.adm.put("/cluster/options", data=body, headers=jct)
            self.assertEqual(r.status_code, 400, (str(body)[:40], r.text[:200]))
        for body, name in (('{"description":' + "[" * 100000 + "]" * 100000 + "}", "description"),
                           ('{"a":' * 50000 + "1" + "}" * 50000, "a"),
                           ('{"max_workers": 99999999999999999999999999}', "max_workers"),
                           ('{"max_workers": -9223372036854775809}', "max_workers"),
                           ('{"max_workers": 4.5}', "max_workers"),
                           ('{"max_workers": true}', "max_workers"),
                           ('{"description": {"a": 1}}', "description"),
                           ('{"descr\\u0000iption": "x"}', "descr\x00iption")):
            r = self.adm.put("/cluster/options", data=body, headers=jct)
            self.assertEqual(r.status_code, 400, (body[:40], r.text[:200]))
            self.assertIn(name, r.json()["errors"])
        self.assertEqual(self.options(), before)
        # A JSON body on GET is content on a GET: 501.
        r = self.adm.get("/cluster/nextid", data='{"vmid": 1e999}', headers=jct)
        self.assertEqual(r.status_code, 501, r.text)
        self.assert_alive()

    def test_description_with_newlines_hash_and_max_length(self):
        try:
            for desc in ("line1\nline2\n# comment\nkeyboard: de\n", "#x", "x\r\nmac_prefix: 02:00:00",
                         "ü€😀", "a" * 65536):
                r = self.adm.put("/cluster/options", data={"description": desc})
                self.assertEqual(r.status_code, 200, r.text[:200])
                got = self.options()
                self.assertEqual(got.get("description", "").rstrip("\n"), desc.rstrip("\n"))
                # Nothing from the description leaked out as a key of its own.
                self.assertEqual(set(got) - {"description"}, set(), got.keys())
            r = self.adm.put("/cluster/options", data={"description": "a" * 65537})
            self.assertEqual(r.status_code, 400, r.text[:200])
            self.assertIn("description", r.json()["errors"])
        finally:
            self.adm.put("/cluster/options", data={"delete": "description"})
        self.assert_alive()


# --------------------------------------------------------------------------------------------
class HostileAuth(HostileBase):
    """Forged credentials, token header variants and privilege escalation."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        d = cls.daemon
        harness.add_user(d, "aud@pve", "Auditor-Pass-1")
        harness.grant(d, "/", "aud@pve", "PVEAuditor")
        cls.aud = d.login("aud@pve", "Auditor-Pass-1")
        cls.nopriv = d.login(NOPRIV, NOPRIV_PW)

    def ticket_get(self, ticket, path="/version"):
        return self.d.request("GET", path, headers={"Cookie": "PVEAuthCookie=" + q(ticket)})

    def test_forged_tickets(self):
        t = self.adm.ticket
        parts = t.split(":")
        self.assertEqual(len(parts), 5, t)
        forged = [
            t.replace(TESTER, NOPRIV, 1), t.replace(TESTER, "root@pam", 1),
            ":".join(parts[:2] + ["00000001"] + parts[3:]),  # expired
            ":".join(parts[:2] + ["FFFFFFFF"] + parts[3:]),  # far future
            ":".join(parts[:2] + ["1" + parts[2]] + parts[3:]),
            ":".join(parts[:2] + [parts[2].lower()] + parts[3:]),
            ":".join(parts[:3]) + "::", t[:-10], t[:-4] + "AAA=", "PVE:" + TESTER, "PVE:::::::",
            "PVE:!tfa!{}:%s::%s" % (parts[2], parts[4]), "\xff\xfe", "A" * 4000,
        ]
        for f in forged:
            r = self.ticket_get(f)
            self.assertEqual(r.status_code, 401, (f[:80], r.status_code, r.text[:200]))
        self.assert_alive()

    def test_csrf_token_of_other_user_and_variants(self):
        before = self.options()
        for csrf in (self.nopriv.csrf, "00000001:" + self.adm.csrf.split(":", 1)[1], ":", "A" * 6000,
                     self.adm.csrf + "x", self.adm.csrf.lower()):
            r = self.adm.put("/cluster/options", data={"description": "pwn"}, csrf=False,
                             headers={"CSRFPreventionToken": csrf})
            self.assertEqual(r.status_code, 401, (csrf[:40], r.text))
        # The CSRF token only ever travels as a header, never as a parameter.
        r = self.adm.put("/cluster/options?CSRFPreventionToken=" + q(self.adm.csrf), csrf=False,
                         data={"description": "pwn"})
        self.assertEqual(r.status_code, 401, r.text)
        # A ticket in the Authorization header still needs the CSRF token.
        r = self.d.request("PUT", "/cluster/options", data={"description": "pwn"},
                           headers={"Authorization": "PVEAuthCookie=" + self.adm.ticket})
        self.assertEqual(r.status_code, 401, r.text)
        self.assertEqual(self.options(), before)

    def token_status(self, value, path="/version"):
        return self.d.request("GET", path, headers={"Authorization": value})

    def test_api_token_header_variants(self):
        full, secret = self.token_full, self.token_secret
        ok = ("PVEAPIToken=%s=%s" % (full, secret), "PVEAPIToken %s=%s" % (full, secret),
              "PVEAPIToken=%s" % q("%s=%s" % (full, secret)), "PVEAPIToken=%s=%s" % (q(full), secret))
        for v in ok:
            r = self.token_status(v)
            self.assertEqual(r.status_code, 200, (v, r.text))
        bad = ("PVEAPIToken=%s" % full, "PVEAPIToken=%s=" % full, "PVEAPIToken=%s=%s" % (full, secret.upper()),
               "PVEAPIToken=%s=%s" % (full, secret[:-1]), "PVEAPIToken=%s=%sx" % (full, secret),
               "PVEAPIToken=%s=%s" % (TESTER, secret), "PVEAPIToken=%s!=%s" % (TESTER, secret),
               "PVEAPIToken=%s!%s=%s" % (NOPRIV, harness.TOKEN_ID, secret),
               "PVEAPIToken=" + "a" * 7000, "PVEAPIToken=", "PVEAPIToken= ")
        for v in bad:
            r = self.token_status(v)
            self.assertEqual(r.status_code, 401, (v[:80], r.status_code, r.reason, r.text[:200]))
        self.assert_alive()

    def test_bare_token_scheme_is_401_not_500(self):
        # "Authorization: PVEAPIToken" with nothing after it: api/dispatch.cc authenticate()
        # takes substr(12) of an 11-character string -> std::out_of_range -> 500.
        r = self.token_status("PVEAPIToken")
        self.assertEqual(r.status_code, 401, (r.status_code, r.reason, r.text[:200]))
        # The same next to a valid ticket cookie must not authenticate or crash either.
        r = self.d.request("PUT", "/cluster/options", data={"description": "x"},
                           headers={"Cookie": "PVEAuthCookie=" + q(self.adm.ticket), "Authorization": "PVEAPIToken"})
        self.assertEqual(r.status_code, 401, (r.status_code, r.reason, r.text[:200]))
        self.assert_alive()

    def test_bogus_token_header_does_not_skip_csrf(self):
        before = self.options()
        for authz in ("PVEAPIToken=bogus", "PVEAPIToken=%s!x=00000000-0000-4000-8000-000000000000" % NOPRIV):
            r = self.d.request("PUT", "/cluster/options", data={"description": "pwn"},
                               headers={"Cookie": "PVEAuthCookie=" + q(self.adm.ticket), "Authorization": authz})
            self.assertEqual(r.status_code, 401, (authz, r.text))
        self.assertEqual(self.options(), before)

    def test_token_and_ticket_of_deleted_user(self):
        self.adm.data("POST", "/access/users", data={"userid": "gone@pve", "password": "Gone-Pass-123"})
        self.adm.data("PUT", "/access/acl", data={"path": "/", "users": "gone@pve", "roles": "Administrator"})
        tok = self.adm.data("POST", "/access/users/gone@pve/token/t1", data={"privsep": "0"})
        sess = self.d.login("gone@pve", "Gone-Pass-123")
        tsess = self.d.token_session(tok["full-tokenid"], tok["value"])
        self.assertEqual(tsess.get("/nodes/%s/status" % NODE).status_code, 200)
        self.assertEqual(sess.get("/nodes/%s/status" % NODE).status_code, 200)
        self.adm.data("DELETE", "/access/users/gone@pve")
        self.assertEqual(tsess.get("/version").status_code, 401)
        self.assertEqual(sess.get("/version").status_code, 401)
        self.assertEqual(sess.put("/cluster/options", data={"description": "ghost"}).status_code, 401)
        r = self.d.request("POST", "/access/ticket", data={"username": "gone@pve", "password": sess.ticket})
        self.assertEqual(r.status_code, 401)
        # Re-creating the name does not bring back the old token or the old ACL.
        self.adm.data("POST", "/access/users", data={"userid": "gone@pve"})
        try:
            self.assertEqual(tsess.get("/version").status_code, 401)
            self.assertEqual(sess.get("/nodes/%s/status" % NODE).status_code, 403)
        finally:
            self.adm.delete("/access/users/gone@pve")

    def test_privsep_token_without_acl_is_denied(self):
        self.adm.data("POST", "/access/users", data={"userid": "sep@pve", "password": "Sep-Pass-1234"})
        try:
            self.adm.data("PUT", "/access/acl", data={"path": "/", "users": "sep@pve", "roles": "Administrator"})
            sep = self.adm.data("POST", "/access/users/sep@pve/token/sep", data={"privsep": "1"})
            self.adm.data("POST", "/access/users/sep@pve/token/full", data={"privsep": "0"})
            s = self.d.token_session(sep["full-tokenid"], sep["value"])
            self.assertEqual(s.get("/nodes/%s/status" % NODE).status_code, 403)
            self.assertEqual(s.put("/cluster/options", data={"description": "pwn"}).status_code, 403)
            self.assertEqual(s.put("/access/acl", data={"path": "/", "tokens": "sep@pve!sep",
                                                         "roles": "Administrator"}).status_code, 403)
            self.assertEqual(s.data("GET", "/access/permissions"), {})
        finally:
            self.adm.delete("/access/users/sep@pve")

    def test_privsep_token_cannot_mint_or_touch_sibling_tokens(self):
        # PVE's ["userid-param", "self"] compares the userid with the caller, and for a token the
        # caller is "user@realm!token", never the plain user. pvx compares it with the token's
        # owner (api/permission_check.cc, evaluate(), case UserSelf uses who.user instead of
        # who.full()), so a privilege-separated token with no ACL at all can create a token
        # WITHOUT privilege separation and so get every right of its user.
        self.adm.data("POST", "/access/users", data={"userid": "sep2@pve", "password": "Sep-Pass-1234"})
        try:
            self.adm.data("PUT", "/access/acl", data={"path": "/", "users": "sep2@pve", "roles": "Administrator"})
            sep = self.adm.data("POST", "/access/users/sep2@pve/token/sep", data={"privsep": "1"})
            self.adm.data("POST", "/access/users/sep2@pve/token/full", data={"privsep": "0"})
            s = self.d.token_session(sep["full-tokenid"], sep["value"])
            r = s.post("/access/users/sep2@pve/token/minted", data={"privsep": "0"})
            self.assertEqual(r.status_code, 403, "privsep token minted a token: %d %s" % (r.status_code, r.text))
            r = s.get("/access/users/sep2@pve/token")
            self.assertEqual(r.status_code, 403, r.text)
            r = s.get("/access/users/sep2@pve/token/full")
            self.assertEqual(r.status_code, 403, r.text)
            r = s.delete("/access/users/sep2@pve/token/full")
            self.assertEqual(r.status_code, 403, r.text)
            names = {t["tokenid"] for t in self.adm.data("GET", "/access/users/sep2@pve/token")}
            self.assertEqual(names, {"sep", "full"})
        finally:
            self.adm.delete("/access/users/sep2@pve")

    def test_auditor_cannot_escalate(self):
        a = self.aud
        users, acl, opts = self.userids(), self.acl(), self.options()
        tokens = self.adm.data("GET", "/access/users/%s/token" % TESTER)
        probes = (
            ("PUT", "/cluster/options", {"description": "pwn"}),
            ("PUT", "/access/acl", {"path": "/", "users": "aud@pve", "roles": "Administrator"}),
            ("PUT", "/access/acl", {"path": "/access", "users": "aud@pve", "roles": "Administrator"}),
            ("PUT", "/access/acl", {"path": "/", "users": NOPRIV, "roles": "Administrator"}),
            ("POST", "/access/users", {"userid": "evil@pve", "password": "Evil-Pass-123"}),
            ("DELETE", "/access/users/%s" % NOPRIV, None),
            ("POST", "/access/users/%s/token/evil" % TESTER, {"privsep": "0"}),
            ("DELETE", "/access/users/%s/token/%s" % (TESTER, harness.TOKEN_ID), None),
            ("POST", "/nodes/%s/startall" % NODE, None),
        )
        for method, path, data in probes:
            r = a.call(method, path, data=data)
            self.assertEqual(r.status_code, 403, (method, path, r.status_code, r.text[:200]))
        self.assertEqual(self.userids(), users)
        self.assertEqual(self.acl(), acl)
        self.assertEqual(self.options(), opts)
        self.assertEqual(self.adm.data("GET", "/access/users/%s/token" % TESTER), tokens)

    def test_task_log_of_other_user(self):
        upid = self.adm.data("POST", "/nodes/%s/startall" % NODE)
        self.adm.wait_task(upid)
        base = "/nodes/%s/tasks/%s" % (NODE, q(upid))
        for sub in ("/log", "/status", ""):
            self.assertEqual(self.nopriv.get(base + sub).status_code, 403, sub)
        self.assertEqual(self.nopriv.delete(base).status_code, 403)
        # Sys.Audit on the node is what PVE asks for to read other users' tasks.
        r = self.aud.get(base + "/log")
        self.assertEqual(r.status_code, 200, r.text)
        self.assertEqual(self.aud.delete(base).status_code, 403)
        r = self.nopriv.get("/access/permissions", params={"userid": TESTER})
        self.assertEqual(r.status_code, 403, r.text)

    def test_strange_userids(self):
        before = self.userids()
        rejected = ("a\nacl:1:/:evil@pve:Administrator:@pve", "a:b@pve", "a b@pve", "x@pve\n", "@pve", "a@",
                    "a/b@pve", "a" * 1000 + "@pve", "ok@pve!tok", "a\tb@pve")
        for uid in rejected:
            r = self.adm.post("/access/users", data={"userid": uid})
            self.assertEqual(r.status_code, 400, (uid[:40], r.text[:200]))
            self.assertIn("userid", r.json()["errors"])
        self.assertEqual(self.userids(), before)
        accepted = ("pct%3A@pve", "ü@pve", 'q"x@pve')
        comment = "c\nuser:evil@pve:1:0::::::\nacl:1:/:evil@pve:Administrator:"
        for uid in accepted:
            r = self.adm.post("/access/users", data={"userid": uid, "comment": comment})
            self.assertEqual(r.status_code, 200, (uid, r.text))
        try:
            now = self.userids()
            self.assertEqual(sorted(set(now) - set(before)), sorted(accepted))
            self.assertNotIn("evil@pve", now)
            for uid in accepted:
                got = self.adm.data("GET", "/access/users/" + q(uid))
                self.assertEqual(got.get("comment"), comment)
            self.assertNotIn("evil", json.dumps(self.adm.data("GET", "/access/acl")))
            # The stored user.cfg survives a restart of the daemon.
            self.assertEqual(self.d.stop(), 0)
            self.d.start()
            type(self).adm = self.d.login(TESTER, TESTER_PW)
            self.assertEqual(self.userids(), now)
            for uid in accepted:
                self.assertEqual(self.adm.data("GET", "/access/users/" + q(uid)).get("comment"), comment)
        finally:
            for uid in accepted:
                self.adm.delete("/access/users/" + q(uid))
        self.assert_alive()


# --------------------------------------------------------------------------------------------
class RegexStackDepth(HostileBase):
    """Long values that reach std::regex. libstdc++'s regex matcher recurses once per input
    character, so a few tens of KiB of digits overflow the stack of the thread that validates
    parameters and pvxd dies with SIGSEGV. schema/validate.cc check_string_constraints() runs
    the format/pattern regex *before* the maxLength check, and is_number_text() /
    is_integer_text() run a regex over every value; POST /access/ticket validates before any
    authentication, so this is an unauthenticated remote crash.

    Each test restarts pvxd if it died, so the others still run."""

    def tearDown(self):
        if self.d.proc.poll() is not None:
            self.d.start()
            type(self).adm = self.d.login(TESTER, TESTER_PW)

    def crashed(self):
        try:
            code = self.d.proc.wait(timeout=5)
        except Exception:
            code = None
        self.fail("pvxd dropped the connection without an answer (exit status %r)" % code)

    def post_or_crash(self, path, data):
        try:
            return self.d.request("POST", path, data=data, timeout=60)
        except requests.ConnectionError:
            pass
        self.crashed()

    def test_unauthenticated_long_numeric_password(self):
        r = self.post_or_crash("/access/ticket", {"username": "nobody@pve", "password": "1" * 100000})
        self.assertEqual(r.status_code, 401, r.text[:200])
        self.assert_alive()

    def test_unauthenticated_long_realm(self):
        r = self.post_or_crash("/access/ticket", {"username": "nobody", "password": "x", "realm": "a" * 200000})
        self.assertEqual(r.status_code, 400, r.text[:200])
        self.assertIn("realm", r.json()["errors"])
        self.assert_alive()

    def test_long_integer_parameter(self):
        before = self.options()
        try:
            r = self.adm.put("/cluster/options", data={"max_workers": "1" * 100000}, timeout=60)
        except requests.ConnectionError:
            r = None
        if r is None:
            self.crashed()
        self.assertEqual(r.status_code, 400, r.text[:200])
        self.assertIn("max_workers", r.json()["errors"])
        self.assertEqual(self.options(), before)
        self.assert_alive()


if __name__ == "__main__":
    harness.main()
