"""Benchmarks against the real parts: the local API server, PostgreSQL, Redis and a Celery worker.

`python -m tests.bench [--only NAME] [args...]` (or `make bench`) imports every
`bench_*.py` module here in name order and calls its `main(argv: list[str]) -> None`
with the arguments the runner did not take; a benchmark ignores arguments that are
not its own (`argparse.parse_known_args`), so one command line can serve them all.

Before Django loads its settings the runner points DATABASE_URL at a PostgreSQL
database that is never created (`BENCH_DATABASE_URL`, default
`postgres://postgres@127.0.0.1:5432/gpu_portal_bench`), so nothing can reach the
developer's own database, and CELERY_BROKER_URL at a Redis database of the
benchmarks' own (`BENCH_BROKER_URL`, default `redis://127.0.0.1:6379/12`). A
benchmark that needs a database creates a scratch one for itself with
`tests.bench._database.scratch_database()` (Django's test-database machinery; it is
dropped at the end), and deletes every namespace it made on the cluster
(`tests.bench._cluster.bench_namespaces()`), also on failure.

Machines are noisy: every figure a benchmark prints is a ratio or a count, or a time
measured side by side with its reference in the same run.
"""
