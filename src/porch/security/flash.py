"""Flash messages: notes kept in the session for the next page to show once."""

from __future__ import annotations

from collections.abc import Iterable

from porch.request import Request

__all__ = ["flash", "get_flashed_messages"]

KEY = "_flashes"
MAX_MESSAGES = 50  # a loop that flashes without ever rendering must not grow the cookie forever


def flash(request: Request, message: str, category: str = "message") -> None:
    """Keep `message` for the next page that calls `get_flashed_messages` (the oldest are
    dropped past 50)."""
    flashes = list(request.session.get(KEY, ()))
    flashes.append([category, message])
    request.session[KEY] = flashes[-MAX_MESSAGES:]


def get_flashed_messages(
    request: Request, *, with_categories: bool = False, categories: Iterable[str] = ()
) -> list[str] | list[tuple[str, str]]:
    """Take the flashed messages (they are removed from the session), oldest first; only
    those of `categories` when given (the others stay for a later call)."""
    session = request.session
    if KEY not in session:
        return []
    wanted = set(categories)
    flashes = [(str(c), str(m)) for c, m in session[KEY]]
    taken = [item for item in flashes if not wanted or item[0] in wanted]
    rest = [list(item) for item in flashes if wanted and item[0] not in wanted]
    if rest:
        session[KEY] = rest
    else:
        del session[KEY]
    if with_categories:
        return taken
    return [message for _, message in taken]
