#!/usr/bin/python3
"""A small OpenID Connect provider for the tests, on loopback: discovery, JWKS, the
authorization endpoint (no login page: it answers at once for the user the test chose), the token
endpoint (client secret over HTTP Basic, PKCE S256 checked) issuing RS256 ID tokens, and userinfo.
`tamper` lets a test break one property of the next ID token (nonce, audience, expiry, issuer,
or the signing key) to see the relying party refuse it.

Library: OpenIdProvider(client_id, client_secret).start() -> base URL; .user = {...}; .stop().
Command line: openid_provider.py PORT CLIENT_ID CLIENT_SECRET (serves until interrupted)."""
import base64
import hashlib
import http.server
import json
import secrets
import sys
import threading
import time
import urllib.parse

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def int_b64(n):
    return b64url(n.to_bytes((n.bit_length() + 7) // 8, "big"))


class OpenIdProvider:
    def __init__(self, client_id, client_secret, port=0):
        self.client_id = client_id
        self.client_secret = client_secret
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.other_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.kid = "pvx-test-1"
        self.user = {"sub": "u-1001", "preferred_username": "olga", "email": "olga@example.com",
                     "given_name": "Olga", "family_name": "Ortiz", "groups": ["admins", "lab users"]}
        self.tamper = {}
        self.codes = {}
        self.requests = []
        provider = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def reply(self, status, body=None, headers=None):
                data = json.dumps(body).encode() if body is not None else b""
                self.send_response(status)
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                if body is not None:
                    self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self):
                url = urllib.parse.urlparse(self.path)
                q = dict(urllib.parse.parse_qsl(url.query))
                provider.requests.append(("GET", url.path, q))
                if url.path == "/.well-known/openid-configuration":
                    b = provider.base
                    return self.reply(200, {"issuer": b, "authorization_endpoint": b + "/authorize",
                                            "token_endpoint": b + "/token", "jwks_uri": b + "/jwks",
                                            "userinfo_endpoint": b + "/userinfo",
                                            "response_types_supported": ["code"],
                                            "id_token_signing_alg_values_supported": ["RS256"],
                                            "code_challenge_methods_supported": ["S256"]})
                if url.path == "/jwks":
                    pub = provider.key.public_key().public_numbers()
                    return self.reply(200, {"keys": [{"kty": "RSA", "kid": provider.kid, "use": "sig", "alg": "RS256",
                                                      "n": int_b64(pub.n), "e": int_b64(pub.e)}]})
                if url.path == "/authorize":
                    if q.get("client_id") != provider.client_id or q.get("response_type") != "code":
                        return self.reply(400, {"error": "invalid_request"})
                    if q.get("code_challenge_method") != "S256" or not q.get("code_challenge"):
                        return self.reply(400, {"error": "invalid_request", "error_description": "PKCE required"})
                    code = secrets.token_urlsafe(24)
                    provider.codes[code] = {"nonce": q.get("nonce"), "challenge": q["code_challenge"],
                                            "redirect_uri": q.get("redirect_uri"), "user": dict(provider.user)}
                    sep = "&" if "?" in q["redirect_uri"] else "?"
                    loc = q["redirect_uri"] + sep + urllib.parse.urlencode({"code": code, "state": q.get("state", "")})
                    return self.reply(302, None, {"Location": loc})
                if url.path == "/userinfo":
                    token = self.headers.get("Authorization", "")
                    for c in provider.codes.values():
                        if token == "Bearer " + c.get("access_token", "-"):
                            return self.reply(200, {k: v for k, v in c["user"].items()})
                    return self.reply(401, {"error": "invalid_token"})
                return self.reply(404, {"error": "not found"})

            def do_POST(self):
                length = int(self.headers.get("Content-Length", "0"))
                form = dict(urllib.parse.parse_qsl(self.rfile.read(length).decode()))
                provider.requests.append(("POST", self.path, form))
                if self.path != "/token":
                    return self.reply(404, {"error": "not found"})
                auth = self.headers.get("Authorization", "")
                expected = "Basic " + base64.b64encode(("%s:%s" % (provider.client_id, provider.client_secret)).encode()).decode()
                if auth != expected:
                    return self.reply(401, {"error": "invalid_client"})
                c = provider.codes.pop(form.get("code", ""), None)
                if not c or form.get("grant_type") != "authorization_code" or form.get("redirect_uri") != c["redirect_uri"]:
                    return self.reply(400, {"error": "invalid_grant"})
                verifier = form.get("code_verifier", "")
                if b64url(hashlib.sha256(verifier.encode()).digest()) != c["challenge"]:
                    return self.reply(400, {"error": "invalid_grant", "error_description": "PKCE verifier mismatch"})
                access = secrets.token_urlsafe(24)
                c["access_token"] = access
                provider.codes["used-" + access] = c
                return self.reply(200, {"access_token": access, "token_type": "Bearer", "expires_in": 300,
                                        "id_token": provider.id_token(c)})

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.base = "http://127.0.0.1:%d" % self.server.server_address[1]

    def id_token(self, c):
        now = int(time.time())
        claims = {"iss": self.base, "aud": self.client_id, "iat": now, "exp": now + 300, "nonce": c["nonce"]}
        claims.update(c["user"])
        t = dict(self.tamper)
        key = self.other_key if t.pop("sign_with_other_key", False) else self.key
        claims.update(t)
        header = {"alg": "RS256", "typ": "JWT", "kid": self.kid}
        data = b64url(json.dumps(header).encode()) + "." + b64url(json.dumps(claims).encode())
        sig = key.sign(data.encode(), padding.PKCS1v15(), hashes.SHA256())
        return data + "." + b64url(sig)

    def start(self):
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self.base

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


if __name__ == "__main__":
    if len(sys.argv) != 4:
        sys.exit("usage: openid_provider.py PORT CLIENT_ID CLIENT_SECRET")
    p = OpenIdProvider(sys.argv[2], sys.argv[3], int(sys.argv[1]))
    print("issuer:", p.base, flush=True)
    p.server.serve_forever()
