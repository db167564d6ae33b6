#!/usr/bin/python3
"""Two-factor logins on a real pvxd, in PVE's two-step flow: the first POST /access/ticket answers
NeedTFA with a half-authenticated ticket (which opens nothing), the second carries it as
`tfa-challenge` with the response in `password`. Covered: TOTP (codes computed here, one step of
skew, a code used twice refused, the one-step `otp` form, lockout after repeated failures and
unlock-tfa), recovery keys (each works once), WebAuthn with a software authenticator written
here (a P-256 key from python3-cryptography; registration with attestation "none", assertions
signed over authenticatorData and the client data hash; a wrong origin refused), a realm that
enforces TOTP, and the entry management calls that ask for the caller's password."""
import base64
import hashlib
import hmac
import json
import os
import struct
import time
import urllib.parse

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

import harness
from harness import NOPRIV, NOPRIV_PW

ORIGIN = "https://pvx.test:8006"
RP_ID = "pvx.test"
SECRET_B32 = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"


def totp(secret_b32, at=None, step=0):
    key = base64.b32decode(secret_b32)
    counter = int((at if at is not None else time.time()) // 30) + step
    mac = hmac.new(key, struct.pack(">Q", counter), hashlib.sha1).digest()
    off = mac[-1] & 0x0F
    code = (struct.unpack(">I", mac[off:off + 4])[0] & 0x7FFFFFFF) % 1000000
    return "%06d" % code


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unb64url(text):
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def cbor(value):
    """Just enough CBOR for an attestation object and a COSE key."""
    def head(major, n):
        if n < 24:
            return bytes([major << 5 | n])
        if n < 256:
            return bytes([major << 5 | 24, n])
        if n < 65536:
            return bytes([major << 5 | 25]) + struct.pack(">H", n)
        return bytes([major << 5 | 26]) + struct.pack(">I", n)
    if isinstance(value, bool):
        raise TypeError("bool")
    if isinstance(value, int):
        return head(0, value) if value >= 0 else head(1, -1 - value)
    if isinstance(value, bytes):
        return head(2, len(value)) + value
    if isinstance(value, str):
        data = value.encode()
        return head(3, len(data)) + data
    if isinstance(value, dict):
        return head(5, len(value)) + b"".join(cbor(k) + cbor(v) for k, v in value.items())
    raise TypeError(type(value))


class SoftAuthenticator:
    """A WebAuthn authenticator in software: one P-256 credential, a signature counter."""

    def __init__(self, rp_id=RP_ID, origin=ORIGIN):
        self.key = ec.generate_private_key(ec.SECP256R1())
        self.cred_id = os.urandom(16)
        self.counter = 0
        self.rp_id = rp_id
        self.origin = origin

    def client_data(self, kind, challenge):
        return json.dumps({"type": kind, "challenge": challenge, "origin": self.origin,
                           "crossOrigin": False}).encode()

    def create(self, options):
        pk = options["publicKey"]
        nums = self.key.public_key().public_numbers()
        cose = cbor({1: 2, 3: -7, -1: 1, -2: nums.x.to_bytes(32, "big"), -3: nums.y.to_bytes(32, "big")})
        auth_data = (hashlib.sha256(pk["rp"]["id"].encode()).digest() + bytes([0x41]) + struct.pack(">I", 0)
                     + bytes(16) + struct.pack(">H", len(self.cred_id)) + self.cred_id + cose)
        att = cbor({"fmt": "none", "attStmt": {}, "authData": auth_data})
        return {"id": b64url(self.cred_id), "rawId": b64url(self.cred_id), "type": "public-key",
                "response": {"clientDataJSON": b64url(self.client_data("webauthn.create", pk["challenge"])),
                             "attestationObject": b64url(att)}}

    def get(self, options):
        pk = options["publicKey"]
        self.counter += 1
        auth_data = hashlib.sha256(self.rp_id.encode()).digest() + bytes([0x01]) + struct.pack(">I", self.counter)
        client = self.client_data("webauthn.get", pk["challenge"])
        sig = self.key.sign(auth_data + hashlib.sha256(client).digest(), ec.ECDSA(hashes.SHA256()))
        return {"id": b64url(self.cred_id), "rawId": b64url(self.cred_id), "type": "public-key",
                "challenge": pk["challenge"],
                "response": {"authenticatorData": b64url(auth_data), "clientDataJSON": b64url(client),
                             "signature": b64url(sig), "userHandle": None}}


def challenge_of(half_ticket):
    """The TFA challenge a half-authenticated ticket carries ("PVE:!tfa!<JSON>:<time>::<sig>")."""
    data = half_ticket[len("PVE:"):half_ticket.rindex("::")]
    data = data[:data.rindex(":")]
    data = urllib.parse.unquote(data)
    assert data.startswith("!tfa!"), data
    return json.loads(data[len("!tfa!"):])


class TfaSuite(harness.DaemonCase):

    def setUp(self):
        self.adm = self.admin()

    def new_user(self, userid, password):
        self.adm.data("POST", "/access/users", data={"userid": userid, "password": password})
        self.addCleanup(lambda: self.adm.delete("/access/users/" + userid))

    def ticket(self, **data):
        return self.d.request("POST", "/access/ticket", data=data)

    def first_step(self, userid, password):
        r = self.ticket(username=userid, password=password)
        self.assertEqual(r.status_code, 200, r.text)
        d = r.json()["data"]
        self.assertEqual(d.get("NeedTFA"), 1)
        self.assertNotIn("cap", d)
        # The half-authenticated ticket opens nothing.
        r2 = self.d.request("GET", "/version", headers={"Cookie": "PVEAuthCookie=" + urllib.parse.quote(d["ticket"])})
        self.assertEqual(r2.status_code, 401)
        return d["ticket"]

    def second_step(self, userid, half, response):
        return self.ticket(**{"username": userid, "tfa-challenge": half, "password": response})

    def add_totp(self, session, userid, password, secret=SECRET_B32):
        uri = "otpauth://totp/pvx:%s?secret=%s&digits=6&period=30&algorithm=SHA1" % (urllib.parse.quote(userid), secret)
        return session.data("POST", "/access/tfa/" + userid, data={
            "type": "totp", "totp": uri, "value": totp(secret), "description": "phone", "password": password})

    def test_totp_two_steps_one_step_and_reuse(self):
        uid, pw = "totp@pve", "Passw0rd-totp"
        self.new_user(uid, pw)
        s = self.d.login(uid, pw)  # no factors yet: a plain login
        r = s.post("/access/tfa/" + uid, data={"type": "totp", "totp": "otpauth://totp/x?secret=" + SECRET_B32,
                                               "value": totp(SECRET_B32)})
        self.assertEqual(r.status_code, 400)  # a user must confirm with their password
        self.assertIn("password", r.json()["errors"])
        r = s.post("/access/tfa/" + uid, data={"type": "totp", "totp": "otpauth://totp/x?secret=" + SECRET_B32,
                                               "value": "000000" if totp(SECRET_B32) != "000000" else "111111",
                                               "password": pw})
        self.assertEqual(r.status_code, 400)
        self.assertIn("value", r.json()["errors"])
        added = self.add_totp(s, uid, pw)
        entries = s.data("GET", "/access/tfa/" + uid)
        self.assertEqual([(e["type"], e["id"], e["description"]) for e in entries], [("totp", added["id"], "phone")])

        half = self.first_step(uid, pw)
        self.assertTrue(challenge_of(half)["totp"])
        self.assertEqual(self.second_step(uid, half, "totp:000000" if totp(SECRET_B32) != "000000"
                                          else "totp:111111").status_code, 401)
        half = self.first_step(uid, pw)
        previous = totp(SECRET_B32, step=-1)  # one step of skew
        r = self.second_step(uid, half, "totp:" + previous)
        self.assertEqual(r.status_code, 200, r.text)
        full = r.json()["data"]
        self.assertNotIn("NeedTFA", full)
        self.assertIn("cap", full)
        # The same code again is refused (its time step was used).
        half = self.first_step(uid, pw)
        self.assertEqual(self.second_step(uid, half, "totp:" + previous).status_code, 401)
        # The one-step form (what proxmoxer sends as `otp`), with the next step's code.
        r = self.ticket(username=uid, password=pw, otp=totp(SECRET_B32, step=1))
        self.assertEqual(r.status_code, 200, r.text)
        self.assertNotIn("NeedTFA", r.json()["data"])
        # Ticket renewal (what proxmoxer does every hour) needs no second factor: the ticket
        # itself was issued after both.
        r = self.ticket(username=uid, password=full["ticket"])
        self.assertEqual(r.status_code, 200, r.text)
        self.assertNotIn("NeedTFA", r.json()["data"])
        # ... but a half ticket is no password.
        half = self.first_step(uid, pw)
        self.assertEqual(self.ticket(username=uid, password=half).status_code, 401)
        # The half ticket of one user is not accepted for another.
        half = self.first_step(uid, pw)
        self.assertEqual(self.second_step(harness.TESTER, half, "totp:" + totp(SECRET_B32)).status_code, 401)

        self.assertEqual(self.adm.data("GET", "/access/users/%s/tfa" % uid), {"types": ["totp"], "user": "oath"})

    def test_proxmoxer_with_otp(self):
        # proxmoxer (Debian's 1.2), unmodified, sends the TOTP code as `otp` with the password.
        from proxmoxer import ProxmoxAPI
        uid, pw = "px@pve", "Passw0rd-px"
        self.new_user(uid, pw)
        self.add_totp(self.d.login(uid, pw), uid, pw)
        api = ProxmoxAPI("127.0.0.1", port=self.d.port, user=uid, password=pw, otp=totp(SECRET_B32, step=1),
                         verify_ssl=False)
        self.assertEqual(api.access.permissions.get(path="/"), {"/": {}})

    def test_recovery_keys_work_once(self):
        uid, pw = "rec@pve", "Passw0rd-rec"
        self.new_user(uid, pw)
        s = self.d.login(uid, pw)
        keys = s.data("POST", "/access/tfa/" + uid, data={"type": "recovery", "password": pw})
        self.assertEqual(keys["id"], "recovery")
        self.assertEqual(len(keys["recovery"]), 10)
        r = s.post("/access/tfa/" + uid, data={"type": "recovery", "password": pw})
        self.assertEqual(r.status_code, 500)  # one set at a time
        half = self.first_step(uid, pw)
        self.assertEqual(challenge_of(half)["recovery"], list(range(10)))
        self.assertEqual(self.second_step(uid, half, "recovery:" + keys["recovery"][4]).status_code, 200)
        half = self.first_step(uid, pw)
        self.assertNotIn(4, challenge_of(half)["recovery"])
        self.assertEqual(self.second_step(uid, half, "recovery:" + keys["recovery"][4]).status_code, 401)
        half = self.first_step(uid, pw)
        self.assertEqual(self.second_step(uid, half, "recovery:" + keys["recovery"][5]).status_code, 200)
        self.adm.data("DELETE", "/access/tfa/%s/recovery" % uid, params={"password": harness.TESTER_PW})
        r = self.ticket(username=uid, password=pw)
        self.assertNotIn("NeedTFA", r.json()["data"])

    def test_webauthn_software_authenticator(self):
        uid, pw = "wa@pve", "Passw0rd-wa"
        self.new_user(uid, pw)
        s = self.d.login(uid, pw)
        r = s.post("/access/tfa/" + uid, data={"type": "webauthn", "password": pw})
        self.assertEqual(r.status_code, 500)  # no relying party configured yet
        self.assertIn("webauthn", r.reason)
        self.adm.data("PUT", "/cluster/options", data={"webauthn": "rp=pvx test,origin=%s,id=%s" % (ORIGIN, RP_ID)})
        self.addCleanup(lambda: self.adm.put("/cluster/options", data={"delete": "webauthn"}))

        auth = SoftAuthenticator()
        first = s.data("POST", "/access/tfa/" + uid, data={"type": "webauthn", "description": "soft key", "password": pw})
        options = json.loads(first["challenge"])
        self.assertEqual(options["publicKey"]["rp"]["id"], RP_ID)
        cred = auth.create(options)
        # A registration from another origin is refused.
        evil = SoftAuthenticator(origin="https://evil.example")
        r = s.post("/access/tfa/" + uid, data={"type": "webauthn", "password": pw, "challenge": first["challenge"],
                                               "value": json.dumps(evil.create(options))})
        self.assertNotEqual(r.status_code, 200)
        first = s.data("POST", "/access/tfa/" + uid, data={"type": "webauthn", "description": "soft key", "password": pw})
        options = json.loads(first["challenge"])
        added = s.data("POST", "/access/tfa/" + uid, data={"type": "webauthn", "password": pw,
                                                           "challenge": first["challenge"],
                                                           "value": json.dumps(auth.create(options))})
        self.assertTrue(added["id"])
        self.assertEqual([e["type"] for e in s.data("GET", "/access/tfa/" + uid)], ["webauthn"])

        half = self.first_step(uid, pw)
        wa = challenge_of(half)["webauthn"]
        self.assertEqual(wa["publicKey"]["allowCredentials"][0]["id"], b64url(auth.cred_id))
        r = self.second_step(uid, half, "webauthn:" + json.dumps(auth.get(wa)))
        self.assertEqual(r.status_code, 200, r.text)
        # A challenge answers once.
        self.assertEqual(self.second_step(uid, half, "webauthn:" + json.dumps(auth.get(wa))).status_code, 401)
        # An assertion made for another origin, or signed by another key, is refused.
        half = self.first_step(uid, pw)
        wa = challenge_of(half)["webauthn"]
        wrong = SoftAuthenticator(origin="https://evil.example")
        wrong.key, wrong.cred_id, wrong.counter = auth.key, auth.cred_id, auth.counter
        self.assertEqual(self.second_step(uid, half, "webauthn:" + json.dumps(wrong.get(wa))).status_code, 401)
        half = self.first_step(uid, pw)
        wa = challenge_of(half)["webauthn"]
        other = SoftAuthenticator()
        other.cred_id = auth.cred_id
        other.counter = auth.counter + 5
        self.assertEqual(self.second_step(uid, half, "webauthn:" + json.dumps(other.get(wa))).status_code, 401)
        half = self.first_step(uid, pw)
        r = self.second_step(uid, half, "webauthn:" + json.dumps(auth.get(challenge_of(half)["webauthn"])))
        self.assertEqual(r.status_code, 200, r.text)

    def test_hostile_input(self):
        uid, pw = "hostile@pve", "Passw0rd-hostile"
        self.new_user(uid, pw)
        self.adm.data("PUT", "/cluster/options", data={"webauthn": "rp=pvx test,origin=%s,id=%s" % (ORIGIN, RP_ID)})
        self.addCleanup(lambda: self.adm.put("/cluster/options", data={"delete": "webauthn"}))
        s = self.d.login(uid, pw)
        for uri in ("otpauth://totp/x?secret=", "otpauth://totp/x?secret=%%%", "http://x", "otpauth://totp/x?secret=AB&digits=99",
                    "otpauth://totp/" + "A" * 10000 + "?secret=JBSWY3DP"):
            r = s.post("/access/tfa/" + uid, data={"type": "totp", "totp": uri, "value": "123456", "password": pw})
            self.assertEqual(r.status_code, 400, uri)
        first = s.data("POST", "/access/tfa/" + uid, data={"type": "webauthn", "password": pw})
        options = json.loads(first["challenge"])
        good = SoftAuthenticator().create(options)
        att = unb64url(good["response"]["attestationObject"])
        bad_values = ["not json", json.dumps([1, 2]), json.dumps({"response": {"clientDataJSON": "!!!"}}),
                      json.dumps(dict(good, response=dict(good["response"], attestationObject=b64url(att[:40])))),
                      json.dumps(dict(good, response=dict(good["response"], attestationObject=b64url(b"\xff" * 64)))),
                      json.dumps(dict(good, response=dict(good["response"], attestationObject=b64url(cbor({"fmt": "tpm", "attStmt": {}, "authData": att[-60:]})))))]
        for value in bad_values:
            r = s.post("/access/tfa/" + uid, data={"type": "webauthn", "password": pw, "challenge": first["challenge"],
                                                   "value": value})
            self.assertIn(r.status_code, (400, 500), value[:80])
            self.assertIsNone(r.json()["data"])
        self.add_totp(s, uid, pw)
        half = self.first_step(uid, pw)
        # (Eight failures in all: under the user's limit of ten, so each reaches the check it aims at.)
        for response in ("webauthn:{", "webauthn:" + json.dumps({"challenge": 5}), "nonsense", "u2f:{}",
                         "totp:" + "9" * 5000):
            self.assertEqual(self.second_step(uid, half, response).status_code, 401, response[:40])
        for challenge in ("garbage", half + "x", half.replace("!tfa!", "!tfb!")):
            self.assertEqual(self.second_step(uid, challenge, "totp:" + totp(SECRET_B32)).status_code, 401)
        self.assertEqual(self.d.request("GET", "/version").status_code, 401)  # still answering

    def test_lockout_and_unlock(self):
        uid, pw = "lock@pve", "Passw0rd-lock"
        self.new_user(uid, pw)
        s = self.d.login(uid, pw)
        self.add_totp(s, uid, pw)
        wrong = "000000" if totp(SECRET_B32) != "000000" else "111111"
        for _ in range(8):
            half = self.first_step(uid, pw)
            self.assertEqual(self.second_step(uid, half, "totp:" + wrong).status_code, 401)
        users = {u["userid"]: u for u in self.adm.data("GET", "/access/users")}
        self.assertEqual(users[uid].get("totp-locked"), 1)
        half = self.first_step(uid, pw)
        self.assertEqual(self.second_step(uid, half, "totp:" + totp(SECRET_B32)).status_code, 401)
        listed = {e["userid"]: e for e in self.adm.data("GET", "/access/tfa")}
        self.assertEqual(listed[uid].get("totp-locked"), 1)
        self.assertEqual(self.adm.data("PUT", "/access/users/%s/unlock-tfa" % uid), 1)
        self.assertEqual(self.adm.data("PUT", "/access/users/%s/unlock-tfa" % uid), 0)
        half = self.first_step(uid, pw)
        self.assertEqual(self.second_step(uid, half, "totp:" + totp(SECRET_B32, step=1)).status_code, 200)

    def test_entry_management_and_permissions(self):
        uid, pw = "mgmt@pve", "Passw0rd-mgmt"
        self.new_user(uid, pw)
        s = self.d.login(uid, pw)
        added = self.add_totp(s, uid, pw)
        entry = s.data("GET", "/access/tfa/%s/%s" % (uid, added["id"]))
        self.assertEqual(entry["type"], "totp")
        s.data("PUT", "/access/tfa/%s/%s" % (uid, added["id"]), data={"enable": 0, "password": pw})
        self.assertEqual(s.data("GET", "/access/tfa/%s/%s" % (uid, added["id"]))["enable"], 0)
        r = self.ticket(username=uid, password=pw)
        self.assertNotIn("NeedTFA", r.json()["data"])  # all factors disabled: a plain login, as PVE 8
        # Another user without privileges neither sees nor changes them.
        other = self.d.login(NOPRIV, NOPRIV_PW)
        self.assertEqual(other.get("/access/tfa/" + uid).status_code, 403)
        self.assertEqual(other.delete("/access/tfa/%s/%s" % (uid, added["id"]), params={"password": NOPRIV_PW}).status_code, 403)
        self.assertEqual([e["userid"] for e in other.data("GET", "/access/tfa")], [])
        r = s.delete("/access/tfa/%s/%s" % (uid, added["id"]), params={"password": "wrong-password"})
        self.assertEqual(r.status_code, 400)
        s.data("DELETE", "/access/tfa/%s/%s" % (uid, added["id"]), params={"password": pw})
        self.assertEqual(s.data("GET", "/access/tfa/" + uid), [])

    def test_realm_enforced_totp(self):
        uid, pw = "enf@pve", "Passw0rd-enf"
        self.new_user(uid, pw)
        self.adm.data("PUT", "/access/domains/pve", data={"tfa": "type=oath"})
        try:
            r = self.ticket(username=uid, password=pw)
            self.assertEqual(r.status_code, 401)  # no keys: refused
            self.adm.data("PUT", "/access/users/" + uid, data={"keys": SECRET_B32})
            half = self.first_step(uid, pw)
            self.assertEqual(self.second_step(uid, half, "totp:" + totp(SECRET_B32)).status_code, 200)
            realms = {x["realm"]: x for x in self.d.request("GET", "/access/domains").json()["data"]}
            self.assertEqual(realms["pve"]["tfa"], "oath")
            self.assertEqual(self.adm.data("GET", "/access/users/%s/tfa" % uid)["realm"], "oath")
        finally:
            self.adm.data("PUT", "/access/domains/pve", data={"delete": "tfa"})


if __name__ == "__main__":
    harness.main()
