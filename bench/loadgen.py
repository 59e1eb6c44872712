"""A small HTTP load generator, run as a separate process by bench/run.py (never by the tests).

    python bench/loadgen.py SPEC.json  ->  prints one JSON object with the results

SPEC: {"host": "127.0.0.1", "port": 8000, "duration": 15, "clients": 16, "processes": 2, "warmup": 2,
       "clients_spec": [{"cookie": "...", "steps": [{"method": "GET", "path": "/accueil", "measure": true,
                                                     "body": "a=b", "expect": [200]}, ...]}, ...]}

A step's own ``"cookie"`` replaces the client's for that step (a client acting for several citizens in turn).

Each client loops over its own ``steps`` (e.g. add an invoice to the basket, then take it out) on a fresh
connection per request (gunicorn's sync workers close them), for ``duration`` seconds after ``warmup`` seconds.
Only steps marked ``measure`` count in the throughput and latency figures; every answer whose status is not in
``expect`` counts as an error, in the steps not measured too. Clients are spread over ``processes`` processes so
the generator's own Python is not the bottleneck. Traffic goes to loopback only and stops by itself.
"""
from __future__ import annotations

import http.client
import json
import multiprocessing
import sys
import threading
import time


def run_client(spec: dict, client: dict, start_at: float, measure_from: float, stop_at: float, out: list) -> None:
    steps = client["steps"]
    headers = {"Host": spec.get("host_header", "localhost"), "User-Agent": "compte-citoyen-bench",
               "Connection": "close"}
    if client.get("cookie"):
        headers["Cookie"] = client["cookie"]
    while time.monotonic() < start_at:
        time.sleep(0.001)
    index = 0
    while True:
        step = steps[index % len(steps)]
        index += 1
        began = time.monotonic()
        if began >= stop_at:
            return
        body = step.get("body")
        request_headers = dict(headers)
        if step.get("cookie"):  # a step sent in another session than the client's
            request_headers["Cookie"] = step["cookie"]
        if body is not None:
            request_headers["Content-Type"] = "application/x-www-form-urlencoded"
        status = 0
        try:
            conn = http.client.HTTPConnection(spec["host"], spec["port"], timeout=60)
            conn.request(step.get("method", "GET"), step["path"], body=body, headers=request_headers)
            response = conn.getresponse()
            response.read()
            status = response.status
            conn.close()
        except (OSError, http.client.HTTPException):
            status = 0
        ended = time.monotonic()
        if began >= measure_from and ended <= stop_at:
            out.append((ended - began, status in step.get("expect", [200]), status, step.get("measure", True)))


def run_process(spec: dict, clients: list[dict], start_at_wall: float, queue) -> None:
    # wall clock agreed between processes, converted to this process's monotonic clock
    offset = time.monotonic() - time.time()
    start_at = start_at_wall + offset
    measure_from = start_at + spec.get("warmup", 2)
    stop_at = measure_from + spec["duration"]
    results: list = []
    threads = [threading.Thread(target=run_client, args=(spec, client, start_at, measure_from, stop_at, results))
               for client in clients]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    queue.put(results)


def percentile(sorted_values: list[float], fraction: float) -> float:
    if not sorted_values:
        return float("nan")
    index = min(len(sorted_values) - 1, max(0, int(round(fraction * (len(sorted_values) - 1)))))
    return sorted_values[index]


def main(path: str) -> dict:
    with open(path, encoding="utf-8") as handle:
        spec = json.load(handle)
    clients = spec["clients_spec"][: spec["clients"]]
    processes = max(1, min(spec.get("processes", 2), len(clients)))
    queue = multiprocessing.Queue()
    start_at_wall = time.time() + 0.5
    workers = []
    for number in range(processes):
        share = clients[number::processes]
        proc = multiprocessing.Process(target=run_process, args=(spec, share, start_at_wall, queue))
        proc.start()
        workers.append(proc)
    results: list = []
    for _ in workers:
        results.extend(queue.get())
    for proc in workers:
        proc.join()
    measured = [r for r in results if r[3]]
    latencies = sorted(r[0] for r in measured)
    ok = sum(1 for r in measured if r[1])
    # every answer counts for the errors, the steps not measured too (taking an invoice out of the basket)
    errors = [r[2] for r in results if not r[1]]
    return {
        "requests": len(measured),
        "answers": len(results),
        "ok": ok,
        "errors": len(errors),
        "error_statuses": sorted({str(s) for s in errors}),
        "duration": spec["duration"],
        "clients": len(clients),
        "rps": ok / spec["duration"],
        "p50_ms": percentile(latencies, 0.50) * 1000,
        "p99_ms": percentile(latencies, 0.99) * 1000,
        "mean_ms": (sum(latencies) / len(latencies) * 1000) if latencies else float("nan"),
    }


if __name__ == "__main__":
    print(json.dumps(main(sys.argv[1])))
