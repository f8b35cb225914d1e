"""Why a launch was refused: one class per reason, each with a code and advice."""

from __future__ import annotations


class LaunchError(Exception):
    """A launch we refuse; the user sees `title` and `advice`, the log sees `reason`."""

    status = 400
    reason = "launch_invalid"
    title = "This launch could not be completed"
    advice = "Go back to your course and open the activity again."

    def __init__(self, detail: str = "", *, registration_id: int | None = None):
        super().__init__(detail or self.title)
        # `detail` is for the person fixing the setup; it never holds claim values.
        self.detail = detail
        self.registration_id = registration_id
        # The claimed issuer, for the administrator's failure list (not verified).
        self.issuer = ""


class UnknownPlatform(LaunchError):
    reason = "unknown_platform"
    title = "This learning platform is not registered with the tool"
    advice = (
        "Your LMS administrator should check that the tool's issuer and client ID "
        "match a registration in the tool (lti-tool platform list)."
    )


class DisabledPlatform(UnknownPlatform):
    reason = "platform_disabled"
    title = "This learning platform's registration is disabled"


class RegistrationChanged(LaunchError):
    status = 409
    reason = "registration_changed"
    title = "The tool's registration for your platform changed a moment ago"
    advice = (
        "Open the activity again from your course. If this keeps happening, your "
        "LMS administrator should check the registration (lti-tool platform list)."
    )


class LaunchBusy(LaunchError):
    status = 503
    reason = "launch_busy"
    title = "The tool is very busy right now"
    advice = "Wait a few seconds, then open the activity again from your course."


class UnknownDeployment(LaunchError):
    reason = "unknown_deployment"
    title = "This installation of the tool is not registered"
    advice = (
        "Your LMS administrator should add this deployment ID to the tool's "
        "registration for the platform."
    )


class BadToken(LaunchError):
    reason = "bad_token"
    title = "The launch message could not be read"
    advice = "Open the activity again from your course."


class BadSignature(LaunchError):
    reason = "bad_signature"
    title = "The launch message's signature did not check out"
    advice = (
        "Your LMS administrator should check the platform key set URL registered "
        "with the tool."
    )


class PlatformKeysUnavailable(LaunchError):
    status = 502
    reason = "platform_keys_unavailable"
    title = "The tool could not fetch your learning platform's keys"
    advice = (
        "Try again in a minute. If it persists, the platform's key set URL is down."
    )


class ExpiredToken(LaunchError):
    reason = "token_expired"
    title = "The launch took too long and has expired"
    advice = (
        "Open the activity again from your course. If it happens again, the "
        "server clocks of the platform and the tool may disagree."
    )


class WrongAudience(LaunchError):
    reason = "wrong_audience"
    title = "The launch message was meant for another tool"
    advice = (
        "Your LMS administrator should check the client ID registered with the tool."
    )


class ReplayedLaunch(LaunchError):
    reason = "nonce_replayed"
    title = "This launch has already been used"
    advice = "Open the activity again from your course; each launch works once."


class StateMismatch(LaunchError):
    reason = "state_invalid"
    title = "The launch did not come back to the browser that started it"
    advice = "Open the activity again from your course."


class CookiesBlocked(StateMismatch):
    reason = "state_cookie_missing"
    title = "Your browser blocked the tool's cookie inside the course page"
    advice = "Open the activity in a new window, or allow cookies for this site."


class WrongMessage(LaunchError):
    reason = "unsupported_message"
    title = "This kind of launch is not supported"
    advice = (
        "Your LMS administrator should check how the tool was placed in the course."
    )


class MethodNotAllowed(LaunchError):
    status = 405
    reason = "wrong_method"
    title = "The launch arrived the wrong way"
    advice = (
        "Launches must be sent by the learning platform as a form POST. Open the "
        "activity from your course instead of bookmarking this page."
    )


class PlatformRefused(LaunchError):
    reason = "platform_error"
    title = "Your learning platform ended the launch"
    advice = "Sign in to your course again and reopen the activity."


class BadLogin(LaunchError):
    reason = "login_invalid"
    title = "The login request from your learning platform was incomplete"
    advice = "Open the activity again from your course."


class NotPermitted(LaunchError):
    status = 403
    reason = "not_permitted"
    title = "You do not have access to this page"
    advice = "Open the tool from your course to continue."


class SessionExpired(NotPermitted):
    status = 401
    reason = "session_expired"
    title = "Your session has ended"
    advice = "Open the activity again from your course to continue."
