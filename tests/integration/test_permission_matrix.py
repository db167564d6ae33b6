#!/usr/bin/python3
"""The permission matrix: every method pvx declares (from `pvx schema dump`, so methods added later
are covered without touching this file) is called as three callers that hold no privileges:
nobody (no credentials), a user without any ACL entry, and a privilege-separated API token
without ACL entries. Each must be refused (401 without credentials, 403 otherwise) with no data,
before anything runs.

Methods declared for any authenticated user ("user": "all") filter inside the handler; each of
them is listed in ALL_METHODS with what a user without privileges may get back. A new such method
fails this suite until it is listed here, so the review of what it shows cannot be skipped."""
import json
import re
import subprocess
import urllib.parse

import harness
from harness import NODE, NOPRIV, NOPRIV_PW, TESTER


def empty(data):
    return data in ([], {}, None)


def public(_data):
    return True  # static or self-describing information (versions, directory indexes, role catalog)


def own_user(data):
    return [u.get("userid") for u in data] == [NOPRIV] or [u.get("userid") for u in data] == [NOPRIV.split("!")[0]]


def own_permissions(data):
    # Their own (empty) privileges: every path maps to nothing.
    return all(v == {} for v in data.values())


def no_foreign_tasks(data):
    return all(t.get("user", "").startswith(NOPRIV) for t in data)


def node_listing(data):
    # /nodes lists the node, without usage figures for a caller without Sys.Audit.
    return all(set(e) <= {"node", "status", "type", "id", "ssl_fingerprint", "level"} for e in data)


# Methods open to every authenticated caller, and what such a caller may see. "refused" means
# the handler itself must answer 403 (or 500 for a guest that does not exist) without data.
ALL_METHODS = {
    "GET /": public,
    "GET /version": public,
    "GET /access": public,
    "GET /cluster": public,
    "GET /nodes/{node}": public,
    "GET /nodes/{node}/version": public,
    "GET /nodes/{node}/capabilities": public,
    "GET /nodes/{node}/capabilities/qemu": public,
    "GET /nodes/{node}/capabilities/qemu/cpu": public,
    "GET /nodes/{node}/capabilities/qemu/cpu-flags": public,
    "GET /nodes/{node}/capabilities/qemu/machines": public,
    "GET /nodes/{node}/scan": public,
    "GET /access/acl": empty,
    "GET /access/groups": empty,
    "GET /access/roles": public,
    "GET /access/roles/{roleid}": public,
    "GET /access/users": own_user,
    "GET /access/permissions": own_permissions,
    "GET /access/tfa": empty,
    "GET /access/openid": public,
    "GET /cluster/nextid": public,
    "GET /cluster/resources": empty,
    "GET /cluster/tasks": no_foreign_tasks,
    "GET /nodes": node_listing,
    "GET /nodes/{node}/aplinfo": empty,
    "GET /nodes/{node}/lxc": empty,
    "POST /nodes/{node}/lxc": "refused",
    "GET /nodes/{node}/lxc/{vmid}": "refused",
    "GET /nodes/{node}/lxc/{vmid}/snapshot/{snapname}": "refused",
    "GET /nodes/{node}/lxc/{vmid}/status": "refused",
    "GET /nodes/{node}/network": empty,
    "GET /nodes/{node}/qemu": empty,
    "POST /nodes/{node}/qemu": "refused",
    "GET /nodes/{node}/qemu/{vmid}": "refused",
    "GET /nodes/{node}/qemu/{vmid}/agent": public,  # directory indexes, as in PVE
    "GET /nodes/{node}/qemu/{vmid}/snapshot/{snapname}": public,
    "GET /nodes/{node}/qemu/{vmid}/status": public,
    "POST /nodes/{node}/startall": "refused",
    "POST /nodes/{node}/stopall": "refused",
    "GET /nodes/{node}/storage": empty,
    "GET /nodes/{node}/storage/{storage}/content/{volume}": "refused",
    "POST /nodes/{node}/storage/{storage}/content/{volume}": "refused",
    "PUT /nodes/{node}/storage/{storage}/content/{volume}": "refused",
    "DELETE /nodes/{node}/storage/{storage}/content/{volume}": "refused",
    "DELETE /nodes/{node}/storage/{storage}/prunebackups": "refused",
    "GET /nodes/{node}/tasks": no_foreign_tasks,
    "GET /nodes/{node}/tasks/{upid}": "refused",
    "DELETE /nodes/{node}/tasks/{upid}": "refused",
    "GET /nodes/{node}/tasks/{upid}/log": "refused",
    "GET /nodes/{node}/tasks/{upid}/status": "refused",
    "GET /pools": empty,
    "GET /storage": empty,
}

# Values for path placeholders and for parameters by name, chosen to pass validation so that the
# permission check (which runs after it) is what answers.
PATH_VALUES = {
    "node": NODE, "vmid": "100", "storage": "local", "userid": TESTER, "tokenid": "itest",
    "groupid": "matrixgrp", "roleid": "PVEAuditor", "realm": "pve", "poolid": "matrixpool",
    "snapname": "snap1", "volume": "local:iso/matrix.iso", "iface": "vmbr0", "id": "totp1",
    "filename": "matrix.iso", "content": "iso", "command": "ping", "type": "qemu", "upid": None,
}
PARAM_VALUES = {
    "vmid": 100, "newid": 101, "node": NODE, "target": NODE, "storage": "local", "userid": TESTER,
    "tokenid": "itest", "groupid": "matrixgrp", "roleid": "PVEAuditor", "realm": "pve", "poolid": "matrixpool",
    "path": "/", "roles": "PVEAuditor", "privs": "VM.Audit", "type": "qemu", "snapname": "snap1",
    "ostemplate": "local:vztmpl/matrix.tar.gz", "filename": "matrix.iso", "content": "iso", "size": "1G", "vg": "vg1",
    "disk": "scsi0", "key": "ret", "command": "ping", "iface": "vmbr0", "url": "http://127.0.0.1:1/x.iso",
    "volume": "local:iso/matrix.iso", "password": "Passw0rd-x", "username": TESTER, "state": "local:iso/x",
    "format": "raw", "vga": "std", "template": "matrix", "cidr": "10.0.0.0/24", "format-name": "x",
    "issuer-url": "https://127.0.0.1", "client-id": "x", "redirect-url": "https://127.0.0.1/", "code": "x",
    "value": "x", "description": "x", "checksum-algorithm": "sha256", "checksum": "00", "scope": "both",
}


def dummy(name, schema):
    if "enum" in schema:
        return PARAM_VALUES[name] if PARAM_VALUES.get(name) in schema["enum"] else schema["enum"][0]
    if name in PARAM_VALUES:
        return PARAM_VALUES[name]
    t = schema.get("type")
    if t == "boolean":
        return 0
    if t in ("integer", "number"):
        return schema.get("minimum", 1)
    fmt = schema.get("format")
    if fmt == "pve-vmid":
        return 100
    if fmt in ("pve-storage-id", "pve-storage-id-list"):
        return "local"
    if fmt == "pve-node":
        return NODE
    if fmt in ("pve-userid", "pve-userid-list"):
        return TESTER
    if fmt == "pve-configid":
        return "x1"
    if schema.get("pattern"):
        return None  # cannot guess; reported below
    return "x1"


class PermissionMatrix(harness.DaemonCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        d = cls.daemon
        # A privilege-separated token of the unprivileged user, with no ACL entry of its own.
        cls.sep_full, cls.sep_secret = harness.add_token(d, NOPRIV, "sep", privsep=1)
        adm = d.login(TESTER, harness.TESTER_PW)
        upid = adm.data("POST", "/nodes/%s/startall" % NODE)
        adm.wait_task(upid)
        PATH_VALUES["upid"] = upid
        out = subprocess.run([harness.bin_path("pvx"), "schema", "dump"], capture_output=True, text=True, check=True)
        cls.methods = json.loads(out.stdout)

    def request_for(self, m):
        path = m["path"]
        for name in re.findall(r"\{([^}]+)\}", path):
            path = path.replace("{%s}" % name, urllib.parse.quote(str(PATH_VALUES.get(name, "x1")), safe=""))
        params = {}
        props = m.get("parameters") or {}  # the dump lists parameters as PVE's apidoc does: name -> schema
        if isinstance(props.get("properties"), dict):
            props = props["properties"]
        for name, schema in props.items():
            if "{%s}" % name in m["path"] or schema.get("optional") in (1, "1"):
                continue
            params[name] = dummy(name, schema)
        return path, params

    def call(self, who, m):
        path, params = self.request_for(m)
        if who == "nobody":
            return self.d.request(m["method"], path, **({"params": params} if m["method"] in ("GET", "DELETE")
                                                       else {"data": params}))
        sess = self.sessions[who]
        if m["method"] in ("GET", "DELETE"):
            return sess.call(m["method"], path, params=params)
        return sess.call(m["method"], path, data=params)

    def test_matrix(self):
        self.sessions = {"user": self.d.login(NOPRIV, NOPRIV_PW),
                         "token": self.d.token_session(self.sep_full, self.sep_secret)}
        problems = []
        checked = 0
        for m in self.methods:
            key = "%s %s" % (m["method"], m["path"])
            perm = m.get("permissions") or {}
            if perm.get("user") == "world":
                continue
            for who in ("nobody", "user", "token"):
                r = self.call(who, m)
                checked += 1
                try:
                    body = r.json()
                except ValueError:
                    body = {}
                data = body.get("data") if isinstance(body, dict) else None
                if who == "nobody":
                    if r.status_code != 401 or data is not None:
                        problems.append("%s as nobody: %d %s data=%r" % (key, r.status_code, r.reason, data))
                    continue
                if r.status_code == 403 and m.get("allowtoken", 1) == 0 and who == "token":
                    continue
                if perm.get("user") == "all":
                    expect = ALL_METHODS.get(key)
                    if expect is None:
                        problems.append("%s is open to every user but not reviewed in ALL_METHODS" % key)
                    elif expect == "refused":
                        if r.status_code not in (403, 500) or data is not None:
                            problems.append("%s as %s: %d %s data=%r" % (key, who, r.status_code, r.reason, data))
                    elif r.status_code != 200 or not expect(data):
                        problems.append("%s as %s: %d %s shows %r" % (key, who, r.status_code, r.reason, data))
                    continue
                if r.status_code != 403 or data is not None:
                    problems.append("%s as %s: %d %s %r" % (key, who, r.status_code, r.reason, r.text[:200]))
        self.assertGreater(checked, 300)
        self.assertEqual(problems, [], "\n" + "\n".join(problems))


if __name__ == "__main__":
    harness.main()
