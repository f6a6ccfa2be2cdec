"""The admin routes' guard: a bearer token from a Secret, compared in constant time.

Erasure and catalog updates change what the platform stores, so they are not open like the read
routes. No token configured means the admin routes are off (403), never open.
"""

from __future__ import annotations

import hmac

from fastapi import HTTPException
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from serving.schemas import Problem

# auto_error=False: a missing header is our 401 with our message, and the OpenAPI schema still
# declares the bearer scheme for the routes that depend on it.
bearer = HTTPBearer(auto_error=False, description="the admin token (RECO_ADMIN_TOKEN)")

ADMIN_RESPONSES: dict[int | str, dict] = {
    401: {"model": Problem, "description": "no bearer token"},
    403: {
        "model": Problem,
        "description": "a wrong token, or admin routes off (no admin token configured)",
    },
}


def check_admin(credentials: HTTPAuthorizationCredentials | None, expected: str | None) -> None:
    """Raise 401 without a bearer token, 403 for a wrong one or when no token is configured."""
    if credentials is None or not credentials.credentials:
        raise HTTPException(
            status_code=401,
            detail="admin route: send 'Authorization: Bearer <admin token>'",
            headers={"WWW-Authenticate": "Bearer"},
        )
    if not expected:
        raise HTTPException(status_code=403, detail="admin routes are off: no admin token set")
    if not hmac.compare_digest(credentials.credentials.encode(), expected.encode()):
        raise HTTPException(status_code=403, detail="wrong admin token")
