#!/usr/bin/python3
"""OpenID Connect logins against the test provider (tests/openid_provider.py) on loopback: the
authorization URL with PKCE, the code exchange, the ID token's signature checked against the
provider's JWKS, user autocreation from the claims, groups from the groups claim, and refusals of
tokens with a wrong nonce, audience, issuer or expiry, or signed by another key."""
import os
import sys
import urllib.parse

import requests

import harness

sys.path.insert(0, os.path.join(harness.REPO, "tests"))
from openid_provider import OpenIdProvider  # noqa: E402

REDIRECT = "https://pvx.test:8006/"


class OpenIdSuite(harness.DaemonCase):

    @classmethod
    def setUpClass(cls):
        cls.provider = OpenIdProvider("pvx-client", "client-secret-1")
        cls.issuer = cls.provider.start()
        super().setUpClass()

    @classmethod
    def tearDownClass(cls):
        try:
            super().tearDownClass()
        finally:
            cls.provider.stop()

    def setUp(self):
        self.adm = self.admin()
        self.provider.tamper = {}

    def realm(self, realm, **extra):
        data = {"realm": realm, "type": "openid", "issuer-url": self.issuer, "client-id": "pvx-client",
                "client-key": "client-secret-1"}
        data.update(extra)
        self.adm.data("POST", "/access/domains", data=data)
        self.addCleanup(lambda: self.adm.delete("/access/domains/" + realm))

    def login(self, realm):
        """The browser's part: ask for the URL, follow the provider's redirect, hand back the code."""
        r = self.d.request("POST", "/access/openid/auth-url", data={"realm": realm, "redirect-url": REDIRECT})
        self.assertEqual(r.status_code, 200, r.text)
        url = r.json()["data"]
        q = dict(urllib.parse.parse_qsl(urllib.parse.urlparse(url).query))
        self.assertEqual(q["code_challenge_method"], "S256")
        self.assertEqual(q["scope"], "openid email profile")
        answer = requests.get(url, allow_redirects=False, timeout=10)
        self.assertEqual(answer.status_code, 302, answer.text)
        back = dict(urllib.parse.parse_qsl(urllib.parse.urlparse(answer.headers["Location"]).query))
        self.assertEqual(back["state"], q["state"])
        return self.d.request("POST", "/access/openid/login",
                              data={"state": back["state"], "code": back["code"], "redirect-url": REDIRECT})

    def test_autocreate_and_groups(self):
        self.realm("idp", autocreate=1, **{"username-claim": "username", "groups-claim": "groups",
                                           "groups-autocreate": 1})
        r = self.login("idp")
        self.assertEqual(r.status_code, 200, r.text)
        d = r.json()["data"]
        self.assertEqual(d["username"], "olga@idp")
        self.assertIn("ticket", d)
        self.addCleanup(lambda: self.adm.delete("/access/users/olga@idp"))
        user = self.adm.data("GET", "/access/users/olga@idp")
        self.assertEqual(user["email"], "olga@example.com")
        self.assertEqual(user["firstname"], "Olga")
        self.assertEqual(sorted(user["groups"]), ["admins-idp", "lab_users-idp"])
        for g in ("admins-idp", "lab_users-idp"):
            self.addCleanup(lambda g=g: self.adm.delete("/access/groups/" + g))
        # The ticket works.
        s = harness.Session(self.d, d["ticket"], d["CSRFPreventionToken"])
        self.assertEqual(s.data("GET", "/access/permissions", params={"path": "/"}), {"/": {}})
        # The provider saw PKCE and a client secret on the token call.
        token_calls = [f for m, p, f in self.provider.requests if p == "/token"]
        self.assertTrue(token_calls and token_calls[-1]["code_verifier"])

    def test_unknown_user_without_autocreate(self):
        self.realm("strict")
        self.assertEqual(self.login("strict").status_code, 401)
        self.adm.data("POST", "/access/users", data={"userid": "u-1001@strict"})
        self.addCleanup(lambda: self.adm.delete("/access/users/u-1001@strict"))
        r = self.login("strict")  # username-claim defaults to the subject
        self.assertEqual(r.status_code, 200, r.text)
        self.assertEqual(r.json()["data"]["username"], "u-1001@strict")

    def test_bad_tokens_are_refused(self):
        self.realm("checks", autocreate=1)
        self.addCleanup(lambda: self.adm.delete("/access/users/u-1001@checks"))
        for tamper in ({"nonce": "not-the-nonce"}, {"aud": "another-client"}, {"iss": "https://evil.example"},
                       {"exp": 1000}, {"sign_with_other_key": True}):
            self.provider.tamper = tamper
            self.assertEqual(self.login("checks").status_code, 401, tamper)
        self.provider.tamper = {}
        self.assertEqual(self.login("checks").status_code, 200)

    def test_state_is_single_use_and_realm_checked(self):
        self.realm("once", autocreate=1)
        self.addCleanup(lambda: self.adm.delete("/access/users/u-1001@once"))
        r = self.d.request("POST", "/access/openid/login", data={"state": "made-up", "code": "x", "redirect-url": REDIRECT})
        self.assertEqual(r.status_code, 401)
        r = self.d.request("POST", "/access/openid/auth-url", data={"realm": "pve", "redirect-url": REDIRECT})
        self.assertEqual(r.status_code, 400)
        # Passwords do not log in to an openid realm.
        r = self.d.request("POST", "/access/ticket", data={"username": "u-1001@once", "password": "x"})
        self.assertEqual(r.status_code, 401)


if __name__ == "__main__":
    harness.main()
