"""The versions of one S3 object: in a versioned bucket an object's older content stays in its versions, so what
must go (a user's data) is deleted version by version."""

from __future__ import annotations

from typing import Iterator

from shared.aws import call


def of(bucket: str, key: str) -> Iterator[dict]:
    """Every version and delete marker of exactly ``key`` (not of keys it is a prefix of), as ListObjectVersions
    gives them (``VersionId``, ``IsLatest``; ``Size`` for a version, none for a marker), page by page."""
    params = {"Bucket": bucket, "Prefix": key}
    while True:
        page = call("s3", "list_object_versions", **params)
        yield from (v for v in [*page.get("Versions", []), *page.get("DeleteMarkers", [])] if v["Key"] == key)
        # keys come in order, the key's own first among those it prefixes: past it, nothing more of it
        if not page.get("IsTruncated") or page.get("NextKeyMarker") != key:
            return
        params.update(KeyMarker=page["NextKeyMarker"], VersionIdMarker=page["NextVersionIdMarker"])


def delete(bucket: str, key: str, version: str) -> None:
    """One version (or delete marker) gone for good."""
    call("s3", "delete_object", Bucket=bucket, Key=key, VersionId=version)


def delete_all(bucket: str, key: str) -> int:
    """Every version and delete marker of ``key`` deleted (listed in full first: a page's marker must not be a
    version deleted since); how many there were."""
    found = [v["VersionId"] for v in of(bucket, key)]
    for version in found:
        delete(bucket, key, version)
    return len(found)
