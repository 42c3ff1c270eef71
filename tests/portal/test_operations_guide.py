"""The troubleshooting and alert sections of docs/operations.md cannot drift from the code and the rules.

Every event the guide explains is still logged by the portal, every WARNING or ERROR the portal logs is
explained, and every alert rule in deploy/prometheus/ has its paragraph. Log events are found in the
syntax of the source: `logger.<level>("event.name", ...)`, and, where a helper logs a name it was given
(`logger.info(verb, ...)`), the names its callers in the same module pass it.
"""

import ast
import re

import yaml

from tests.kube import REPO_ROOT
from tests.portal.guide import GUIDE, first_column_names, parse, portal_sources, section

LEVELS = {"debug": "DEBUG", "info": "INFO", "warning": "WARNING", "error": "ERROR", "exception": "ERROR"}
#: The portal's event-style messages (STYLE.md): `request.retrying`, `lease.release_failed`.
EVENT_NAME = re.compile(r"^[a-z_]+\.[a-z_]+$")
ALERT_RULES = REPO_ROOT / "deploy" / "prometheus" / "alerts.yaml"


def logged_events(tree: ast.Module) -> dict[str, set[str]]:
    """event name -> the levels it is logged at in one module."""
    events: dict[str, set[str]] = {}
    #: (function, parameter) -> levels, for helpers that log the name they are passed.
    forwarded: dict[tuple[str, str], set[str]] = {}
    for function in [node for node in ast.walk(tree) if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)]:
        parameters = [argument.arg for argument in function.args.args]
        for call in ast.walk(function):
            level = _log_level(call)
            if level is None or not call.args:
                continue
            message = call.args[0]
            if isinstance(message, ast.Name) and message.id in parameters:
                forwarded.setdefault((function.name, message.id), set()).add(level)
    for call in ast.walk(tree):
        level = _log_level(call)
        if level and call.args and isinstance(call.args[0], ast.Constant) and isinstance(call.args[0].value, str):
            events.setdefault(call.args[0].value, set()).add(level)
    for (name, parameter), levels in forwarded.items():
        for value in _passed_to(tree, name, parameter):
            events.setdefault(value, set()).update(levels)
    return {name: levels for name, levels in events.items() if EVENT_NAME.match(name)}


def _log_level(node: ast.AST) -> str | None:
    if (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr in LEVELS
        and isinstance(node.func.value, ast.Name)
        and node.func.value.id == "logger"
    ):
        return LEVELS[node.func.attr]
    return None


def _passed_to(tree: ast.Module, function_name: str, parameter: str) -> set[str]:
    """String constants the module passes as `parameter` of `function_name`."""
    (definition,) = [
        node for node in ast.walk(tree) if isinstance(node, ast.FunctionDef) and node.name == function_name
    ]
    position = [argument.arg for argument in definition.args.args].index(parameter)
    values = set()
    for call in ast.walk(tree):
        if not (isinstance(call, ast.Call) and isinstance(call.func, ast.Name) and call.func.id == function_name):
            continue
        candidates = [keyword.value for keyword in call.keywords if keyword.arg == parameter]
        if len(call.args) > position:
            candidates.append(call.args[position])
        values.update(node.value for node in candidates if isinstance(node, ast.Constant))
    return values


def portal_events() -> dict[str, set[str]]:
    events: dict[str, set[str]] = {}
    for path in portal_sources():
        for name, levels in logged_events(parse(path)).items():
            events.setdefault(name, set()).update(levels)
    return events


def guide_events() -> list[str]:
    return first_column_names(section(GUIDE.read_text(), "Troubleshooting by log line"), "event")


def test_the_reader_finds_events_logged_directly_and_through_a_helper():
    tree = ast.parse(
        "def run():\n"
        '    logger.warning("lease.skipped", extra={})\n'
        '    _finish("request.applied")\n'
        '    _finish(verb="request.failed")\n'
        "def _finish(verb):\n"
        "    logger.info(verb, extra={})\n"
        'print("not.logged")\n'
    )

    assert logged_events(tree) == {
        "lease.skipped": {"WARNING"},
        "request.applied": {"INFO"},
        "request.failed": {"INFO"},
    }


def test_every_event_the_guide_explains_is_still_logged():
    logged = portal_events()
    listed = guide_events()

    assert listed, "the troubleshooting section lists events"
    assert sorted(set(listed) - set(logged)) == []


def test_every_warning_and_error_the_portal_logs_is_explained():
    serious = {name for name, levels in portal_events().items() if levels & {"WARNING", "ERROR"}}

    assert {"request.retrying", "lease.release_failed", "event.subscriber_failed"} <= serious
    assert sorted(serious - set(guide_events())) == []


def test_every_alert_rule_has_its_paragraph():
    rules = yaml.safe_load(ALERT_RULES.read_text())
    alerts = {rule["alert"] for group in rules["groups"] for rule in group["rules"] if "alert" in rule}
    explained = set(first_column_names(section(GUIDE.read_text(), "Metrics and alerts"), "alert"))

    assert alerts, "deploy/prometheus/alerts.yaml has rules"
    assert explained == alerts
