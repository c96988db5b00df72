"""Header and query containers shared by requests and responses."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import TypeVar, overload
from urllib.parse import parse_qsl

from porch.errors import HTTPError
from porch.http.writer import check_header

__all__ = ["Headers", "MutableHeaders", "QueryParams"]

_T = TypeVar("_T")
# Names that change how a response is framed; the server handles them itself.
FRAMING_HEADERS = frozenset(("content-length", "transfer-encoding", "connection"))
MAX_QUERY_FIELDS = 1000


class Headers(Mapping[str, str]):
    """A request's headers: read-only, case-insensitive, several values per name.

    `headers["accept"]` and `get` give the first value; `getlist` gives all of them in order;
    `raw` is the list of ``(lowercase name, value)`` byte pairs as received.
    """

    __slots__ = ("raw",)

    def __init__(self, raw: list[tuple[bytes, bytes]]) -> None:
        self.raw = raw

    @overload
    def get(self, key: str) -> str | None: ...
    @overload
    def get(self, key: str, default: str | _T) -> str | _T: ...
    def get(self, key: str, default: object = None) -> object:
        wanted = key.lower().encode("latin-1")
        for name, value in self.raw:
            if name == wanted:
                return value.decode("latin-1")
        return default

    def getlist(self, key: str) -> list[str]:
        wanted = key.lower().encode("latin-1")
        return [value.decode("latin-1") for name, value in self.raw if name == wanted]

    def __getitem__(self, key: str) -> str:
        value = self.get(key)
        if value is None:
            raise KeyError(key)
        return value

    def __contains__(self, key: object) -> bool:
        if not isinstance(key, str):
            return False
        wanted = key.lower().encode("latin-1")
        return any(name == wanted for name, _ in self.raw)

    def __iter__(self) -> Iterator[str]:
        seen: dict[str, None] = {}
        for name, _ in self.raw:
            seen.setdefault(name.decode("latin-1"))
        return iter(seen)

    def __len__(self) -> int:
        return len({name for name, _ in self.raw})

    def multi_items(self) -> list[tuple[str, str]]:
        """Every (name, value) pair, repeated names included."""
        return [(n.decode("latin-1"), v.decode("latin-1")) for n, v in self.raw]

    def __repr__(self) -> str:
        return f"Headers({self.multi_items()!r})"


class MutableHeaders:
    """A response's headers: case-insensitive, ordered, validated when set.

    Names are stored lowercased. Setting a name or value that could break the response
    (CR, LF, NUL, other control characters, a name that is not a token) raises
    `porch.errors.ResponseError` at once, where the app made the mistake.
    """

    __slots__ = ("_list", "framing")

    def __init__(
        self, headers: Mapping[str, str] | Iterable[tuple[str, str]] | None = None
    ) -> None:
        self._list: list[tuple[str, str]] = []
        self.framing = False  # a header in FRAMING_HEADERS was set
        if headers:
            items = headers.items() if isinstance(headers, Mapping) else headers
            for name, value in items:
                self.append(name, value)

    def append(self, name: str, value: str) -> None:
        """Add a field, keeping any existing ones of the same name (e.g. Set-Cookie)."""
        check_header(name, value)
        name = name.lower()
        if name in FRAMING_HEADERS:
            self.framing = True
        self._list.append((name, value))

    def __setitem__(self, name: str, value: str) -> None:
        """Replace every field of this name with one."""
        check_header(name, value)
        lname = name.lower()
        self._list = [item for item in self._list if item[0] != lname]
        if lname in FRAMING_HEADERS:
            self.framing = True
        self._list.append((lname, value))

    def __delitem__(self, name: str) -> None:
        lname = name.lower()
        kept = [item for item in self._list if item[0] != lname]
        if len(kept) == len(self._list):
            raise KeyError(name)
        self._list = kept

    def get(self, name: str, default: str | None = None) -> str | None:
        lname = name.lower()
        for key, value in self._list:
            if key == lname:
                return value
        return default

    def getlist(self, name: str) -> list[str]:
        lname = name.lower()
        return [value for key, value in self._list if key == lname]

    def setdefault(self, name: str, value: str) -> str:
        existing = self.get(name)
        if existing is None:
            self.append(name, value)
            return value
        return existing

    def update(self, other: Mapping[str, str] | Iterable[tuple[str, str]]) -> None:
        items = other.items() if isinstance(other, Mapping) else other
        for name, value in items:
            self[name] = value

    def __getitem__(self, name: str) -> str:
        value = self.get(name)
        if value is None:
            raise KeyError(name)
        return value

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and self.get(name) is not None

    def __iter__(self) -> Iterator[str]:
        return iter(dict.fromkeys(key for key, _ in self._list))

    def __len__(self) -> int:
        return len(self._list)

    def items(self) -> list[tuple[str, str]]:
        """Every (name, value) pair in order, repeated names included."""
        return list(self._list)

    def __repr__(self) -> str:
        return f"MutableHeaders({self._list!r})"


class QueryParams(Mapping[str, str]):
    """The decoded query string: `get`/`[]` give the first value, `getlist` all of them."""

    __slots__ = ("_items", "_dict")

    def __init__(self, query: bytes | str) -> None:
        text = query.decode("latin-1") if isinstance(query, bytes) else query
        try:
            self._items = parse_qsl(text, keep_blank_values=True, max_num_fields=MAX_QUERY_FIELDS)
        except ValueError:
            raise HTTPError(400, f"Too many query parameters (limit {MAX_QUERY_FIELDS})") from None
        first: dict[str, str] = {}
        for key, value in self._items:
            first.setdefault(key, value)
        self._dict = first

    def __getitem__(self, key: str) -> str:
        return self._dict[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._dict)

    def __len__(self) -> int:
        return len(self._dict)

    def getlist(self, key: str) -> list[str]:
        return [value for name, value in self._items if name == key]

    def multi_items(self) -> list[tuple[str, str]]:
        return list(self._items)

    def __repr__(self) -> str:
        return f"QueryParams({self._items!r})"
