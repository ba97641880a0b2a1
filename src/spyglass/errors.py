"""Every exception Spyglass raises on purpose, in one tree (httpx-style)::

    SpyglassError
    ├── UserError                 a person can fix it; str() is the one line shown, never a traceback
    │   ├── ConfigError           the config file or an environment variable (names file and key)
    │   ├── TopicsError           a topics file, a topics.custom override or a keyword (names slug and key)
    │   ├── QueryError            a search query (`spyglass search`, `/spyglass search`)
    │   ├── DurationError         "30d", "2h", "3mo": a duration with no known unit, or too long
    │   ├── ScheduleError         a digest or quiet-hours time, weekday or time zone that cannot be read
    │   ├── CredentialsError      Slack tokens missing, malformed or refused
    │   ├── SocketModeError       Socket Mode could not connect
    │   ├── SourceRefused         a feed someone asked to add cannot be (not a feed, internal address…)
    │   └── StoreError            the database cannot be used (bad URL, unreachable)
    │       ├── StoreBusy         another writer held the lock too long; nothing was written
    │       └── StoreUnwritable   the storage refused a write (disk full, read-only, I/O error)
    └── SourceError               one source cannot be read; recorded on that source, the poll goes on
        ├── FetchError            the server did not give the feed (HTTP error, refused, timed out, 410)
        ├── FeedError             the body is not a feed
        ├── FolderError           a folder source cannot be listed
        └── StoryFileError        one Markdown story file is unusable (DraftError: a draft, skipped quietly)

Delivery failures are not raised: a post returns a ``PostOutcome`` whose ``kind`` says whether it
was sent, is worth retrying (transient: Slack or the network is having trouble), or will never
succeed (permanent: the message, the channel or the token is the problem); see
``delivery/posters.py``.

The CLI turns any ``UserError`` into ``spyglass: error: <message>`` and exit status 2 (`cli.py`);
``SourceError`` never leaves the refresh of its source (`refresh.py`).
"""

from __future__ import annotations


class SpyglassError(Exception):
    """Base of every error Spyglass raises on purpose."""


class UserError(SpyglassError):
    """Anything the user can fix; str() is the message."""


class ConfigError(UserError):
    """The config file or environment is wrong; the message names the file and the key."""

    def __init__(self, where: str, key: str, problem: str) -> None:
        self.where, self.key, self.problem = where, key, problem
        super().__init__(f"{where}: {key}: {problem}" if key else f"{where}: {problem}")


class TopicsError(UserError, ValueError):
    """A topics file or override is malformed; the message names the source, slug and key."""


class QueryError(UserError, ValueError):
    """A search query that cannot be run; the message says what to change."""


class ScheduleError(UserError):
    """A time of day, weekday or time zone (digests, quiet hours) that cannot be read."""


class DurationError(UserError, ValueError):
    """A duration without a known unit, or absurdly long."""


class CredentialsError(UserError):
    """Missing or rejected Slack credentials."""


class SocketModeError(UserError):
    """Socket Mode could not connect."""


class SourceRefused(UserError):
    """A URL given in Slack or an OPML file that cannot become a source; str() says why, in one line."""


class StoreError(UserError):
    """The database cannot be used (bad URL, unreachable, not writable); str() is a user-facing line."""


class StoreBusy(StoreError):
    """Another writer held the lock longer than this transaction was willing to wait; nothing was written."""


class StoreUnwritable(StoreError):
    """The database refused a write for a reason outside Spyglass (full disk, read-only file, I/O error)."""


class SourceError(SpyglassError):
    """One source cannot be read; str() is what `spyglass sources` shows for it."""


class FetchError(SourceError):
    """The feed could not be fetched. ``retry_after`` is the server's Retry-After in seconds;
    ``disable`` means it said the feed is gone for good (HTTP 410)."""

    def __init__(self, message: str, *, retry_after: float | None = None, disable: bool = False) -> None:
        super().__init__(message)
        self.retry_after, self.disable = retry_after, disable


class FeedError(SourceError):
    """The fetched body is not a feed Spyglass can read."""


class FolderError(SourceError):
    """A folder source cannot be listed (missing, not a folder, unreadable)."""


class StoryFileError(SourceError, ValueError):
    """One story file is unusable; str() is a one-line reason."""


class DraftError(StoryFileError):
    """The file is a draft (`draft: true`): skipped without a warning."""
