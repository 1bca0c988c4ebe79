"""The serving benchmark's closed-loop peak: ``wrk`` against the service, when installed
(bench/serve_load.py)."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

from serve_world import K, Service, say


def run_wrk(service: Service, users: int, seconds: float, work: Path) -> list[dict[str, Any]]:
    """Closed-loop peak throughput with wrk (1 thread), if installed; /healthz for the floor.

    /healthz runs no model, no Redis and no response model: its CPU per request is what the
    HTTP server, the middleware, the access log and the metrics cost every request.
    """
    if shutil.which("wrk") is None:
        return []
    script = users_script(users, work)
    return [
        wrk(service, path, connections, 1, seconds, script)
        for path, connections in (("candidates", 2), ("candidates", 8), ("healthz", 8))
    ]


def users_script(users: int, work: Path) -> Path:
    """A wrk script asking for the candidates of a random one of ``users`` users."""
    script = work / "users.lua"
    script.write_text(
        f"math.randomseed(os.time())\nrequest = function()\n  return wrk.format(nil, "
        f'"/v1/users/u" .. math.random(0, {users - 1}) .. "/candidates?k={K}")\nend\n'
    )
    return script


def wrk(
    service: Service, path: str, connections: int, threads: int, seconds: float, script: Path
) -> dict[str, Any]:
    """One wrk run at ``path`` ("candidates" through ``script``, or "healthz"): requests per
    second, latency percentiles, errors, the workers' CPU per request."""
    url = f"http://127.0.0.1:{service.port}"
    cmd = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{int(seconds)}s", "--latency"]
    target = ["-s", str(script), url] if path == "candidates" else [f"{url}/healthz"]
    cpu = service.cpu_seconds()
    out = subprocess.run(
        [*cmd, *target], capture_output=True, text=True, timeout=seconds + 30
    ).stdout
    cpu = service.cpu_seconds() - cpu
    row: dict[str, Any] = {"path": path, "connections": connections, "threads": threads}
    rps = re.search(r"Requests/sec:\s*([\d.]+)", out)
    row["rps"] = float(rps.group(1)) if rps else None
    for pct, value, unit in re.findall(r"^\s+(50|90|99)%\s+([\d.]+)(us|ms|s)\s*$", out, re.M):
        row[f"p{pct}_ms"] = float(value) * {"us": 1e-3, "ms": 1, "s": 1e3}[unit]
    bad = re.search(r"Non-2xx or 3xx responses:\s*(\d+)", out)
    sock = re.search(r"Socket errors:(.*)", out)
    row["errors"] = (int(bad.group(1)) if bad else 0) + sum(
        int(n) for n in re.findall(r"\d+", sock.group(1) if sock else "")
    )
    if row["rps"]:
        row["server_cpu_ms_per_request"] = round(cpu * 1000 / (row["rps"] * seconds), 3)
    say(f"wrk {path} -t{threads} -c{connections}: {row}")
    return row
