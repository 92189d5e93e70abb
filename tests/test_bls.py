"""BLS adapter: key derivation, both backends byte for byte, fastcrypto as the oracle, refusals."""

from __future__ import annotations

import os
import pickle
import subprocess
import sys
from collections.abc import Iterator

import pytest

from pywalrus.core.crypto import bls
from pywalrus.core.crypto.bls import (
    CURVE_ORDER,
    BlsPrivateKey,
    BlsPublicKey,
    BlsSignature,
    aggregate_public_keys,
    aggregate_signatures,
    verify,
    verify_or_raise,
)
from pywalrus.core.errors import BlsError, InvalidSignatureError

fastcrypto = pytest.importorskip("pysui_fastcrypto")

P = int(
    "1a0111ea397fe69a4b1ba7b6434bacd764774b84f38512bf"
    "6730d2a0f6b0f6241eabfffeb153ffffb9feffffffffaaab",
    16,
)
"""The BLS12-381 base field modulus."""
G1_GENERATOR = bytes.fromhex(
    "97f1d3a73197d7942695638c4fa9ac0fc3688c4f9774b905a14e3a3f171bac586c55e83ff97a1aeffb3af00adb22c6bb"
)
SEED = bytes(range(32))
SEED_SECRET = bytes.fromhex("23360db7e337b0a32b264e06bc11c1b474d16f55665373de1ce93cf15ddb3456")
SEED_PUBLIC = bytes.fromhex(
    "9112a0386a2340714ba0c6d2df235377a8679c3899d03e6ef04dba7a50ef49e5"
    "a1dc93105e9374e93ed301b63487e17c"
)
SEED_SIGNATURE_WALRUS = bytes.fromhex(
    "ac3ade0b2ec44f7343e94115617a2f4607db1ccea9748f8028dcfdf35d0fc956"
    "1a2bd9044f20910750b8efc0e546ffc302cee35a17a705993746e4228fcad205"
    "5c917f7893c78e48695742d48a6f63fd14531f39ce21b310ac85f9376336a72c"
)
"""Regression vector: from_seed(0..31) signing b"walrus" (blspy = arkworks = fastcrypto-valid)."""


def available_backends() -> list[str]:
    names = ["blspy"]
    try:
        import py_arkworks_bls12381  # noqa: F401
    except ImportError:
        return names
    return [*names, "arkworks"]


@pytest.fixture(params=available_backends())
def backend(request: pytest.FixtureRequest) -> Iterator[str]:
    previous = bls.backend_name()
    bls.set_backend(request.param)
    yield request.param
    bls.set_backend(previous)


# --- crafted curve points -------------------------------------------------------------------


def _is_square(a: int) -> bool:
    return pow(a % P, (P - 1) // 2, P) == 1


def _g1_compressed(x: int) -> bytes:
    raw = bytearray(x.to_bytes(48, "big"))
    raw[0] |= 0x80
    return bytes(raw)


def _g1_point_outside_subgroup() -> bytes:
    """x with x³ + 4 a square: on the curve, and (cofactor ≠ 1) almost surely off the subgroup."""
    x = next(x for x in range(1, 100) if _is_square(x**3 + 4))
    return _g1_compressed(x)


def _g1_point_off_curve() -> bytes:
    x = next(x for x in range(1, 100) if not _is_square(x**3 + 4))
    return _g1_compressed(x)


def _fp2_mul(a: tuple[int, int], b: tuple[int, int]) -> tuple[int, int]:
    return ((a[0] * b[0] - a[1] * b[1]) % P, (a[0] * b[1] + a[1] * b[0]) % P)


def _g2_rhs_is_square(x: tuple[int, int]) -> bool:
    """Whether x³ + 4(1+i) is a square in Fp2: exactly when its norm is a square in Fp."""
    c0, c1 = _fp2_mul(_fp2_mul(x, x), x)
    c0, c1 = (c0 + 4) % P, (c1 + 4) % P
    return _is_square(c0 * c0 + c1 * c1)


def _g2_compressed(x: tuple[int, int]) -> bytes:
    raw = bytearray(x[1].to_bytes(48, "big") + x[0].to_bytes(48, "big"))
    raw[0] |= 0x80
    return bytes(raw)


def _g2_point(on_curve: bool) -> bytes:
    x = next((1, c1) for c1 in range(1, 100) if _g2_rhs_is_square((1, c1)) == on_curve)
    return _g2_compressed(x)


def _negate(point: bytes) -> bytes:
    """−P: flip the sign bit of a compressed encoding."""
    return bytes([point[0] ^ 0x20]) + point[1:]


# --- key derivation ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("seed", "secret"),
    [
        # EIP-2333 test cases 0 and 1: its HKDF_mod_r is the IETF KeyGen used by blst.
        (
            "c55257c360c07c72029aebc1b53c05ed0362ada38ead3e3e9efa3708e53495531f09a6987599d18264c1e1c92f2cf141630c7a3c4ab7c81b2f001698e7463b04",
            6083874454709270928345386274498605044986640685124978867557563392430687146096,
        ),
        (
            "3141592653589793238462643383279502884197169399375105820974944592",
            29757020647961307431480504535336562678282505419141012933316116377660817309383,
        ),
    ],
)
def test_keygen_matches_eip2333_vectors(seed: str, secret: int) -> None:
    assert bls.keygen(bytes.fromhex(seed)) == secret
    key = BlsPrivateKey.from_seed(bytes.fromhex(seed))
    assert key.to_bytes() == secret.to_bytes(32, "big")


def test_from_seed_is_deterministic_and_needs_32_bytes() -> None:
    assert BlsPrivateKey.from_seed(SEED) == BlsPrivateKey.from_seed(SEED)
    assert BlsPrivateKey.from_seed(SEED).to_bytes() == SEED_SECRET
    assert BlsPrivateKey.from_seed(SEED) != BlsPrivateKey.from_seed(bytes(32))
    with pytest.raises(BlsError, match="at least 32 bytes"):
        BlsPrivateKey.from_seed(bytes(31))


def test_generate_gives_distinct_valid_keys() -> None:
    a, b = BlsPrivateKey.generate(), BlsPrivateKey.generate()
    assert a != b
    assert 0 < int.from_bytes(a.to_bytes(), "big") < CURVE_ORDER


@pytest.mark.parametrize(
    ("data", "problem"),
    [
        (bytes(32), r"\[1, r\)"),
        (CURVE_ORDER.to_bytes(32, "big"), r"\[1, r\)"),
        (b"\xff" * 32, r"\[1, r\)"),
        (bytes(31) + b"\x01", None),
        (b"\x01" * 31, "32 bytes"),
        (b"\x01" * 33, "32 bytes"),
    ],
)
def test_secret_key_range(data: bytes, problem: str | None) -> None:
    if problem is None:
        assert BlsPrivateKey.from_bytes(data).public_key().data == G1_GENERATOR
    else:
        with pytest.raises(BlsError, match=problem):
            BlsPrivateKey.from_bytes(data)


def test_key_file_encoding_matches_walrus() -> None:
    # crates/walrus-core/src/keys.rs `parses_base64`
    text = "BBlm7tRefoPuaKoVoxVtnUBBDCfy+BGPREM8B6oSkOEj"
    key = BlsPrivateKey.from_base64(text)
    assert key.to_bytes().hex() == (
        "1966eed45e7e83ee68aa15a3156d9d40410c27f2f8118f44433c07aa1290e123"
    )
    assert key.to_base64() == text
    assert BlsPrivateKey.from_base64(text + "\n") == key
    with pytest.raises(BlsError, match="flag 4"):
        BlsPrivateKey.from_base64("BR" + text[2:])
    with pytest.raises(BlsError, match="base64"):
        BlsPrivateKey.from_base64(text.replace("+", "-"))


def test_private_key_repr_hides_the_secret() -> None:
    key = BlsPrivateKey.from_seed(SEED)
    assert SEED_SECRET.hex() not in repr(key)
    assert "23360db7" not in repr(key)


# --- known answers across libraries ------------------------------------------------------------


@pytest.mark.parametrize(
    "secret",
    [1, 2, 0xDEADBEEF, CURVE_ORDER - 1, int.from_bytes(SEED_SECRET, "big")],
)
def test_backends_agree_byte_for_byte_and_fastcrypto_verifies(secret: int) -> None:
    message = b"walrus storage confirmation" * 40
    outputs = set()
    previous = bls.backend_name()
    for name in available_backends():
        bls.set_backend(name)
        try:
            key = BlsPrivateKey(secret.to_bytes(32, "big"))
            outputs.add((key.public_key().data, key.sign(message).data))
        finally:
            bls.set_backend(previous)
    assert len(outputs) == 1
    ((public, signature),) = outputs
    assert fastcrypto.bls_g1_compress(public) == public
    assert fastcrypto.bls_verify(public, signature, message) is True
    assert fastcrypto.bls_verify(public, signature, message + b"!") is False


def test_regression_vector(backend: str) -> None:
    key = BlsPrivateKey.from_seed(SEED)
    assert key.public_key().data == SEED_PUBLIC
    assert key.sign(b"walrus").data == SEED_SIGNATURE_WALRUS
    assert fastcrypto.bls_verify(SEED_PUBLIC, SEED_SIGNATURE_WALRUS, b"walrus") is True
    assert BlsPrivateKey(bytes(31) + b"\x01").public_key().data == G1_GENERATOR


def test_arkworks_hash_to_curve_argument_order() -> None:
    """The trap: `hash_to_curve(dst, msg)` also returns a point, but not the Walrus one."""
    ark = pytest.importorskip("py_arkworks_bls12381")
    message = b"order matters"
    right = ark.G2Point.hash_to_curve(message, bls.BLS_DST).to_compressed_bytes()
    wrong = ark.G2Point.hash_to_curve(bls.BLS_DST, message).to_compressed_bytes()
    # With sk = 1 the signature is H(m) itself.
    expected = BlsPrivateKey(bytes(31) + b"\x01").sign(message).data
    assert right == expected != wrong


def test_env_var_selects_arkworks() -> None:
    pytest.importorskip("py_arkworks_bls12381")
    code = (
        "from pywalrus.core.crypto import bls;"
        "k = bls.BlsPrivateKey.from_seed(bytes(range(32)));"
        "print(bls.backend_name(), k.sign(b'walrus').data.hex())"
    )
    env = {**os.environ, bls.BACKEND_ENV_VAR: "arkworks"}
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    ).stdout.split()
    assert out == ["arkworks", SEED_SIGNATURE_WALRUS.hex()]


def test_unknown_backend_is_refused() -> None:
    with pytest.raises(BlsError, match="unknown BLS backend 'nope'"):
        bls.set_backend("nope")
    assert bls.backend_name() in bls.BACKENDS


# --- sign, verify, aggregate ----------------------------------------------------------------


def test_sign_and_verify(backend: str) -> None:
    key = BlsPrivateKey.from_seed(bytes([1]) * 32)
    other = BlsPrivateKey.from_seed(bytes([2]) * 32)
    signature = key.sign(b"message")
    assert verify(key.public_key(), b"message", signature)
    assert key.public_key().verify(b"message", signature)
    assert not verify(key.public_key(), b"messagf", signature)
    assert not verify(other.public_key(), b"message", signature)
    assert not verify(key.public_key(), b"message", other.sign(b"message"))
    verify_or_raise(key.public_key(), b"message", signature)
    with pytest.raises(InvalidSignatureError):
        verify_or_raise(other.public_key(), b"message", signature)


def test_round_trips(backend: str) -> None:
    key = BlsPrivateKey.from_seed(SEED)
    assert BlsPrivateKey.from_bytes(key.to_bytes()) == key
    public = BlsPublicKey.from_bytes(bytearray(key.public_key().data))
    assert public == key.public_key() and hash(public) == hash(key.public_key())
    assert bytes(public) == SEED_PUBLIC
    signature = BlsSignature.from_bytes(memoryview(key.sign(b"x").data))
    assert signature == key.sign(b"x")
    assert verify(public, b"x", signature)


def test_aggregate_matches_fastcrypto(backend: str) -> None:
    message = b"one message, ten signers"
    keys = [BlsPrivateKey.from_seed(bytes([i]) * 32) for i in range(10)]
    signatures = [key.sign(message) for key in keys]
    aggregate = aggregate_signatures(signatures)
    public = aggregate_public_keys(key.public_key() for key in keys)
    assert verify(public, message, aggregate)
    assert not verify(public, message + b"?", aggregate)
    assert not verify(aggregate_public_keys(k.public_key() for k in keys[:9]), message, aggregate)
    assert fastcrypto.bls_aggregate([s.data for s in signatures]) == aggregate.data
    pks = [k.public_key().data for k in keys]
    assert fastcrypto.bls_aggregate_verify(aggregate.data, pks, message) is True
    assert fastcrypto.bls_aggregate_verify(aggregate.data, pks[:9], message) is False
    assert aggregate_signatures(reversed(signatures)) == aggregate


def test_aggregation_refusals(backend: str) -> None:
    with pytest.raises(BlsError, match="empty"):
        aggregate_signatures([])
    with pytest.raises(BlsError, match="empty"):
        aggregate_public_keys([])
    key = BlsPrivateKey.from_seed(SEED).public_key()
    negated = BlsPublicKey(_negate(key.data))
    with pytest.raises(BlsError, match="point at infinity"):
        aggregate_public_keys([key, negated])
    signature = BlsPrivateKey.from_seed(SEED).sign(b"m")
    with pytest.raises(BlsError, match="point at infinity"):
        aggregate_signatures([signature, BlsSignature(_negate(signature.data))])


def test_values_survive_a_backend_switch() -> None:
    key = BlsPrivateKey.from_seed(SEED)
    public, signature = key.public_key(), key.sign(b"m")
    previous = bls.backend_name()
    for name in available_backends():
        bls.set_backend(name)
        try:
            assert verify(public, b"m", signature)
            assert verify(public, b"m", aggregate_signatures([signature]))
        finally:
            bls.set_backend(previous)


# --- invalid encodings ----------------------------------------------------------------------


def _public_key_cases() -> list[tuple[bytes, str]]:
    infinity = bytes([0xC0]) + bytes(47)
    return [
        (SEED_PUBLIC[:47], "48 bytes, got 47"),
        (SEED_PUBLIC + b"\x00", "48 bytes, got 49"),
        (bytes([SEED_PUBLIC[0] & 0x7F]) + SEED_PUBLIC[1:], "not in compressed form"),
        (bytes(48), "not in compressed form"),
        (infinity, "point at infinity"),
        (b"\xff" * 48, "point at infinity"),
        (_g1_point_off_curve(), "not a point on the curve"),
        (_g1_compressed(P + 1), "not a point on the curve|non-canonical"),
        (_g1_point_outside_subgroup(), "not in the prime-order subgroup"),
    ]


@pytest.mark.parametrize(("data", "problem"), _public_key_cases())
def test_invalid_public_keys_are_refused(backend: str, data: bytes, problem: str) -> None:
    with pytest.raises(BlsError, match=problem):
        BlsPublicKey.from_bytes(data)


def test_public_key_of_wrong_type_is_refused() -> None:
    with pytest.raises(BlsError, match="must be bytes"):
        BlsPublicKey(bytearray(SEED_PUBLIC))  # type: ignore[arg-type]


def _signature_cases() -> list[tuple[bytes, str]]:
    return [
        (SEED_SIGNATURE_WALRUS[:95], "96 bytes, got 95"),
        (bytes([SEED_SIGNATURE_WALRUS[0] & 0x7F]) + SEED_SIGNATURE_WALRUS[1:], "compressed"),
        (bytes([0xC0]) + bytes(95), "point at infinity"),
        (_g2_point(on_curve=False), "not a point on the curve"),
        (_g2_point(on_curve=True), "not in the prime-order subgroup"),
    ]


@pytest.mark.parametrize(("data", "problem"), _signature_cases())
def test_invalid_signatures_are_refused(backend: str, data: bytes, problem: str) -> None:
    with pytest.raises(BlsError, match=problem):
        BlsSignature.from_bytes(data)


def test_crafted_points_are_what_they_claim() -> None:
    """fastcrypto agrees: the G1 point is refused, the on-curve G2 point decodes (fastcrypto
    defers the subgroup check to verification) yet never verifies, the off-curve one is refused."""
    with pytest.raises(ValueError) as excinfo:
        fastcrypto.bls_g1_compress(_g1_point_outside_subgroup())
    assert excinfo.value.args[0] == "invalid_public_key"
    outside = _g2_point(on_curve=True)
    assert fastcrypto.bls_aggregate([outside]) == outside
    assert fastcrypto.bls_verify(SEED_PUBLIC, outside, b"walrus") is False
    with pytest.raises(ValueError) as excinfo:
        fastcrypto.bls_verify(SEED_PUBLIC, _g2_point(on_curve=False), b"walrus")
    assert excinfo.value.args[0] == "invalid_signature"


def test_values_pickle(backend: str) -> None:
    key = BlsPrivateKey.from_seed(SEED)
    public, signature = key.public_key(), key.sign(b"m")
    copies = pickle.loads(pickle.dumps((key, public, signature)))
    assert copies == (key, public, signature)
    assert verify(copies[1], b"m", copies[2])


def test_public_key_parsing_is_cached() -> None:
    data = BlsPrivateKey.from_seed(bytes([9]) * 32).public_key().data
    BlsPublicKey(data)
    before = bls._parse_public_key.cache_info().hits
    BlsPublicKey(data)
    assert bls._parse_public_key.cache_info().hits == before + 1
