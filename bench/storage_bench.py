"""Storage benchmarks (part of `make bench`):

1. upload of a 1 GiB file through POST .../upload (curl, HTTPS, API token) vs dd writing the same
   file to the same disk in the same run (both end with fsync: dd conv=fsync; pvxd fsyncs before
   it answers), with pvxd's RSS sampled during the upload;
2. GET .../content of a dir storage holding 10 000 volumes (raw and qcow2 images), p50/p99 over
   repeated requests with curl on one keep-alive connection.
Nothing here asserts timings; the numbers go to bench/results/.
"""
import os
import shutil
import statistics
import subprocess
import threading
import time

import requests


def _rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


class RssSampler(threading.Thread):
    def __init__(self, pid, every=0.02):
        super().__init__(daemon=True)
        self.pid, self.every, self.peak, self.stop_flag = pid, every, 0, False

    def run(self):
        while not self.stop_flag:
            self.peak = max(self.peak, _rss_kib(self.pid))
            time.sleep(self.every)


def _wait_task(session, api, node, upid, timeout=600):
    path = "%s/nodes/%s/tasks/%s/status" % (api, node, requests.utils.quote(upid, safe=""))
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        st = session.get(path, verify=False).json()["data"]
        if st["status"] == "stopped":
            return st["exitstatus"]
        time.sleep(0.05)
    return "timeout"


def upload_vs_dd(daemon, work, auth, size_mib=1024):
    src = os.path.join(work, "upload-src.iso")
    with open(src, "wb") as f:
        block = os.urandom(1 << 20)
        for _ in range(size_mib):
            f.write(block)
    storage_dir = os.path.join(daemon.data_dir, "storage", "local")
    dd_target = os.path.join(storage_dir, "dd-copy.bin")
    t0 = time.monotonic()
    subprocess.run(["dd", "if=" + src, "of=" + dd_target, "bs=1M", "conv=fsync", "status=none"], check=True)
    dd_s = time.monotonic() - t0
    os.remove(dd_target)

    sampler = RssSampler(daemon.proc.pid)
    baseline = _rss_kib(daemon.proc.pid)
    sampler.start()
    url = daemon.api + "/nodes/%s/storage/local/upload" % daemon.node
    t0 = time.monotonic()
    out = subprocess.run(["curl", "-sSk", "--fail-with-body", "-H", "Authorization: " + auth,
                          "-F", "content=iso", "-F", "filename=@" + src, url],
                         capture_output=True, text=True, timeout=1800)
    answered_s = time.monotonic() - t0
    upid = requests.models.complexjson.loads(out.stdout)["data"]
    s = requests.Session()
    s.headers["Authorization"] = auth
    status = _wait_task(s, daemon.api, daemon.node, upid)
    total_s = time.monotonic() - t0
    sampler.stop_flag = True
    sampler.join()
    stored = os.path.join(storage_dir, "template", "iso", "upload-src.iso")
    ok = status == "OK" and os.path.getsize(stored) == size_mib << 20
    os.remove(stored)
    os.remove(src)
    mib = float(size_mib)
    return {
        "size_mib": size_mib,
        "dd_fsync_mib_s": round(mib / dd_s, 1),
        "pvxd_upload_mib_s": round(mib / total_s, 1),
        "pvxd_upload_answer_s": round(answered_s, 2),
        "pvxd_upload_total_s": round(total_s, 2),
        "ratio_vs_dd": round(dd_s / total_s, 3),
        "rss_baseline_kib": baseline,
        "rss_peak_kib": sampler.peak,
        "rss_growth_mib": round((sampler.peak - baseline) / 1024.0, 1),
        "task_status": status,
        "stored_ok": ok,
    }


def content_listing(daemon, work, auth, volumes=10000, rounds=30):
    root = os.path.join(work, "many")
    qcow2 = os.path.join(work, "seed.qcow2")
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", qcow2, "1G"], check=True)
    made = 0
    vmid = 1000
    while made < volumes:
        d = os.path.join(root, "images", str(vmid))
        os.makedirs(d, exist_ok=True)
        for n in range(50):
            if made >= volumes:
                break
            if n % 5 == 0:
                shutil.copyfile(qcow2, os.path.join(d, "vm-%d-disk-%d.qcow2" % (vmid, n)))
            else:
                with open(os.path.join(d, "vm-%d-disk-%d.raw" % (vmid, n)), "wb") as f:
                    f.truncate(1 << 30)
            made += 1
        vmid += 1
    s = requests.Session()
    s.headers["Authorization"] = auth
    r = s.post(daemon.api + "/storage", data={"storage": "many", "type": "dir", "path": root, "content": "images"},
               verify=False)
    r.raise_for_status()
    url = daemon.api + "/nodes/%s/storage/many/content" % daemon.node
    # curl, a C client, so that the numbers are the server's and not Python's JSON and gzip
    # handling; one curl for all rounds, so they share one keep-alive TLS connection as an API
    # client's session does.
    base = ["curl", "-sk", "--compressed", "-H", "Authorization: " + auth]
    out_file = os.path.join(work, "listing.json")
    subprocess.run(base + ["-o", out_file, url], check=True, capture_output=True)  # warms the caches
    with open(out_file) as f:
        body = f.read()
    count = body.count('"volid"')
    argv = base + ["-w", "%{time_total}\\n"]
    for _ in range(rounds):
        argv += ["-o", "/dev/null", url]
    out = subprocess.run(argv, check=True, capture_output=True, text=True).stdout
    times = [float(t) * 1000 for t in out.split()]
    times.sort()
    return {
        "volumes": count,
        "rounds": rounds,
        "p50_ms": round(statistics.median(times), 1),
        "p99_ms": round(times[min(len(times) - 1, int(len(times) * 0.99))], 1),
        "response_bytes": len(body),
        "client": "curl --compressed, one keep-alive TLS connection",
    }
