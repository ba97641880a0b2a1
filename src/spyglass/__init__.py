"""Spyglass: surveillance-technology news, matched, de-duplicated and delivered to Slack."""

__version__ = "0.1.0"
