"""``capplan``: parse the command line, run the subcommand, map what went wrong to an exit code
(:mod:`service.cli`)."""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
from typing import Any

from service.cli import EXIT_ERROR, EXIT_INTERRUPTED, EXIT_INVALID, EXIT_OK, report, scenarios, serve, solve
from service.cli.inputs import FileInvalid
from solver import RequestInvalid


def _print_invalid(exc: RequestInvalid) -> None:
    where = f"{exc.source}: " if isinstance(exc, FileInvalid) else ""
    for err in exc.errors:
        print(f"invalid request: {where}{err.path}: {err.message}", file=sys.stderr)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="capplan", description="Inference-capacity planning.")
    _register_subcommands(parser.add_subparsers(dest="command", required=True))
    return parser


def _register_subcommands(sub: Any) -> None:
    for group in (solve, serve, scenarios, report):
        group.register(sub)


def _stdout_closed() -> int:
    """The reader of stdout went away (``capplan solve --json FILE | head -1``): not an error.

    Printing stops quietly; stdout is pointed at /dev/null so that the interpreter's last
    flush does not complain.  Exit 0: printing is every command's last step, after its work
    (export writes all its files before it lists them).
    """
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        try:
            os.dup2(devnull, sys.stdout.fileno())
        finally:
            os.close(devnull)
    except (AttributeError, OSError, ValueError):  # no file descriptor (a test's capture)
        pass
    return EXIT_OK


def _interrupted() -> int:
    """Ctrl-C: one line and exit 130.  Another Ctrl-C while the interpreter exits ends the
    process by the signal itself (the same 130 to a shell), not with a traceback."""
    print("interrupted", file=sys.stderr)
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGINT, signal.SIG_DFL)
    return EXIT_INTERRUPTED


def main(argv: list[str] | None = None) -> int:
    try:
        args = build_parser().parse_args(argv)
        return int(args.func(args))
    except RequestInvalid as exc:
        _print_invalid(exc)
        return EXIT_INVALID
    except FileNotFoundError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_ERROR
    except BrokenPipeError:
        return _stdout_closed()
    except KeyboardInterrupt:  # Ctrl-C: the workers of a sweep or frontier are stopped by now
        return _interrupted()
    except Exception as exc:
        print(f"error: {type(exc).__name__}: {exc}", file=sys.stderr)
        return EXIT_ERROR


if __name__ == "__main__":
    sys.exit(main())
