"""``python -m service --host H --port P --workers N``: run the API under uvicorn.

One worker runs uvicorn's server in this process. Several run under uvicorn's supervisor, each
on its own SO_REUSEPORT socket (service/workers.py) so that connections spread over them.
"""

from __future__ import annotations

import argparse
import os
import tempfile

import uvicorn

from service.protocol import GuardedHttpTools
from service.settings import Settings
from service.workers import ReusePortMultiprocess


def main() -> None:
    parser = argparse.ArgumentParser(
        prog="python -m service", description="Serve candidates (settings from the environment)."
    )
    parser.add_argument("--host", default=os.environ.get("HOST", "127.0.0.1"))
    parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8000")))
    parser.add_argument("--workers", type=int, default=int(os.environ.get("WORKERS", "1")))
    args = parser.parse_args()
    Settings()  # a bad variable stops the start here, with its name, before any worker starts
    if args.workers > 1:
        # shared by the workers: metrics of all of them, and reload turns (coordination.py)
        shared = {"PROMETHEUS_MULTIPROC_DIR": "ic-metrics-", "RUNTIME_DIR": "ic-runtime-"}
        for variable, prefix in shared.items():
            if not os.environ.get(variable):
                os.environ[variable] = tempfile.mkdtemp(prefix=prefix)
    config = uvicorn.Config(
        "service.app:create_app",
        factory=True,
        host=args.host,
        port=args.port,
        workers=args.workers,
        http=GuardedHttpTools,
        proxy_headers=False,  # nothing reads the client address
        loop="auto",  # uvloop when installed (pyproject.toml installs it off Windows)
        log_config=None,
        access_log=False,
        # uvicorn kills a worker whose health ping goes unanswered this long; loading a large
        # version holds the GIL for seconds inside hnswlib, which must not look like a hang.
        timeout_worker_healthcheck=int(os.environ.get("WORKER_HEALTHCHECK_SECONDS", "120")),
    )
    if args.workers == 1:
        uvicorn.Server(config).run()
        return
    ReusePortMultiprocess(config, args.workers).run()


if __name__ == "__main__":
    main()
