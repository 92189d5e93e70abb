"""What the chain says about a blob, folded from its events (pure functions).

A node keeps, per blob ID, the Blob objects registered for it (deletable or not, end epoch,
certified epoch), whether the ID was marked invalid, and the event that last changed its
status. From that it decides whether to accept uploads, whether a blob is still stored, and
the `/status` answer (protocol page §4.3).
"""

from __future__ import annotations

from typing import Any

BlobInfo = dict[str, Any]
"""{"objects": {object_id: {"deletable", "end_epoch", "certified_epoch"}},
"invalid": event id or None, "status_event": event id, "initial_certified_epoch"}."""

BLOB_EVENTS = ("BlobRegistered", "BlobCertified", "BlobDeleted", "InvalidBlobID")


def empty_info() -> BlobInfo:
    return {"objects": {}, "invalid": None, "status_event": None, "initial_certified_epoch": None}


def apply_event(
    info: BlobInfo | None, event_type: str, fields: dict[str, Any], event_id: dict[str, str]
) -> BlobInfo:
    """The blob info after one event about its blob ID."""
    info = empty_info() if info is None else {**info, "objects": dict(info["objects"])}
    objects: dict[str, dict[str, Any]] = info["objects"]
    if event_type == "BlobRegistered":
        objects[fields["object_id"]] = {
            "deletable": fields["deletable"],
            "end_epoch": fields["end_epoch"],
            "certified_epoch": None,
        }
    elif event_type == "BlobCertified":
        entry = dict(objects.get(fields["object_id"]) or {"deletable": fields["deletable"]})
        entry["end_epoch"] = fields["end_epoch"]
        if entry.get("certified_epoch") is None:
            entry["certified_epoch"] = fields["epoch"]
        objects[fields["object_id"]] = entry
        if (
            info["initial_certified_epoch"] is None
            or fields["epoch"] < info["initial_certified_epoch"]
        ):
            info["initial_certified_epoch"] = fields["epoch"]
    elif event_type == "BlobDeleted":
        objects.pop(fields["object_id"], None)
    elif event_type == "InvalidBlobID":
        info["invalid"] = event_id
    info["status_event"] = event_id
    return info


def live_objects(info: BlobInfo | None, epoch: int) -> dict[str, dict[str, Any]]:
    """Registrations that have not expired at `epoch`."""
    if info is None:
        return {}
    return {k: v for k, v in info["objects"].items() if v["end_epoch"] > epoch}


def garbage_epoch(info: BlobInfo | None) -> int:
    """The first epoch at which the blob's data is garbage: the last end epoch of its
    registrations (end epochs are exclusive), or 0 if it is invalid or has none left (all
    deleted, or no info at all). `is_registered(info, e)` holds exactly for `e` below it."""
    if info is None or info["invalid"] is not None or not info["objects"]:
        return 0
    return max(int(o["end_epoch"]) for o in info["objects"].values())


def garbage_kind(info: BlobInfo | None) -> str:
    """Why a blob that is no longer registered is garbage (for the GC's metrics)."""
    if info is None:
        return "unregistered"
    if info["invalid"] is not None:
        return "invalid"
    return "expired" if info["objects"] else "deleted"


def is_registered(info: BlobInfo | None, epoch: int) -> bool:
    """Registered, unexpired and not invalid: uploads are accepted."""
    return info is not None and info["invalid"] is None and bool(live_objects(info, epoch))


def is_certified(info: BlobInfo | None, epoch: int) -> bool:
    return is_registered(info, epoch) and any(
        o["certified_epoch"] is not None for o in live_objects(info, epoch).values()
    )


def certified_before(info: BlobInfo | None, epoch: int, before: int) -> bool:
    """Certified (and live at `epoch`) by a registration certified in an epoch before `before`:
    the blobs a shard's previous owner hands over at the change into epoch `before`."""
    return is_registered(info, epoch) and any(
        o["certified_epoch"] is not None and o["certified_epoch"] < before
        for o in live_objects(info, epoch).values()
    )


def has_permanent(info: BlobInfo | None, epoch: int) -> bool:
    return any(not o["deletable"] for o in live_objects(info, epoch).values())


def has_deletable_object(info: BlobInfo | None, epoch: int, object_id: str) -> bool:
    entry = live_objects(info, epoch).get(object_id)
    return entry is not None and bool(entry["deletable"])


def status_json(info: BlobInfo | None, epoch: int) -> Any:
    """The storage node's blob status, as `GET /v1/blobs/{id}/status` returns it."""
    if info is not None and info["invalid"] is not None:
        return {"invalid": {"event": info["invalid"]}}
    objects = live_objects(info, epoch)
    if info is None or not objects:
        return "nonexistent"
    deletable = [o for o in objects.values() if o["deletable"]]
    counts = {
        "count_deletable_total": len(deletable),
        "count_deletable_certified": sum(1 for o in deletable if o["certified_epoch"] is not None),
    }
    permanent = [o for o in objects.values() if not o["deletable"]]
    if permanent:
        return {
            "permanent": {
                "endEpoch": max(o["end_epoch"] for o in permanent),
                "isCertified": any(o["certified_epoch"] is not None for o in permanent),
                "statusEvent": info["status_event"],
                "deletableCounts": counts,
                "initialCertifiedEpoch": info["initial_certified_epoch"],
            }
        }
    return {
        "deletable": {
            "initialCertifiedEpoch": info["initial_certified_epoch"],
            "deletableCounts": counts,
        }
    }
