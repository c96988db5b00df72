"""Sans-IO HTTP/1.1: bytes in, events out; events in, bytes out. No sockets, no clocks."""

from porch.http.events import END, BodyKind, EndOfMessage, RequestHead
from porch.http.limits import Limits
from porch.http.parser import RequestParser

__all__ = ["END", "BodyKind", "EndOfMessage", "Limits", "RequestHead", "RequestParser"]
