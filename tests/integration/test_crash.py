#!/usr/bin/python3
"""Crash safety: bursts of config writes (API and CLI, concurrently, on the same file) while pvxd
is killed with SIGKILL. After each restart every acknowledged write must be readable with its
exact value, and nothing may be torn: each key holds exactly one of the values sent, never an
older one than the last acknowledged, never a mix.

Streams, each sequential within itself so "newest acknowledged" is well defined:
  A  PUT /cluster/options description=<4 KiB value #n>   (API token, keep-alive)
  B  PUT /cluster/options mac_prefix=02:xx:xx            (API ticket + CSRF)
  C  pvesh set /cluster/options --email_from crash<n>@example.com   (CLI over the socket)
  D  POST /access/users userid=crash<r>u<n>@pve           (only if the users API exists)
"""
import hashlib
import os
import random
import signal
import socket
import sqlite3
import subprocess
import threading
import time
import unittest
import urllib.parse

import requests

import harness
from harness import NODE, TESTER, TESTER_PW

ROUNDS = 5
MIN_ACKS = 5           # per API stream before the kill is armed
ARM_TIMEOUT = 30.0


def description_value(rnd, n):
    # Large and position-dependent, so a torn or mixed write cannot look like a valid one.
    seed = hashlib.sha256(("%d/%d" % (rnd, n)).encode()).hexdigest()
    return "crash %d %d " % (rnd, n) + (seed * 64)[:4000]


def mac_value(n):
    return "02:%02x:%02x" % ((n >> 8) & 0xFF, n & 0xFF)


class Stream:
    """Sent and acknowledged sequence numbers of one writer."""

    def __init__(self, name):
        self.name = name
        self.sent = {}      # n -> value
        self.last_ack = -1
        self.last_sent = -1
        self.acks = 0
        self.error = None

    def run(self, stop, killing, send):
        n = 0
        while not stop.is_set():
            value = send.value(n)
            self.sent[n] = value
            self.last_sent = n
            try:
                ok = send.write(value)
            except (requests.RequestException, OSError, subprocess.SubprocessError):
                ok = False
            if ok:
                self.last_ack = n
                self.acks += 1
            elif not killing.is_set():
                # A refusal while pvxd lives is a bug in its own right.
                self.error = "%s write #%d refused while pvxd was alive: %s" % (self.name, n, send.last)
                return
            else:
                return
            n += 1


class ApiWriter:
    def __init__(self, daemon, session, key, value_fn):
        self.d, self.s, self.key, self.value = daemon, session, key, value_fn
        self.last = None

    def write(self, value):
        r = self.s.put("/cluster/options", data={self.key: value}, timeout=10)
        self.last = "%d %s %s" % (r.status_code, r.reason, r.text[:200])
        return r.status_code == 200


class CliWriter:
    def __init__(self, daemon, rnd):
        self.d, self.rnd = daemon, rnd
        self.last = None

    def value(self, n):
        return "crash%dx%d@example.com" % (self.rnd, n)

    def write(self, value):
        res = self.d.cli("pvesh", "set", "/cluster/options", "--email_from", value, check=False, timeout=20)
        self.last = "exit %d %s" % (res.returncode, res.stderr.strip()[:200])
        return res.returncode == 0


class UserWriter:
    def __init__(self, daemon, session, rnd):
        self.d, self.s, self.rnd = daemon, session, rnd
        self.last = None

    def value(self, n):
        return "crash%du%d@pve" % (self.rnd, n)

    def write(self, value):
        r = self.s.post("/access/users", data={"userid": value, "comment": "crash " + value}, timeout=10)
        self.last = "%d %s %s" % (r.status_code, r.reason, r.text[:200])
        return r.status_code == 200


class Crash(unittest.TestCase):

    def setUp(self):
        self.d = harness.Daemon().start()
        self.addCleanup(self.d.cleanup)
        harness.add_user(self.d, TESTER, TESTER_PW)
        harness.grant(self.d, "/", TESTER, "Administrator")
        self.token_full, self.token_secret = harness.add_token(self.d, TESTER, "crash", privsep=0)
        probe = self.d.token_session(self.token_full, self.token_secret)
        r = probe.put("/cluster/options", data={"description": "probe"})
        self.assertEqual(r.status_code, 200, "PUT /cluster/options unusable: %d %s %s"
                         % (r.status_code, r.reason, r.text))
        r = probe.get("/access/users")
        self.users_api = r.status_code == 200
        if not self.users_api:
            print("note: GET /access/users -> %d, user-creation stream D skipped" % r.status_code)

    def _round(self, rnd):
        tok = self.d.token_session(self.token_full, self.token_secret)
        tick = self.d.login(TESTER, TESTER_PW)
        writers = {
            "A": ApiWriter(self.d, tok, "description", lambda n: description_value(rnd, n)),
            "B": ApiWriter(self.d, tick, "mac_prefix", mac_value),
            "C": CliWriter(self.d, rnd),
        }
        if self.users_api:
            writers["D"] = UserWriter(self.d, self.d.token_session(self.token_full, self.token_secret), rnd)
        streams = {k: Stream(k) for k in writers}
        stop, killing = threading.Event(), threading.Event()
        threads = [threading.Thread(target=streams[k].run, args=(stop, killing, writers[k]), daemon=True)
                   for k in writers]
        for t in threads:
            t.start()
        deadline = time.monotonic() + ARM_TIMEOUT
        api_streams = [s for k, s in streams.items() if k != "C"]
        while time.monotonic() < deadline and min(s.acks for s in api_streams) < MIN_ACKS:
            if any(s.error for s in streams.values()):
                break
            time.sleep(0.05)
        time.sleep(random.uniform(0.05, 0.6))
        killing.set()
        self.d.proc.send_signal(signal.SIGKILL)
        self.d.proc.wait()
        stop.set()
        for t in threads:
            t.join(timeout=60)
        for s in streams.values():
            self.assertIsNone(s.error, s.error)
        self.assertGreaterEqual(min(s.acks for s in api_streams), 1,
                                {k: s.acks for k, s in streams.items()})

        self.d.start()  # same data dir, same port
        s = self.d.token_session(self.token_full, self.token_secret)
        r = s.get("/cluster/options")
        self.assertEqual(r.status_code, 200, "after restart: %d %s" % (r.status_code, r.text[:300]))
        opts = r.json()["data"]
        self._check_key(streams["A"], opts.get("description"), "description")
        self._check_key(streams["B"], opts.get("mac_prefix"), "mac_prefix", fold=True)
        self._check_key(streams["C"], opts.get("email_from"), "email_from")
        if "D" in streams:
            users = {u["userid"] for u in s.data("GET", "/access/users")}
            st = streams["D"]
            for n in range(st.last_ack + 1):
                self.assertIn(st.sent[n], users, "acknowledged user %s lost" % st.sent[n])
            for u in users:
                if u.startswith("crash%du" % rnd):
                    self.assertIn(u, st.sent.values())
        return {k: (v.acks, v.last_ack, v.last_sent) for k, v in streams.items()}

    def _check_key(self, stream, got, key, fold=False):
        if stream.last_ack < 0:
            return  # nothing acknowledged on this stream in this round
        norm = (lambda v: v.lower()) if fold else (lambda v: v)
        self.assertIsNotNone(got, "%s missing after restart (last ack #%d)" % (key, stream.last_ack))
        if isinstance(got, str):
            got = got.rstrip("\n")
        matches = [n for n, v in stream.sent.items() if norm(v) == norm(got)]
        self.assertTrue(matches, "%s holds a value never sent (torn?): %r" % (key, str(got)[:120]))
        n = max(matches)
        self.assertGreaterEqual(n, stream.last_ack,
                                "%s lost acknowledged write #%d, holds #%d" % (key, stream.last_ack, n))
        self.assertLessEqual(n, stream.last_sent)

    def test_sigkill_during_write_burst(self):
        summary = []
        for rnd in range(ROUNDS):
            summary.append(self._round(rnd))
        print("crash rounds (acks, last ack, last sent):", summary)
        rc = self.d.stop()
        self.assertEqual(rc, 0, "pvxd did not exit cleanly on SIGTERM:\n" + self.d.log_text())
        db = os.path.join(self.d.data_dir, "config.db")
        if os.path.exists(db):
            con = sqlite3.connect(db)
            try:
                self.assertEqual(con.execute("PRAGMA integrity_check").fetchone()[0], "ok")
            finally:
                con.close()

    def test_task_running_at_sigkill_is_closed_as_unexpected(self):
        # A task that surely outlives the kill: download-url from a loopback server that accepts
        # the request and never answers.
        server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        server.bind(("127.0.0.1", 0))
        server.listen(4)
        held = []
        stop = threading.Event()

        def hold():
            server.settimeout(0.2)
            while not stop.is_set():
                try:
                    conn, _ = server.accept()
                    held.append(conn)
                except OSError:
                    continue

        threading.Thread(target=hold, daemon=True).start()
        try:
            tok = self.d.token_session(self.token_full, self.token_secret)
            url = "http://127.0.0.1:%d/stalled.iso" % server.getsockname()[1]
            upid = tok.data("POST", "/nodes/%s/storage/local/download-url" % NODE,
                            data={"url": url, "content": "iso", "filename": "stalled.iso"})
            deadline = time.monotonic() + 10
            while not held and time.monotonic() < deadline:
                time.sleep(0.05)
            self.assertTrue(held, "the download task never connected")
            st = tok.data("GET", "/nodes/%s/tasks/%s/status" % (NODE, urllib.parse.quote(upid, safe="")))
            self.assertEqual(st["status"], "running")
            self.d.proc.send_signal(signal.SIGKILL)
            self.d.proc.wait()
            self.d.start()
            tok = self.d.token_session(self.token_full, self.token_secret)
            st = tok.data("GET", "/nodes/%s/tasks/%s/status" % (NODE, urllib.parse.quote(upid, safe="")))
            self.assertEqual(st["status"], "stopped")
            self.assertEqual(st["exitstatus"], "unexpected status")
        finally:
            stop.set()
            for conn in held:
                conn.close()
            server.close()

if __name__ == "__main__":
    harness.main()
