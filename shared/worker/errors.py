"""What a reconcile can run into, as the reconciler's callers see it."""


class RetryAfter(Exception):
    """A side is throttling (or asked to wait): re-queue the job with this delay instead of sleeping."""

    def __init__(self, seconds: float, reason: str) -> None:
        super().__init__(reason)
        self.seconds = seconds


class StaleRead(Exception):
    """What the plan was based on changed meanwhile (a 412 on either side): read again and decide again."""


class RoomUnavailable(Exception):
    """The room cannot take an IBSS-made meeting (busy in room mode, or it declined)."""


class OrganizerWithoutMailbox(Exception):
    """Graph has no mailbox for the address a meeting was to be created in (404 ErrorInvalidUser)."""

    def __init__(self, mailbox: str) -> None:
        super().__init__("the booking owner has no mailbox")  # no address in the text (it is logged)
        self.mailbox = mailbox
