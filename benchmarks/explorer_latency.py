"""Latency of the latent explorer as the page sees it: one HTTP request per slider position.

Starts ``infogan explore RUN --no-browser`` as its own process on a free 127.0.0.1 port (so that the server
and this client do not share an interpreter), then, over one keep-alive connection as a browser would use:

- ``generate``: ``--requests`` images, sweeping c2 over [-2, 2] like a slider drag (a new value each time);
- ``traversal``: ``--requests // 4`` strips of the continuous code c2 (9 images each);
- ``encode``: ``--requests // 4`` posteriors of a 28x28 PNG upload.

Every loop is bounded by its count and by ``--timeout`` seconds per request; the server is stopped at the end.

    python benchmarks/explorer_latency.py runs/00000-mnist-seed0 --requests 200 \
        --out benchmarks/results/explorer_latency.json

Writes a JSON object: machine, date, run, and per endpoint the median, 90th percentile and maximum in ms.
"""

from __future__ import annotations

import argparse
import http.client
import io
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("run", type=Path, help="run folder or snapshot (the MNIST architecture for MNIST numbers)")
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--timeout", type=float, default=30.0, help="seconds allowed per request")
    parser.add_argument("--threads", type=int, help="the server's torch threads (default: torch's, one per core)")
    parser.add_argument("--out", type=Path, help="JSON file to write (default: print only)")
    args = parser.parse_args()

    server = subprocess.Popen([sys.executable, "-m", "infogan", "explore", str(args.run), "--no-browser",
                               *(["--threads", str(args.threads)] if args.threads else [])],
                              stdout=subprocess.PIPE, text=True)
    try:
        line = server.stdout.readline()  # "latent explorer at http://127.0.0.1:PORT/ ..."
        if "http://127.0.0.1:" not in line:
            raise SystemExit(f"the explorer did not start: {line!r}")
        port = int(line.split("http://127.0.0.1:")[1].split("/")[0])
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=args.timeout)
        n = args.requests
        sweep = [round(-2.0 + 4.0 * i / max(1, n - 1), 2) for i in range(n)]
        results = {
            "generate": timed(conn, "GET", [f"/api/generate?seed=1&c1=3&c2={v}" for v in sweep]),
            "traversal": timed(conn, "GET", [f"/api/traversal?code=c2&seed={i}" for i in range(n // 4)]),
            "encode": timed(conn, "POST", ["/api/encode"] * (n // 4), body=_upload()),
        }
    finally:
        server.terminate()
        server.wait(timeout=30)
    import torch

    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
    report = {"machine": f"{platform.machine()}, {os.cpu_count()} CPUs, torch {torch.__version__}",
              "server_threads": args.threads or os.cpu_count(), "load_average_1min_after": load,
              "date": time.strftime("%Y-%m-%d"), "run": str(args.run), "requests": n, "latency_ms": results}
    text = json.dumps(report, indent=2)
    print(text)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text + "\n")
    return 0


def timed(conn: http.client.HTTPConnection, method: str, paths: list[str], body: bytes | None = None) -> dict:
    """Send each request in turn and return the latency statistics in milliseconds."""
    times = []
    for path in paths:
        start = time.perf_counter()
        conn.request(method, path, body=body, headers={"Content-Type": "image/png"} if body else {})
        res = conn.getresponse()
        res.read()
        times.append(1000.0 * (time.perf_counter() - start))
        if res.status != 200:
            raise SystemExit(f"{method} {path} answered {res.status}")
    times.sort()
    return {"count": len(times), "median": round(statistics.median(times), 2),
            "p90": round(times[int(0.9 * (len(times) - 1))], 2), "max": round(times[-1], 2)}


def _upload() -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.effect_noise((28, 28), 64).save(buf, format="PNG")
    return buf.getvalue()


if __name__ == "__main__":
    sys.exit(main())
