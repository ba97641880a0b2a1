"""URL canonicalization: one identity per story, whatever tracking or AMP dress it arrives in."""

from __future__ import annotations

import functools
import hashlib
import re
from typing import Any
from urllib.parse import parse_qsl, quote, unquote, urlencode, urlsplit, urlunsplit

from spyglass.defaults import MAX_URL, MIN_SHARED_PATH

# Blocklist, never allowlist: an allowlist would delete meaningful parameters such as `id=7`.
_TRACKING_EXACT = frozenset(
    {
        "fbclid",
        "gclid",
        "dclid",
        "gbraid",
        "wbraid",
        "msclkid",
        "mc_cid",
        "mc_eid",
        "igshid",
        "_ga",
        "_gl",
        "ocid",
        "cmpid",
        "yclid",
        "twclid",
        "ttclid",
        "li_fat_id",
        "mkt_tok",
        "_hsenc",
        "_hsmi",
        "s_cid",
        "cmp",
        "ito",
        "at_medium",
        "at_campaign",
        "sr_share",
        "smid",
        "outputtype",
        "amp",
        "ref_src",
        "ref_url",
        "__twitter_impression",
        "spm",
        "guccounter",
        "guce_referrer",
        "guce_referrer_sig",
        "ns_mchannel",
        "ns_source",
        "ns_campaign",
        "ns_linkname",
        "ns_fee",
    }
)
_TRACKING_PREFIXES = ("utm_", "pk_", "mtm_", "hsa_", "vero_", "oly_")
_HOST_PREFIXES = ("www.", "amp.", "m.", "mobile.")
_AMP_CACHE = re.compile(r"^[a-z0-9-]+\.cdn\.ampproject\.org$")


def is_tracking_param(name: str) -> bool:
    low = name.lower()
    return low in _TRACKING_EXACT or low.startswith(_TRACKING_PREFIXES)


def unwrap_amp_cache(url: str) -> str:
    """`https://x-y.cdn.ampproject.org/c/s/www.x.y/path.amp` → `https://www.x.y/path.amp`."""
    parts = urlsplit(url)
    if not _AMP_CACHE.match((parts.hostname or "").lower()):
        return url
    m = re.match(r"^/(?:[a-z]/)+?(s/)?(.+)$", parts.path)
    if not m:
        return url
    scheme = "https" if m.group(1) else "http"
    inner = f"{scheme}://{m.group(2)}"
    return inner + (f"?{parts.query}" if parts.query else "")


_GOOGLE_REDIRECT = re.compile(r"^https?://(?:www\.)?google\.[a-z]{2,3}(?:\.[a-z]{2})?/url\?", re.I)
_GOOGLE_NEWS = re.compile(r"^https?://news\.google\.com/(?:rss/)?articles/", re.I)


def unwrap_redirect(url: str) -> str:
    """`https://www.google.com/url?rct=j&sa=t&url=STORY&ct=ga…` (every Google Alerts link) → STORY.

    Only an absolute http(s) target is taken; anything else leaves the redirect as it is.
    """
    if not _GOOGLE_REDIRECT.match(url):
        return url
    try:
        params = dict(parse_qsl(urlsplit(url).query))
    except ValueError:
        return url
    target = (params.get("url") or params.get("q") or "").strip()
    return target if re.match(r"^https?://[^\s/?#]+", target, re.I) and len(target) <= MAX_URL else url


def is_google_news(url: str) -> bool:
    """A Google News article link: an opaque redirect that only a request to Google could decode."""
    return bool(_GOOGLE_NEWS.match(url))


def strip_outlet_suffix(title: str, outlet: str) -> str:
    """`Police buy drones - The Northern Echo` → `Police buy drones` when the outlet is The Northern Echo."""
    for sep in (" - ", " – ", " — ", " | "):
        suffix = sep + outlet
        if outlet and title.casefold().endswith(suffix.casefold()) and len(title) > len(suffix):
            return title[: -len(suffix)].rstrip()
    return title


def canonical_url(url: str) -> str:
    """The identity key of a story URL: lower-cased host without www/amp/m, no tracking parameters,
    no AMP path variants, no fragment, no default port, sorted query. Not for linking: for comparing."""
    url = (url or "").strip()[:MAX_URL]
    if not url:
        return ""
    url = unwrap_amp_cache(unwrap_redirect(url))
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return url
    scheme = (parts.scheme or "http").lower()
    if scheme == "http":
        scheme = "https"  # the same article is routinely linked both ways
    host = (parts.hostname or "").lower().rstrip(".")
    for prefix in _HOST_PREFIXES:
        if host.startswith(prefix) and host.count(".") >= 2:
            host = host[len(prefix) :]
            break
    if port and port not in (80, 443):
        host = f"{host}:{port}"
    path = quote(unquote(parts.path), safe="/%:@!$&'()*+,;=~-._")
    path = re.sub(r"^/amp(?=/)", "", path)
    path = re.sub(r"/amp/?$", "", path)
    path = re.sub(r"\.amp(?=$|\.html?$)", "", path)
    path = path.rstrip("/") or ""
    query = sorted(
        (k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if not is_tracking_param(k)
    )
    return urlunsplit((scheme, host, path, urlencode(query), ""))


def link_url(url: str) -> str:
    """The URL to show people: the original minus tracking parameters and fragments-of-tracking."""
    url = (url or "").strip()[:MAX_URL]
    try:
        parts = urlsplit(url)
    except ValueError:
        return url
    if not parts.query:
        return url
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if not is_tracking_param(k)]
    return urlunsplit((parts.scheme, parts.netloc, parts.path, urlencode(query), parts.fragment))


@functools.cache
def site_of(domain: str) -> str:
    """The outlet behind a host, without its country or subdomain: bbc.co.uk and bbc.com are both "bbc",
    edition.cnn.com is "cnn" (the Public Suffix List says where the registrable name starts)."""
    host = domain.lower().rstrip(".")
    if not host or ":" in host or host.replace(".", "").isdigit():  # an address, or host:port
        return host
    private = _psl().privatesuffix(host)
    return private.split(".", 1)[0] if private else host


def same_outlet(a: str, b: str) -> bool:
    """bbc.co.uk and bbc.com are one outlet: its republished stories join at the same-site threshold."""
    return bool(a) and bool(b) and (a == b or site_of(a) == site_of(b))


@functools.lru_cache(maxsize=8192)  # a story's URL is compared with every other of its batch
def article_of(url: str) -> tuple[str, str, str] | None:
    """(outlet, path, query) of an article URL; None when the path is too short to name one article."""
    parts = urlsplit(url)
    path = parts.path.rstrip("/")
    if len(path) < MIN_SHARED_PATH:
        return None
    return site_of(parts.hostname or ""), path, parts.query


def same_story_url(a: str, b: str) -> bool:
    """Two canonical URLs of one article on one outlet's sites (bbc.com/news/x-123 and bbc.co.uk/news/x-123)."""
    article = article_of(a)
    return article is not None and article == article_of(b)


def article_key(url: str) -> int | None:
    """A near-duplicate candidate key (like an LSH band key) shared by one article's URLs on one outlet's
    sites, so the index lookup finds bbc.com/news/x-123 for bbc.co.uk/news/x-123 whatever their text."""
    article = article_of(url)
    return None if article is None else lookup_key("|".join(article))


def lookup_key(text: str) -> int:
    """A 63-bit key for ``text`` in the band keys' range, stored in lsh_bands beside them."""
    digest = hashlib.blake2b(text.encode(), digest_size=8).digest()
    return (int.from_bytes(digest, "big") & 0x7FFFFFFFFFFFFFFF) - (1 << 62)


@functools.cache
def _psl() -> Any:
    from publicsuffixlist import PublicSuffixList  # a bundled list: no network

    return PublicSuffixList()


def domain_of(url: str) -> str:
    try:
        host = (urlsplit(url).hostname or "").lower()
    except ValueError:
        return ""
    return host[4:] if host.startswith("www.") else host


def redact_url(url: str) -> str:
    """Drop ``user:password@`` from a URL (for logs and error messages)."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return re.sub(r"//[^/@]*@", "//", url)
    if "@" not in parts.netloc:
        return url
    return urlunsplit(parts._replace(netloc=parts.netloc.rpartition("@")[2]))
