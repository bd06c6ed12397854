"""``gatewayd``: argparse -> exit codes (0 ok, 1 runtime failure, 2 bad configuration)."""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys

import trio

from . import __version__
from . import config as config_mod
from . import log as log_mod
from .errors import ConfigError, GatewayError
from .permissions import PRIVATE_UMASK

log = logging.getLogger("gatewayd")


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="gatewayd", description="Self-hosted SMS gateway daemon.")
    p.add_argument("--config", default="/etc/gatewayd/gatewayd.toml", help="TOML configuration file")
    p.add_argument("--check-config", action="store_true", help="validate the configuration and exit (0 ok, 2 bad)")
    p.add_argument("--socket", help="control socket path (overrides [control].socket)")
    p.add_argument("--state-dir", help="directory for the database (overrides state_dir)")
    p.add_argument("--log-level", choices=["debug", "info", "warning", "error"], help="overrides log_level")
    p.add_argument("--version", action="version", version=f"gatewayd {__version__}")
    return p


SWITCH_INTERVAL_S = 0.001


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)

    def load() -> config_mod.Config:
        return config_mod.load(args.config, socket=args.socket, state_dir=args.state_dir)

    try:
        cfg = load()
    except ConfigError as exc:
        print(f"gatewayd: configuration error: {exc}", file=sys.stderr)
        return 2
    if args.check_config:
        print(f"{args.config}: ok ({len(cfg.links)} link(s), {len(cfg.numbers)} number(s))")
        return 0
    log_mod.setup(args.log_level or cfg.log_level)
    # The store's writer thread and the event loop share the GIL. At the default 5 ms, every socket
    # call of the loop could wait that long for the writer to let go; 1 ms measured ~7% more
    # messages/s and ~6% less CPU per message in bench/smpp_throughput.py.
    sys.setswitchinterval(SWITCH_INTERVAL_S)
    os.umask(PRIVATE_UMASK)   # the unit sets it too; run by hand, the database must not be 0644
    code = _serve(cfg, load)
    log.info("gatewayd %s stopped (exit %d)", __version__, code)
    return code


def _serve(cfg: config_mod.Config, load) -> int:
    try:
        trio.run(_run, cfg, load)
    except GatewayError as exc:
        log.error("%s", exc)
        return _exit_code(exc)
    except BaseExceptionGroup as group:   # nurseries wrap errors; ours still get a plain message
        ours = group.subgroup(lambda e: isinstance(e, GatewayError))
        if ours is None:
            log.exception("gatewayd failed")
            return 1
        first = _first_leaf(ours)
        log.error("%s", first)
        return _exit_code(first)
    except KeyboardInterrupt:
        return 0
    except Exception:
        log.exception("gatewayd failed")
        return 1
    return 0


def _exit_code(exc: BaseException) -> int:
    """2 for what only an edit of the configuration fixes (systemd does not restart on 2)."""
    return 2 if isinstance(exc, ConfigError) or getattr(exc, "code", None) == "config" else 1


def _first_leaf(group: BaseException) -> BaseException:
    while isinstance(group, BaseExceptionGroup):
        group = group.exceptions[0]
    return group


async def _run(cfg: config_mod.Config, load) -> None:
    from .daemon import serve

    shutdown = trio.Event()
    reload_send, reload_recv = trio.open_memory_channel[None](4)
    # Entered first, so a signal that arrives during start-up is queued, not lost.
    with trio.open_signal_receiver(signal.SIGTERM, signal.SIGINT, signal.SIGHUP) as signals:
        async with trio.open_nursery() as nursery:

            async def watch() -> None:
                async for sig in signals:
                    if sig == signal.SIGHUP:
                        log.info("SIGHUP: reloading %s", "configuration")
                        try:
                            reload_send.send_nowait(None)
                        except trio.WouldBlock:
                            pass
                    else:
                        log.info("%s: shutting down", signal.Signals(sig).name)
                        shutdown.set()

            nursery.start_soon(watch)
            await serve(cfg, shutdown, reloads=reload_recv, config_loader=load)
            nursery.cancel_scope.cancel()


if __name__ == "__main__":
    sys.exit(main())
