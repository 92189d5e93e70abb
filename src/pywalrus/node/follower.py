"""What the event follower last did, so that `/v1/health` can tell a node that keeps up with
the chain from one that is behind or cut off.

A node whose follower is behind does not know the latest registrations, certifications or
epoch changes: it refuses uploads of new blobs and cannot take part in an epoch change, so it
must not call itself healthy.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

POLL_MS = 10_000
"""Long-poll timeout of one wait for events."""
EVENT_PAGE = 500
"""Events asked for per poll; a full page means more are waiting."""
SILENCE_GRACE_S = 15.0
"""How much longer than a long-poll a poll may stay unanswered before the follower counts as
cut off from the chain."""


@dataclass
class FollowerStatus:
    """The follower's last poll and failure, in monotonic time."""

    started: bool = False
    """At least one poll has been answered since the follower (re)started."""
    caught_up: bool = False
    """The last answered poll returned less than a full page."""
    poll_since: float | None = None
    """When the poll in flight was sent (None: none in flight)."""
    error: str | None = None
    """Why the last attempt to read or apply events failed (None after a success)."""
    error_since: float | None = None
    """When the failures started."""

    def polling(self) -> None:
        self.poll_since = time.monotonic()

    def polled(self, full_page: bool) -> None:
        self.poll_since = None
        self.started = True
        self.caught_up = not full_page
        self.error = None
        self.error_since = None

    def failed(self, exc: BaseException) -> None:
        self.poll_since = None
        if self.error_since is None:
            self.error_since = time.monotonic()
        self.error = str(exc) or type(exc).__name__

    def restarted(self) -> None:
        self.started = False
        self.caught_up = False
        self.poll_since = None

    def problem(self) -> str | None:
        """Why the follower is not keeping up with the chain, or None if it is."""
        now = time.monotonic()
        if self.error is not None:
            since = now - (self.error_since or now)
            return f"the event follower cannot follow the chain (for {since:.0f} s): {self.error}"
        if self.poll_since is not None and now - self.poll_since > POLL_MS / 1000 + SILENCE_GRACE_S:
            return (
                f"the chain has not answered the event follower for {now - self.poll_since:.0f} s"
            )
        if not self.started:
            return "the event follower is starting"
        if not self.caught_up:
            return "the event follower is catching up with the chain"
        return None
