"""URL backend: a server someone else runs. The workbook never stops or reconfigures it."""

from __future__ import annotations

from ._conninfo import parse_url
from ._provisioned import Provisioned


def provision_url(url: str) -> Provisioned:
    """Describe the server at `url`; connecting (and its errors) happens in `Database`."""
    params = parse_url(url)
    where = params.get("host", "the local socket")
    if params.get("port"):
        where += f":{params['port']}"
    return Provisioned(
        backend="url",
        params=params,
        owns_server=False,
        description=f"server at {where}",
        _stop=lambda: None,
    )
