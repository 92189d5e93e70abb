"""Storing through an upload relay (upstream's `UploadRelayClient`): the client registers the
blob itself, pays the relay's tip if it asks for one, sends the relay the blob's bytes once,
and gets back a confirmation certificate, which it checks against the committee before it
certifies the blob on chain. The relay is never trusted: a certificate that is not over this
blob's confirmation in this epoch, not signed by a quorum of shards, or whose aggregate
signature does not verify is refused, and the blob stays registered but uncertified.

The tip transaction is `tx::pure` of the BCS `HashedAuthPackage` (input 0, as upstream's tip
PTB) followed by a `gas::transfer` of the tip (MIST) to the relay's address.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, Final
from urllib.parse import urlencode

import aiohttp

from pywalrus.chain.client import ChainClient
from pywalrus.chain.tx import Call, pure_call
from pywalrus.core.accounts import Account
from pywalrus.core.certificates import Certificate, CommitteeMember
from pywalrus.core.errors import BcsError, CertificateError, UploadRelayError
from pywalrus.core.messages import PERMANENT, Deletable, StorageConfirmation
from pywalrus.core.types import BlobId, Epoch
from pywalrus.core.upload_relay import (
    BLOB_UPLOAD_RELAY_ROUTE,
    TIP_CONFIG_ROUTE,
    AuthPackage,
    TipConfig,
    compute_tip,
    encode_nonce,
    parse_relay_response,
    parse_tip_config,
)
from pywalrus.network.committee import CommitteeView

RELAY_TIMEOUT: Final = aiohttp.ClientTimeout(total=None, sock_connect=10, sock_read=600)
"""The relay answers once the nodes confirmed: for a large blob, minutes after the body."""


def verify_relay_certificate(
    committee: CommitteeView, blob_id: BlobId, object_id: str | None, certificate: Certificate
) -> int:
    """Check a certificate a relay returned, as the chain will and more: it must be over
    this blob's storage confirmation (its persistence, the committee's epoch), signed by
    members holding a quorum of shards, with an aggregate signature that verifies against
    their keys. Returns the signers' weight; `UploadRelayError` names what is wrong."""
    persistence = Deletable(bytes.fromhex(object_id[2:])) if object_id else PERMANENT
    expected = StorageConfirmation(Epoch(committee.epoch), blob_id, persistence).to_bytes()
    if certificate.serialized_message != expected:
        raise UploadRelayError(
            f"the relay's certificate is not over the confirmation of blob {blob_id} in "
            f"epoch {committee.epoch}"
        )
    members = [
        CommitteeMember(m.public_key, len(m.shards), bytes.fromhex(m.node_id[2:]))
        for m in committee.members
    ]
    try:
        return certificate.verify(members, committee.n_shards, "quorum", epoch=committee.epoch)
    except CertificateError as exc:
        raise UploadRelayError(f"the relay's certificate does not verify: {exc}") from None


class UploadRelayClient:
    """One upload relay, reached over `session`; tips are paid by `account`."""

    def __init__(
        self,
        url: str,
        session: aiohttp.ClientSession,
        chain: ChainClient,
        account: Callable[[], Account],
    ) -> None:
        self.url = url.rstrip("/")
        self.session = session
        self.chain = chain
        self._account = account

    async def tip_config(self) -> TipConfig:
        """The relay's `GET /v1/tip-config`."""
        try:
            async with self.session.get(self.url + TIP_CONFIG_ROUTE) as response:
                text = await response.text()
                if response.status != 200:
                    raise UploadRelayError(
                        f"upload relay {self.url} answered {response.status} for its tip "
                        f"config: {_message(text)}",
                        response.status,
                    )
            return parse_tip_config(json.loads(text))
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise UploadRelayError(f"upload relay {self.url} cannot be reached: {exc}") from None
        except ValueError as exc:
            raise UploadRelayError(f"upload relay {self.url}: bad tip config: {exc}") from None

    async def pay_tip(self, tip: TipConfig, n_shards: int, package: AuthPackage) -> str | None:
        """Pay the tip `tip` asks for a blob of the package's length; the transaction ID, or
        None if the relay is free."""
        if tip is None:
            return None
        amount = compute_tip(tip.kind, n_shards, package.unencoded_length)
        result = await self.chain.execute(
            self._account(),
            [
                pure_call(package.hashed().to_bcs()),
                Call("gas::transfer", {"recipient": tip.address, "amount": amount}),
            ],
        )
        digest: str = result["digest"]
        return digest

    async def send(
        self,
        blob: bytes,
        blob_id: BlobId,
        object_id: str | None,
        tx_id: str | None,
        nonce: bytes | None,
    ) -> Certificate:
        """POST the blob; the certificate the relay answers with (not verified here)."""
        query: dict[str, str] = {"blob_id": str(blob_id)}
        if object_id is not None:
            query["deletable_blob_object"] = object_id
        if tx_id is not None and nonce is not None:
            query["tx_id"] = tx_id
            query["nonce"] = encode_nonce(nonce)
        query["encoding_type"] = "RS2"
        url = f"{self.url}{BLOB_UPLOAD_RELAY_ROUTE}?{urlencode(query)}"
        try:
            async with self.session.post(
                url,
                data=blob,
                headers={"Content-Type": "application/octet-stream"},
                timeout=RELAY_TIMEOUT,
            ) as response:
                text = await response.text()
                if response.status != 200:
                    raise UploadRelayError(
                        f"upload relay {self.url} refused blob {blob_id}: {response.status} "
                        f"{_message(text)}",
                        response.status,
                    )
            answered, certificate = parse_relay_response(json.loads(text))
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise UploadRelayError(f"upload relay {self.url} failed: {exc}") from None
        except (ValueError, BcsError) as exc:
            raise UploadRelayError(f"upload relay {self.url} answered garbage: {exc}") from None
        if answered != blob_id:
            raise UploadRelayError(
                f"upload relay {self.url} answered for blob {answered}, not {blob_id}"
            )
        return certificate

    async def store(
        self, committee: CommitteeView, blob: bytes, blob_id: BlobId, object_id: str | None
    ) -> Certificate:
        """Pay the tip if asked, send the blob, and return the relay's certificate once it
        verified against `committee` (`verify_relay_certificate`)."""
        tip = await self.tip_config()
        package = AuthPackage.for_blob(blob)
        tx_id = await self.pay_tip(tip, committee.n_shards, package)
        nonce = package.nonce if tx_id is not None else None
        certificate = await self.send(blob, blob_id, object_id, tx_id, nonce)
        verify_relay_certificate(committee, blob_id, object_id, certificate)
        return certificate


def _message(text: str) -> str:
    """The message of a JSON error envelope, else the text itself (first 200 characters)."""
    try:
        body: Any = json.loads(text)
        return str(body["error"]["message"])
    except (ValueError, KeyError, TypeError):
        return " ".join(text.split())[:200]
