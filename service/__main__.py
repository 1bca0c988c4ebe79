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
    settings = Settings()  # a bad variable stops the start here, with its name
    parser = argparse.ArgumentParser(
        prog="python -m service", description="Serve candidates (settings from the environment)."
    )
    parser.add_argument("--host", default=settings.host)
    parser.add_argument("--port", type=int, default=settings.port)
    parser.add_argument("--workers", type=int, default=settings.workers)
    args = parser.parse_args()
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
        timeout_worker_healthcheck=settings.worker_healthcheck_seconds,
    )
    if args.workers == 1:
        uvicorn.Server(config).run()
        return
    ReusePortMultiprocess(config, args.workers).run()


if __name__ == "__main__":
    main()
