"""What routes depend on: the services of the running app, and the admin guard.

Admin routes (dashboard refresh, cache purge, and later collection) need the server's
``COINBT_API_KEY``, sent as ``X-API-Key: <key>`` or ``Authorization: Bearer <key>``. A
server without a key serves them only while it listens on loopback (127.0.0.1, ::1,
localhost): bound to anything else it refuses them with 403, since anyone who can reach it
could otherwise rebuild its summary or empty its cache.
"""

from __future__ import annotations

import hmac
import ipaddress
from typing import Annotated

from fastapi import Depends, Request, Security
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer

from coinbt.api.errors import ForbiddenError, UnauthorizedError
from coinbt.config import Settings
from coinbt.errors import StoreUnavailableError
from coinbt.services.wiring import Services

_KEY_HEADER = APIKeyHeader(name="X-API-Key", auto_error=False, description="COINBT_API_KEY")
_BEARER = HTTPBearer(auto_error=False, description="COINBT_API_KEY as a bearer token")


# The dependencies are ``async def`` although they do not wait for anything: FastAPI runs a
# plain ``def`` dependency on a worker thread, a hop that costs more than the function.


async def get_services(request: Request) -> Services:
    """The services the app's lifespan built; 503 while it starts or stops."""
    services: Services | None = getattr(request.app.state, "services", None)
    if services is None:
        raise StoreUnavailableError("the server is starting or stopping", hint="retry in a moment")
    return services


async def get_settings(request: Request) -> Settings:
    """The settings the app was created with."""
    settings: Settings = request.app.state.settings
    return settings


ServicesDep = Annotated[Services, Depends(get_services)]


def is_loopback(host: str) -> bool:
    """True for addresses only this machine can reach."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


async def require_admin(
    settings: Annotated[Settings, Depends(get_settings)],
    api_key: Annotated[str | None, Security(_KEY_HEADER)] = None,
    bearer: Annotated[HTTPAuthorizationCredentials | None, Security(_BEARER)] = None,
) -> None:
    """Let the request through only with the right key (see the module docs)."""
    expected = settings.api_key
    if not expected:
        if is_loopback(settings.api_host):
            return
        raise ForbiddenError(
            "admin routes are off: this server listens beyond loopback without an API key",
            hint="set COINBT_API_KEY on the server and send it as X-API-Key, or listen on "
            "127.0.0.1",
        )
    given = api_key or (bearer.credentials if bearer is not None else None)
    if given is None:
        raise UnauthorizedError(
            "this route needs the API key",
            hint="send COINBT_API_KEY as X-API-Key: <key> or Authorization: Bearer <key>",
        )
    if not hmac.compare_digest(given.encode(), expected.encode()):
        raise UnauthorizedError("wrong API key", hint="send the server's COINBT_API_KEY")


AdminDep = Depends(require_admin)
