#!/usr/bin/python3
"""VM consoles as PVE's front-ends use them, against a real pvxd and a real QEMU guest (TCG):
termproxy + vncwebsocket spoken as xterm.js does (the "<user>:<ticket>" line, "OK", then
"0:<len>:<data>" input) to the guest's serial shell, and vncproxy + vncwebsocket carrying RFB as
noVNC does, up to a framebuffer update from QEMU's VNC server. The WebSocket client is
python3-websocket with the login cookie, as a browser sends it. Refusals: a wrong or foreign
vncticket, and a user without VM.Console."""
import os
import re
import shutil
import ssl
import struct
import time
import unittest
import urllib.parse

import harness
from harness import NODE, NOPRIV, NOPRIV_PW
import guest_image

try:
    import websocket  # python3-websocket
except ImportError:  # pragma: no cover
    websocket = None

QEMU = shutil.which("qemu-system-x86_64")
BOOT_TIMEOUT = 180  # TCG on a shared host


def qemu_path(vmid, tail=""):
    return "/nodes/%s/qemu/%d%s" % (NODE, vmid, tail)


class Stream:
    """Bytes out of WebSocket messages, whose boundaries mean nothing to RFB or a terminal."""

    def __init__(self, ws):
        self.ws = ws
        self.buf = b""

    def fill(self, deadline):
        self.ws.settimeout(max(0.1, deadline - time.monotonic()))
        data = self.ws.recv()
        if isinstance(data, str):
            data = data.encode()
        if not data:
            raise AssertionError("websocket closed")
        self.buf += data

    def read_exact(self, n, timeout=30):
        deadline = time.monotonic() + timeout
        while len(self.buf) < n:
            self.fill(deadline)
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def read_until(self, pattern, timeout):
        """Reads until `pattern` (a regex on bytes) matches what arrived; returns all of it."""
        deadline = time.monotonic() + timeout
        while not re.search(pattern, self.buf):
            if time.monotonic() > deadline:
                raise AssertionError("no %r in terminal output: %r" % (pattern, self.buf[-2000:]))
            try:
                self.fill(deadline)
            except websocket.WebSocketTimeoutException:
                pass
        out, self.buf = self.buf, b""
        return out


@unittest.skipUnless(QEMU, "qemu-system-x86_64 is not installed")
@unittest.skipUnless(websocket, "python3-websocket is not installed")
class QemuConsole(harness.DaemonCase):

    @classmethod
    def setUpClass(cls):
        cls.kernel, cls.initrd = guest_image.ensure_test_guest()
        super().setUpClass()
        harness.add_user(cls.daemon, "vmuser@pve", "itest-Secret-3")
        cls.vmid = None

    @classmethod
    def tearDownClass(cls):
        if cls.vmid:
            s = cls.daemon.login(harness.TESTER, harness.TESTER_PW)
            r = s.post(qemu_path(cls.vmid, "/status/stop"))
            if r.status_code == 200:
                s.wait_task(r.json()["data"], 60)
        super().tearDownClass()

    def create_vm(self, s):
        vmid = int(s.data("GET", "/cluster/nextid"))
        upid = s.data("POST", "/nodes/%s/qemu" % NODE,
                      data={"vmid": vmid, "name": "console-vm", "memory": 192, "cores": 1,
                            "serial0": "socket", "vga": "std", "ostype": "l26"})
        self.assertEqual(s.wait_task(upid, 120)["exitstatus"], "OK")
        # `args` is for root@pam only (as in PVE): set over the local socket.
        self.d.cli("pvesh", "set", qemu_path(vmid, "/config"),
                   "--args", guest_image.args_line(self.kernel, self.initrd))
        type(self).vmid = vmid
        return vmid

    def open_console(self, s, vmid, port, ticket, cookie_ticket=None):
        url = "wss://127.0.0.1:%d/api2/json%s?port=%d&vncticket=%s" % (
            self.d.port, qemu_path(vmid, "/vncwebsocket"), port, urllib.parse.quote(ticket, safe=""))
        cookie = "PVEAuthCookie=" + urllib.parse.quote(cookie_ticket or s.ticket, safe="")
        return websocket.create_connection(url, sslopt={"cert_reqs": ssl.CERT_NONE}, cookie=cookie,
                                           subprotocols=["binary"], timeout=30)

    def assert_refused(self, status, *args, **kw):
        with self.assertRaises(websocket.WebSocketBadStatusException) as cm:
            self.open_console(*args, **kw).close()
        self.assertEqual(cm.exception.status_code, status)

    def test_1_terminal_and_vnc(self):
        s = self.admin()
        vmid = self.create_vm(s)
        self.assertEqual(s.wait_task(s.data("POST", qemu_path(vmid, "/status/start")), 120)["exitstatus"], "OK")

        # Serial terminal, opened while the guest boots so that its markers come through.
        term = s.data("POST", qemu_path(vmid, "/termproxy"))
        self.assertEqual(sorted(term), ["port", "ticket", "upid", "user"])
        self.assertEqual(term["user"], harness.TESTER)
        self.assertTrue(5900 <= term["port"] <= 5999)
        self.assertRegex(term["ticket"], r"^PVEVNC:[0-9A-F]{8}::\S+$")
        self.assertIn(":vncproxy:%d:%s:" % (vmid, harness.TESTER), term["upid"])
        ws = self.open_console(s, vmid, term["port"], term["ticket"])
        self.assertEqual(ws.subprotocol, "binary")
        ws.send("%s:%s\n" % (term["user"], term["ticket"]))  # a text frame, as xterm.js sends it
        out = Stream(ws)
        self.assertEqual(out.read_exact(2), b"OK")
        ws.send("1:100:30:")  # resize and ping are accepted (and mean nothing to a serial port)
        ws.send("2")
        out.read_until(rb"PVX-GUEST: ready", BOOT_TIMEOUT)
        # The shell prompt comes after the marker; then a command typed in pieces, as keystrokes.
        command = "echo pvx-$((6*7))\r"
        ws.send("0:%d:%s" % (len(command[:5]), command[:5]))
        ws.send_binary(("0:%d:%s" % (len(command[5:]), command[5:])).encode())
        out.read_until(rb"pvx-42", 60)
        ws.close()
        # The proxy task lives as long as the connection and then ends cleanly.
        self.assertEqual(s.wait_task(term["upid"], 30)["exitstatus"], "OK")

        # VNC: the answer noVNC gets, then RFB 3.8 through the websocket.
        vnc = s.data("POST", qemu_path(vmid, "/vncproxy"), data={"websocket": 1, "generate-password": 1})
        self.assertEqual(sorted(vnc), ["cert", "password", "port", "ticket", "upid", "user"])
        self.assertRegex(vnc["password"], r"^[!-`]{8}$")
        self.assertTrue(vnc["ticket"].startswith(vnc["password"] + ":PVEVNC:"))
        self.assertIn("BEGIN CERTIFICATE", vnc["cert"])
        ws = self.open_console(s, vmid, vnc["port"], vnc["ticket"])
        rfb = Stream(ws)
        self.assertEqual(rfb.read_exact(12), b"RFB 003.008\n")
        ws.send_binary(b"RFB 003.008\n")
        count = rfb.read_exact(1)[0]
        types = rfb.read_exact(count)
        self.assertIn(1, types, "security type None: pvx authenticated the client at the websocket")
        ws.send_binary(b"\x01")
        self.assertEqual(struct.unpack(">I", rfb.read_exact(4))[0], 0, "SecurityResult OK")
        ws.send_binary(b"\x01")  # ClientInit, shared
        width, height = struct.unpack(">HH", rfb.read_exact(4))
        rfb.read_exact(16)  # pixel format
        name = rfb.read_exact(struct.unpack(">I", rfb.read_exact(4))[0])
        self.assertGreater(width, 0)
        self.assertGreater(height, 0)
        self.assertIn(b"console-vm", name)
        ws.send_binary(struct.pack(">BBHHHH", 3, 0, 0, 0, width, height))  # FramebufferUpdateRequest
        self.assertEqual(rfb.read_exact(1)[0], 0, "FramebufferUpdate")
        rfb.read_exact(1)
        self.assertGreaterEqual(struct.unpack(">H", rfb.read_exact(2))[0], 1, "at least one rectangle")
        ws.close()
        self.assertEqual(s.wait_task(vnc["upid"], 30)["exitstatus"], "OK")

    def test_2_refusals(self):
        s = self.admin()
        vmid = self.vmid
        if not vmid:
            self.skipTest("needs the VM of test_1")
        st = s.data("GET", qemu_path(vmid, "/status/current"))
        self.assertEqual(st["status"], "running")
        term = s.data("POST", qemu_path(vmid, "/termproxy"))
        other = s.data("POST", qemu_path(vmid, "/termproxy"))
        self.assertNotEqual(term["port"], other["port"])
        # A ticket made for another port, a forged one, and one that is not a ticket at all.
        self.assert_refused(401, s, vmid, term["port"], other["ticket"])
        self.assert_refused(401, s, vmid, term["port"], term["ticket"][:-4] + "AAA=")
        self.assert_refused(401, s, vmid, term["port"], "PVEVNC:00000000::x")
        # A valid ticket of someone else does not open it for this user.
        self.assert_refused(403, s, vmid, term["port"], term["ticket"],
                            cookie_ticket=self.d.login(NOPRIV, NOPRIV_PW).ticket)
        # The right ticket with a wrong first line: the terminal closes without "OK".
        ws = self.open_console(s, vmid, term["port"], term["ticket"])
        ws.send("%s:%s\n" % (harness.TESTER, other["ticket"]))
        ws.settimeout(30)
        try:
            data = ws.recv()
        except websocket.WebSocketConnectionClosedException:
            data = b""
        self.assertFalse(data.startswith(b"OK") if isinstance(data, bytes) else data.startswith("OK"))
        ws.close()
        # One connection per session: the port is spent.
        self.assert_refused(400, s, vmid, term["port"], term["ticket"])
        # Nobody connects to `other`: its task ends as PVE's termproxy does.
        self.assertEqual(s.wait_task(other["upid"], 30)["exitstatus"], "failed waiting for client: timed out")

        # Without VM.Console on /vms/<vmid>: 403 for the proxy calls.
        nopriv = self.d.login(NOPRIV, NOPRIV_PW)
        for call in ("/termproxy", "/vncproxy"):
            r = nopriv.post(qemu_path(vmid, call))
            self.assertEqual(r.status_code, 403, call)
            self.assertIn("VM.Console", r.reason)
        # PVEVMUser on this VM alone includes VM.Console: the console opens.
        harness.grant(self.d, "/vms/%d" % vmid, "vmuser@pve", "PVEVMUser")
        vmuser = self.d.login("vmuser@pve", "itest-Secret-3")
        own = vmuser.data("POST", qemu_path(vmid, "/termproxy"))
        ws = self.open_console(vmuser, vmid, own["port"], own["ticket"])
        ws.send("vmuser@pve:%s\n" % own["ticket"])
        self.assertEqual(Stream(ws).read_exact(2), b"OK")
        ws.close()

        # SPICE: a clear answer instead of a remote-viewer file.
        r = s.post(qemu_path(vmid, "/spiceproxy"))
        self.assertEqual(r.status_code, 500)
        self.assertIn("no spice port", r.json()["message"])


if __name__ == "__main__":
    harness.main()
