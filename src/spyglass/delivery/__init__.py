"""Pure message builders: Slack Block Kit payloads and console renderings (no I/O)."""
