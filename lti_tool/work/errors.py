"""Why a piece of work was refused: a message for the person who sent it."""

from __future__ import annotations


class WorkRejected(ValueError):
    """Input we refuse; the message is shown to the user as it is."""

    status = 422


class AlreadyReviewed(WorkRejected):
    """The item changed state meanwhile: reviewed, superseded or edited."""

    status = 409


class FileTooLarge(WorkRejected):
    status = 413


class OwnWork(WorkRejected):
    """A coordinator acting on their own work; another coordinator must do it."""

    status = 403

    def __init__(
        self,
        message: str = (
            "You cannot review your own work; another coordinator of this course "
            "has to review it."
        ),
    ) -> None:
        super().__init__(message)
