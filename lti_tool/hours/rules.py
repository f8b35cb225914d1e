"""The crediting rule, in one place, with the defaults the README documents."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from zoneinfo import ZoneInfo

from lti_tool.settings import Settings


class Source(StrEnum):
    """Why minutes were credited; every ledger line names one."""

    TRACKED_STUDY = "tracked_study"
    REFLECTION_ACCEPTED = "reflection_accepted"
    KNOWLEDGE_CHECK_PASSED = "knowledge_check_passed"
    SUPPORT_GROUP_ATTENDED = "support_group_attended"
    FIELD_HOURS_APPROVED = "field_hours_approved"
    PAPER_ACCEPTED = "paper_accepted"
    MANUAL_CORRECTION = "manual_correction"


# Study the participant does alone is what the daily cap limits (the NAADAC norm
# for online courses). Hours a person verified – an accepted reflection, attendance,
# field hours, the paper – are not capped: they are credited on the reviewer's day,
# and a cap there would lose them.
DAILY_CAPPED_SOURCES = frozenset({Source.TRACKED_STUDY, Source.KNOWLEDGE_CHECK_PASSED})


@dataclass(frozen=True)
class CreditRules:
    """Thresholds of the crediting rule; all configurable, defaults from DOMAIN §12."""

    video_watched_share: float = 0.9
    reading_complete_share: float = 0.75
    default_pass_mark: float = 0.7
    daily_cap_minutes: int = 8 * 60
    # Reading time is credited in steps, so the ledger gets a line per few minutes
    # of study rather than per heartbeat.
    credit_step_minutes: int = 5
    heartbeat_seconds: int = 30
    timezone: str = "America/Los_Angeles"

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @classmethod
    def from_settings(cls, settings: Settings) -> CreditRules:
        """The rule as configured (settings `credit_*` and `program_timezone`)."""
        return cls(
            video_watched_share=settings.credit_video_watched_share,
            reading_complete_share=settings.credit_reading_complete_share,
            default_pass_mark=settings.credit_pass_mark,
            daily_cap_minutes=settings.credit_daily_cap_minutes,
            credit_step_minutes=settings.credit_step_minutes,
            heartbeat_seconds=settings.heartbeat_seconds,
            timezone=settings.program_timezone,
        )


def round_down_to_quarter_hour(minutes: int) -> float:
    """Totals are shown in hours, rounded down to the quarter hour."""
    return (max(minutes, 0) // 15) * 15 / 60
