"""botocore's exceptions as messages an operator can act on (``contracts/s3.py``'s only errors).

boto3 says "Could not connect to the endpoint URL", "Unable to locate credentials" or
"An error occurred (403) when calling the HeadBucket operation: Forbidden"; the trainer prints
one line and the service's ``/readyz`` one reason, so each becomes a ``StoreError`` naming the
location, what was being done, and the variable or the thing to check.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from contracts.storage import S3Location, StoreError

_ABSENT = ("NoSuchKey", "404", "NotFound")
_DENIED = ("AccessDenied", "403", "InvalidAccessKeyId", "SignatureDoesNotMatch")


class ObjectMissing(Exception):
    """An object that does not exist (callers turn it into None or a MissingFileError)."""


@contextmanager
def translated(
    where: S3Location, endpoint: str | None, doing: str, missing: bool = False
) -> Iterator[None]:
    """Raise StoreError("cannot {doing} {where}: …") for botocore's errors; with ``missing``,
    an absent object raises ObjectMissing instead."""
    from botocore.exceptions import (
        BotoCoreError,
        ClientError,
        NoCredentialsError,
        PartialCredentialsError,
    )

    what = f"cannot {doing} {where}"
    try:
        yield
    except (NoCredentialsError, PartialCredentialsError) as exc:
        raise StoreError(
            f"{what}: no AWS credentials ({exc}); set AWS_ACCESS_KEY_ID and "
            "AWS_SECRET_ACCESS_KEY (and AWS_ENDPOINT_URL for a store other than AWS)"
        ) from None
    except ClientError as exc:
        error = exc.response.get("Error", {})
        code = str(error.get("Code", ""))
        if code in _ABSENT and missing:
            raise ObjectMissing() from None
        if code in ("NoSuchBucket", *_ABSENT):
            raise StoreError(
                f"{what}: bucket {where.bucket!r} does not exist "
                "(or the endpoint is not the right one)"
            ) from None
        if code in ("PreconditionFailed", "ConditionalRequestConflict"):
            raise StoreError(f"{what}: the object exists already; versions are immutable") from None
        if code in _DENIED:
            raise StoreError(
                f"{what}: access denied ({code}); check the credentials "
                "(AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY) and the bucket's policy"
            ) from None
        raise StoreError(f"{what}: {code} {error.get('Message', exc)}") from None
    except BotoCoreError as exc:
        raise StoreError(f"{what} (endpoint {endpoint or 'default'}): {exc}") from None
