"""Why a dynamic registration failed: one class per reason, with advice.

These are shown to the LMS administrator inside the platform's registration
dialog. Nothing is stored when one is raised.
"""

from __future__ import annotations

from dataclasses import dataclass

# Enough of an answer to read the platform's reason, not a whole page.
ANSWER_EXCERPT_CHARS = 2000


@dataclass(frozen=True)
class PlatformAnswer:
    """What the platform said: its HTTP status and the start of its body."""

    status: int
    excerpt: str

    @classmethod
    def of(cls, status: int, text: str) -> PlatformAnswer:
        return cls(status, text.strip()[:ANSWER_EXCERPT_CHARS])


class RegistrationFailed(Exception):
    """A registration we could not complete; `detail` is for the administrator."""

    status = 502
    reason = "registration_failed"
    title = "The tool could not be registered"
    advice = "Start the registration again from your LMS."

    def __init__(self, detail: str = "", *, answer: PlatformAnswer | None = None):
        super().__init__(detail or self.title)
        self.detail = detail
        self.answer = answer
        # Seconds to wait before trying again, when the refusal is a rate limit.
        self.retry_after: int | None = None


class RegistrationNotStarted(RegistrationFailed):
    status = 400
    reason = "registration_not_started"
    title = "Your LMS opens this page during registration"
    advice = (
        "Paste this page's address into your LMS's dynamic registration (Moodle: "
        "Manage tools, 'Tool URL'; Canvas: Developer Keys, LTI Registration). "
        "The LMS then opens it with the details the tool needs."
    )


class UrlRefused(RegistrationFailed):
    status = 400
    reason = "url_refused"
    title = "The tool will not contact this address"
    advice = (
        "The tool only contacts an LMS over http or https at a public address, and "
        "only at the hosts its administrator allows. Ask the tool's administrator "
        "to allow your LMS's host."
    )


class IssuerMismatch(RegistrationFailed):
    status = 400
    reason = "issuer_mismatch"
    title = "Your LMS's configuration names another site"
    advice = (
        "The configuration says it belongs to a site other than the one it came "
        "from. Check the LMS's own address setting (Moodle: wwwroot), then start "
        "the registration again."
    )


class ConfigurationUnavailable(RegistrationFailed):
    reason = "configuration_unavailable"
    title = "The tool could not read your LMS's configuration"
    advice = (
        "The LMS's answer is below. Registration tokens are used once and expire "
        "(Moodle's after an hour): start the registration again from your LMS."
    )


class ConfigurationInvalid(RegistrationFailed):
    reason = "configuration_invalid"
    title = "Your LMS's configuration is incomplete"
    advice = (
        "The LMS did not publish everything an LTI 1.3 tool needs. Register the "
        "tool by hand with the URLs from the tool's administrator page instead."
    )


class PlatformUnreachable(RegistrationFailed):
    reason = "platform_unreachable"
    title = "The tool could not reach your LMS"
    advice = (
        "Check that the LMS can be reached from the tool's server (firewall, DNS, "
        "certificate), then start the registration again."
    )


class PlatformRejected(RegistrationFailed):
    reason = "platform_rejected"
    title = "Your LMS refused the registration"
    advice = (
        "The LMS's answer below says what it refused. Start the registration "
        "again; if the answer is the same, send it to the tool's administrator."
    )
    token_advice = (
        "The LMS did not accept the registration token: each token works once "
        "and expires. Start the registration again from your LMS for a new one."
    )

    def __init__(self, detail: str = "", *, answer: PlatformAnswer | None = None):
        super().__init__(detail, answer=answer)
        if answer is not None and answer.status in (401, 403):
            self.advice = self.token_advice


class AlreadyRegistered(RegistrationFailed):
    status = 409
    reason = "already_registered"
    title = "This client is already registered with the tool"
    advice = (
        "The LMS answered with a client ID the tool already knows. Dynamic "
        "registration never changes an existing registration: a tool administrator "
        "must change it in the tool's admin view. Delete the new tool entry in the "
        "LMS if it made one."
    )


class RegistrationThrottled(RegistrationFailed):
    status = 429
    reason = "registration_rate_limited"
    title = "Too many registration attempts from your address"
    advice = (
        "Each attempt makes the tool contact your LMS, so attempts are limited per "
        "minute. Wait a minute, then start the registration again from the LMS."
    )


class AnswerInvalid(RegistrationFailed):
    reason = "registration_answer_invalid"
    title = "Your LMS's answer could not be used"
    advice = (
        "The LMS may have created a tool entry anyway: delete it in the LMS, then "
        "start the registration again."
    )
