"""Shared harness of the integration suites: a real pvxd on a temp data dir and a free loopback
port, HTTP helpers (python3-requests, no certificate check) and the CLI (build/bin/pvx and its
links). Suites are stdlib unittest; run them with /usr/bin/python3 so Debian's proxmoxer imports.

PVX_BIN_DIR names the directory holding pvxd and pvx (ctest sets it); without it the suites look
in <repo>/build/bin.
"""
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import unittest
import urllib.parse
import warnings

import requests
import urllib3

urllib3.disable_warnings(urllib3.exceptions.InsecureRequestWarning)

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BIN_DIR = os.environ.get("PVX_BIN_DIR") or os.path.join(REPO, "build", "bin")
NODE = "itestnode"
JSON_CT = "application/json;charset=UTF-8"
READY_TIMEOUT = 60.0
STOP_TIMEOUT = 30.0

TESTER = "tester@pve"
TESTER_PW = "itest-Secret-1"
NOPRIV = "nopriv@pve"
NOPRIV_PW = "itest-Secret-2"
TOKEN_ID = "itest"


def free_port():
    """A port the kernel just handed out, so parallel suites don't collide."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def bin_path(name):
    return os.path.join(BIN_DIR, name)


class Daemon:
    """One pvxd process. The data dir survives restarts of the same object (crash test)."""

    # Suites leave the host's network alone: no default NAT bridge unless a suite (running in a
    # network namespace of its own) asks for one.
    # `http_ready=False`: pvxd runs where this process cannot reach its port (another network
    # namespace); ready means the log line and the local socket, which works from anywhere.
    def __init__(self, node=NODE, extra_args=("--no-default-bridge",), prefix=(), http_ready=True):
        self.http_ready = http_ready
        self.extra_args = list(extra_args)
        self.prefix = list(prefix)
        self.root = tempfile.mkdtemp(prefix="pvx-itest-")
        self.data_dir = os.path.join(self.root, "data")
        self.port = free_port()
        self.node = node
        self.proc = None
        self.log_path = None
        self.starts = 0

    @property
    def base(self):
        return "https://127.0.0.1:%d" % self.port

    @property
    def api(self):
        return self.base + "/api2/json"

    @property
    def socket_path(self):
        return os.path.join(self.data_dir, "pvxd.sock")

    def start(self):
        if not os.access(bin_path("pvxd"), os.X_OK):
            raise RuntimeError("pvxd not built: %s" % bin_path("pvxd"))
        self.starts += 1
        self.log_path = os.path.join(self.root, "pvxd.%d.log" % self.starts)
        log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(
            self.prefix + [bin_path("pvxd"), "--data-dir", self.data_dir, "--listen", "127.0.0.1:%d" % self.port,
                           "--node", self.node] + self.extra_args,
            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        log.close()
        self._wait_ready()
        return self

    def log_text(self):
        try:
            with open(self.log_path, "r", errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def _wait_ready(self):
        deadline = time.monotonic() + READY_TIMEOUT
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("pvxd exited with %s before it was ready:\n%s"
                                   % (self.proc.returncode, self.log_text()))
            if "listening on" in self.log_text() and os.path.exists(self.socket_path):
                if not self.http_ready:
                    return
                try:
                    r = requests.get(self.api + "/version", verify=False, timeout=5)
                    if r.status_code in (200, 401):
                        return
                except requests.RequestException:
                    pass
            time.sleep(0.1)
        self.kill()
        raise RuntimeError("pvxd not ready after %.0fs:\n%s" % (READY_TIMEOUT, self.log_text()))

    def stop(self):
        """SIGTERM; returns the exit code (the suites assert 0)."""
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else 0
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            return "hung after SIGTERM (killed)"

    def kill(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def cleanup(self):
        self.kill()
        self.kill_guests()
        self.stop_containers()
        self.unmount_all()
        shutil.rmtree(self.root, ignore_errors=True)

    def stop_containers(self):
        """Containers outlive pvxd too: a suite's leftovers are stopped through liblxc's tool."""
        lxcpath = os.path.join(self.data_dir, "run", "lxc")
        if not os.path.isdir(lxcpath):
            return
        for name in os.listdir(lxcpath):
            if os.path.exists(os.path.join(lxcpath, name, "init.pid")):
                subprocess.run(["lxc-stop", "-P", lxcpath, "-n", name, "-k"], capture_output=True, timeout=60)

    def unmount_all(self):
        """Volumes a failed test left mounted below the data directory (deepest first), so the
        removal that follows never walks into a mounted filesystem."""
        with open("/proc/self/mounts") as f:
            points = [line.split()[1].replace("\\040", " ") for line in f]
        for point in sorted((p for p in points if p.startswith(self.root + "/")), key=len, reverse=True):
            subprocess.run(["umount", "-l", point], capture_output=True)

    def kill_guests(self):
        """Guests outlive pvxd by design; a suite's leftovers (a failed test's VM) die with its data dir.
        Only processes whose command line names this data directory are touched."""
        for dirpath, _dirs, files in os.walk(self.data_dir):
            for name in files:
                if not name.endswith(".pid"):
                    continue
                try:
                    with open(os.path.join(dirpath, name)) as f:
                        pid = int(f.read().split()[0])
                    with open("/proc/%d/cmdline" % pid, "rb") as f:
                        cmdline = f.read()
                except (OSError, ValueError, IndexError):
                    continue
                if self.data_dir.encode() in cmdline:
                    try:
                        os.kill(pid, signal.SIGKILL)
                    except OSError:
                        pass

    # --- CLI -------------------------------------------------------------------------------
    def cli(self, tool, *args, check=True, timeout=60, via_pvx=False):
        """Runs build/bin/<tool> (or `pvx <tool>`) against this daemon's socket."""
        argv = [bin_path("pvx"), tool] if via_pvx else [bin_path(tool)]
        argv += [str(a) for a in args]
        env = dict(os.environ, PVX_DATA_DIR=self.data_dir)
        res = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=timeout)
        if check and res.returncode != 0:
            raise AssertionError("%s failed (exit %d)\nstdout: %s\nstderr: %s"
                                 % (" ".join(argv), res.returncode, res.stdout, res.stderr))
        return res

    # --- HTTP ------------------------------------------------------------------------------
    def url(self, path):
        return self.api + path

    def request(self, method, path, **kw):
        kw.setdefault("verify", False)
        kw.setdefault("timeout", 30)
        return requests.request(method, self.url(path), **kw)

    def login(self, user, password):
        r = self.request("POST", "/access/ticket", data={"username": user, "password": password})
        if r.status_code != 200:
            raise AssertionError("login %s failed: %d %s %r" % (user, r.status_code, r.reason, r.text))
        d = r.json()["data"]
        return Session(self, d["ticket"], d["CSRFPreventionToken"])

    def token_session(self, full_tokenid, secret):
        return Session(self, None, None, auth="PVEAPIToken=%s=%s" % (full_tokenid, secret))


class Session:
    """A requests.Session carrying a ticket cookie + CSRF token, or an API token header."""

    def __init__(self, daemon, ticket, csrf, auth=None):
        self.d = daemon
        self.ticket = ticket
        self.csrf = csrf
        self.s = requests.Session()
        self.s.verify = False
        if ticket:
            self.s.headers["Cookie"] = "PVEAuthCookie=" + urllib.parse.quote(ticket, safe="")
        if auth:
            self.s.headers["Authorization"] = auth

    def call(self, method, path, csrf=True, **kw):
        headers = dict(kw.pop("headers", {}) or {})
        if csrf and self.csrf and method not in ("GET", "HEAD"):
            headers["CSRFPreventionToken"] = self.csrf
        kw.setdefault("timeout", 30)
        # verify per request: requests lets REQUESTS_CA_BUNDLE override a session's verify=False.
        kw.setdefault("verify", False)
        return self.s.request(method, self.d.url(path), headers=headers, **kw)

    def get(self, path, **kw):
        return self.call("GET", path, **kw)

    def post(self, path, **kw):
        return self.call("POST", path, **kw)

    def put(self, path, **kw):
        return self.call("PUT", path, **kw)

    def delete(self, path, **kw):
        return self.call("DELETE", path, **kw)

    def data(self, method, path, **kw):
        r = self.call(method, path, **kw)
        if r.status_code != 200:
            raise AssertionError("%s %s -> %d %s %r" % (method, path, r.status_code, r.reason, r.text))
        return r.json()["data"]

    def wait_task(self, upid, timeout=60):
        node = upid.split(":")[1]
        path = "/nodes/%s/tasks/%s/status" % (node, urllib.parse.quote(upid, safe=""))
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            st = self.data("GET", path)
            if st.get("status") == "stopped":
                return st
            time.sleep(0.2)
        raise AssertionError("task %s still running after %ds" % (upid, timeout))


def follow_with_proxmoxer(api, upid, timeout=60):
    """What Ansible does with a UPID: poll the task's status until it stopped."""
    node = upid.split(":")[1]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        st = api.nodes(node).tasks(upid).status.get()
        if st["status"] == "stopped":
            return st
        time.sleep(0.2)
    raise AssertionError("task %s did not stop" % upid)


def run_playbook(daemon, work, tasks, timeout=600):
    """Runs one Ansible playbook on localhost against `daemon` as tester@pve; returns each task's
    result by name. `tasks` are (name, module, args) triples; the connection arguments are added to
    every task. Raises with the failed tasks' messages when the playbook fails."""
    playbook = os.environ.get("PVX_ANSIBLE_PLAYBOOK") or shutil.which("ansible-playbook")
    auth = {"api_host": "127.0.0.1:%d" % daemon.port, "api_user": TESTER, "api_password": TESTER_PW,
            "validate_certs": False}
    book = [{"hosts": "localhost", "connection": "local", "gather_facts": False,
             "tasks": [{"name": name, module: dict(auth, **args)} for name, module, args in tasks]}]
    path = os.path.join(work, "play.yml")
    with open(path, "w") as f:
        json.dump(book, f)  # YAML is a superset of JSON
    env = dict(os.environ, ANSIBLE_STDOUT_CALLBACK="json", ANSIBLE_PYTHON_INTERPRETER="/usr/bin/python3",
               ANSIBLE_LOCALHOST_WARNING="false", ANSIBLE_INVENTORY_UNPARSED_WARNING="false",
               ANSIBLE_HOME=os.path.join(work, ".ansible"))
    res = subprocess.run([playbook, "-i", "localhost,", path], capture_output=True, text=True, env=env,
                         timeout=timeout)
    try:
        out = json.loads(res.stdout)
    except ValueError:
        raise AssertionError("ansible-playbook printed no JSON (exit %d):\n%s\n%s"
                             % (res.returncode, res.stdout[-3000:], res.stderr[-3000:]))
    results = {}
    for play in out["plays"]:
        for task in play["tasks"]:
            results[task["task"]["name"]] = task["hosts"]["localhost"]
    if res.returncode != 0:
        failed = {k: v.get("msg") for k, v in results.items() if v.get("failed")}
        raise AssertionError("playbook failed: %s\n%s" % (failed, res.stderr[-2000:]))
    return results


# --- bootstrap of test users over the CLI --------------------------------------------------
# Every attempt is recorded so a failing bootstrap tells exactly which command the CLI lacks.
BOOTSTRAP_LOG = []


def _try_cli(daemon, variants):
    errors = []
    for tool, args in variants:
        res = daemon.cli(tool, *args, check=False)
        BOOTSTRAP_LOG.append((tool, args, res.returncode, res.stderr.strip()[:300]))
        if res.returncode == 0:
            return res
        errors.append("%s %s -> exit %d: %s" % (tool, " ".join(args), res.returncode,
                                               (res.stderr or res.stdout).strip()[:300]))
    raise AssertionError("CLI bootstrap failed:\n  " + "\n  ".join(errors))


def add_user(daemon, userid, password):
    _try_cli(daemon, [
        ("pveum", ["useradd", userid, "--password", password]),
        ("pveum", ["user", "add", userid, "--password", password]),
        ("pvesh", ["create", "/access/users", "--userid", userid, "--password", password]),
    ])


def grant(daemon, path, userid, role="Administrator"):
    _try_cli(daemon, [
        ("pveum", ["aclmod", path, "--users", userid, "--roles", role]),
        ("pveum", ["acl", "modify", path, "--users", userid, "--roles", role]),
        ("pvesh", ["set", "/access/acl", "--path", path, "--users", userid, "--roles", role]),
    ])


UUID_RE = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def add_token(daemon, userid, tokenid, privsep=0):
    """Returns (full_tokenid, secret)."""
    fmt = ["--output-format", "json"]
    res = _try_cli(daemon, [
        ("pveum", ["user", "token", "add", userid, tokenid, "--privsep", str(privsep)] + fmt),
        ("pvesh", ["create", "/access/users/%s/token/%s" % (userid, tokenid), "--privsep", str(privsep)] + fmt),
    ])
    full, secret = "%s!%s" % (userid, tokenid), None
    try:
        d = json.loads(res.stdout)
        if isinstance(d, dict) and "data" in d and isinstance(d["data"], dict):
            d = d["data"]
        full = d.get("full-tokenid", full)
        secret = d.get("value")
    except ValueError:
        m = UUID_RE.search(res.stdout)
        secret = m.group(0) if m else None
    if not secret:
        raise AssertionError("token add printed no secret: %r" % res.stdout)
    return full, secret


# --- a running daemon shared by one suite -----------------------------------------------------
class DaemonCase(unittest.TestCase):
    """Starts one pvxd per TestCase class with tester@pve (Administrator on /, token
    tester@pve!itest without privilege separation) and nopriv@pve (no ACL); stops it with SIGTERM
    at the end and checks the exit code."""

    with_users = True
    daemon = None
    daemon_args = ("--no-default-bridge",)

    @classmethod
    def setUpClass(cls):
        cls.daemon = Daemon(extra_args=cls.daemon_args).start()
        try:
            if cls.with_users:
                add_user(cls.daemon, TESTER, TESTER_PW)
                grant(cls.daemon, "/", TESTER, "Administrator")
                add_user(cls.daemon, NOPRIV, NOPRIV_PW)
                cls.token_full, cls.token_secret = add_token(cls.daemon, TESTER, TOKEN_ID, privsep=0)
        except Exception:
            cls.daemon.cleanup()
            raise

    @classmethod
    def tearDownClass(cls):
        d = cls.daemon
        try:
            rc = d.stop()
            if rc != 0:
                raise AssertionError("pvxd did not exit cleanly on SIGTERM: %r\n%s" % (rc, d.log_text()))
        finally:
            d.cleanup()

    # Convenience for the suites.
    @property
    def d(self):
        return self.daemon

    def admin(self):
        return self.d.login(TESTER, TESTER_PW)

    def token(self):
        return self.d.token_session(self.token_full, self.token_secret)


NETNS_ENV = "PVX_ITEST_NETNS"


def in_own_netns():
    """Whether this process already runs in the namespace of rerun_in_own_netns()."""
    return bool(os.environ.get(NETNS_ENV))


# `ip netns exec` mounts a fresh /sys, which hides the cgroup hierarchies below it; liblxc needs
# them. This keeps them: bound aside, a sysfs of the namespace mounted, moved back on top.
_KEEP_CGROUPS = ('set -e; d=$(mktemp -d); mount --rbind /sys/fs/cgroup "$d"; '
                 'mount -t sysfs sysfs /sys; mount --move "$d" /sys/fs/cgroup; rmdir "$d"; exec "$@"')


def rerun_in_own_netns(script, prefix, cgroups=False):
    """Re-runs `script` inside a fresh network namespace (its loopback up) and returns its exit
    code. Its bridges, taps and test hosts never touch the host's network, and nothing it
    started outlives it: a leaked dnsmasq or QEMU would hold the namespace. With `cgroups`, the
    cgroup hierarchies stay visible (container suites)."""
    ns = "%s-%d" % (prefix, os.getpid())
    subprocess.run(["ip", "netns", "add", ns], check=True, capture_output=True)
    try:
        subprocess.run(["ip", "-n", ns, "link", "set", "lo", "up"], check=True)
        env = dict(os.environ, **{NETNS_ENV: ns})
        cmd = ["ip", "netns", "exec", ns, sys.executable, os.path.abspath(script)] + sys.argv[1:]
        if cgroups:
            cmd = ["nsenter", "--net=/run/netns/" + ns, "unshare", "-m", "--propagation", "private",
                   "sh", "-c", _KEEP_CGROUPS, "sh", sys.executable, os.path.abspath(script)] + sys.argv[1:]
        return subprocess.run(cmd, env=env).returncode
    finally:
        pids = subprocess.run(["ip", "netns", "pids", ns], capture_output=True, text=True).stdout.split()
        for pid in pids:
            try:
                os.kill(int(pid), signal.SIGKILL)
            except (OSError, ValueError):
                pass
        subprocess.run(["ip", "netns", "del", ns], capture_output=True)


def main():
    # Unclosed keep-alive sockets of finished sessions are expected; keep the report readable.
    # (A -W option stops unittest from resetting the filters to "default".)
    sys.warnoptions.append("ignore::ResourceWarning")
    warnings.filterwarnings("ignore", category=ResourceWarning)
    unittest.main(verbosity=2)


if __name__ == "__main__":
    sys.exit("harness.py is a library; run one of the test_*.py suites")
