"""Which CAM action and resource a COS request needs (cos-xml-api.md §6.1).

COS's bare "Access Denied." never says which permission was missing; the request does. The action
is the operation's own (``name/cos:PutObject`` …), the resource the object under its bucket, and an
upload needs more than the call that failed: the SDKs list and resume before they upload parts.
"""
from __future__ import annotations

import re

__all__ = ["cam_action", "cam_resource", "upload_actions", "MULTIPART_ACTIONS"]

_PREFIX = "name/cos:"
# Operations whose CAM action has the operation's own name.
_OWN_ACTION = frozenset({"PutObject", "PostObject", "InitiateMultipartUpload", "UploadPart",
                         "CompleteMultipartUpload", "AbortMultipartUpload", "ListParts", "GetObject",
                         "HeadObject", "DeleteObject"})
# What an SDK's multipart upload calls, in the order it calls them (cos-js-sdk-v5 sliceUploadFile:
# list uploads and parts to resume, then initiate, parts, complete). Abort only on abortUploadTask.
MULTIPART_ACTIONS = tuple(_PREFIX + a for a in ("ListMultipartUploads", "ListParts", "InitiateMultipartUpload",
                                                "UploadPart", "CompleteMultipartUpload"))
_APPID_RE = re.compile(r"-([0-9]{5,20})$")


def cam_action(operation: str | None, *, key: str | None = None, sub_resources: frozenset[str] = frozenset(),
               method: str | None = None) -> str | None:
    """``name/cos:<Action>`` for a request, None when the table does not know it (a preflight needs none)."""
    if operation in _OWN_ACTION:
        return _PREFIX + operation
    if operation == "ListMultipartUploads" or (key is None and method == "GET" and "uploads" in sub_resources):
        return _PREFIX + "ListMultipartUploads"
    return None


def cam_resource(region: str | None, bucket: str | None, key: str | None) -> str | None:
    """``qcs::cos:<region>:uid/<appid>:<bucket-appid>/<key>``; None without a bucket of the
    ``name-appid`` form (a custom domain does not name its bucket)."""
    if not bucket:
        return None
    match = _APPID_RE.search(bucket)
    if match is None:
        return None
    return f"qcs::cos:{region or '<region>'}:uid/{match.group(1)}:{bucket}/{key or ''}"


def upload_actions(action: str | None) -> tuple[str, ...]:
    """Every action the whole upload a request with this CAM action belongs to needs: for a
    multipart call the set the SDK uses (plus Abort when that was the call), else its own."""
    if action in MULTIPART_ACTIONS:
        return MULTIPART_ACTIONS
    if action == _PREFIX + "AbortMultipartUpload":
        return MULTIPART_ACTIONS + (action,)
    return (action,) if action else ()
