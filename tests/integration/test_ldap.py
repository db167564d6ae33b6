#!/usr/bin/python3
"""LDAP and Active Directory realms against a real slapd (Debian's package) that this suite starts
on loopback ports with a generated directory: people, groups, and AD-style accounts
(sAMAccountName, from a small schema written here). A test CA signs the server certificate, so
StartTLS and ldaps run with certificate verification, and a wrong CA is refused.
Covered through the API: realm creation with a connection check, logins (right and wrong
passwords, unknown users), sync of users and groups (dry run first, then for real, with the
realm's sync-defaults-options), and a resync after a user left the directory that removes the
user and its ACL entries (remove-vanished)."""
import os
import shutil
import subprocess
import tempfile
import time

import harness
from harness import NOPRIV, NOPRIV_PW, free_port

SLAPD = "/usr/sbin/slapd"
SUFFIX = "dc=example,dc=com"
ROOT_DN = "cn=admin," + SUFFIX
ROOT_PW = "slapd-root-secret"

AD_SCHEMA = """
attributetype ( 1.3.6.1.4.1.55555.1.1 NAME 'sAMAccountName'
  EQUALITY caseIgnoreMatch SUBSTR caseIgnoreSubstringsMatch
  SYNTAX 1.3.6.1.4.1.1466.115.121.1.15 SINGLE-VALUE )
objectclass ( 1.3.6.1.4.1.55555.2.1 NAME 'pvxAdAccount' SUP top AUXILIARY MAY ( sAMAccountName ) )
"""

DATA = """dn: {s}
objectClass: dcObject
objectClass: organization
o: Example
dc: example

dn: ou=people,{s}
objectClass: organizationalUnit
ou: people

dn: ou=groups,{s}
objectClass: organizationalUnit
ou: groups

dn: ou=ad,{s}
objectClass: organizationalUnit
ou: ad

dn: uid=ana,ou=people,{s}
objectClass: inetOrgPerson
uid: ana
cn: Ana Costa
sn: Costa
givenName: Ana
mail: ana@example.com
userPassword: ana-pass-1

dn: uid=ben,ou=people,{s}
objectClass: inetOrgPerson
uid: ben
cn: Ben Bauer
sn: Bauer
givenName: Ben
mail: ben@example.com
userPassword: ben-pass-1

dn: cn=ops,ou=groups,{s}
objectClass: groupOfNames
cn: ops
member: uid=ana,ou=people,{s}
member: uid=ben,ou=people,{s}

dn: cn=dev team,ou=groups,{s}
objectClass: groupOfNames
cn: dev team
member: uid=ana,ou=people,{s}

dn: cn=Carl Admin,ou=ad,{s}
objectClass: inetOrgPerson
objectClass: pvxAdAccount
cn: Carl Admin
sn: Admin
sAMAccountName: carl
mail: carl@example.com
userPassword: carl-pass-1

dn: uid=dora,ou=people,{s}
objectClass: inetOrgPerson
uid: dora
cn: Dora Diaz
sn: Diaz
userPassword: dora-pass-1
""".format(s=SUFFIX)


def run(*argv, **kw):
    return subprocess.run(list(argv), check=True, capture_output=True, text=True, **kw)


def make_ca(work):
    """A CA and a server certificate for 127.0.0.1/localhost; a second, unrelated CA."""
    for name in ("ca", "otherca"):
        run("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=pvx test " + name,
            "-keyout", os.path.join(work, name + ".key"), "-out", os.path.join(work, name + ".pem"))
    ext = os.path.join(work, "san.cnf")
    with open(ext, "w") as f:
        f.write("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
    run("openssl", "req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=127.0.0.1",
        "-keyout", os.path.join(work, "server.key"), "-out", os.path.join(work, "server.csr"))
    run("openssl", "x509", "-req", "-in", os.path.join(work, "server.csr"), "-CA", os.path.join(work, "ca.pem"),
        "-CAkey", os.path.join(work, "ca.key"), "-CAcreateserial", "-days", "2", "-extfile", ext,
        "-out", os.path.join(work, "server.pem"))
    os.chmod(os.path.join(work, "server.key"), 0o644)  # slapd may drop privileges


class Slapd:
    def __init__(self):
        self.work = tempfile.mkdtemp(prefix="pvx-slapd-")
        self.port, self.tls_port = free_port(), free_port()
        make_ca(self.work)
        os.makedirs(os.path.join(self.work, "db"))
        with open(os.path.join(self.work, "ad.schema"), "w") as f:
            f.write(AD_SCHEMA)
        conf = os.path.join(self.work, "slapd.conf")
        with open(conf, "w") as f:
            for schema in ("core", "cosine", "inetorgperson", "nis"):
                f.write("include /etc/ldap/schema/%s.schema\n" % schema)
            f.write("include %s/ad.schema\n" % self.work)
            f.write("modulepath /usr/lib/ldap\nmoduleload back_mdb\n")
            f.write("pidfile %s/slapd.pid\n" % self.work)
            f.write("TLSCACertificateFile %s/ca.pem\nTLSCertificateFile %s/server.pem\n"
                    "TLSCertificateKeyFile %s/server.key\n" % (self.work, self.work, self.work))
            # A small size limit, as directories have (AD: 1000): listings must page to see everyone.
            f.write("sizelimit 2\n")
            f.write("database mdb\nmaxsize 10485760\nsuffix \"%s\"\nrootdn \"%s\"\nrootpw %s\ndirectory %s/db\n"
                    % (SUFFIX, ROOT_DN, ROOT_PW, self.work))
            f.write("access to attrs=userPassword by anonymous auth by self write by * none\n")
            f.write("access to * by * read\n")
        urls = "ldap://127.0.0.1:%d/ ldaps://127.0.0.1:%d/" % (self.port, self.tls_port)
        self.proc = subprocess.Popen([SLAPD, "-f", conf, "-h", urls, "-d", "0"],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 20
        while True:
            r = subprocess.run(["ldapsearch", "-x", "-H", "ldap://127.0.0.1:%d" % self.port, "-b", "", "-s", "base"],
                               capture_output=True)
            if r.returncode == 0:
                break
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise AssertionError("slapd did not start: %s" % self.proc.stderr.read().decode(errors="replace"))
            time.sleep(0.2)
        self.modify("ldapadd", DATA)

    def modify(self, tool, ldif):
        subprocess.run([tool, "-x", "-H", "ldap://127.0.0.1:%d" % self.port, "-D", ROOT_DN, "-w", ROOT_PW],
                       input=ldif, text=True, check=True, capture_output=True)

    def delete(self, dn):
        run("ldapdelete", "-x", "-H", "ldap://127.0.0.1:%d" % self.port, "-D", ROOT_DN, "-w", ROOT_PW, dn)

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        shutil.rmtree(self.work, ignore_errors=True)


class LdapSuite(harness.DaemonCase):

    @classmethod
    def setUpClass(cls):
        if not os.path.exists(SLAPD):
            raise AssertionError("slapd is not installed (make deps installs it)")
        cls.slapd = Slapd()
        try:
            super().setUpClass()
        except Exception:
            cls.slapd.stop()
            raise

    @classmethod
    def tearDownClass(cls):
        try:
            super().tearDownClass()
        finally:
            cls.slapd.stop()

    def setUp(self):
        self.adm = self.admin()

    def realm(self, realm, **extra):
        data = {"realm": realm, "type": "ldap", "server1": "127.0.0.1", "port": self.slapd.port,
                "base_dn": "ou=people," + SUFFIX, "user_attr": "uid", "bind_dn": ROOT_DN, "password": ROOT_PW,
                "group_dn": "ou=groups," + SUFFIX, "sync_attributes": "email=mail,firstname=givenName,lastname=sn",
                "mode": "ldap+starttls", "verify": 1, "capath": os.path.join(self.slapd.work, "ca.pem"),
                "check-connection": 1}
        data.update(extra)
        self.adm.data("POST", "/access/domains", data=data)
        self.addCleanup(lambda: self.adm.delete("/access/domains/" + realm))

    def sync(self, realm, **params):
        upid = self.adm.data("POST", "/access/domains/%s/sync" % realm, data=params)
        status = self.adm.wait_task(upid)
        log = "\n".join(l["t"] for l in self.adm.data("GET", "/nodes/%s/tasks/%s/log" % (
            harness.NODE, harness.urllib.parse.quote(upid, safe="")), params={"limit": 500}))
        self.assertEqual(status.get("exitstatus"), "OK", log)
        return log

    def login_status(self, user, password):
        return self.d.request("POST", "/access/ticket", data={"username": user, "password": password}).status_code

    def test_starttls_login_and_sync(self):
        self.realm("corp", **{"sync-defaults-options": "scope=both,enable-new=1"})
        self.assertEqual(self.login_status("ana@corp", "ana-pass-1"), 401)  # not synced yet: no such user
        log = self.sync("corp", **{"dry-run": 1})
        self.assertIn("added user: ana@corp", log)
        self.assertNotIn("ana@corp", [u["userid"] for u in self.adm.data("GET", "/access/users")])
        log = self.sync("corp")
        self.assertIn("added group: ops-corp", log)
        users = {u["userid"]: u for u in self.adm.data("GET", "/access/users", params={"full": 1})}
        self.assertEqual(users["ana@corp"]["email"], "ana@example.com")
        self.assertEqual(users["ana@corp"]["firstname"], "Ana")
        self.assertEqual(users["ana@corp"]["realm-type"], "ldap")
        self.assertEqual(sorted(self.adm.data("GET", "/access/groups/ops-corp")["members"]), ["ana@corp", "ben@corp"])
        # "dev team" is no valid group name: left out with a note, as PVE does.
        self.assertIn("skipped group 'dev team'", log)
        self.assertNotIn("dev_team-corp", [g["groupid"] for g in self.adm.data("GET", "/access/groups")])

        self.assertEqual(self.login_status("ana@corp", "ana-pass-1"), 200)
        self.assertEqual(self.login_status("ana@corp", "wrong-pass"), 401)
        self.assertEqual(self.login_status("nobody@corp", "ana-pass-1"), 401)
        self.assertEqual(self.login_status("ana@corp", ""), 401)  # an empty password never binds

        # Ben leaves the directory; his ACL entry and account go with the next sync.
        self.adm.data("PUT", "/access/acl", data={"path": "/vms", "users": "ben@corp", "roles": "PVEAuditor"})
        self.slapd.delete("uid=ben,ou=people," + SUFFIX)
        self.addCleanup(lambda: self.slapd.modify("ldapadd", DATA.split("\n\n")[5] + "\n"))
        log = self.sync("corp", **{"remove-vanished": "acl;entry;properties"})
        self.assertIn("removed vanished user: ben@corp", log)
        self.assertNotIn("ben@corp", [u["userid"] for u in self.adm.data("GET", "/access/users")])
        self.assertNotIn("ben@corp", [a["ugid"] for a in self.adm.data("GET", "/access/acl")])
        self.assertEqual(self.adm.data("GET", "/access/groups/ops-corp")["members"], ["ana@corp"])

        # pveum follows the sync task and prints its log.
        out = self.d.cli("pveum", "realm", "sync", "corp", "--scope", "users", "--dry-run", "1").stdout
        self.assertIn("dry run: nothing was written", out)
        # Only who may allocate users in the realm may sync it.
        s = self.d.login(NOPRIV, NOPRIV_PW)
        self.assertEqual(s.post("/access/domains/corp/sync", data={"scope": "users"}).status_code, 403)

    def test_ldaps_and_certificate_verification(self):
        self.realm("secure", mode="ldaps", port=self.slapd.tls_port)
        self.sync("secure", scope="users")
        self.assertEqual(self.login_status("ana@secure", "ana-pass-1"), 200)
        # Another CA: the server's certificate no longer verifies.
        r = self.adm.put("/access/domains/secure", data={"capath": os.path.join(self.slapd.work, "otherca.pem"),
                                                          "check-connection": 1})
        self.assertNotEqual(r.status_code, 200)
        self.assertIn("LDAP", r.reason)
        r = self.adm.post("/access/domains", data={
            "realm": "badca", "type": "ldap", "server1": "127.0.0.1", "port": self.slapd.port,
            "base_dn": SUFFIX, "user_attr": "uid", "mode": "ldap+starttls", "verify": 1,
            "capath": os.path.join(self.slapd.work, "otherca.pem"), "check-connection": 1})
        self.assertNotEqual(r.status_code, 200)
        self.assertNotIn("badca", [x["realm"] for x in self.adm.data("GET", "/access/domains")])

    def test_sync_pages_past_the_size_limit(self):
        # Three accounts below the suffix, a server limit of two per answer.
        self.realm("whole", base_dn=SUFFIX, mode="ldap", verify=0)
        log = self.sync("whole", scope="users")
        users = [u["userid"] for u in self.adm.data("GET", "/access/users") if u["userid"].endswith("@whole")]
        self.assertEqual(sorted(users), ["ana@whole", "ben@whole", "dora@whole"], log)  # carl has no uid

    def test_sync_needs_a_scope(self):
        self.realm("noscope")
        r = self.adm.post("/access/domains/noscope/sync", data={})
        self.assertEqual(r.status_code, 400)
        self.assertIn("scope", r.json()["errors"])

    def test_active_directory_style(self):
        self.adm.data("POST", "/access/domains", data={
            "realm": "corpad", "type": "ad", "server1": "127.0.0.1", "port": self.slapd.port,
            "domain": "example.com", "base_dn": "ou=ad," + SUFFIX, "bind_dn": ROOT_DN, "password": ROOT_PW,
            "user_attr": "sAMAccountName", "mode": "ldap", "case-sensitive": 0,
            "sync_attributes": "email=mail"})
        self.addCleanup(lambda: self.adm.delete("/access/domains/corpad"))
        self.sync("corpad", scope="users")
        users = {u["userid"]: u for u in self.adm.data("GET", "/access/users", params={"full": 1})}
        self.assertEqual(users["carl@corpad"]["email"], "carl@example.com")
        self.assertEqual(users["carl@corpad"]["realm-type"], "ad")
        self.assertEqual(self.login_status("carl@corpad", "carl-pass-1"), 200)
        # case-sensitive=0: the login finds the user whatever the case, and answers its userid.
        r = self.d.request("POST", "/access/ticket", data={"username": "CARL@corpad", "password": "carl-pass-1"})
        self.assertEqual(r.status_code, 200)
        self.assertEqual(r.json()["data"]["username"], "carl@corpad")
        self.assertEqual(self.login_status("carl@corpad", "nope"), 401)


if __name__ == "__main__":
    harness.main()
