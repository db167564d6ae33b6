"""Node network benchmark (part of `make bench`): a pvxd in a network namespace of its own
(default NAT bridge on) stages 100 bridges with addresses, applies them in one `srvreload` task,
and lists the node's interfaces repeatedly. Requests go through the local socket with pvesh, so
the list times include starting the CLI. Nothing here asserts timings.
"""
import os
import statistics
import subprocess
import time

import harness
from storage_bench import _rss_kib

BRIDGES = 100
LIST_RUNS = 30


def _pvesh(daemon, *args):
    res = daemon.cli("pvesh", *args, "--output-format", "json")
    return res.stdout.strip().strip('"')


def bridges_apply_and_list():
    ns = "pvx-bench-net-%d" % os.getpid()
    subprocess.run(["ip", "netns", "add", ns], check=True)
    daemon = harness.Daemon(node="benchnet", extra_args=(), prefix=("ip", "netns", "exec", ns), http_ready=False)
    try:
        subprocess.run(["ip", "netns", "exec", ns, "ip", "link", "set", "lo", "up"], check=True)
        daemon.start()
        path = "/nodes/%s/network" % daemon.node
        t0 = time.monotonic()
        for i in range(BRIDGES):
            _pvesh(daemon, "create", path, "--iface", "vmbr%d" % (1000 + i), "--type", "bridge",
                   "--cidr", "10.%d.%d.1/24" % (200 + i // 250, i % 250))
        stage_s = time.monotonic() - t0

        t0 = time.monotonic()
        upid = _pvesh(daemon, "set", path)
        status = "/nodes/%s/tasks/%s/status" % (daemon.node, upid)
        while '"stopped"' not in daemon.cli("pvesh", "get", status, "--output-format", "json").stdout:
            time.sleep(0.01)
        apply_s = time.monotonic() - t0
        made = subprocess.run(["ip", "-n", ns, "-br", "link", "show", "type", "bridge"], capture_output=True,
                              text=True, check=True).stdout.count("vmbr")

        samples = []
        for _ in range(LIST_RUNS):
            t0 = time.monotonic()
            daemon.cli("pvesh", "get", path, "--output-format", "json")
            samples.append((time.monotonic() - t0) * 1000)
        samples.sort()
        dnsmasq = [int(p) for p in subprocess.run(["ip", "netns", "pids", ns], capture_output=True, text=True).stdout.split()
                   if open("/proc/%s/comm" % p).read().strip() == "dnsmasq"]
        result = {
            "bridges": BRIDGES,
            "bridges_in_kernel": made,
            "stage_total_s": round(stage_s, 3),
            "apply_s": round(apply_s, 3),
            "list_p50_ms": round(statistics.median(samples), 1),
            "list_p99_ms": round(samples[min(len(samples) - 1, int(len(samples) * 0.99))], 1),
            "pvxd_rss_kib": _rss_kib(daemon.proc.pid),
            "dnsmasq_rss_kib": _rss_kib(dnsmasq[0]) if dnsmasq else None,
        }
        daemon.stop()
        return result
    finally:
        daemon.cleanup()
        for pid in subprocess.run(["ip", "netns", "pids", ns], capture_output=True, text=True).stdout.split():
            subprocess.run(["kill", "-9", pid])
        subprocess.run(["ip", "netns", "del", ns])


if __name__ == "__main__":
    print(bridges_apply_and_list())
