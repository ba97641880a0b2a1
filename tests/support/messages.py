"""Reading Slack messages the way Slack does: which strings are parsed as mrkdwn."""

from __future__ import annotations


def mrkdwn_strings(message: dict) -> list[str]:
    """Top-level text plus every mrkdwn text object anywhere in the blocks."""
    out = [message["text"]]

    def walk(node: object) -> None:
        if isinstance(node, dict):
            if node.get("type") == "mrkdwn":
                out.append(node["text"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(message["blocks"])
    return out
