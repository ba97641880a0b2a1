"""Small RSS documents for tests: items are (title, link, description) tuples, published recently."""

from __future__ import annotations

import time


def recent_pubdate(seconds_ago: float = 600) -> str:
    return time.strftime("%a, %d %b %Y %H:%M:%S GMT", time.gmtime(time.time() - seconds_ago))


def rss(items: list[tuple[str, str, str]], *, cdata: bool = False, pubdate: str | None = None) -> bytes:
    """An RSS 2.0 feed; the link doubles as the GUID. `cdata` wraps titles and descriptions."""
    when = pubdate or recent_pubdate()

    def wrap(s: str) -> str:
        return f"<![CDATA[{s}]]>" if cdata else s

    body = "".join(
        f"<item><title>{wrap(t)}</title><link>{u}</link><guid>{u}</guid><description>{wrap(d)}</description>"
        f"<pubDate>{when}</pubDate></item>"
        for t, u, d in items
    )
    return f'<?xml version="1.0"?><rss version="2.0"><channel><title>T</title>{body}</channel></rss>'.encode()


def distinct_story(i: int, tag: str = "s") -> tuple[str, str, str]:
    """A face-recognition story unlike any other (so it is never clustered with them)."""
    words = " ".join(f"{tag}{i}w{k}" for k in range(40))
    return (
        f"Facial recognition report {tag}{i} {words[:60]}",
        f"https://news.example/{tag}/{i}",
        f"Police use live facial recognition cameras. {words}",
    )
