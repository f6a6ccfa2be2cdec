import pytest
from fastapi import HTTPException
from fastapi.security import HTTPAuthorizationCredentials

from serving.admin import check_admin


def _bearer(token: str) -> HTTPAuthorizationCredentials:
    return HTTPAuthorizationCredentials(scheme="Bearer", credentials=token)


def test_the_right_token_passes() -> None:
    check_admin(_bearer("s3cret"), "s3cret")


@pytest.mark.parametrize(
    ("credentials", "expected", "status"),
    [
        (None, "s3cret", 401),
        (_bearer(""), "s3cret", 401),
        (_bearer("wrong"), "s3cret", 403),
        (_bearer("s3cret"), None, 403),
        (_bearer("anything"), "", 403),
    ],
)
def test_missing_wrong_or_unconfigured_token_is_refused(credentials, expected, status) -> None:
    with pytest.raises(HTTPException) as refused:
        check_admin(credentials, expected)
    assert refused.value.status_code == status
