"""Static files: `StaticFiles` (a folder as an app), `FileResponse` (one file), `porch static`."""

from porch.static.app import StaticFiles
from porch.static.files import FileResponse

__all__ = ["FileResponse", "StaticFiles"]
