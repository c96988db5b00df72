"""The asyncio server: one protocol per connection, flow control, binding, shutdown."""

from porch.server.protocol import HTTPProtocol
from porch.server.server import Server, new_event_loop, run
from porch.server.state import App, ServerState

__all__ = ["App", "HTTPProtocol", "Server", "ServerState", "new_event_loop", "run"]
