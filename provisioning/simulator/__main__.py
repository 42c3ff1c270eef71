"""``python -m provisioning.simulator``: simulated GPU nodes without Django."""

from __future__ import annotations

import argparse
import sys

from .options import add_arguments, options_from
from .runner import configure_logging, run


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m provisioning.simulator",
        description="Simulated GPU nodes and kubelets (KWOK-style) for a Kubernetes API server.",
    )
    add_arguments(parser)
    options = options_from(vars(parser.parse_args(argv)))
    configure_logging(options.log_level)
    return run(options)


if __name__ == "__main__":
    sys.exit(main())
