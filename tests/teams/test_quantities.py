from decimal import Decimal

import pytest

from teams.quantities import QuantityError, canonical, parse_quantity

VALID = [
    # input, canonical form, value in base units
    ("100m", "100m", "0.1"),
    ("1", "1", "1"),
    ("2.5", "2500m", "2.5"),
    ("8Gi", "8Gi", "8589934592"),
    ("1Ti", "1Ti", "1099511627776"),
    ("500M", "500M", "500000000"),
    ("1e3", "1e3", "1000"),
    ("1E3", "1e3", "1000"),
    ("12e2", "1200", "1200"),
    ("1e-3", "1e-3", "0.001"),
    ("1536Mi", "1536Mi", "1610612736"),
    ("1.5Gi", "1536Mi", "1610612736"),
    ("1.5Ki", "1536", "1536"),
    ("1024Ki", "1Mi", "1048576"),
    ("1024", "1024", "1024"),
    ("2048", "2048", "2048"),
    ("1000m", "1", "1"),
    ("2000m", "2", "2"),
    ("1500m", "1500m", "1.5"),
    ("1.5m", "1500u", "0.0015"),
    ("0.5", "500m", "0.5"),
    (".5", "500m", "0.5"),
    ("5.", "5", "5"),
    ("+3", "3", "3"),
    ("0", "0", "0"),
    ("0.1n", "1n", "0.000000001"),
    ("1000k", "1M", "1000000"),
    ("1k", "1k", "1000"),
    ("100u", "100u", "0.0001"),
    ("8Ei", "8Ei", "9223372036854775808"),
    ("1e18", "1e18", "1000000000000000000"),
    (4, "4", "4"),
    (0.1, "100m", "0.1"),
    (" 64 ", "64", "64"),
]

INVALID = [
    ("-1", "'-1' is negative; a quantity here must be zero or more"),
    ("-100m", "'-100m' is negative; a quantity here must be zero or more"),
    ("", "must not be empty"),
    ("   ", "must not be empty"),
    ("abc", "'abc' is not a quantity: expected a number with an optional suffix such as m, Gi or k"),
    ("Gi", "'Gi' is not a quantity: expected a number with an optional suffix such as m, Gi or k"),
    (
        "1Q",
        "'1Q' has an unknown suffix 'Q': use one of n, u, m, k, M, G, T, P, E, Ki, Mi, Gi, Ti, Pi, Ei or an "
        "exponent such as e3",
    ),
    (
        "8gb",
        "'8gb' has an unknown suffix 'gb': use one of n, u, m, k, M, G, T, P, E, Ki, Mi, Gi, Ti, Pi, Ei or an "
        "exponent such as e3",
    ),
    (
        "1 Gi",
        "'1 Gi' has an unknown suffix ' Gi': use one of n, u, m, k, M, G, T, P, E, Ki, Mi, Gi, Ti, Pi, Ei or an "
        "exponent such as e3",
    ),
    (
        "1.2.3",
        "'1.2.3' has an unknown suffix '.3': use one of n, u, m, k, M, G, T, P, E, Ki, Mi, Gi, Ti, Pi, Ei or an "
        "exponent such as e3",
    ),
    ("1e100", "'1e100' is out of range: the exponent 100 is absurd for a resource"),
    ("9Ei", "'9Ei' is absurdly large: a quantity here is at most 8Ei"),
    ("1e19", "'1e19' is absurdly large: a quantity here is at most 8Ei"),
    (True, 'must be a quantity string such as "4", "500m" or "8Gi", not True'),
    (None, 'must be a quantity string such as "4", "500m" or "8Gi", not None'),
    ([1], 'must be a quantity string such as "4", "500m" or "8Gi", not [1]'),
]


@pytest.mark.parametrize(("text", "expected", "value"), VALID)
def test_valid_quantities_parse_exactly_and_print_as_the_api_server_does(text, expected, value):
    quantity = parse_quantity(text)

    assert canonical(text) == expected
    assert quantity.value == Decimal(value)


@pytest.mark.parametrize(("text", "message"), INVALID)
def test_invalid_quantities_are_refused_with_a_reason(text, message):
    with pytest.raises(QuantityError) as raised:
        parse_quantity(text)

    assert str(raised.value) == message


def test_the_table_covers_at_least_forty_inputs():
    assert len(VALID) + len(INVALID) >= 40


def test_quantities_compare_and_add_exactly_across_suffixes():
    assert parse_quantity("8Gi") == parse_quantity("8589934592")
    assert parse_quantity("1Gi") > parse_quantity("1G")
    assert parse_quantity("500m") < parse_quantity("1")
    assert str(parse_quantity("0.1") + parse_quantity("0.2")) == "300m"
    assert str(parse_quantity("1Gi") + parse_quantity("512Mi")) == "1536Mi"
    assert str(parse_quantity("4") - parse_quantity("1500m")) == "2500m"


def test_negative_quantities_are_allowed_only_when_asked_for():
    assert str(parse_quantity("-2", allow_negative=True)) == "-2"


def test_whole_units_round_up_as_the_scheduler_counts():
    assert parse_quantity("2500m").as_int_ceiling() == 3
    assert parse_quantity("8").as_int_ceiling() == 8
