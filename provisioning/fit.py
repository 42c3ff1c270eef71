"""Would this pod fit? The portal's answer to `kubectl run --dry-run`, from what it knows.

It applies the namespace's LimitRange the way the API server's LimitRanger does
(defaults, then min and max per container), then adds the pods to what each quota
that would count them already holds.
"""

from dataclasses import dataclass, field
from decimal import Decimal

from teams.constants import GPU_RESOURCE
from teams.models import TeamNamespace
from teams.quantities import Quantity, QuantityError, parse_quantity


@dataclass(frozen=True)
class PodAsk:
    gpus: Quantity
    cpu: Quantity | None
    memory: Quantity | None
    count: int


@dataclass
class FitAnswer:
    fits: bool = True
    reasons: list[str] = field(default_factory=list)
    checks: list[str] = field(default_factory=list)
    unknown: list[str] = field(default_factory=list)

    def refuse(self, reason: str) -> None:
        self.fits = False
        self.reasons.append(reason)


def check_fit(namespace: TeamNamespace, rendered_quotas: list[dict], ask: PodAsk) -> FitAnswer:
    answer = FitAnswer()
    container = _container_limits(namespace.limit_range)
    requests, limits = {}, {}
    for resource, asked in (("cpu", ask.cpu), ("memory", ask.memory), (GPU_RESOURCE, ask.gpus)):
        default_request = _q(container.get("defaultRequest", {}).get(resource))
        default_limit = _q(container.get("default", {}).get(resource))
        if resource == GPU_RESOURCE:
            request = limit = asked if asked.value or default_limit is None else default_limit
        else:
            request = asked or default_request or default_limit
            limit = default_limit if asked is None or default_limit is None else max(default_limit, asked)
            if asked is not None and default_limit is not None and asked > default_limit:
                answer.checks.append(
                    f"{resource}: the request {asked} is above the LimitRange default limit {default_limit}, so "
                    "the pod must set its own limit."
                )
        if request is not None:
            requests[resource] = request
        if limit is not None:
            limits[resource] = limit
        maximum = _q(container.get("max", {}).get(resource))
        minimum = _q(container.get("min", {}).get(resource))
        if maximum is not None and limit is not None and limit > maximum:
            answer.refuse(f"{resource}: {limit} per container is above the LimitRange max of {maximum}.")
        if minimum is not None and request is not None and request < minimum:
            answer.refuse(f"{resource}: {request} per container is below the LimitRange min of {minimum}.")
    needed = _needed(requests, limits, ask.count)
    priority_class = namespace.tier.priority_class_name
    observed = namespace.observed_quotas or {}
    for quota in rendered_quotas:
        name = quota["metadata"]["name"]
        if not _counts(quota["spec"].get("scopeSelector"), priority_class):
            continue
        used_values = (observed.get(name) or {}).get("used")
        for key, hard_text in quota["spec"]["hard"].items():
            if key not in needed:
                continue
            hard = parse_quantity(hard_text)
            if used_values is None:
                answer.unknown.append(f"{key} in {name}: usage not reported yet")
                used = Quantity.zero()
            else:
                used = parse_quantity(used_values.get(key, "0"))
            total = used + needed[key]
            line = f"{key} in quota {name}: {used} used + {needed[key]} asked = {total} of {hard}"
            if total > hard:
                answer.refuse(f"Would not fit: {line}.")
            else:
                answer.checks.append(line)
    return answer


def parse_ask(gpus: str, cpu: str, memory: str, count: str) -> tuple[PodAsk | None, dict[str, str]]:
    """The checker's inputs, or the errors naming each bad field."""
    errors: dict[str, str] = {}
    values: dict[str, Quantity | None] = {}
    for name, text in (("gpus", gpus or "0"), ("cpu", cpu), ("memory", memory)):
        if not text:
            values[name] = None
            continue
        try:
            values[name] = parse_quantity(text)
        except QuantityError as error:
            errors[name] = str(error)
    if values.get("gpus") is not None and values["gpus"].value != values["gpus"].value.to_integral_value():
        errors["gpus"] = "GPUs are whole devices."
    try:
        pods = int(count or "1")
        if not 1 <= pods <= 1000:
            raise ValueError
    except ValueError:
        errors["count"] = "Between 1 and 1000 pods."
        pods = 1
    if errors:
        return None, errors
    return PodAsk(values["gpus"] or Quantity.zero(), values["cpu"], values["memory"], pods), {}


def _needed(requests: dict, limits: dict, count: int) -> dict[str, Quantity]:
    def times(quantity: Quantity) -> Quantity:
        return Quantity(quantity.value * count, quantity.format)

    needed = {"pods": Quantity(Decimal(count))}
    for resource in ("cpu", "memory"):
        if resource in requests:
            needed[f"requests.{resource}"] = needed[resource] = times(requests[resource])
        if resource in limits:
            needed[f"limits.{resource}"] = times(limits[resource])
    if GPU_RESOURCE in requests:
        needed[f"requests.{GPU_RESOURCE}"] = times(requests[GPU_RESOURCE])
    return needed


def _counts(selector: dict | None, priority_class: str) -> bool:
    """Whether a quota with this scopeSelector counts pods at `priority_class`."""
    for expression in (selector or {}).get("matchExpressions") or []:
        if expression.get("scopeName") != "PriorityClass":
            continue
        values = set(expression.get("values") or [])
        operator = expression.get("operator")
        if (operator == "In" and priority_class not in values) or (operator == "NotIn" and priority_class in values):
            return False
        if operator == "DoesNotExist":
            return False
    return True


def _container_limits(limit_range: dict) -> dict:
    return next((item for item in limit_range.get("limits") or [] if item.get("type") == "Container"), {})


def _q(text: str | None) -> Quantity | None:
    return parse_quantity(text) if text is not None else None
