"""Signatures over canonical bytes, key files and the `printd keys` commands."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from hypothesis import given
from hypothesis import strategies as st

from printd.cli import cli
from printd.signing import (
    BadSignature,
    KeyFileError,
    Signer,
    Tampered,
    UnknownKey,
    Verifier,
    canonical_bytes,
    public_b64,
)


def test_canonical_bytes_sort_keys_drop_sig_and_keep_unicode() -> None:
    """Canonical form: sorted keys at every depth, no whitespace, UTF-8, no `sig`."""
    doc = {"b": 1, "a": {"z": "Sri Rahayu ñ", "y": [True, None]}, "sig": "xx"}
    assert canonical_bytes(doc) == '{"a":{"y":[true,null],"z":"Sri Rahayu ñ"},"b":1}'.encode()


def test_floats_cannot_be_signed() -> None:
    """A float has no portable text form, so a message with one is refused."""
    with pytest.raises(BadSignature):
        canonical_bytes({"x": 1.5})


# JSON values a signed message may hold: no floats, 64-bit integers, any
# Unicode string without lone surrogates (including control characters).
_TEXT = st.text(st.characters(exclude_categories=("Cs",)), max_size=20)
_JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1) | _TEXT,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(_TEXT, inner, max_size=4),
    max_leaves=20,
)


@given(st.dictionaries(_TEXT, _JSON, max_size=6))
def test_canonical_bytes_equal_the_documented_standard_library_form(doc: dict[str, Any]) -> None:
    """The fast encoder writes exactly the bytes the protocol documents."""
    body = {k: v for k, v in doc.items() if k != "sig"}
    documented = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    assert canonical_bytes(doc) == documented.encode("utf-8")


@pytest.mark.parametrize(
    "doc",
    [
        {"x": 2**64},  # beyond 64 bits: no portable text form either
        {"x": "\ud800"},  # a lone surrogate cannot be UTF-8
        {"x": [{"y": 0.5}]},  # a float at depth
    ],
)
def test_values_without_a_canonical_form_are_refused_as_bad_signature(
    doc: dict[str, Any],
) -> None:
    with pytest.raises(BadSignature):
        canonical_bytes(doc)


def test_sign_then_verify_round_trip_and_tamper_detected() -> None:
    """A signed message verifies; one changed byte of content makes it `tampered`."""
    signer = Signer.generate("reg-1")
    verifier = Verifier({"reg-1": signer.public_key})
    signed = signer.sign({"job_id": "J1", "n": 2})
    assert verifier.verify(signed) == "reg-1"
    with pytest.raises(Tampered):
        verifier.verify({**signed, "n": 3})


def test_unknown_key_and_malformed_signature_are_told_apart() -> None:
    """Unknown key ids and malformed signatures get their own errors."""
    signer = Signer.generate("reg-1")
    signed = signer.sign({"a": 1})
    with pytest.raises(UnknownKey):
        Verifier({}).verify(signed)
    verifier = Verifier({"reg-1": signer.public_key})
    with pytest.raises(BadSignature):
        verifier.verify({**signed, "sig": "not base64!"})
    with pytest.raises(BadSignature):
        verifier.verify({**signed, "sig": base64.b64encode(b"short").decode()})
    with pytest.raises(BadSignature):
        verifier.verify({k: v for k, v in signed.items() if k != "sig"})


def test_key_file_round_trip_and_no_overwrite(tmp_path: Path) -> None:
    """A written key reads back with the same key id; an existing file is never overwritten."""
    signer = Signer.generate()
    path = tmp_path / "station.key"
    signer.write(path)
    assert path.stat().st_mode & 0o777 == 0o600
    assert Signer.from_file(path).key_id == signer.key_id
    with pytest.raises(KeyFileError):
        signer.write(path)
    (tmp_path / "junk.key").write_text("not a key")
    with pytest.raises(KeyFileError):
        Signer.from_file(tmp_path / "junk.key")


def test_keys_cli_generate_and_public(tmp_path: Path) -> None:
    """`printd keys generate` writes a key whose public part `printd keys public` prints."""
    out = tmp_path / "k.pem"
    result = CliRunner().invoke(cli, ["keys", "generate", "--out", str(out)])
    assert result.exit_code == 0, result.output
    public_line = next(ln for ln in result.output.splitlines() if ln.startswith("public "))
    shown = CliRunner().invoke(cli, ["keys", "public", str(out)])
    assert shown.exit_code == 0
    assert shown.output.strip() == public_line.split()[1]
    assert shown.output.strip() == public_b64(Signer.from_file(out).public_key)
    again = CliRunner().invoke(cli, ["keys", "generate", "--out", str(out)])
    assert again.exit_code == 1
    assert "refusing to overwrite" in again.output
    missing = CliRunner().invoke(cli, ["keys", "public", str(tmp_path / "none")])
    assert missing.exit_code == 1
