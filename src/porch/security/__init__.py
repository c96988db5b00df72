"""porch.security: sessions, CSRF, CORS, security headers, trusted hosts and rate limits.

Sessions and CSRF are part of `porch.App` (``App(secret_key=..., sessions=..., csrf=...)``);
the rest are middleware: ``app.middleware(CORS(allow_origins=["https://example.com"]))``.
"""

from __future__ import annotations

from porch.security.context import personalized
from porch.security.cors import CORS
from porch.security.csrf import CSRF, CSRFError, csrf_exempt, csrf_token
from porch.security.flash import flash, get_flashed_messages
from porch.security.headers import SecurityHeaders
from porch.security.hosts import TrustedHosts
from porch.security.keys import KeyRing
from porch.security.ratelimit import RateLimit, parse_rate, rate_limit
from porch.security.sessions import Session, Sessions, SessionTooLarge, session_used

__all__ = [
    # sessions
    "Sessions",
    "Session",
    "SessionTooLarge",
    "session_used",
    "personalized",
    "flash",
    "get_flashed_messages",
    "KeyRing",
    # CSRF
    "CSRF",
    "CSRFError",
    "csrf_exempt",
    "csrf_token",
    # middleware
    "CORS",
    "SecurityHeaders",
    "TrustedHosts",
    "RateLimit",
    "rate_limit",
    "parse_rate",
]
