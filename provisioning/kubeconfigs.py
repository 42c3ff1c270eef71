"""Checking a kubeconfig before a cluster connection is stored: size, safe YAML, and the chosen context.

One check for the portal's form, `manage.py connect_cluster` and the connection service, so each
refuses the same input with the same message naming the same field. Nothing here talks to the
cluster: whether the credentials work is what "test connection" finds out.
"""

from pathlib import Path

import yaml
from django.core.exceptions import ValidationError

from teams.limits import MAX_KUBECONFIG_BYTES


class _NoAliasLoader(yaml.SafeLoader):
    """Safe YAML without anchors and aliases: a kubeconfig never needs them, and they can multiply a small file."""

    def compose_node(self, parent, index):
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()
            raise yaml.composer.ComposerError(None, None, "aliases are not allowed", event.start_mark)
        return super().compose_node(parent, index)


def check_uploaded(content: bytes, context: str) -> tuple[str, dict, str]:
    """(text, parsed kubeconfig, context used) of an uploaded kubeconfig, or ValidationError naming the field."""
    if not content:
        raise ValidationError({"kubeconfig": "Choose a kubeconfig file to upload; this one is empty."})
    if len(content) > MAX_KUBECONFIG_BYTES:
        raise ValidationError(
            {"kubeconfig": f"The kubeconfig is {len(content):,} bytes; at most {MAX_KUBECONFIG_BYTES:,} are accepted."}
        )
    try:
        text = content.decode("utf-8")
    except UnicodeDecodeError:
        raise ValidationError({"kubeconfig": "The kubeconfig is not UTF-8 text."}) from None
    parsed = _parse(text, "kubeconfig")
    return text, parsed, check_context(parsed, context, "kubeconfig")


def check_path(path: str, context: str) -> str:
    """The context a kubeconfig file on the portal's machine would be used with, or ValidationError."""
    file = Path(path)
    if not file.is_absolute():
        raise ValidationError({"kubeconfig_path": "Give an absolute path, as the web and worker processes see it."})
    try:
        if file.stat().st_size > MAX_KUBECONFIG_BYTES:
            raise ValidationError(
                {"kubeconfig_path": f"{path} is larger than {MAX_KUBECONFIG_BYTES:,} bytes: not a kubeconfig."}
            )
        content = file.read_bytes()
    except OSError as error:
        raise ValidationError({"kubeconfig_path": f"Cannot read {path}: {error.strerror}."}) from None
    try:
        text = content.decode("utf-8")
    except UnicodeDecodeError:
        raise ValidationError({"kubeconfig_path": f"{path} is not UTF-8 text."}) from None
    return check_context(_parse(text, "kubeconfig_path"), context, "kubeconfig_path")


def _parse(text: str, field: str) -> dict:
    try:
        parsed = yaml.load(text, Loader=_NoAliasLoader)  # a SafeLoader subclass
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f" (line {mark.line + 1})" if mark is not None else ""
        problem = getattr(error, "problem", None) or "invalid YAML"
        raise ValidationError({field: f"The kubeconfig is not valid YAML{where}: {problem}."}) from None
    if not isinstance(parsed, dict) or not isinstance(parsed.get("contexts"), list):
        raise ValidationError({field: "This is not a kubeconfig: it has no list of contexts."})
    return parsed


def _named(parsed: dict, key: str) -> dict[str, dict]:
    entries = parsed.get(key)
    if not isinstance(entries, list):
        return {}
    return {
        str(entry["name"]): entry.get(key[:-1]) if isinstance(entry.get(key[:-1]), dict) else {}
        for entry in entries
        if isinstance(entry, dict) and "name" in entry
    }


def check_context(parsed: dict, context: str, field: str) -> str:
    """The context to use (the chosen one, else the current one), which must name a cluster and user in the file."""
    contexts = _named(parsed, "contexts")
    chosen = context or str(parsed.get("current-context") or "")
    if not chosen:
        raise ValidationError({"context": "The kubeconfig has no current context: name the context to use."})
    if chosen not in contexts:
        known = ", ".join(sorted(contexts)) or "none"
        raise ValidationError({"context": f"The kubeconfig has no context {chosen!r}; its contexts: {known}."})
    entry = contexts[chosen]
    cluster, user = entry.get("cluster"), entry.get("user")
    if cluster not in _named(parsed, "clusters"):
        raise ValidationError({field: f"Context {chosen!r} names cluster {cluster!r}, which the kubeconfig lacks."})
    if user not in _named(parsed, "users"):
        raise ValidationError({field: f"Context {chosen!r} names user {user!r}, which the kubeconfig lacks."})
    return chosen
