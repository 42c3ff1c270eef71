"""Kubernetes resource quantities, parsed and compared exactly.

The API server's own rules (k8s.io/apimachinery resource.Quantity): a signed decimal
number followed by a binary-SI suffix (Ki..Ei), a decimal-SI suffix (n..E) or a
decimal exponent (e3); values are rounded up to the nano, and printed back in the
format they were written in. Everything here is Decimal, never float, so that
`8Gi` and `8589934592` compare equal and `0.1 + 0.2` is `300m`.
"""

import re
from dataclasses import dataclass
from decimal import ROUND_CEILING, Decimal, localcontext
from enum import Enum
from functools import total_ordering

__all__ = ["Quantity", "QuantityError", "canonical", "parse_quantity"]


class QuantityError(ValueError):
    """An input that the API server would refuse as a quantity."""


class Format(Enum):
    BINARY_SI = "BinarySI"
    DECIMAL_SI = "DecimalSI"
    DECIMAL_EXPONENT = "DecimalExponent"


_BINARY_SUFFIXES = {"Ki": 10, "Mi": 20, "Gi": 30, "Ti": 40, "Pi": 50, "Ei": 60}
_DECIMAL_SUFFIXES = {"n": -9, "u": -6, "m": -3, "": 0, "k": 3, "M": 6, "G": 9, "T": 12, "P": 15, "E": 18}
_DECIMAL_BY_EXPONENT = {exponent: suffix for suffix, exponent in _DECIMAL_SUFFIXES.items()}
_BINARY_BY_BITS = {bits: suffix for suffix, bits in _BINARY_SUFFIXES.items()}

_NUMBER = re.compile(r"^(?P<sign>[+-]?)(?P<number>[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?P<suffix>.*)$")
_EXPONENT = re.compile(r"^[eE][+-]?[0-9]+$")

#: 8Ei, the int64 range the API server stores quantities in; anything beyond is absurd for a quota.
MAX_VALUE = Decimal(2**63)
_NANO = Decimal("1e-9")


@total_ordering
@dataclass(frozen=True, eq=False)
class Quantity:
    """An exact amount in base units (cores, bytes, objects) and the format it prints in."""

    value: Decimal
    format: Format = Format.DECIMAL_SI

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Quantity):
            return NotImplemented
        return self.value == other.value

    def __lt__(self, other: "Quantity") -> bool:
        return self.value < other.value

    def __hash__(self) -> int:
        return hash(self.value)

    def __add__(self, other: "Quantity") -> "Quantity":
        return Quantity(self.value + other.value, self.format)

    def __sub__(self, other: "Quantity") -> "Quantity":
        return Quantity(self.value - other.value, self.format)

    def __str__(self) -> str:
        return self.canonical()

    def __repr__(self) -> str:
        return f"Quantity({self.canonical()!r})"

    @classmethod
    def zero(cls) -> "Quantity":
        return cls(Decimal(0))

    def canonical(self) -> str:
        """The string the API server prints for this quantity (`1536Mi`, `500m`, `1e3`)."""
        value = self.value
        if value == 0:
            return "0"
        sign = "-" if value < 0 else ""
        magnitude = abs(value)
        if self.format is Format.BINARY_SI and magnitude >= 1024 and magnitude == magnitude.to_integral_value():
            return sign + _format_binary(int(magnitude))
        mantissa, exponent = _decimal_mantissa(magnitude)
        if self.format is Format.DECIMAL_EXPONENT:
            suffix = f"e{exponent}" if exponent else ""
        else:
            while exponent > 18:  # E is the largest decimal suffix: 1000E, not 1Z
                mantissa, exponent = mantissa * 1000, exponent - 3
            suffix = _DECIMAL_BY_EXPONENT[exponent]
        return f"{sign}{mantissa}{suffix}"

    def as_int_ceiling(self) -> int:
        """Whole units, rounded up, as a scheduler counts GPUs and pods."""
        return int(self.value.to_integral_value(rounding=ROUND_CEILING))


def _format_binary(amount: int) -> str:
    bits = 0
    while bits < 60 and amount % 1024 == 0:
        amount //= 1024
        bits += 10
    return f"{amount}{_BINARY_BY_BITS.get(bits, '')}"


def _decimal_mantissa(magnitude: Decimal) -> tuple[int, int]:
    """Split into an integer mantissa and the largest exponent that is a multiple of 3."""
    exponent = -9
    mantissa = int(magnitude.scaleb(9))
    while mantissa and mantissa % 1000 == 0:
        mantissa //= 1000
        exponent += 3
    return mantissa, exponent


def parse_quantity(text: object, *, allow_negative: bool = False) -> Quantity:
    """Parse what a user or the API server wrote; raise QuantityError saying what is wrong.

    Integers are accepted as written in YAML (`nvidia.com/gpu: 4`); booleans are not.
    """
    if isinstance(text, bool) or not isinstance(text, str | int | float):
        raise QuantityError(f'must be a quantity string such as "4", "500m" or "8Gi", not {_shown(text)}')
    raw = str(text).strip()
    if not raw:
        raise QuantityError("must not be empty")
    match = _NUMBER.match(raw)
    if not match:
        raise QuantityError(
            f"{_shown(raw)} is not a quantity: expected a number with an optional suffix such as m, Gi or k"
        )
    suffix = match["suffix"]
    with localcontext() as context:
        context.prec = 60
        number = Decimal(match["number"])
        if suffix in _BINARY_SUFFIXES:
            value, quantity_format = number * (2 ** _BINARY_SUFFIXES[suffix]), Format.BINARY_SI
        elif suffix in _DECIMAL_SUFFIXES:
            value, quantity_format = number.scaleb(_DECIMAL_SUFFIXES[suffix]), Format.DECIMAL_SI
        elif _EXPONENT.match(suffix):
            exponent = int(suffix[1:])
            if abs(exponent) > 30:
                raise QuantityError(f"{_shown(raw)} is out of range: the exponent {exponent} is absurd for a resource")
            value, quantity_format = number.scaleb(exponent), Format.DECIMAL_EXPONENT
        else:
            raise QuantityError(
                f"{_shown(raw)} has an unknown suffix {_shown(suffix)}: use one of n, u, m, k, M, G, T, P, E, "
                "Ki, Mi, Gi, Ti, Pi, Ei or an exponent such as e3"
            )
        if match["sign"] == "-":
            value = -value
        # Before rounding: a value of more digits than the context holds cannot be quantized.
        if abs(value) > MAX_VALUE:
            raise QuantityError(f"{_shown(raw)} is absurdly large: a quantity here is at most 8Ei")
        # Like the API server, keep nano precision and round anything finer up.
        value = value.quantize(_NANO, rounding=ROUND_CEILING).normalize()
    if value < 0 and not allow_negative:
        raise QuantityError(f"{_shown(raw)} is negative; a quantity here must be zero or more")
    return Quantity(value, quantity_format)


def _shown(value: object) -> str:
    """The input as an error message quotes it: a thousand digits are not worth repeating."""
    text = repr(value)
    return text if len(text) <= 42 else f"{text[:20]}…{text[-8:]}"


def canonical(text: object) -> str:
    """Parse and print back in the API server's canonical form."""
    return parse_quantity(text).canonical()
