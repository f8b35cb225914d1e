"""Reading what people type into forms: dates, hours, minutes, short text."""

from __future__ import annotations

import re
from datetime import date, timedelta
from decimal import Decimal, DecimalException

from lti_tool.work.errors import WorkRejected

# Older entries belong to a coordinator's correction, not a participant's log.
MAX_AGE_DAYS = 366
# Plain decimals only: no exponent, no NaN/Infinity, no digits of other scripts.
# The sign is accepted so that "-2" is answered with "more than zero".
HOURS_PATTERN = re.compile(r"-?(?:[0-9]{1,4}(?:\.[0-9]{0,4})?|\.[0-9]{1,4})")
MINUTES_PATTERN = re.compile(r"-?[0-9]{1,9}")
HOURS_FORMAT = "Enter the hours as a number, such as 2 or 1.5."


def past_date(raw: str, today: date, label: str) -> date:
    """A YYYY-MM-DD date, not in the future and at most a year back."""
    try:
        value = date.fromisoformat(raw.strip())
    except ValueError:
        raise WorkRejected(f"Enter the {label} as a date (YYYY-MM-DD).") from None
    if value > today:
        raise WorkRejected(f"The {label} cannot be in the future.")
    if value < today - timedelta(days=MAX_AGE_DAYS):
        raise WorkRejected(
            f"The {label} is more than a year ago; ask your coordinator to add it."
        )
    return value


def required_text(raw: str, label: str, limit: int) -> str:
    """Trimmed text that is neither empty nor longer than `limit` characters."""
    value = raw.strip()
    if not value:
        raise WorkRejected(f"Fill in the {label}.")
    if len(value) > limit:
        raise WorkRejected(f"The {label} can be at most {limit:,} characters long.")
    return value


def quarter_hours(raw: str, limit_minutes: int) -> int:
    """Hours such as 2 or 1.75, in quarter hours, as minutes."""
    text = raw.strip()
    if not HOURS_PATTERN.fullmatch(text):
        raise WorkRejected(HOURS_FORMAT)
    try:
        minutes = Decimal(text) * 60
    except DecimalException:
        raise WorkRejected(HOURS_FORMAT) from None
    if minutes <= 0:
        raise WorkRejected("The hours must be more than zero.")
    if minutes < 15:
        raise WorkRejected("Log at least a quarter hour (0.25).")
    if minutes > limit_minutes:
        raise WorkRejected(
            f"One entry can hold at most {limit_minutes // 60} hours; "
            "log longer work as one entry per day."
        )
    if minutes % 15:
        raise WorkRejected("Log hours in quarter hours, such as 1.25, 1.5 or 1.75.")
    return int(minutes)


def whole_minutes(raw: str, label: str, low: int, high: int) -> int:
    """A whole number of minutes between `low` and `high`."""
    text = raw.strip()
    if not MINUTES_PATTERN.fullmatch(text):
        raise WorkRejected(f"Enter the {label} as whole minutes.")
    value = int(text)
    if not low <= value <= high:
        raise WorkRejected(f"The {label} must be between {low} and {high} minutes.")
    return value
