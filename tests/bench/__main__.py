"""Run the benchmarks: `python -m tests.bench [--only NAME] [args...]`; see tests/bench/__init__.py."""

import argparse
import importlib
import os
import pkgutil
import sys
import time
import traceback
from pathlib import Path

DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/gpu_portal_bench"
DEFAULT_BROKER_URL = "redis://127.0.0.1:6379/12"


def configure_environment() -> None:
    """Set what Django and Celery read at settings load: never the developer's database or broker."""
    os.environ["DJANGO_SETTINGS_MODULE"] = "portal.settings"
    # Never created: each benchmark makes a scratch database from it (tests/bench/_database.py).
    os.environ["DATABASE_URL"] = os.environ.get("BENCH_DATABASE_URL", DEFAULT_DATABASE_URL)
    os.environ["CELERY_BROKER_URL"] = os.environ.get("BENCH_BROKER_URL", DEFAULT_BROKER_URL)
    os.environ.pop("CELERY_RESULT_BACKEND", None)
    if not os.environ.get("SECRET_KEY"):
        os.environ.setdefault("DEBUG", "1")
    # The portal logs one line per sync and per task; the figures are what matters here.
    os.environ.setdefault("LOG_LEVEL", "WARNING")


def benchmark_names() -> list[str]:
    here = str(Path(__file__).parent)
    return sorted(info.name for info in pkgutil.iter_modules([here]) if info.name.startswith("bench_"))


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tests.bench",
        description="Run the benchmarks in name order; other arguments go to every benchmark's main().",
        add_help=False,
    )
    parser.add_argument("--only", action="append", metavar="NAME", help="run only this benchmark (repeatable)")
    parser.add_argument("-h", "--help", action="store_true")
    options, rest = parser.parse_known_args(argv)
    names = benchmark_names()
    if options.help and not options.only:
        parser.print_help()
        print("\nbenchmarks:", ", ".join(name.removeprefix("bench_") for name in names))
        print("options of one benchmark: python -m tests.bench --only NAME --help")
        return 0
    if options.help:
        rest.append("--help")
    if options.only:
        wanted = {name if name.startswith("bench_") else f"bench_{name}" for name in options.only}
        unknown = wanted - set(names)
        if unknown:
            parser.error(f"no benchmark {', '.join(sorted(unknown))}; there are {', '.join(names)}")
        names = [name for name in names if name in wanted]

    configure_environment()
    import django

    django.setup()

    failed = []
    for name in names:
        print(f"\n## {name.removeprefix('bench_')}  (python -m tests.bench --only {name.removeprefix('bench_')})")
        started = time.monotonic()
        try:
            importlib.import_module(f"tests.bench.{name}").main(list(rest))
        except SystemExit as exit_:  # argparse --help, or a benchmark giving up on purpose
            if exit_.code not in (0, None):
                failed.append(name)
        except Exception:
            traceback.print_exc()
            failed.append(name)
        print(f"\n{name}: {time.monotonic() - started:.0f} s", flush=True)
    if failed:
        print(f"\nfailed: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
