#!/usr/bin/python3
"""pvx benchmarks (called by bench/run.sh BUILD_DIR).

1. GET /api2/json/version with an API token, wrk -t2 -c64 -d10s --latency, against pvxd;
2. the same wrk against nginx serving a 1 KiB JSON file over TLS with keep-alive (the yardstick);
3. pvxd's idle RSS (VmRSS) right after start;
4. pve-realm logins per second (wrk POSTing /access/ticket for 10 s);
5. storage (storage_bench.py): a 1 GiB upload vs dd, and listing 10 000 volumes.
6. network (network_bench.py, root): 100 bridges staged, applied and listed in a namespace.
7. VMs (qemu_bench.py): start to QMP ready vs bare QEMU, hard stop, 1 000 VMs listed, config read.
8. containers (lxc_bench.py, root): start vs lxc-start + lxc-wait, stop vs lxc-stop -k, 1 000 listed.
9. ACL evaluation (bin/acl_bench): privilege checks over 10 000 ACL entries, 1 000 users, 100 groups.

Writes bench/results/latest.json and bench/results/README.md. Nothing here asserts timings.
"""
import json
import os
import platform
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

import requests

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(REPO, "tests", "integration"))

import harness  # noqa: E402  (the same daemon start/stop and CLI bootstrap as the tests)
import network_bench  # noqa: E402
import qemu_bench  # noqa: E402
import lxc_bench  # noqa: E402
import storage_bench  # noqa: E402

WRK_THREADS, WRK_CONNS, WRK_SECONDS = 2, 64, 10
BENCH_USER, BENCH_PW = "bench@pve", "bench-Secret-1"
UNITS = {"us": 1e-3, "ms": 1.0, "s": 1000.0, "m": 60000.0}


def to_ms(text):
    m = re.match(r"([\d.]+)(us|ms|s|m)$", text)
    return round(float(m.group(1)) * UNITS[m.group(2)], 3) if m else None


def run_wrk(url, lua, seconds=WRK_SECONDS, conns=WRK_CONNS):
    cmd = ["wrk", "-t%d" % min(WRK_THREADS, conns), "-c%d" % conns, "-d%ds" % seconds, "--latency", "-s", lua, url]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds + 60).stdout
    res = {"cmd": " ".join(cmd)}
    m = re.search(r"Requests/sec:\s+([\d.]+)", out)
    res["rps"] = float(m.group(1)) if m else 0.0
    for pct in ("50", "90", "99"):
        m = re.search(r"^\s+%s%%\s+(\S+)" % pct, out, re.M)
        res["p%s_ms" % pct] = to_ms(m.group(1)) if m else None
    m = re.search(r"(\d+) requests in", out)
    res["requests"] = int(m.group(1)) if m else 0
    m = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    res["non_2xx"] = int(m.group(1)) if m else 0
    m = re.search(r"Socket errors:.*", out)
    res["socket_errors"] = m.group(0) if m else ""
    return res


def write_lua(path, method="GET", headers=None, body=None):
    lines = ['wrk.method = "%s"' % method]
    for k, v in (headers or {}).items():
        lines.append('wrk.headers["%s"] = "%s"' % (k, v.replace("\\", "\\\\").replace('"', '\\"')))
    if body is not None:
        lines.append('wrk.body = "%s"' % body.replace("\\", "\\\\").replace('"', '\\"'))
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")
    return path


def vm_rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return None


def start_nginx(work):
    port = harness.free_port()
    www = os.path.join(work, "www")
    os.makedirs(www)
    payload = {"data": {"version": "9.1.0", "release": "9.1", "repoid": "0" * 8, "pad": ""}}
    text = json.dumps(payload)
    payload["data"]["pad"] = "x" * (1024 - len(text))
    with open(os.path.join(www, "version.json"), "w") as f:
        f.write(json.dumps(payload))
    crt, key = os.path.join(work, "nginx.crt"), os.path.join(work, "nginx.key")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                    "-subj", "/CN=127.0.0.1", "-keyout", key, "-out", crt],
                   check=True, capture_output=True)
    user = "user root;" if os.geteuid() == 0 else ""
    conf = os.path.join(work, "nginx.conf")
    with open(conf, "w") as f:
        f.write("""%s
worker_processes 2;
pid %s/nginx.pid;
error_log %s/nginx-error.log;
events { worker_connections 1024; }
http {
  access_log off;
  keepalive_timeout 65;
  keepalive_requests 1000000;
  client_body_temp_path %s/tmp; proxy_temp_path %s/tmp; fastcgi_temp_path %s/tmp;
  uwsgi_temp_path %s/tmp; scgi_temp_path %s/tmp;
  server {
    listen 127.0.0.1:%d ssl;
    ssl_certificate %s;
    ssl_certificate_key %s;
    location / { root %s; default_type "application/json;charset=UTF-8"; }
  }
}
""" % ((user, work, work) + (work,) * 5 + (port, crt, key, www)))
    os.makedirs(os.path.join(work, "tmp"))
    proc = subprocess.Popen(["nginx", "-p", work, "-c", conf, "-g", "daemon off;"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    url = "https://127.0.0.1:%d/version.json" % port
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError("nginx exited: %s" % proc.stderr.read().decode(errors="replace"))
        if subprocess.run(["curl", "-ksf", "-o", "/dev/null", url]).returncode == 0:
            return proc, url
        time.sleep(0.1)
    proc.kill()
    raise RuntimeError("nginx did not come up")


def main():
    if len(sys.argv) > 1:
        harness.BIN_DIR = os.path.join(os.path.abspath(sys.argv[1]), "bin")
    for tool in ("wrk", "nginx", "openssl", "curl"):
        if not shutil.which(tool):
            sys.exit("bench: %s not found (make bench installs wrk and nginx-light)" % tool)
    work = tempfile.mkdtemp(prefix="pvx-bench-")
    daemon = harness.Daemon(node="benchnode")
    nginx = None
    results = {"date": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "host": platform.node(),
               "cpus": os.cpu_count(), "wrk": "-t%d -c%d -d%ds" % (WRK_THREADS, WRK_CONNS, WRK_SECONDS)}
    try:
        daemon.start()
        time.sleep(2)  # idle: let start-up work settle
        results["pvxd_idle_rss_kib"] = vm_rss_kib(daemon.proc.pid)
        harness.add_user(daemon, BENCH_USER, BENCH_PW)
        harness.grant(daemon, "/", BENCH_USER, "Administrator")
        full, secret = harness.add_token(daemon, BENCH_USER, "wrk", privsep=0)

        lua = write_lua(os.path.join(work, "token.lua"),
                        headers={"Authorization": "PVEAPIToken=%s=%s" % (full, secret)})
        results["pvxd_version"] = run_wrk(daemon.api + "/version", lua)

        nginx, nginx_url = start_nginx(work)
        results["nginx_1k_json"] = run_wrk(nginx_url, write_lua(os.path.join(work, "plain.lua")))

        body = "username=%s&password=%s" % (BENCH_USER.replace("@", "%40"), BENCH_PW)
        lua = write_lua(os.path.join(work, "login.lua"), method="POST", body=body,
                        headers={"Content-Type": "application/x-www-form-urlencoded"})
        results["pvxd_login"] = run_wrk(daemon.api + "/access/ticket", lua, conns=8)
        results["pvxd_rss_after_load_kib"] = vm_rss_kib(daemon.proc.pid)
        auth = "PVEAPIToken=%s=%s" % (full, secret)
        results["storage_upload_1gib"] = storage_bench.upload_vs_dd(daemon, work, auth)
        results["storage_content_10k"] = storage_bench.content_listing(daemon, work, auth)
        if qemu_bench.available():
            vm_session = requests.Session()
            vm_session.headers["Authorization"] = auth
            results["qemu_start_stop"] = qemu_bench.start_stop(daemon, vm_session, daemon.node)
            results["qemu_1000_vms"] = qemu_bench.many_vms(
                daemon, vm_session, daemon.node, run_wrk,
                write_lua(os.path.join(work, "vm-token.lua"), headers={"Authorization": auth}))
            results["pvxd_rss_with_1000_vms_kib"] = vm_rss_kib(daemon.proc.pid)
        if lxc_bench.available():
            ct_session = requests.Session()
            ct_session.headers["Authorization"] = auth
            results["lxc_start_stop"] = lxc_bench.start_stop(daemon, ct_session, daemon.node)
            results["lxc_1000_cts"] = lxc_bench.many_cts(
                daemon, ct_session, daemon.node, run_wrk,
                write_lua(os.path.join(work, "ct-token.lua"), headers={"Authorization": auth}))
            results["pvxd_rss_with_1000_cts_kib"] = vm_rss_kib(daemon.proc.pid)
        if os.geteuid() == 0:
            results["network_100_bridges"] = network_bench.bridges_apply_and_list()

        acl = subprocess.run([os.path.join(harness.BIN_DIR, "acl_bench")], capture_output=True, text=True,
                             check=True, timeout=300)
        results["acl_eval"] = json.loads(acl.stdout)

        n = results["nginx_1k_json"]["rps"]
        results["pvxd_vs_nginx_rps_ratio"] = round(results["pvxd_version"]["rps"] / n, 4) if n else None
        rc = daemon.stop()
        results["pvxd_sigterm_exit"] = rc
    finally:
        if nginx is not None and nginx.poll() is None:
            nginx.send_signal(signal.SIGQUIT)
            try:
                nginx.wait(timeout=10)
            except subprocess.TimeoutExpired:
                nginx.kill()
        daemon.cleanup()
        shutil.rmtree(work, ignore_errors=True)

    out_dir = os.path.join(HERE, "results")
    os.makedirs(out_dir, exist_ok=True)
    with open(os.path.join(out_dir, "latest.json"), "w") as f:
        json.dump(results, f, indent=2, sort_keys=True)
        f.write("\n")
    v, ng, lg = results["pvxd_version"], results["nginx_1k_json"], results["pvxd_login"]
    up, ls = results["storage_upload_1gib"], results["storage_content_10k"]
    lines = [
        "# Latest benchmark (%s, %s, %d CPUs, wrk %s)" % (results["date"], results["host"], results["cpus"],
                                                          results["wrk"]),
        "",
        "Written by `make bench` (bench/run.sh); raw numbers in latest.json.",
        "",
        "| metric | value | p50 | p99 | vs nginx |",
        "|---|---|---|---|---|",
        "| pvxd GET /api2/json/version (API token) | %.0f req/s | %s ms | %s ms | %s |"
        % (v["rps"], v["p50_ms"], v["p99_ms"], results["pvxd_vs_nginx_rps_ratio"]),
        "| nginx 1 KiB JSON over TLS (keep-alive) | %.0f req/s | %s ms | %s ms | 1 |"
        % (ng["rps"], ng["p50_ms"], ng["p99_ms"]),
        "| pvxd logins (pve realm, POST /access/ticket, 8 conns) | %.0f logins/s | %s ms | %s ms | - |"
        % (lg["rps"], lg["p50_ms"], lg["p99_ms"]),
        "| pvxd idle RSS after start | %s KiB | | | |" % results["pvxd_idle_rss_kib"],
        "| pvxd RSS after the runs | %s KiB | | | |" % results["pvxd_rss_after_load_kib"],
        "",
        "Non-2xx responses: version %d, nginx %d, login %d. pvxd exit code on SIGTERM: %s."
        % (v["non_2xx"], ng["non_2xx"], lg["non_2xx"], results["pvxd_sigterm_exit"]),
        "",
        "## Storage",
        "",
        "| metric | value | goal |",
        "|---|---|---|",
        "| upload 1 GiB through the API (curl, HTTPS, until the task is done) | %.1f MiB/s | |"
        % up["pvxd_upload_mib_s"],
        "| dd of the same file to the same disk (conv=fsync) | %.1f MiB/s | |" % up["dd_fsync_mib_s"],
        "| upload throughput vs dd | %.2f | >= 0.70 |" % up["ratio_vs_dd"],
        "| pvxd RSS growth during the upload | %.1f MiB | < 32 MiB |" % up["rss_growth_mib"],
        "| content listing, %d volumes, p50 | %.1f ms | < 50 ms |" % (ls["volumes"], ls["p50_ms"]),
        "| content listing, %d volumes, p99 | %.1f ms | |" % (ls["volumes"], ls["p99_ms"]),
        "",
        "Upload task status: %s (file stored intact: %s)." % (up["task_status"], up["stored_ok"]),
        "",
    ]
    nw = results.get("network_100_bridges")
    if nw:
        lines += [
            "## Network",
            "",
            "| metric | value |",
            "|---|---|",
            "| stage %d bridges (one pvesh create each, CLI start included) | %.2f s |" % (nw["bridges"], nw["stage_total_s"]),
            "| apply them (one srvreload task, netlink) | %.3f s |" % nw["apply_s"],
            "| list %d interfaces (pvesh get, CLI start included), p50 / p99 | %.1f / %.1f ms |"
            % (nw["bridges_in_kernel"], nw["list_p50_ms"], nw["list_p99_ms"]),
            "| pvxd RSS with them / dnsmasq RSS | %s KiB / %s KiB |" % (nw["pvxd_rss_kib"], nw["dnsmasq_rss_kib"]),
            "",
        ]
    qs, qm = results.get("qemu_start_stop"), results.get("qemu_1000_vms")
    if qs and qm:
        lines += [
            "## VMs",
            "",
            "| metric | value | goal |",
            "|---|---|---|",
            "| API start to QMP ready (qmstart task ended), p50 of %d | %.1f ms | |" % (qs["rounds"], qs["api_start_to_qmp_ms_p50"]),
            "| the same command line spawned by hand to QMP ready, p50 | %.1f ms | |" % qs["bare_spawn_to_qmp_ms_p50"],
            "| API start vs bare spawn | %.2f | <= 2 |" % qs["start_ratio_vs_bare"],
            "| hard stop (qmstop task ended, QEMU gone), p50 | %.1f ms | |" % qs["hard_stop_ms_p50"],
            "| GET /nodes/{node}/qemu with %d VMs, one client, p50 / p99 | %s / %s ms | p50 < 10 ms |"
            % (qm["vms"], qm["list_one_client"]["p50_ms"], qm["list_one_client"]["p99_ms"]),
            "| the same, 4 concurrent clients on the 2 cores, p50 / p99 | %s / %s ms | |"
            % (qm["list"]["p50_ms"], qm["list"]["p99_ms"]),
            "| GET .../config, p50 / p99 | %s / %s ms | p50 < 2 ms |"
            % (qm["config_read"]["p50_ms"], qm["config_read"]["p99_ms"]),
            "| defining the %d VMs (POST /nodes/{node}/qemu, tasks awaited) | %.1f s | |" % (qm["vms"], qm["create_seconds"]),
            "| pvxd RSS with them | %s KiB | |" % results.get("pvxd_rss_with_1000_vms_kib"),
            "",
        ]
    cs, cm = results.get("lxc_start_stop"), results.get("lxc_1000_cts")
    if cs and cm:
        lines += [
            "## Containers",
            "",
            "| metric | value | goal |",
            "|---|---|---|",
            "| API start (vzstart task ended, RUNNING), p50 of %d | %.1f ms | <= %.1f ms (1.5 x bare + 10 ms) |"
            % (cs["rounds"], cs["api_start_ms_p50"], cs["start_goal_ms"]),
            "| the same config by hand: lxc-start -d + lxc-wait RUNNING, p50 | %.1f ms | |" % cs["bare_start_ms_p50"],
            "| force stop through the API (vzstop task ended), p50 | %.1f ms | |" % cs["api_stop_ms_p50"],
            "| lxc-stop -k, p50 | %.1f ms | |" % cs["bare_stop_ms_p50"],
            "| GET /nodes/{node}/lxc with %d containers, one client, p50 / p99 | %s / %s ms | p50 < 10 ms |"
            % (cm["cts"], cm["list_one_client"]["p50_ms"], cm["list_one_client"]["p99_ms"]),
            "| the same, 4 concurrent clients on the 2 cores, p50 / p99 | %s / %s ms | |"
            % (cm["list"]["p50_ms"], cm["list"]["p99_ms"]),
            "| defining the %d containers (POST /nodes/{node}/lxc, tasks awaited) | %.1f s | |"
            % (cm["cts"], cm["create_seconds"]),
            "| pvxd RSS with them | %s KiB | |" % results.get("pvxd_rss_with_1000_cts_kib"),
            "",
        ]
    acl = results.get("acl_eval")
    if acl:
        lines += [
            "## Access control",
            "",
            "| metric | value | goal |",
            "|---|---|---|",
            "| privilege check, %d ACL entries, %d users, %d groups (users, groups and privsep tokens) | %.2f us | < 5 us |"
            % (acl["entries"], acl["users"], acl["groups"], acl["ns_per_check"] / 1000.0),
            "",
        ]
    with open(os.path.join(out_dir, "README.md"), "w") as f:
        f.write("\n".join(lines))
    print("\n".join(lines))
    return 0 if results["pvxd_sigterm_exit"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
