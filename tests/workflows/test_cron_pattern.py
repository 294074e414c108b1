"""The cron pattern the schema states admits only expressions the schedule trigger can run."""

import re

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from workflows.schedule import CRON_PATTERN, parse_cron


@settings(max_examples=300, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(st.from_regex(CRON_PATTERN, fullmatch=True))
def test_every_expression_the_schema_admits_parses(expression):
    """Whatever a client builds from the schema's pattern, the server takes, but for a date that never is.

    `0 0 30 2 *` (February 30th) matches every field's range; only the combination never occurs,
    which no pattern can state, and the server says so.
    """
    try:
        parse_cron(expression)
    except ValueError as error:
        assert "never occurs" in str(error), (expression, error)


@pytest.mark.parametrize("expression", ["1/7 * * * *", "* 16/45 * * *", "00/71 * * * *"])
def test_a_step_without_a_range_is_outside_the_pattern(expression):
    """`5/10` (a start with no end) is refused by Celery's crontab, so the pattern refuses it too."""
    assert not re.fullmatch(CRON_PATTERN, expression)
    with pytest.raises(ValueError):
        parse_cron(expression)
