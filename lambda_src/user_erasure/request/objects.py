"""S3 objects of a request that hold user IDs (the request file, the work file): gone with every version of them.

In a versioned bucket a plain DeleteObject only hides an object behind a delete marker; the IDs would stay in its
versions. So every version and delete marker of the exact key is deleted by its VersionId (``null`` for the one
written before versioning was turned on, or in an unversioned bucket).
"""

from __future__ import annotations

from typing import Iterator

from shared.aws import call


def versions(bucket: str, key: str) -> Iterator[str]:
    """The version IDs of every version and delete marker of ``key`` (not of keys it is a prefix of)."""
    params = {"Bucket": bucket, "Prefix": key}
    while True:
        page = call("s3", "list_object_versions", **params)
        for entry in [*page.get("Versions", []), *page.get("DeleteMarkers", [])]:
            if entry["Key"] == key:
                yield entry["VersionId"]
        if not page.get("IsTruncated"):
            return
        params.update(KeyMarker=page["NextKeyMarker"], VersionIdMarker=page["NextVersionIdMarker"])


def delete_versions(bucket: str, key: str) -> int:
    """Delete every version of ``key``; how many there were."""
    found = list(versions(bucket, key))
    for version in found:
        call("s3", "delete_object", Bucket=bucket, Key=key, VersionId=version)
    return len(found)
