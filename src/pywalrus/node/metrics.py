"""The storage node's Prometheus metrics (`GET /metrics`), in one registry per node.

Besides requests and stored data, the node counts what recovery costs, so that it can be
measured rather than inferred from network interfaces: for blob sync (slivers a node missed of
a certified blob) and shard sync (shards gained at an epoch change), the slivers and bytes
stored, the failed attempts and the seconds spent; and the health of its own machinery: task
restarts, slivers found corrupt on disk, bytes scrubbed, requests refused by the limits; what
the garbage collector removed (blobs, slivers and bytes, by why they were garbage) and the
entries of the store's tables.
"""

from __future__ import annotations

from collections.abc import Mapping

from prometheus_client import CollectorRegistry, Counter, Gauge, generate_latest


class NodeMetrics:
    """Every metric of one node."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.requests = Counter(
            "walrus_node_requests", "HTTP requests", ["route", "status"], registry=r
        )
        self.stored = Counter(
            "walrus_node_stored", "Metadata and slivers stored", ["kind"], registry=r
        )
        self.signed = Counter(
            "walrus_node_confirmations", "Storage confirmations signed", registry=r
        )
        self.read_only_served = Counter(
            "walrus_node_read_only_slivers_served",
            "Slivers served to readers from shards lost at the epoch change in progress",
            registry=r,
        )
        self.shard_sync_slivers = Gauge(
            "walrus_node_shard_sync_slivers",
            "Slivers of gained shards: transferred from previous owners, recovered, rejected",
            ["kind"],
            registry=r,
        )
        self.epoch = Gauge("walrus_node_epoch", "Current epoch", registry=r)
        self.event_cursor = Gauge(
            "walrus_node_event_cursor", "Last applied chain event", registry=r
        )
        self.recovery_slivers = Counter(
            "walrus_node_recovery_slivers",
            "Slivers stored by recovery: blob sync or shard sync (transfer or recovery)",
            ["process", "kind"],
            registry=r,
        )
        self.recovery_bytes = Counter(
            "walrus_node_recovery_bytes",
            "Bytes of slivers stored by recovery",
            ["process", "kind"],
            registry=r,
        )
        self.recovery_failures = Counter(
            "walrus_node_recovery_failures",
            "Failed recovery attempts (a blob or a shard pass; retried later)",
            ["process"],
            registry=r,
        )
        self.recovery_seconds = Counter(
            "walrus_node_recovery_seconds",
            "Time spent in recovery (blob syncs and shard sync passes, summed)",
            ["process"],
            registry=r,
        )
        self.task_restarts = Counter(
            "walrus_node_task_restarts",
            "Long-running tasks that died and were restarted by the supervisor",
            ["task"],
            registry=r,
        )
        self.corrupt_slivers = Counter(
            "walrus_node_corrupt_slivers",
            "Stored slivers that failed their check when read (dropped, then rebuilt)",
            ["found_by"],
            registry=r,
        )
        self.scrubbed_bytes = Counter(
            "walrus_node_scrubbed_bytes", "Bytes of stored slivers checked by the scrub", registry=r
        )
        self.gc_blobs = Counter(
            "walrus_node_gc_reclaimed_blobs",
            "Blobs whose data the garbage collector removed (kind: expired, deleted, invalid,"
            " unregistered)",
            ["kind"],
            registry=r,
        )
        self.gc_slivers = Counter(
            "walrus_node_gc_reclaimed_slivers",
            "Slivers removed by the garbage collector",
            ["kind"],
            registry=r,
        )
        self.gc_bytes = Counter(
            "walrus_node_gc_reclaimed_bytes",
            "Bytes of slivers and metadata removed by the garbage collector",
            ["kind"],
            registry=r,
        )
        self.gc_runs = Counter(
            "walrus_node_gc_runs", "Completed garbage collection runs", registry=r
        )
        self.gc_epoch = Gauge(
            "walrus_node_gc_epoch", "Epoch of the last completed garbage collection", registry=r
        )
        self.store_entries = Gauge(
            "walrus_node_store_entries",
            "Entries in each table of the node's store",
            ["table"],
            registry=r,
        )
        self.refused = Counter(
            "walrus_node_refused",
            "Requests and connections refused by the node's limits",
            ["limit"],
            registry=r,
        )

    def exposition(
        self,
        epoch: int,
        event_cursor: int,
        store_entries: Mapping[str, int],
        shard_sync_slivers: Mapping[str, int],
    ) -> bytes:
        """Every metric in Prometheus' text format, the gauges set to the node's state now."""
        self.epoch.set(epoch)
        self.event_cursor.set(event_cursor)
        for table, entries in store_entries.items():
            self.store_entries.labels(table).set(entries)
        for kind, count in shard_sync_slivers.items():
            self.shard_sync_slivers.labels(kind).set(count)
        text: bytes = generate_latest(self.registry)
        return text
