"""``manage.py simulate_cluster``: the simulated GPU nodes, with the same options
as ``python -m provisioning.simulator`` (the simulator itself needs no Django)."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandParser

from provisioning.simulator.options import add_arguments, options_from
from provisioning.simulator.runner import configure_logging, run


class Command(BaseCommand):
    help = "Run simulated GPU nodes and kubelets (KWOK-style) against the cluster of a kubeconfig."

    def add_arguments(self, parser: CommandParser) -> None:
        add_arguments(parser)

    def handle(self, *args: object, **values: object) -> None:
        options = options_from(values)
        configure_logging(options.log_level)
        run(options)
