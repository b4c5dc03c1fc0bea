"""``posfleet-notify --config notify.toml``: the Alertmanager → DingTalk/WeCom/Feishu/SMS relay."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from dataclasses import replace
from pathlib import Path

from notify import NotifyError


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="posfleet-notify", description=__doc__)
    parser.add_argument("--config", type=Path, required=True, help="TOML file (docs/notify.md)")
    parser.add_argument(
        "--db",
        help="posfleet store (SQLite file path or postgresql:// URL): site names, on-call "
        "schedules, acks and audit rows",
    )
    parser.add_argument("--listen", help="host:port, overrides relay.listen")
    parser.add_argument("--log-level", default="INFO")
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    # Imported here so `--help` works without the server extra.
    from prometheus_client import CollectorRegistry

    from notify.config import load
    from notify.server import Relay

    try:
        config = load(args.config)
        if args.db:
            from collector.store.db import is_postgres

            if not is_postgres(args.db) and not Path(args.db).exists():
                raise NotifyError(
                    f"--db: {args.db} does not exist; pass the collector's store (its SQLite "
                    "file or its postgresql:// URL)"
                )
            config = replace(config, db=args.db)
        if args.listen:
            host, _, port = args.listen.rpartition(":")
            if not port.isdigit():
                raise NotifyError(f"--listen must be host:port, got {args.listen!r}")
            config = replace(config, listen_host=host, listen_port=int(port))
        relay = Relay(config, CollectorRegistry())
    except (NotifyError, OSError) as exc:
        print(f"posfleet-notify: {exc}", file=sys.stderr)
        return 2
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    relay.start()
    log = logging.getLogger("notify")
    log.info(
        "listening on %s:%d; channels: %s",
        config.listen_host,
        relay.port,
        ", ".join(f"{c.name} ({c.type} {c.host})" for c in config.channels.values()),
    )
    stop.wait()
    relay.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
