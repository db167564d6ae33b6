#!/usr/bin/python3
"""Access control on a real pvxd, through the API and pveum: users (both token shapes), API tokens,
groups, roles, ACLs (with PVE's delegation rules), pools (PVE 9's and the older shapes), realms,
password changes, what listings show a user without privileges, and the failed-login limits.
The files are checked in PVE's formats afterwards."""
import json
import shutil
import tempfile
import time

import harness
from harness import NODE, NOPRIV, NOPRIV_PW, TESTER


def errors(r):
    try:
        return r.json().get("errors") or {}
    except ValueError:
        return {}


class AccessSuite(harness.DaemonCase):

    def setUp(self):
        self.adm = self.admin()

    def user(self, userid, password="Passw0rd-1", **extra):
        self.adm.data("POST", "/access/users", data=dict(userid=userid, password=password, **extra))
        self.addCleanup(lambda: self.adm.delete("/access/users/" + userid))
        return userid

    # --- users ---------------------------------------------------------------------------------
    def test_user_shapes_update_and_delete(self):
        self.adm.data("POST", "/access/groups", data={"groupid": "ops", "comment": "Operations"})
        self.addCleanup(lambda: self.adm.delete("/access/groups/ops"))
        self.adm.data("POST", "/access/groups", data={"groupid": "dev"})
        self.addCleanup(lambda: self.adm.delete("/access/groups/dev"))
        uid = self.user("ana@pve", groups="ops", firstname="Ana", lastname="Costa", email="ana@example.com",
                        comment="storage team: lab")
        self.adm.data("POST", "/access/users/%s/token/ci" % uid, data={"comment": "for CI", "privsep": 1})

        listed = {u["userid"]: u for u in self.adm.data("GET", "/access/users", params={"full": 1})}
        ana = listed[uid]
        self.assertEqual(ana["groups"], "ops")  # a comma string in the list
        self.assertEqual(ana["tokens"], [{"tokenid": "ci", "comment": "for CI", "expire": 0, "privsep": 1}])
        self.assertEqual(ana["realm-type"], "pve")
        self.assertEqual(ana["comment"], "storage team: lab")
        one = self.adm.data("GET", "/access/users/" + uid)
        self.assertEqual(one["groups"], ["ops"])  # an array here
        self.assertEqual(one["tokens"], {"ci": {"comment": "for CI", "expire": 0, "privsep": 1}})
        self.assertEqual(one["email"], "ana@example.com")

        self.adm.data("PUT", "/access/users/" + uid, data={"groups": "dev", "append": 1, "firstname": "Ana Maria"})
        self.assertEqual(sorted(self.adm.data("GET", "/access/users/" + uid)["groups"]), ["dev", "ops"])
        self.adm.data("PUT", "/access/users/" + uid, data={"groups": "dev"})
        self.assertEqual(self.adm.data("GET", "/access/users/" + uid)["groups"], ["dev"])
        self.assertEqual(self.adm.data("GET", "/access/groups/ops")["members"], [])
        self.assertEqual(self.adm.data("GET", "/access/groups/dev")["members"], [uid])

        r = self.adm.post("/access/users", data={"userid": uid})
        self.assertEqual(r.status_code, 500)
        self.assertIn("already exists", r.reason)
        r = self.adm.post("/access/users", data={"userid": "x@nosuchrealm"})
        self.assertEqual(r.status_code, 400)
        self.assertIn("userid", errors(r))
        r = self.adm.put("/access/users/" + uid, data={"groups": "nosuchgroup"})
        self.assertEqual(r.status_code, 400)
        self.assertIn("groups", errors(r))

        self.adm.data("DELETE", "/access/users/" + uid)
        self.assertEqual(self.adm.get("/access/users/" + uid).status_code, 500)
        self.assertEqual(self.adm.data("GET", "/access/groups/dev")["members"], [])

    def test_root_cannot_be_deleted_or_disabled(self):
        r = self.adm.delete("/access/users/root@pam")
        self.assertEqual(r.status_code, 400)
        r = self.adm.put("/access/users/root@pam", data={"enable": 0})
        self.assertEqual(r.status_code, 400)
        self.assertIn("enable", errors(r))

    def test_disabled_and_expired_users_are_refused(self):
        uid = self.user("dis@pve", password="Passw0rd-dis")
        self.d.login(uid, "Passw0rd-dis")
        self.adm.data("PUT", "/access/users/" + uid, data={"enable": 0})
        self.assertEqual(self.d.request("POST", "/access/ticket",
                                        data={"username": uid, "password": "Passw0rd-dis"}).status_code, 401)
        self.adm.data("PUT", "/access/users/" + uid, data={"enable": 1, "expire": int(time.time()) - 10})
        self.assertEqual(self.d.request("POST", "/access/ticket",
                                        data={"username": uid, "password": "Passw0rd-dis"}).status_code, 401)
        self.adm.data("PUT", "/access/users/" + uid, data={"expire": 0})
        self.d.login(uid, "Passw0rd-dis")

    # --- tokens --------------------------------------------------------------------------------
    def test_tokens(self):
        uid = self.user("tok@pve")
        harness.grant(self.d, "/vms", uid, "PVEVMAdmin")
        made = self.adm.data("POST", "/access/users/%s/token/auto" % uid, data={"privsep": 0})
        self.assertEqual(made["full-tokenid"], uid + "!auto")
        self.assertRegex(made["value"], harness.UUID_RE)
        self.assertNotIn("value", self.adm.data("GET", "/access/users/%s/token/auto" % uid))
        tok = self.d.token_session(made["full-tokenid"], made["value"])
        perms = tok.data("GET", "/access/permissions", params={"path": "/vms"})
        self.assertIn("VM.PowerMgmt", perms["/vms"])

        upd = self.adm.data("PUT", "/access/users/%s/token/auto" % uid, data={"comment": "renamed", "privsep": 1})
        self.assertEqual(upd, {"comment": "renamed", "expire": 0, "privsep": 1})
        # privsep without own ACL entries: nothing.
        self.assertEqual(tok.data("GET", "/access/permissions", params={"path": "/vms"}), {"/vms": {}})
        self.adm.data("PUT", "/access/acl", data={"path": "/vms", "tokens": uid + "!auto", "roles": "PVEAuditor"})
        perms = tok.data("GET", "/access/permissions", params={"path": "/vms"})["/vms"]
        self.assertIn("VM.Audit", perms)
        self.assertNotIn("VM.PowerMgmt", perms)  # the intersection with the user's

        self.adm.data("PUT", "/access/users/%s/token/auto" % uid, data={"expire": int(time.time()) - 5})
        self.assertEqual(tok.get("/version").status_code, 401)
        self.adm.data("DELETE", "/access/users/%s/token/auto" % uid)
        self.assertEqual(self.adm.get("/access/users/%s/token/auto" % uid).status_code, 500)

    # --- groups, roles, ACLs -------------------------------------------------------------------
    def test_roles(self):
        roles = {r["roleid"]: r for r in self.adm.data("GET", "/access/roles")}
        self.assertEqual(roles["PVEAdmin"].get("special"), 1)
        self.assertEqual(self.adm.put("/access/roles/PVEAdmin", data={"privs": "VM.Audit"}).status_code, 500)
        r = self.adm.post("/access/roles", data={"roleid": "Bad", "privs": "VM.Audit,Not.A.Priv"})
        self.assertEqual(r.status_code, 400)
        self.assertIn("privs", errors(r))
        self.adm.data("POST", "/access/roles", data={"roleid": "Backup", "privs": "VM.Audit,VM.Backup"})
        self.assertEqual(self.adm.data("GET", "/access/roles/Backup"), {"VM.Audit": 1, "VM.Backup": 1})
        self.adm.data("PUT", "/access/roles/Backup", data={"privs": "Datastore.Audit", "append": 1})
        self.assertEqual(set(self.adm.data("GET", "/access/roles/Backup")), {"VM.Audit", "VM.Backup", "Datastore.Audit"})
        uid = self.user("rol@pve")
        self.adm.data("PUT", "/access/acl", data={"path": "/vms/100", "users": uid, "roles": "Backup"})
        self.adm.data("DELETE", "/access/roles/Backup")
        self.assertFalse([a for a in self.adm.data("GET", "/access/acl") if a["roleid"] == "Backup"])

    def test_acl_through_group_and_bad_paths(self):
        uid = self.user("grp@pve", password="Passw0rd-grp")
        self.adm.data("POST", "/access/groups", data={"groupid": "auditors"})
        self.addCleanup(lambda: self.adm.delete("/access/groups/auditors"))
        self.adm.data("PUT", "/access/users/" + uid, data={"groups": "auditors"})
        self.adm.data("PUT", "/access/acl", data={"path": "/storage", "groups": "auditors", "roles": "PVEAuditor",
                                                  "propagate": 0})
        acl = [a for a in self.adm.data("GET", "/access/acl") if a["ugid"] == "auditors"]
        self.assertEqual(acl, [{"path": "/storage", "type": "group", "ugid": "auditors", "roleid": "PVEAuditor",
                                "propagate": 0}])
        s = self.d.login(uid, "Passw0rd-grp")
        self.assertIn("Datastore.Audit", s.data("GET", "/access/permissions", params={"path": "/storage"})["/storage"])
        self.assertEqual(s.data("GET", "/access/permissions", params={"path": "/storage/local"})["/storage/local"], {})

        for path in ("/nonsense", "/vms/abc", "/storage/../x"):
            r = self.adm.put("/access/acl", data={"path": path, "users": uid, "roles": "PVEAuditor"})
            self.assertEqual(r.status_code, 400, path)
            self.assertIn("path", errors(r))
        r = self.adm.put("/access/acl", data={"path": "/", "roles": "PVEAuditor"})
        self.assertEqual(r.status_code, 400)
        r = self.adm.put("/access/acl", data={"path": "/", "users": uid, "roles": "NoSuchRole"})
        self.assertEqual(r.status_code, 500)
        self.assertIn("does not exist", r.reason)

    def test_acl_delegation_without_permissions_modify(self):
        uid = self.user("vmadm@pve", password="Passw0rd-vma")
        other = self.user("helper@pve")
        self.adm.data("PUT", "/access/acl", data={"path": "/vms/100", "users": uid, "roles": "PVEVMAdmin"})
        s = self.d.login(uid, "Passw0rd-vma")
        # VM.Allocate on /vms/100 lets them hand out roles they hold there...
        s.data("PUT", "/access/acl", data={"path": "/vms/100", "users": other, "roles": "PVEVMUser"})
        # ... but not more than they have, nor anywhere else.
        r = s.put("/access/acl", data={"path": "/vms/100", "users": other, "roles": "Administrator"})
        self.assertEqual(r.status_code, 400)
        self.assertIn("role", errors(r))
        r = s.put("/access/acl", data={"path": "/vms/101", "users": other, "roles": "PVEVMUser"})
        self.assertEqual(r.status_code, 403)
        r = s.put("/access/acl", data={"path": "/vms/100", "users": other, "roles": "NoAccess"})
        self.assertEqual(r.status_code, 400)
        # They see the ACL of /vms/100 only.
        paths = {a["path"] for a in s.data("GET", "/access/acl")}
        self.assertEqual(paths, {"/vms/100"})

    # --- pools ---------------------------------------------------------------------------------
    def test_pools_both_shapes(self):
        self.adm.data("POST", "/pools", data={"poolid": "lab", "comment": "Lab guests"})
        self.adm.data("POST", "/pools", data={"poolid": "lab/ci"})
        r = self.adm.post("/pools", data={"poolid": "nope/child"})
        self.assertEqual(r.status_code, 500)
        self.adm.data("PUT", "/pools", data={"poolid": "lab", "storage": "local"})
        listed = self.adm.data("GET", "/pools")
        self.assertIn({"poolid": "lab", "comment": "Lab guests"}, listed)
        one = self.adm.data("GET", "/pools", params={"poolid": "lab"})
        self.assertEqual(len(one), 1)
        self.assertEqual([m["id"] for m in one[0]["members"]], ["storage/%s/local" % NODE])
        self.assertEqual(one[0]["members"][0]["type"], "storage")
        old = self.adm.data("GET", "/pools/lab")
        self.assertEqual(old["comment"], "Lab guests")
        self.assertEqual(len(old["members"]), 1)
        self.assertEqual(self.adm.data("GET", "/pools", params={"poolid": "lab", "type": "qemu"})[0]["members"], [])
        r = self.adm.put("/pools", data={"poolid": "lab", "vms": "4242"})
        self.assertEqual(r.status_code, 500)
        self.assertIn("does not exist", r.reason)
        r = self.adm.delete("/pools", params={"poolid": "lab"})
        self.assertEqual(r.status_code, 500)  # not empty
        self.adm.data("PUT", "/pools/lab", data={"storage": "local", "delete": 1, "comment": "emptied"})
        self.assertEqual(self.adm.delete("/pools", params={"poolid": "lab"}).status_code, 500)  # has lab/ci
        self.adm.data("DELETE", "/pools", params={"poolid": "lab/ci"})
        self.adm.data("DELETE", "/pools/lab")
        self.assertEqual(self.adm.data("GET", "/pools"), [])

    # --- what a user without privileges sees ----------------------------------------------------
    def test_listings_hide_what_the_caller_may_not_see(self):
        self.adm.data("POST", "/pools", data={"poolid": "hidden"})
        self.addCleanup(lambda: self.adm.delete("/pools/hidden"))
        s = self.d.login(NOPRIV, NOPRIV_PW)
        self.assertEqual([u["userid"] for u in s.data("GET", "/access/users")], [NOPRIV])
        self.assertEqual(s.data("GET", "/access/groups"), [])
        self.assertEqual(s.data("GET", "/access/acl"), [])
        self.assertEqual(s.data("GET", "/pools"), [])
        self.assertEqual(s.data("GET", "/storage"), [])
        self.assertEqual(s.data("GET", "/cluster/resources"), [])
        self.assertEqual(s.data("GET", "/nodes/%s/qemu" % NODE), [])
        self.assertEqual(s.data("GET", "/nodes/%s/lxc" % NODE), [])
        self.assertEqual(s.get("/pools", params={"poolid": "hidden"}).status_code, 403)
        self.assertEqual(s.get("/access/users/" + TESTER).status_code, 403)
        self.assertEqual(s.post("/access/users", data={"userid": "evil@pve"}).status_code, 403)
        self.assertEqual(s.put("/access/acl", data={"path": "/", "users": NOPRIV, "roles": "Administrator"}).status_code, 403)
        self.assertEqual(s.get("/access/permissions", params={"userid": TESTER}).status_code, 403)
        self.assertEqual(s.post("/pools", data={"poolid": "mine"}).status_code, 403)
        self.assertEqual(s.post("/access/domains", data={"realm": "xr", "type": "ldap", "server1": "a",
                                                         "base_dn": "dc=x", "user_attr": "uid"}).status_code, 403)

    # --- realms --------------------------------------------------------------------------------
    def test_realms(self):
        r = self.d.request("GET", "/access/domains")  # no authentication, as PVE
        self.assertEqual(r.status_code, 200)
        realms = {x["realm"]: x for x in r.json()["data"]}
        self.assertEqual(realms["pam"]["type"], "pam")
        self.assertEqual(realms["pve"]["comment"], "Proxmox VE authentication server")

        self.adm.data("POST", "/access/domains", data={
            "realm": "corp", "type": "ldap", "server1": "ldap.example.com", "base_dn": "ou=people,dc=example,dc=com",
            "user_attr": "uid", "comment": "Corp: directory", "default": 1, "password": "bind-secret",
            "bind_dn": "cn=reader,dc=example,dc=com", "port": 3890, "mode": "ldap+starttls"})
        self.addCleanup(lambda: self.adm.delete("/access/domains/corp"))
        got = self.adm.data("GET", "/access/domains/corp")
        self.assertEqual(got["type"], "ldap")
        self.assertEqual(got["port"], 3890)
        self.assertEqual(got["comment"], "Corp: directory")
        self.assertNotIn("password", got)
        self.assertEqual({x["realm"]: x.get("default", 0) for x in self.adm.data("GET", "/access/domains")}["corp"], 1)

        r = self.adm.put("/access/domains/corp", data={"base_dn": "dc=other"})
        self.assertEqual(r.status_code, 400)
        self.assertIn("base_dn", errors(r))
        r = self.adm.put("/access/domains/corp", data={"issuer-url": "https://x"})
        self.assertEqual(r.status_code, 400)
        r = self.adm.put("/access/domains/corp", data={"comment": "x", "digest": "0" * 40})
        self.assertEqual(r.status_code, 500)
        self.adm.data("PUT", "/access/domains/corp", data={"delete": "bind_dn,default", "server2": "backup.example.com",
                                                            "digest": got["digest"]})
        got = self.adm.data("GET", "/access/domains/corp")
        self.assertNotIn("bind_dn", got)
        self.assertEqual(got["server2"], "backup.example.com")

        r = self.adm.post("/access/domains", data={"realm": "oid", "type": "openid", "issuer-url": "https://idp"})
        self.assertEqual(r.status_code, 400)
        self.assertIn("client-id", errors(r))
        self.assertEqual(self.adm.delete("/access/domains/pve").status_code, 500)

    # --- passwords -----------------------------------------------------------------------------
    def test_password_changes(self):
        uid = self.user("pw@pve", password="Passw0rd-old")
        s = self.d.login(uid, "Passw0rd-old")
        r = s.put("/access/password", data={"userid": uid, "password": "Passw0rd-new"})
        self.assertEqual(r.status_code, 400)
        self.assertIn("confirmation-password", errors(r))
        r = s.put("/access/password", data={"userid": uid, "password": "Passw0rd-new", "confirmation-password": "wrong"})
        self.assertEqual(r.status_code, 400)
        s.data("PUT", "/access/password", data={"userid": uid, "password": "Passw0rd-new",
                                                "confirmation-password": "Passw0rd-old"})
        self.d.login(uid, "Passw0rd-new")
        # Someone else's: needs the privileges (a user without any is refused) ...
        other = self.d.login(NOPRIV, NOPRIV_PW)
        r = other.put("/access/password", data={"userid": uid, "password": "Passw0rd-evil",
                                                "confirmation-password": NOPRIV_PW})
        self.assertEqual(r.status_code, 403)
        # ... and only root@pam changes root@pam's.
        r = self.adm.put("/access/password", data={"userid": "root@pam", "password": "Passw0rd-root",
                                                   "confirmation-password": harness.TESTER_PW})
        self.assertEqual(r.status_code, 403)

    # --- failed logins -------------------------------------------------------------------------
    def test_failed_logins_are_limited_and_logged(self):
        uid = self.user("guess@pve", password="Passw0rd-right")
        for _ in range(10):
            r = self.d.request("POST", "/access/ticket", data={"username": uid, "password": "wrong-guess-xyz"})
            self.assertEqual(r.status_code, 401)
            self.assertIsNone(r.json()["data"])
        # The right password is refused now too, for this user only.
        r = self.d.request("POST", "/access/ticket", data={"username": uid, "password": "Passw0rd-right"})
        self.assertEqual(r.status_code, 401)
        self.d.login(TESTER, harness.TESTER_PW)
        log = self.d.log_text()
        self.assertIn("authentication failure; rhost=127.0.0.1 user=guess@pve", log)
        self.assertIn("too many failed logins", log)
        self.assertNotIn("wrong-guess-xyz", log)

    # --- Ansible's info modules ------------------------------------------------------------------
    def test_ansible_info_modules(self):
        self.adm.data("POST", "/access/groups", data={"groupid": "ansi", "comment": "Ansible group"})
        self.addCleanup(lambda: self.adm.delete("/access/groups/ansi"))
        uid = self.user("ansi@pve", groups="ansi", email="ansi@example.com")
        self.adm.data("POST", "/access/users/%s/token/play" % uid, data={"comment": "playbooks"})
        work = tempfile.mkdtemp(prefix="pvx-ansible-access-")
        self.addCleanup(shutil.rmtree, work, True)
        res = harness.run_playbook(self.d, work, [
            ("users", "community.general.proxmox_user_info", {}),
            ("one user", "community.general.proxmox_user_info", {"userid": uid}),
            ("groups", "community.general.proxmox_group_info", {}),
            ("one group", "community.general.proxmox_group_info", {"group": "ansi"}),
            ("realms", "community.general.proxmox_domain_info", {}),
            ("one realm", "community.general.proxmox_domain_info", {"domain": "pve"}),
        ], timeout=300)
        users = {u["userid"]: u for u in res["users"]["proxmox_users"]}
        self.assertEqual(users[uid]["groups"], ["ansi"])
        self.assertEqual(users[uid]["tokens"][0]["tokenid"], "play")
        self.assertEqual(users[uid]["domain"], "pve")
        self.assertTrue(users[uid]["enabled"])
        one = res["one user"]["proxmox_users"][0]
        self.assertEqual(one["userid"], uid)
        self.assertEqual(one["groups"], ["ansi"])
        self.assertEqual(one["tokens"][0]["tokenid"], "play")
        groups = {g["groupid"]: g for g in res["groups"]["proxmox_groups"]}
        self.assertEqual(groups["ansi"]["users"], [uid])
        self.assertEqual(groups["ansi"]["comment"], "Ansible group")
        self.assertEqual(res["one group"]["proxmox_groups"][0]["users"], [uid])
        self.assertIn("pam", [r["realm"] for r in res["realms"]["proxmox_domains"]])
        self.assertEqual(res["one realm"]["proxmox_domains"][0]["type"], "pve")

    # --- pveum ---------------------------------------------------------------------------------
    def test_pveum(self):
        d = self.d
        d.cli("pveum", "useradd", "cli@pve", "--comment", "from the CLI", "--email", "cli@example.com")
        self.addCleanup(lambda: d.cli("pveum", "user", "delete", "cli@pve", check=False))
        d.cli("pveum", "groupadd", "clig")
        self.addCleanup(lambda: d.cli("pveum", "group", "delete", "clig", check=False))
        d.cli("pveum", "user", "modify", "cli@pve", "--groups", "clig")
        d.cli("pveum", "role", "add", "CliRole", "--privs", "VM.Audit")
        self.addCleanup(lambda: d.cli("pveum", "role", "delete", "CliRole", check=False))
        d.cli("pveum", "acl", "modify", "/vms", "--groups", "clig", "--roles", "CliRole")
        d.cli("pveum", "pool", "add", "clipool", "--comment", "x")
        self.addCleanup(lambda: d.cli("pveum", "pool", "delete", "clipool", check=False))
        users = json.loads(d.cli("pveum", "user", "list", "--output-format", "json").stdout)
        self.assertIn("cli@pve", [u["userid"] for u in users])
        out = d.cli("pveum", "user", "permissions", "cli@pve", "--path", "/vms").stdout
        self.assertIn("/vms:", out)
        self.assertIn("VM.Audit (*)", out)
        tok = json.loads(d.cli("pveum", "user", "token", "add", "cli@pve", "t1", "--output-format", "json").stdout)
        self.assertIn("value", tok)
        out = d.cli("pveum", "user", "token", "permissions", "cli@pve", "t1", "--path", "/vms").stdout
        self.assertIn("/vms:", out)
        d.cli("pveum", "user", "token", "remove", "cli@pve", "t1")
        d.cli("pveum", "acl", "delete", "/vms", "--groups", "clig", "--roles", "CliRole")
        self.assertNotIn("clig", json.dumps(self.adm.data("GET", "/access/acl")))
        realms = json.loads(d.cli("pveum", "realm", "list", "--output-format", "json").stdout)
        self.assertIn("pve", [r["realm"] for r in realms])
        res = d.cli("pveum", "passwd", "cli@pve", check=False)  # no terminal, no password given: refused
        self.assertNotEqual(res.returncode, 0)


if __name__ == "__main__":
    harness.main()
