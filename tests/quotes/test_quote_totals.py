"""Property tests of quote totals: stored values match an independent computation, rounded half-up."""

from decimal import Decimal
from fractions import Fraction

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from quotes import services
from quotes.models import Quote, QuoteLineItem
from tenancy.context import company_context

pytestmark = pytest.mark.django_db

DB_SETTINGS = settings(
    max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


def decimals(low: str, high: str, places: int):
    return st.decimals(min_value=Decimal(low), max_value=Decimal(high), places=places, allow_nan=False)


lines = st.fixed_dictionaries(
    {
        "description": st.just("Item"),
        "quantity": decimals("0", "10000", 3),
        "unit_price": decimals("0", "100000", 2),
        "discount_percent": decimals("0", "100", 2),
        "tax_rate": decimals("0", "100", 2),
    }
)
line_lists = st.lists(lines, min_size=1, max_size=8)


def cents(value: Fraction) -> Fraction:
    """Half-up rounding to cents in exact rational arithmetic, independent of Decimal's quantize."""
    scaled = value * 100
    floor = scaled.numerator // scaled.denominator
    return Fraction(floor + (1 if scaled - floor >= Fraction(1, 2) else 0), 100)


def reference_line(line: dict) -> tuple[Fraction, Fraction, Fraction, Fraction]:
    """The documented rule, computed with fractions: (subtotal, discount, tax, total)."""
    quantity, price = Fraction(line["quantity"]), Fraction(line["unit_price"])
    subtotal = cents(quantity * price)
    discount = cents(subtotal * Fraction(line["discount_percent"]) / 100)
    tax = cents((subtotal - discount) * Fraction(line["tax_rate"]) / 100)
    return subtotal, discount, tax, subtotal - discount + tax


def reference_quote(items: list[dict]) -> tuple[Fraction, ...]:
    per_line = [reference_line(line) for line in items]
    return tuple(sum((values[i] for values in per_line), Fraction(0)) for i in range(4))


def stored_values(quote: Quote) -> tuple[Decimal, ...]:
    quote = Quote.objects.get(pk=quote.pk)
    return quote.subtotal, quote.discount_total, quote.tax_total, quote.total


def two_places(value: Decimal) -> bool:
    return value.as_tuple().exponent == -2


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("0.125", "0.13"),
        ("0.135", "0.14"),
        ("0.145", "0.15"),
        ("2.675", "2.68"),
        ("0.124999", "0.12"),
        ("1.005", "1.01"),
        ("0", "0.00"),
    ],
)
def test_rounding_is_half_up_to_cents(value, expected):
    """A half cent always rounds up, unlike banker's rounding (0.125 -> 0.13, not 0.12)."""
    assert str(services.to_cents(Decimal(value))) == expected


@example(value=Decimal("0.125"))
@given(value=decimals("0", "1000000", 6))
def test_to_cents_matches_the_reference_rounding(value):
    """For any amount, to_cents equals exact half-up rounding and keeps two decimal places."""
    rounded = services.to_cents(value)
    assert Fraction(rounded) == cents(Fraction(value))
    assert two_places(rounded)


@example(
    line={
        "description": "Item",
        "quantity": Decimal("1"),
        "unit_price": Decimal("0.25"),
        "discount_percent": Decimal("50"),
        "tax_rate": Decimal("10"),
    }
)
@given(line=lines)
def test_line_amounts_match_the_reference(line):
    """One line's amounts equal the independent computation, and total = subtotal - discount + tax."""
    amounts = services.line_amounts(
        line["quantity"], line["unit_price"], line["discount_percent"], line["tax_rate"]
    )

    assert tuple(map(Fraction, (amounts.subtotal, amounts.discount, amounts.tax, amounts.total))) == (
        reference_line(line)
    )
    assert amounts.total == amounts.subtotal - amounts.discount + amounts.tax
    assert all(
        two_places(value) for value in (amounts.subtotal, amounts.discount, amounts.tax, amounts.total)
    )


@DB_SETTINGS
@example(
    items=[
        {
            "description": "Item",
            "quantity": Decimal("1"),
            "unit_price": Decimal("0.13"),
            "discount_percent": Decimal("0"),
            "tax_rate": Decimal("50"),
        },
    ]
)
@given(items=line_lists)
def test_stored_totals_equal_the_reference(items, company_a):
    """Totals stored by create_quote, on every line and the quote, equal the reference computation."""
    with company_context(company_a):
        quote = services.create_quote(line_items=items)
        stored_lines = list(QuoteLineItem.objects.filter(quote=quote).order_by("position"))
        totals = stored_values(quote)

    assert tuple(map(Fraction, totals)) == reference_quote(items)
    subtotal, discount, tax, total = totals
    assert total == subtotal - discount + tax
    assert all(two_places(value) for value in totals)
    for line, item in zip(stored_lines, items, strict=True):
        values = (line.subtotal, line.discount_amount, line.tax_amount, line.total)
        assert tuple(map(Fraction, values)) == reference_line(item)
        assert line.total == line.subtotal - line.discount_amount + line.tax_amount
        assert all(two_places(value) for value in values)


@DB_SETTINGS
@given(items=line_lists, data=st.data())
def test_line_order_does_not_change_totals(items, data, company_a):
    """The same lines in another order give the same stored totals."""
    shuffled = data.draw(st.permutations(items))
    with company_context(company_a):
        first = stored_values(services.create_quote(line_items=items))
        second = stored_values(services.create_quote(line_items=shuffled))

    assert first == second


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(items=line_lists, replacement=line_lists)
def test_replacing_lines_recomputes_to_the_new_reference(items, replacement, company_a):
    """After an update replaces the lines, the totals are those of the new lines only."""
    with company_context(company_a):
        quote = services.create_quote(line_items=items)
        services.update_quote(quote, line_items=replacement)
        totals = stored_values(quote)

    assert tuple(map(Fraction, totals)) == reference_quote(replacement)


def test_api_totals_equal_the_reference(client_a, company_a, company_b):
    """Through the API, the returned and stored totals equal the reference, as strings with cents."""
    items = [
        {
            "description": "Half cents",
            "quantity": "1",
            "unit_price": "0.25",
            "discount_percent": "50",
            "tax_rate": "10",
        },
        {
            "description": "Bulk",
            "quantity": "3.333",
            "unit_price": "1.35",
            "discount_percent": "0",
            "tax_rate": "19",
        },
    ]

    response = client_a.post("/api/quotes", {"line_items": items}, format="json")

    assert response.status_code == 201, response.content
    body = response.json()
    expected = reference_quote(
        [
            {key: Decimal(value) if key != "description" else value for key, value in item.items()}
            for item in items
        ]
    )
    returned = tuple(
        Fraction(Decimal(body[key])) for key in ("subtotal", "discount_total", "tax_total", "total")
    )
    assert returned == expected
    # 0.25 * 50% = 0.125 -> 0.13 discount (half-up), leaving 0.12; tax 0.012 -> 0.01.
    assert [body["line_items"][0][key] for key in ("discount_amount", "tax_amount", "total")] == [
        "0.13",
        "0.01",
        "0.13",
    ]
    with company_context(company_a):
        assert stored_values(Quote.objects.get(pk=body["id"]))[3] == Decimal(body["total"])
    with company_context(company_b):
        assert not Quote.objects.exists()
