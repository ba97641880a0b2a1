"""Bolt wiring: the `/spyglass` command, acked at once; search answered through respond() after."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from slack_bolt import Ack, App, Respond
from slack_sdk import WebClient

from spyglass.service import Services
from spyglass.slack.commands import Caller, handle, split_command

log = logging.getLogger(__name__)
LISTENER_THREADS = 16  # Bolt's default of 5 would 404 a sixth concurrent slow command


def build_app(svc: Services, client: WebClient) -> App:
    """Needs SLACK_SIGNING_SECRET; Bolt verifies every request's signature and rejects stale ones."""
    app = App(
        client=client,
        signing_secret=svc.settings.slack.signing_secret,
        listener_executor=ThreadPoolExecutor(max_workers=LISTENER_THREADS, thread_name_prefix="slack"),
        logger=logging.getLogger("spyglass.slack.bolt"),
    )

    @app.command("/spyglass")
    def spyglass_command(ack: Ack, command: dict[str, Any], respond: Respond) -> None:
        caller = Caller(
            team_id=str(command.get("team_id", "")),
            channel_id=str(command.get("channel_id", "")),
            user_id=str(command.get("user_id", "")),
            user_name=str(command.get("user_name", "")),
        )
        text = str(command.get("text") or "")
        # Searches over a large history may take a moment: ack at once and answer through respond().
        # Everything else is quick and answers in the ack itself.
        deferred = split_command(text)[0] == "search"
        answer: Callable[..., Any] = respond if deferred else ack
        if deferred:
            ack()
        try:
            reply = handle(svc, caller, text)
        except Exception:
            log.exception("command failed: %r", text[:200])
            answer(text="Sorry, something went wrong on our side. Please try again.", response_type="ephemeral")
            return
        answer(**reply.message)

    # Link buttons ("Read story", "Open") still send Slack an interaction; acknowledge it so Slack
    # does not show the user a warning. The browser has already opened the link.
    @app.action(re.compile(r"^(read_story|open_hit_\d+)$"))
    def link_button(ack: Ack) -> None:
        ack()

    @app.error
    def on_error(error: Exception, body: dict[str, Any]) -> None:
        log.error("unhandled error in Slack listener: %s", error)

    return app
