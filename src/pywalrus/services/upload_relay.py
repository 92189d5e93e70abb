"""The upload relay (upstream's `walrus-upload-relay`): a client that registered a blob sends
its bytes once, and the relay encodes them, sends every node its slivers and answers with the
confirmation certificate, which the client checks and certifies on chain itself. The relay
does nothing on chain and holds no wallet.

`POST /v1/blob-upload-relay?blob_id=&tx_id=&nonce=&deletable_blob_object=&encoding_type=`
with the unencoded blob as body, and `GET /v1/tip-config`, as upstream's
`upload_relay_openapi.yaml`. Before a byte is encoded:

1. a relay that wants a tip reads the tip transaction `tx_id` from the chain (its signature,
   digest and, with the client config's `chain_address`, the signed checkpoint sealing it are
   checked), refuses it if it is older than `tx_freshness_threshold_secs` of chain time (or
   more than `tx_max_future_threshold` ahead), if it failed, if its `gas::transfer`s to the
   relay's address pay less than the tip (402), or if its input 0 (`tx::pure`) is not the
   auth package of this blob and nonce (401), and, beyond upstream, if the transaction
   already paid for an upload (409: a tip buys one upload; one still in flight counts too);
2. the blob must be registered: the deletable Blob object `deletable_blob_object` read from
   the chain, or for a permanent blob a permanent status the nodes report (upstream checks
   neither; the nodes would refuse the slivers anyway, this refuses before the work), with
   the body's size and RS2;
3. the encoded blob's ID must be `blob_id`.

Status codes as upstream's `WalrusUploadRelayError`: 400 for bad parameters, a stale or
unreadable tip transaction and a blob ID mismatch, 401 for an auth package that does not
match (and an unregistered blob), 402 for a missing or short tip, 413 for a body over
`--max-body-size`, 500 when the nodes do not confirm; every error one line of the services'
JSON envelope. Tip transactions used stay refused for as long as they would pass the
freshness check: in memory, and with `--used-tips-file` also across restarts.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, NoReturn

import yaml
from aiohttp import web
from prometheus_client import Counter

from pywalrus.chain.tx import SignedTransaction
from pywalrus.client.client import WalrusClient
from pywalrus.client.config import ClientConfig
from pywalrus.core.accounts import parse_address
from pywalrus.core.encoding import encode_blob
from pywalrus.core.errors import (
    AuthPackageError,
    BcsError,
    BlobStatusUnknown,
    ConfigError,
    InvalidAddressError,
    InvalidBlobIdError,
    NotEnoughConfirmations,
    TransactionFormatError,
    VerificationError,
    WalrusError,
)
from pywalrus.core.types import BlobId
from pywalrus.core.upload_relay import (
    BLOB_UPLOAD_RELAY_ROUTE,
    TIP_CONFIG_ROUTE,
    HashedAuthPackage,
    SendTip,
    TipConfig,
    compute_tip,
    decode_nonce,
    parse_tip_config,
    relay_response_json,
    tip_config_json,
)
from pywalrus.services.http import (
    METRICS,
    ServiceError,
    add_route,
    create_app,
    fail,
    query_params,
    serve,
)

log = logging.getLogger("pywalrus.services.upload_relay")

DEFAULT_BIND_ADDRESS: Final = "0.0.0.0:57391"
DEFAULT_METRICS_ADDRESS: Final = "127.0.0.1:9184"
"""Upstream's defaults (`DEFAULT_SERVER_ADDRESS`, the binary's `--metrics-address`)."""
DEFAULT_MAX_BODY_SIZE: Final = 1024**3
"""Upstream's body limit (`DefaultBodyLimit::max(1 GiB)`)."""
DEFAULT_FRESHNESS_S: Final = 3600
"""Upstream's README: a tip transaction is good for an hour unless the relay says otherwise."""
DEFAULT_MAX_FUTURE_S: Final = 30
REGISTRATION_WAIT_S: Final = 5.0
"""How long a permanent blob's registration may take to reach the nodes' status: they follow
the chain's events, so a blob registered a moment ago may not be known to them yet."""
PARAMS: Final = ("blob_id", "tx_id", "nonce", "deletable_blob_object", "encoding_type")
ENCODING_TYPES: Final = ("RS2",)


@dataclass(frozen=True)
class RelayConfig:
    """Upstream's `WalrusUploadRelayConfig`, plus the body limit."""

    tip_config: TipConfig = None
    """What the relay charges: None (`no_tip`) or a `SendTip`."""
    tx_freshness_threshold_s: float = DEFAULT_FRESHNESS_S
    """The oldest (in chain time) a tip transaction may be when its blob arrives."""
    tx_max_future_threshold_s: float = DEFAULT_MAX_FUTURE_S
    """How far ahead of the chain's clock a tip transaction may be (clock skew)."""
    max_body_size: int = DEFAULT_MAX_BODY_SIZE
    """The largest body accepted; larger ones are answered 413 before being read."""
    used_tips_file: Path | None = None
    """Where the tips that paid for an upload are kept across restarts (None: in memory)."""


class _TaggedLoader(yaml.SafeLoader):
    """YAML as serde_yaml writes enums: `!send_tip {…}`, `!const 42`, `!linear {…}`."""


def _tagged(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> Any:
    if isinstance(node, yaml.ScalarNode):
        value: Any = yaml.safe_load(node.value) if node.value else None
    elif isinstance(node, yaml.MappingNode):
        value = loader.construct_mapping(node, deep=True)
    else:
        value = loader.construct_sequence(node, deep=True)  # type: ignore[arg-type]
    return suffix if value is None else {suffix: value}


_TaggedLoader.add_multi_constructor("!", _tagged)


def _seconds(value: Any, name: str) -> float:
    """Seconds as a number, or as serde's `Duration` (`{secs, nanos}`)."""
    if isinstance(value, Mapping) and set(value) <= {"secs", "nanos"}:
        value = value.get("secs", 0) + value.get("nanos", 0) / 1e9
    if not isinstance(value, int | float) or isinstance(value, bool) or value < 0:
        raise ConfigError(f"{name} must be a non-negative number of seconds, not {value!r}")
    return float(value)


def load_relay_config(path: Path) -> RelayConfig:
    """Read an upload relay configuration (upstream's `walrus_upload_relay_config.yaml`:
    `tip_config`, `tx_freshness_threshold_secs`, `tx_max_future_threshold`; also
    `max_body_size`)."""
    try:
        raw = yaml.load(path.read_text(), Loader=_TaggedLoader)
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"cannot read relay config {path}: {exc}") from None
    if not isinstance(raw, Mapping):
        raise ConfigError(f"relay config {path} must be a mapping")
    known = {"tip_config", "tx_freshness_threshold_secs", "tx_max_future_threshold"}
    unknown = set(raw) - known - {"max_body_size", "used_tips_file"}
    if unknown:
        raise ConfigError(f"relay config {path}: unknown field(s) {', '.join(sorted(unknown))}")
    tip_raw = raw.get("tip_config", "no_tip")
    send = tip_raw.get("send_tip") if isinstance(tip_raw, Mapping) else None
    if isinstance(send, Mapping) and isinstance(send.get("address"), int):
        # YAML 1.1 reads an unquoted 0x… address as a hexadecimal integer.
        tip_raw = {"send_tip": {**send, "address": f"0x{send['address']:x}"}}
    try:
        tip = parse_tip_config(tip_raw)
    except ValueError as exc:
        raise ConfigError(f"relay config {path}: tip_config: {exc}") from None
    size = raw.get("max_body_size", DEFAULT_MAX_BODY_SIZE)
    if not isinstance(size, int) or isinstance(size, bool) or size < 0:
        raise ConfigError(f"relay config {path}: max_body_size must be a byte count")
    used = raw.get("used_tips_file")
    if used is not None and not isinstance(used, str):
        raise ConfigError(f"relay config {path}: used_tips_file must be a path")
    return RelayConfig(
        tip,
        _seconds(raw.get("tx_freshness_threshold_secs", DEFAULT_FRESHNESS_S), "freshness"),
        _seconds(raw.get("tx_max_future_threshold", DEFAULT_MAX_FUTURE_S), "max future"),
        size,
        None if used is None else (path.parent / used),
    )


class _Tips:
    """Tip transactions that paid for an upload, each until it would be too old anyway
    (chain time, ms), and those paying for one in flight. With a file, the used ones are
    appended to it as JSON lines and read back at start, so a restarted relay refuses them
    too."""

    def __init__(self, path: Path | None = None) -> None:
        self.used: dict[str, int] = {}
        self.in_flight: set[str] = set()
        self.chain_now_ms = 0
        """The chain's time when a tip was last checked."""
        self.path = path
        if path is not None and path.exists():
            for line in path.read_text().splitlines():
                try:
                    entry = json.loads(line)
                    self.used[str(entry["tx_id"])] = int(entry["until_ms"])
                except (ValueError, KeyError, TypeError):
                    continue  # a line torn by a crash
        self._lines = len(self.used)
        """Lines in the file: it is rewritten with the live entries when mostly stale."""

    def claim(self, tx_id: str) -> None:
        if tx_id in self.used or tx_id in self.in_flight:
            fail(
                409,
                "TIP_ALREADY_USED",
                f"tip transaction {tx_id} already paid for an upload; pay a new tip",
            )
        self.in_flight.add(tx_id)

    def settle(self, tx_id: str, until_ms: int | None) -> None:
        """The upload paid by `tx_id` ended: used for good until `until_ms` if given (it
        succeeded), free again otherwise."""
        self.in_flight.discard(tx_id)
        if until_ms is not None:
            self.used[tx_id] = until_ms
            if self.path is not None:
                with self.path.open("a") as file:
                    file.write(_line(tx_id, until_ms))
                self._lines += 1
        for old in [t for t, until in self.used.items() if until < self.chain_now_ms]:
            del self.used[old]
        if self.path is not None and self._lines > 2 * len(self.used) + 64:
            fresh = self.path.with_suffix(".tmp")
            fresh.write_text("".join(_line(t, until) for t, until in self.used.items()))
            fresh.replace(self.path)
            self._lines = len(self.used)


def _line(tx_id: str, until_ms: int) -> str:
    return json.dumps({"tx_id": tx_id, "until_ms": until_ms}) + "\n"


class _Metrics:
    def __init__(self, app: web.Application) -> None:
        registry = app[METRICS].registry
        self.uploaded = Counter(
            "walrus_upload_relay_blobs_uploaded", "Blobs relayed to the nodes", registry=registry
        )
        self.refused = Counter(
            "walrus_upload_relay_refused",
            "Uploads refused, by reason",
            ["reason"],
            registry=registry,
        )


class UploadRelay:
    """The relay's state: one read-only `WalrusClient`, its configuration and the tips
    seen."""

    def __init__(self, client: WalrusClient, config: RelayConfig, metrics: _Metrics) -> None:
        self.client = client
        self.config = config
        self.metrics = metrics
        self.tips = _Tips(config.used_tips_file)

    async def tip_config(self, request: web.Request) -> web.StreamResponse:
        return web.json_response(tip_config_json(self.config.tip_config))

    async def upload(self, request: web.Request) -> web.StreamResponse:
        """`POST /v1/blob-upload-relay`, counted by outcome."""
        try:
            response = await self._upload(request)
        except ServiceError as exc:
            self.metrics.refused.labels(exc.reason).inc()
            raise
        self.metrics.uploaded.inc()
        return response

    async def _upload(self, request: web.Request) -> web.StreamResponse:
        params = query_params(request, PARAMS, required=("blob_id",))
        blob_id = _blob_id(params["blob_id"])
        object_id = _object_id(params.get("deletable_blob_object"))
        encoding = params.get("encoding_type", "RS2")
        if encoding not in ENCODING_TYPES:
            fail(
                400,
                "INVALID_QUERY",
                "Failed to deserialize query string: encoding_type: unknown variant "
                f"`{encoding}`, expected `RS2`",
            )
        length = request.content_length
        if length is not None and length > self.config.max_body_size:
            fail(
                413,
                "PAYLOAD_TOO_LARGE",
                f"the blob is {length} bytes, this relay takes at most {self.config.max_body_size}",
            )
        tip = self.config.tip_config
        if tip is None:
            return await self._relay(request, blob_id, object_id)
        tx_id, nonce_text = params.get("tx_id"), params.get("nonce")
        if tx_id is None or nonce_text is None:
            fail(
                400,
                "MISSING_TX_ID_OR_NONCE",
                "the query parameters are missing the transaction ID or the nonce, but the "
                "relay requires them to check the tip payment",
            )
        try:
            nonce = decode_nonce(nonce_text)
        except ValueError as exc:
            fail(400, "INVALID_QUERY", f"Failed to deserialize query string: nonce: {exc}")
        self.tips.claim(tx_id)
        forget_after: int | None = None
        try:
            package, forget_after = await self._check_tip(tip, tx_id, nonce, length)
            return await self._relay(request, blob_id, object_id, package)
        except BaseException:
            forget_after = None
            raise
        finally:
            self.tips.settle(tx_id, forget_after)

    async def _check_tip(
        self, tip: SendTip, tx_id: str, nonce: bytes, length: int | None
    ) -> tuple[HashedAuthPackage, int]:
        """Check the tip transaction (all but the blob's bytes); its auth package, and the
        chain time after which it is too old to be accepted again."""
        chain = self.client.chain
        stored = await chain.call("chain_getTransaction", digest=tx_id)
        if stored is None:
            fail(400, "TIP_TRANSACTION_NOT_FOUND", f"tip transaction {tx_id} is not on chain")
        try:
            signed = SignedTransaction.from_json(stored["transaction"])
            signed.verify()
        except (TransactionFormatError, VerificationError, KeyError, TypeError) as exc:
            fail(401, "INVALID_TIP_TRANSACTION", f"the tip transaction cannot be read: {exc}")
        data = signed.data
        if data.digest() != tx_id:
            fail(401, "INVALID_TIP_TRANSACTION", "the chain answered another transaction")
        if stored.get("effects", {}).get("status") != "success":
            fail(400, "TIP_TRANSACTION_FAILED", f"tip transaction {tx_id} did not execute")
        executed_ms = await self._executed_at(int(stored["seq"]), tx_id)
        now_ms = self.tips.chain_now_ms = int((await chain.info())["timeMs"])
        freshness_ms = int(self.config.tx_freshness_threshold_s * 1000)
        if now_ms - executed_ms > freshness_ms:
            fail(400, "TX_TOO_OLD", "the received transaction is too old")
        if executed_ms - now_ms > self.config.tx_max_future_threshold_s * 1000:
            fail(
                400,
                "UNEXPECTED_RESPONSE",
                "the transaction is in the future by more than the allowed threshold",
            )
        try:
            raw = data.first_pure_input()
        except ValueError as exc:
            fail(401, "INVALID_AUTH_PACKAGE", f"the auth package could not be read: {exc}")
        if raw is None:
            fail(
                401,
                "MISSING_AUTH_PACKAGE",
                "the auth package is missing from the first input of the tip transaction",
            )
        try:
            package = HashedAuthPackage.from_bcs(raw)
        except BcsError as exc:
            fail(401, "INVALID_AUTH_PACKAGE", f"the auth package could not be read: {exc}")
        n_shards = (await self.client.committee()).n_shards
        expected = compute_tip(tip.kind, n_shards, package.unencoded_length)
        paid = _tip_paid(data.calls, tip.address)
        if paid is None:
            fail(402, "NO_TIP_SENT", "no tip was transferred to the relay's address")
        if paid < expected:
            fail(
                402,
                "INSUFFICIENT_TIP",
                f"the tip is insufficient: paid {paid}; expected {expected}",
            )
        try:
            package.check_nonce(nonce)
        except AuthPackageError as exc:
            fail(401, exc.reason, str(exc))
        if length is not None and length != package.unencoded_length:
            fail(
                401,
                "BLOB_LENGTH_MISMATCH",
                f"the blob is {length} bytes, the tip transaction paid for "
                f"{package.unencoded_length}",
            )
        return package, executed_ms + freshness_ms

    async def _executed_at(self, seq: int, tx_id: str) -> int:
        """Chain time of the transaction, from the checkpoint sealing it (checked against the
        chain key when the client config names it)."""
        checkpoints = await self.client.chain.checkpoints(seq, 1)
        if not checkpoints or checkpoints[0].tx_digest != tx_id:
            fail(401, "INVALID_TIP_TRANSACTION", f"no checkpoint seals transaction {tx_id}")
        checkpoint = checkpoints[0]
        address = self.client.config.chain_address
        if address is not None:
            try:
                checkpoint.verify(address)
            except VerificationError as exc:
                fail(401, "INVALID_TIP_TRANSACTION", f"checkpoint {seq} does not verify: {exc}")
        return checkpoint.timestamp_ms

    async def _relay(
        self,
        request: web.Request,
        blob_id: BlobId,
        object_id: str | None,
        package: HashedAuthPackage | None = None,
    ) -> web.StreamResponse:
        """Read the body, check it and the registration, encode, send, answer."""
        body = await request.read()
        if len(body) > self.config.max_body_size:
            fail(413, "PAYLOAD_TOO_LARGE", f"the body exceeds {self.config.max_body_size} bytes")
        if package is not None:
            try:
                package.check_blob(body)
            except AuthPackageError as exc:
                fail(401, exc.reason, str(exc))
        committee = await self.client.committee()
        await self._check_registered(blob_id, object_id, len(body), committee.epoch)
        encoded = await asyncio.to_thread(encode_blob, body, committee.encoding)
        del body
        if encoded.blob_id != blob_id:
            fail(
                400,
                "BLOB_ID_MISMATCH",
                "the provided blob ID and the blob ID resulting from the blob encoding do not "
                f"match (the blob encodes to {encoded.blob_id})",
            )
        try:
            certificate = await self.client.send_blob_data(committee, encoded, object_id)
        except NotEnoughConfirmations as exc:
            fail(500, "NOT_ENOUGH_CONFIRMATIONS", str(exc))
        log.info("relayed blob %s (%d signers)", blob_id, len(certificate.signers))
        return web.json_response(relay_response_json(blob_id, certificate))

    async def _check_registered(
        self, blob_id: BlobId, object_id: str | None, size: int, epoch: int
    ) -> None:
        """Refuse (401, upstream's `BlobIdNotRegistered`) a blob not registered on chain as
        the request says, for this size and RS2, and not expired."""
        if object_id is not None:
            blob = await self.client.chain.get_object(object_id)
            if blob is None or blob.type != "walrus::Blob":
                _not_registered(f"object {object_id} is not a registered blob")
            f = blob.fields
            if f["blob_id"] != str(blob_id) or not f["deletable"]:
                _not_registered(f"object {object_id} is not the deletable blob {blob_id}")
            if f["size"] != size or f["encoding_type"] != 1:
                _not_registered(
                    f"blob {blob_id} is registered for {f['size']} bytes, the body has {size}"
                )
            if f["storage"]["end_epoch"] <= epoch:
                _not_registered(f"the registration of blob {blob_id} has expired")
            return
        deadline = time.monotonic() + REGISTRATION_WAIT_S
        while True:
            try:
                status = (await self.client.verified_blob_status(blob_id)).status
            except BlobStatusUnknown:
                status = None
            permanent = status.get("permanent") if isinstance(status, dict) else None
            if permanent is not None and permanent["endEpoch"] > epoch:
                return
            if time.monotonic() >= deadline:
                _not_registered(f"blob {blob_id} is not registered as a permanent blob")
            await asyncio.sleep(0.2)


def _not_registered(message: str) -> NoReturn:
    fail(401, "BLOB_ID_NOT_REGISTERED", message)


def _tip_paid(calls: Any, address: str) -> int | None:
    """Gas the transaction's `gas::transfer` calls send to `address`; None if none does."""
    paid: int | None = None
    for call in calls:
        if call.function != "gas::transfer":
            continue
        amount, recipient = call.args.get("amount"), call.args.get("recipient")
        if (
            not isinstance(amount, int)
            or isinstance(amount, bool)
            or not isinstance(recipient, str)
        ):
            continue
        try:
            if parse_address(recipient) != address:
                continue
        except InvalidAddressError:
            continue
        paid = (paid or 0) + amount
    return paid


def _blob_id(text: str) -> BlobId:
    try:
        return BlobId.parse(text)
    except (InvalidBlobIdError, ValueError):
        fail(
            400,
            "INVALID_BLOB_ID",
            f"Failed to deserialize query string: blob_id: invalid blob ID {text!r}",
        )


def _object_id(text: str | None) -> str | None:
    if text is None:
        return None
    try:
        return parse_address(text)
    except InvalidAddressError as exc:
        fail(
            400,
            "INVALID_QUERY",
            f"Failed to deserialize query string: deletable_blob_object: {exc}",
        )


def build_app(client: WalrusClient, config: RelayConfig) -> web.Application:
    """The relay's app (CORS, JSON errors, `/status`, `/v1/api`, metrics) over `client`."""
    app = create_app(
        "upload_relay", "Walrus Upload Relay", client_max_size=max(config.max_body_size, 1)
    )
    relay = UploadRelay(client, config, _Metrics(app))
    add_route(
        app,
        "POST",
        BLOB_UPLOAD_RELAY_ROUTE,
        relay.upload,
        summary="Upload a registered blob: the relay encodes it, sends the slivers to the "
        "nodes and answers with the confirmation certificate.",
        parameters=PARAMS,
        responses=(200, 400, 401, 402, 409, 413, 500),
    )
    add_route(
        app,
        "GET",
        TIP_CONFIG_ROUTE,
        relay.tip_config,
        summary="The relay's tip configuration.",
        responses=(200,),
    )

    async def close(app: web.Application) -> None:
        await client.close()

    app.on_cleanup.append(close)
    return app


async def run(
    client_config: ClientConfig,
    config: RelayConfig,
    bind_address: str,
    metrics_address: str | None,
) -> None:
    """Serve until SIGTERM or SIGINT (in-flight uploads may finish)."""
    try:
        client = WalrusClient(client_config)
        await client.committee()
    except WalrusError as exc:
        raise ConfigError(f"cannot read the committee from the chain: {exc}") from None
    await serve(build_app(client, config), bind_address, metrics_address)
