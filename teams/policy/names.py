"""Namespace names and labels: the API server's DNS-1123 and label-key rules, the cluster's reserved names."""

import re

from teams.limits import MAX_LABELS, count_problem
from teams.models import Request, TeamNamespace

Kind = Request.Kind

DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
QUALIFIED_NAME = re.compile(r"^([a-z0-9]([-a-z0-9.]*[a-z0-9])?/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$")

RESERVED_NAMES = frozenset({"default", "kube-system", "kube-public", "kube-node-lease"})
RESERVED_PREFIXES = ("kube-", "openshift-")


class NameRules:
    """The rules on the namespace name a request creates and the labels it proposes.

    Names are unique per cluster: `ml-research` on two clusters is two namespaces.
    """

    def check_new_name(self) -> None:
        name = self.name
        field_name = "namespace_name"
        if not name:
            self.report.error(field_name, "This field is required.", "required")
        elif len(name) > 63:
            self.report.error(
                field_name, f"Must be at most 63 characters (a DNS-1123 label); it has {len(name)}.", "invalid"
            )
        elif not DNS_LABEL.match(name):
            self.report.error(
                field_name,
                f"{name!r} is not a DNS-1123 label: use lower-case letters, digits and '-', starting and ending "
                "with a letter or digit.",
                "invalid",
            )
        elif is_reserved_namespace(name):
            self.report.error(
                field_name, f"{name!r} is reserved for the cluster itself (default, kube-*, openshift-*).", "reserved"
            )
        elif self.cluster is None:
            return  # check_cluster names the unknown cluster: no name is taken on it
        elif TeamNamespace.objects.live().filter(cluster=self.cluster, name=name).exists():
            message = f"A namespace named {name!r} already exists on cluster {self.cluster}."
            self.report.error(field_name, message, "taken")
        else:
            competing = Request.objects.filter(
                kind=Kind.CREATE_NAMESPACE, cluster=self.cluster, namespace_name=name, state__in=Request.OPEN_STATES
            ).exclude(pk=self.request_id)
            if competing.exists():  # whose request it is, and its id, may belong to another team
                message = f"{name!r} on cluster {self.cluster} is already asked for by another open request."
                self.report.error(field_name, message, "taken")

    def check_labels(self, labels: object) -> None:
        if not isinstance(labels, dict):
            self.report.error("labels", "Must be an object of label keys and values.", "invalid")
            return
        if too_many := count_problem("labels", len(labels), MAX_LABELS):
            self.report.error("labels", too_many, "too_many")
            return
        for key, value in labels.items():
            if key in ("team", "cost-center", "gpu-tier") or "kubernetes.io/" in key:
                self.report.error(f"labels[{key}]", "Set by the portal; it cannot be proposed.", "reserved")
            elif not _is_label_key(key) or not isinstance(value, str) or len(value) > 63:
                self.report.error(
                    f"labels[{key}]",
                    "Must be a valid label key with a string value of at most 63 characters.",
                    "invalid",
                )


def is_reserved_namespace(name: str) -> bool:
    """Namespaces of the cluster itself, which the portal never creates nor touches."""
    return name in RESERVED_NAMES or name.startswith(RESERVED_PREFIXES)


def _is_label_key(key: str) -> bool:
    """A qualified name as the API server takes it: an optional DNS prefix of 253 and a name of 63 characters."""
    prefix, _, name = key.rpartition("/")
    return len(prefix) <= 253 and len(name) <= 63 and bool(QUALIFIED_NAME.match(key))
