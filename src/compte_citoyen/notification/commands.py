"""``compte-citoyen INI send-notifications [--loop] [--interval N]``: deliver the outbox (cron or a service)."""
from __future__ import annotations

import signal
import threading

from ..cli import command
from .worker import DEFAULT_INTERVAL, deliver_due, run_loop


def _arguments(parser):
    parser.add_argument("--loop", action="store_true",
                        help="keep running, delivering what is due every INTERVAL seconds (stop with Ctrl-C)")
    parser.add_argument("--interval", type=float, default=DEFAULT_INTERVAL,
                        help=f"seconds between two rounds with --loop (default {DEFAULT_INTERVAL})")


@command("send-notifications", "deliver queued e-mail and SMS messages that are due (once, or --loop)", _arguments)
def send_notifications(env, args):
    """Once (cron: ``*/1 * * * *``) or as a long-running loop (systemd); several may run at once safely."""
    if not args.loop:
        stats = deliver_due(env.registry)
        print(", ".join(f"{key}: {value}" for key, value in sorted(stats.items()) if value) or "nothing to send")
        return 0
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    print(f"delivering notifications every {args.interval:g}s (Ctrl-C to stop)")
    run_loop(env.registry, args.interval, stop)
    return 0
