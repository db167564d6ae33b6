"""Container benchmarks (part of `make bench`; need lxc and root):

1. start latency: POST .../status/start until the vzstart task ended (the container RUNNING),
   against `lxc-start -d` + `lxc-wait -s RUNNING` of the very same LXC config pvxd rendered, in
   the same run;
2. hard stop: POST .../status/stop until the task ended, against `lxc-stop -k`;
3. GET /nodes/{node}/lxc with 1 000 defined containers (one client, then four), p50/p99 (wrk).
Nothing here asserts timings; the numbers go to bench/results/.
"""
import os
import shutil
import statistics
import subprocess
import tarfile
import tempfile
import time

from qemu_bench import _task

ROUNDS = 5


def available():
    return os.geteuid() == 0 and shutil.which("lxc-start") is not None


def _ms(xs):
    return round(statistics.median(xs) * 1000, 1)


def start_stop(daemon, session, node):
    api = daemon.api
    out = daemon.cli("pveam", "build", "local").stdout.strip().splitlines()
    template = [line for line in out if line.startswith("local:vztmpl/")][-1]
    vmid = 950
    r = session.post("%s/nodes/%s/lxc" % (api, node), verify=False,
                     data={"vmid": vmid, "ostemplate": template, "rootfs": "local:0", "memory": 128})
    r.raise_for_status()
    st = _task(session, api, node, r.json()["data"])
    if st["exitstatus"] != "OK":
        raise RuntimeError("create failed: %s" % st["exitstatus"])
    api_start, api_stop, bare_start, bare_stop = [], [], [], []
    for _ in range(ROUNDS):
        t0 = time.monotonic()
        r = session.post("%s/nodes/%s/lxc/%d/status/start" % (api, node, vmid), verify=False)
        st = _task(session, api, node, r.json()["data"])
        api_start.append(time.monotonic() - t0)
        if st["exitstatus"] != "OK":
            raise RuntimeError("start failed: %s" % st["exitstatus"])
        t0 = time.monotonic()
        r = session.post("%s/nodes/%s/lxc/%d/status/stop" % (api, node, vmid), verify=False)
        _task(session, api, node, r.json()["data"])
        api_stop.append(time.monotonic() - t0)
    # The same container by hand, from the config pvxd rendered at its last start.
    lxcpath = os.path.join(daemon.data_dir, "run", "lxc")
    name = str(vmid)
    for _ in range(ROUNDS):
        t0 = time.monotonic()
        subprocess.run(["lxc-start", "-P", lxcpath, "-n", name, "-d"], check=True)
        subprocess.run(["lxc-wait", "-P", lxcpath, "-n", name, "-s", "RUNNING", "-t", "30"], check=True)
        bare_start.append(time.monotonic() - t0)
        t0 = time.monotonic()
        subprocess.run(["lxc-stop", "-P", lxcpath, "-n", name, "-k"], check=True)
        bare_stop.append(time.monotonic() - t0)
    session.delete("%s/nodes/%s/lxc/%d" % (api, node, vmid), verify=False)
    res = {"api_start_ms_p50": _ms(api_start), "bare_start_ms_p50": _ms(bare_start),
           "api_stop_ms_p50": _ms(api_stop), "bare_stop_ms_p50": _ms(bare_stop), "rounds": ROUNDS}
    res["start_goal_ms"] = round(res["bare_start_ms_p50"] * 1.5 + 10, 1)
    res["start_ratio_vs_bare"] = round(res["api_start_ms_p50"] / res["bare_start_ms_p50"], 2)
    return res


def many_cts(daemon, session, node, run_wrk, lua, count=1000):
    """Defines `count` containers from a two-file template (the listing only reads configs) and
    measures GET /nodes/{node}/lxc."""
    api = daemon.api
    work = tempfile.mkdtemp(prefix="pvx-bench-lxc-")
    try:
        src = os.path.join(work, "root", "etc")
        os.makedirs(src)
        with open(os.path.join(src, "os-release"), "w") as f:
            f.write("ID=bench\n")
        cache = os.path.join(daemon.data_dir, "storage", "local", "template", "cache")
        os.makedirs(cache, exist_ok=True)
        with tarfile.open(os.path.join(cache, "bench-1_1_amd64.tar.gz"), "w:gz") as t:
            t.add(os.path.join(work, "root"), arcname=".")
        t0 = time.monotonic()
        upids = []
        for i in range(count):
            r = session.post("%s/nodes/%s/lxc" % (api, node), verify=False,
                             data={"vmid": 20000 + i, "hostname": "bench-%d" % i, "ostype": "unmanaged",
                                   "ostemplate": "local:vztmpl/bench-1_1_amd64.tar.gz", "rootfs": "local:0",
                                   "net0": "name=eth0,bridge=vmbr0,ip=dhcp"})
            r.raise_for_status()
            upids.append(r.json()["data"])
            if len(upids) >= 16:
                _task(session, api, node, upids.pop(0))
        for upid in upids:
            _task(session, api, node, upid)
        created = time.monotonic() - t0
        listing_one = run_wrk("%s/nodes/%s/lxc" % (api, node), lua, seconds=5, conns=1)
        listing = run_wrk("%s/nodes/%s/lxc" % (api, node), lua, seconds=5, conns=4)
        n = len(session.get("%s/nodes/%s/lxc" % (api, node), verify=False).json()["data"])
        return {"cts": n, "create_seconds": round(created, 1), "list_one_client": listing_one, "list": listing}
    finally:
        shutil.rmtree(work, ignore_errors=True)
