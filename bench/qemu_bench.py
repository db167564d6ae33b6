"""VM benchmarks (part of `make bench`; need qemu-system-x86_64 and the test guest):

1. start latency: POST .../status/start until the qmstart task ended (QMP answers then), against
   spawning the very same command line (`qm showcmd`) by hand until QMP answers, in the same run;
2. hard stop latency: POST .../status/stop until the task ended and QEMU is gone;
3. GET /nodes/{node}/qemu with 1 000 defined VMs (one client, then four) and GET .../config of
   one, p50/p99 (wrk).
Nothing here asserts timings; the numbers go to bench/results/.
"""
import os
import shutil
import socket
import statistics
import subprocess
import tempfile
import time
import urllib.parse

import requests

import guest_image

ROUNDS = 5


def _task(session, api, node, upid, timeout=300):
    path = "%s/nodes/%s/tasks/%s/status" % (api, node, urllib.parse.quote(upid, safe=""))
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        st = session.get(path, verify=False, timeout=30).json()["data"]
        if st["status"] == "stopped":
            return st
        time.sleep(0.005)
    raise RuntimeError("task %s did not end" % upid)


def _qmp_ready(path, deadline):
    """Connects to a QMP socket and completes the capabilities handshake."""
    while time.monotonic() < deadline:
        try:
            s = socket.socket(socket.AF_UNIX)
            s.connect(path)
            f = s.makefile("rwb")
            f.readline()  # greeting
            f.write(b'{"execute":"qmp_capabilities"}\n')
            f.flush()
            f.readline()
            return s
        except OSError:
            s.close()
            time.sleep(0.002)
    raise RuntimeError("QMP at %s did not answer" % path)


def start_stop(daemon, session, node):
    api = daemon.api
    kernel, initrd = guest_image.ensure_test_guest()
    vmid = 900
    r = session.post("%s/nodes/%s/qemu" % (api, node), verify=False,
                     data={"vmid": vmid, "memory": 128, "serial0": "socket", "vga": "serial0"})
    r.raise_for_status()
    _task(session, api, node, r.json()["data"])
    daemon.cli("pvesh", "set", "/nodes/%s/qemu/%d/config" % (node, vmid),
               "--args", guest_image.args_line(kernel, initrd))
    api_start, api_stop, bare = [], [], []
    for _ in range(ROUNDS):
        t0 = time.monotonic()
        r = session.post("%s/nodes/%s/qemu/%d/status/start" % (api, node, vmid), verify=False)
        st = _task(session, api, node, r.json()["data"])
        api_start.append(time.monotonic() - t0)
        if st["exitstatus"] != "OK":
            raise RuntimeError("start failed: %s" % st["exitstatus"])
        t0 = time.monotonic()
        r = session.post("%s/nodes/%s/qemu/%d/status/stop" % (api, node, vmid), verify=False)
        _task(session, api, node, r.json()["data"])
        api_stop.append(time.monotonic() - t0)

    # The same command line by hand: spawn, wait for QMP, kill.
    line = daemon.cli("qm", "showcmd", vmid).stdout.strip()
    argv = subprocess.run(["python3", "-c", "import shlex,sys; print('\\0'.join(shlex.split(sys.argv[1])))", line],
                          capture_output=True, text=True, check=True).stdout.rstrip("\n").split("\0")
    qmp = argv[argv.index("-chardev") + 1].split("path=")[1].split(",")[0]
    work = tempfile.mkdtemp(prefix="pvx-bench-qemu-")
    try:
        for _ in range(ROUNDS):
            t0 = time.monotonic()
            p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                 start_new_session=True)
            s = _qmp_ready(qmp, time.monotonic() + 60)
            bare.append(time.monotonic() - t0)
            s.close()
            p.kill()
            p.wait()
            if os.path.exists(qmp):
                os.unlink(qmp)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    session.delete("%s/nodes/%s/qemu/%d" % (api, node, vmid), verify=False)
    ms = lambda xs: round(statistics.median(xs) * 1000, 1)  # noqa: E731
    res = {"api_start_to_qmp_ms_p50": ms(api_start), "bare_spawn_to_qmp_ms_p50": ms(bare),
           "hard_stop_ms_p50": ms(api_stop), "rounds": ROUNDS}
    res["start_ratio_vs_bare"] = round(res["api_start_to_qmp_ms_p50"] / res["bare_spawn_to_qmp_ms_p50"], 2)
    return res


def many_vms(daemon, session, node, run_wrk, lua, count=1000):
    """Defines `count` VMs (no disks, so no storage work) and measures the listing and a config read."""
    api = daemon.api
    t0 = time.monotonic()
    upids = []
    for i in range(count):
        r = session.post("%s/nodes/%s/qemu" % (api, node), verify=False,
                         data={"vmid": 10000 + i, "name": "bench-%d" % i, "memory": 512,
                               "net0": "virtio,bridge=vmbr0", "scsi0": "none,media=cdrom"})
        r.raise_for_status()
        upids.append(r.json()["data"])
    for upid in upids:
        _task(session, api, node, upid)
    created = time.monotonic() - t0
    # One client shows the latency a user sees; four show how it holds up under load.
    listing_one = run_wrk("%s/nodes/%s/qemu" % (api, node), lua, seconds=5, conns=1)
    listing = run_wrk("%s/nodes/%s/qemu" % (api, node), lua, seconds=5, conns=4)
    n = len(session.get("%s/nodes/%s/qemu" % (api, node), verify=False).json()["data"])
    config = run_wrk("%s/nodes/%s/qemu/10500/config" % (api, node), lua, seconds=5, conns=4)
    return {"vms": n, "create_seconds": round(created, 1), "list_one_client": listing_one, "list": listing,
            "config_read": config}


def available():
    return shutil.which("qemu-system-x86_64") is not None and requests is not None
