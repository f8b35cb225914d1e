"""Reading what people type into forms: dates, hours, minutes, short text."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal, InvalidOperation

from lti_tool.work.errors import WorkRejected

# Older entries belong to a coordinator's correction, not a participant's log.
MAX_AGE_DAYS = 366


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
    try:
        hours = Decimal(raw.strip())
    except InvalidOperation:
        raise WorkRejected("Enter the hours as a number, such as 2 or 1.5.") from None
    if not hours.is_finite():
        raise WorkRejected("Enter the hours as a number, such as 2 or 1.5.")
    if hours <= 0:
        raise WorkRejected("The hours must be more than zero.")
    minutes = hours * 60
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
    try:
        value = int(raw.strip())
    except ValueError:
        raise WorkRejected(f"Enter the {label} as whole minutes.") from None
    if not low <= value <= high:
        raise WorkRejected(f"The {label} must be between {low} and {high} minutes.")
    return value
