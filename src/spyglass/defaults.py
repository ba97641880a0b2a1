"""Named limits and timings, each defined once (rq-style). Modules read them as
``defaults.NAME`` where tests shorten them (the leases), and import them by name otherwise.

Slack's own Block Kit limits are not here: the SDK's block models know them (`render/blocks.py`).
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

# ---------------------------------------------------------------- configuration defaults
CONFIG_FILE = Path("config/spyglass.toml")
DATABASE_URL = "sqlite:///spyglass.db"
POLL_INTERVAL = 15 * 60.0  # seconds between polls of one source
MAX_AGE = 72 * 3600.0  # stories published longer ago than this are stored but not alerted
SLACK_API_URL = "https://slack.com/api/"

# ---------------------------------------------------------------- untrusted input, bounded
MAX_TITLE = 500  # characters of a story's title
MAX_SUMMARY = 5000  # characters of a story's summary as stored
MAX_URL = 3000  # characters of a URL (Slack's limit for a link; longer ones are not links)
MAX_PROVIDER = 200  # characters of an outlet's name
MAX_SOURCE_NAME = 200  # characters of a source's name (sources.name is a String(200))
MAX_GUID = 1000  # characters of an entry's id
MAX_ITEMS = 2000  # entries read from one feed; the rest are counted as skipped
MAX_MATCH_CHARS = 20_000  # of title and of summary read by the matcher and the classifier
MAX_FILE_BYTES = 1 * 2**20  # one Markdown story file
MAX_FILES = 10_000  # files read from one folder source per poll
MAX_COMMAND_TEXT = 1000  # characters of a slash command's text
MAX_QUERY = 300  # characters of a search query
MAX_QUERY_TERMS = 12

# ---------------------------------------------------------------- what people see
MAX_RELATED = 8  # related links shown under an alert (Slack and console)
MAX_RELATED_STORED = 20  # related links kept from a story file's front matter
MAX_HITS = 10  # search results shown

# ---------------------------------------------------------------- sources
SOURCE_LEASE = timedelta(minutes=10)  # a claimed source is this worker's until then
# A source is due when its interval has elapsed, counted from the start of its last poll, give or take
# this much: the scheduler fires at start + k·interval, and a fire a few ms "early" must still poll.
DUE_TOLERANCE = timedelta(seconds=2)
FAILING_AFTER = 5  # consecutive errors before a source is flagged as failing

# ---------------------------------------------------------------- delivery
DELIVERY_LEASE = timedelta(minutes=2)  # renewed right before each post (chunk: Outbox._lease)
MAX_ATTEMPTS = 8  # for a message Slack refuses; outages are waited out instead (OUTAGE_PATIENCE)
OUTAGE_PATIENCE = timedelta(hours=24)
# A rejected bot token stops delivery for this long (then one probe per channel); the rows wait and
# their attempts are not spent, so fixing the token later loses nothing.
AUTH_PAUSE = timedelta(minutes=1)
CLAIM_BATCH = 200  # deliveries claimed per transaction
POLL_TICK = 2.0  # seconds between a worker's looks for due sources (the due tolerance above)
POLL_BATCH = 200  # sources one worker claims at a time: several workers share a backlog
DRAIN_EVERY = 5.0  # seconds between drains of the outbox

# ---------------------------------------------------------------- the worker and Slack
LEADER_LEASE = timedelta(seconds=60)  # the worker that runs the once-per-deployment jobs
PRUNE_EVERY = timedelta(days=1)
COMPLAINT_EVERY = 60.0  # seconds between repeats of one database error in the log
# A Slack command's write waits this long for another process's write lock, then answers "busy":
# Slack wants its answer within 3 s, and a change made after the user was told "failed" is worse.
COMMAND_WAIT = 2.0
# The SDK counts a connection stale after 4 unanswered pings and checks once per ping: every 2 s
# means a silently dropped connection is replaced within about 10 s (the SDK's 10 s took ~58 s).
SOCKET_PING = 2.0

# Why it matched: a proximity match spans a few words of the story, never a paragraph.
MAX_REASON_CHARS = 80
# /spyglass topics: 25 topics take ~4,000 characters; a long custom list stays inside one message.
MAX_TOPICS_TEXT = 12_000
# A URL path shorter than this ("/", "/news") says nothing about being one article on two sites.
MIN_SHARED_PATH = 12
