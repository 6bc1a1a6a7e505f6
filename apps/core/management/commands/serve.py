"""Run the production server: gunicorn with uvicorn's ASGI worker, in the foreground.

The process execs gunicorn, so signals reach its master directly: SIGTERM stops gracefully.
"""

from __future__ import annotations

import os
import sys

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError


class Command(BaseCommand):
    help = "Serve SpendGuard with gunicorn + the uvicorn ASGI worker (default 127.0.0.1:8787)."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--bind", default=os.environ.get("SPENDGUARD_BIND", "127.0.0.1:8787"))
        parser.add_argument("--workers", type=int, default=int(os.environ.get("SPENDGUARD_WEB_WORKERS", "2")))
        parser.add_argument("--access-log", action="store_true", help="Log each request (no headers, no bodies).")

    def handle(self, *args, bind: str, workers: int, access_log: bool, **options) -> None:
        if workers < 1:
            raise CommandError("--workers must be >= 1")
        # Long enough for the slowest upstream call plus settlement; gunicorn kills a worker past it.
        timeout = int(settings.UPSTREAM_TIMEOUT_SECONDS) + 30
        argv = [
            sys.executable, "-m", "gunicorn", "spendguard.asgi:application",
            "--worker-class", "uvicorn_worker.UvicornWorker",
            "--bind", bind,
            "--workers", str(workers),
            "--timeout", str(timeout),
            "--graceful-timeout", "30",
            "--keep-alive", "75",
            # Heartbeat files on tmpfs, so a slow disk cannot make gunicorn think a worker hung.
            "--worker-tmp-dir", "/dev/shm" if os.path.isdir("/dev/shm") else str(settings.DATA_DIR),  # noqa: S108
            "--error-logfile", "-",
            "--no-control-socket",
        ]
        if access_log:
            argv += ["--access-logfile", "-"]
        self.stdout.write(f"SpendGuard listening on http://{bind} ({workers} worker(s))")
        self.stdout.flush()
        os.execv(sys.executable, argv)
