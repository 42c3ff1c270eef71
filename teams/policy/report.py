"""What the policy found: errors that stop a request, warnings stored with it, each naming its field."""

from dataclasses import dataclass, field, replace

from django.core.exceptions import ValidationError


@dataclass(frozen=True)
class Finding:
    field: str
    message: str
    code: str
    #: A warning that held before the request too: the approver weighs what the request introduces.
    already: bool = False

    def as_dict(self) -> dict[str, str | bool]:
        return {"field": self.field, "message": self.message, "code": self.code, "already": self.already}


class PolicyError(ValidationError):
    """A request that breaks policy; `message_dict` maps each field to its messages."""

    def __init__(self, report: "PolicyReport") -> None:
        self.report = report
        super().__init__(report.error_dict())


@dataclass
class PolicyReport:
    errors: list[Finding] = field(default_factory=list)
    warnings: list[Finding] = field(default_factory=list)
    #: The proposed sections, resolved (each whole), with every quantity in canonical form.
    proposed: dict = field(default_factory=dict)
    #: What approval would change, row by row (teams.specs.spec_changes); empty until valid.
    changes: list[dict] = field(default_factory=list)

    @property
    def is_valid(self) -> bool:
        return not self.errors

    def error(self, field_name: str, message: str, code: str) -> None:
        self.errors.append(Finding(field_name, message, code))

    def warn(self, field_name: str, message: str, code: str) -> None:
        """Each warning once, however many rules reach the same field for the same reason."""
        finding = Finding(field_name, message, code)
        if finding not in self.warnings:
            self.warnings.append(finding)

    def mark_already(self, before: "PolicyReport") -> None:
        """Mark the warnings the spec before the request earned as well (same field, same reason)."""
        held = {(finding.field, finding.code) for finding in before.warnings}
        self.warnings = [replace(f, already=(f.field, f.code) in held) for f in self.warnings]

    @property
    def new_warnings(self) -> list[Finding]:
        return [finding for finding in self.warnings if not finding.already]

    @property
    def old_warnings(self) -> list[Finding]:
        return [finding for finding in self.warnings if finding.already]

    def error_dict(self) -> dict[str, list[str]]:
        result: dict[str, list[str]] = {}
        for finding in self.errors:
            result.setdefault(finding.field, []).append(finding.message)
        return result

    def raise_for_errors(self) -> None:
        if self.errors:
            raise PolicyError(self)
