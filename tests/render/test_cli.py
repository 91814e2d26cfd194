"""`printd render`: templates, check and preview from the command line."""

from __future__ import annotations

import base64
import json
from pathlib import Path

from click.testing import CliRunner
from render_samples import SAMPLE_FIELDS, photo_bytes, signature_bytes

from printd.cli import cli


def _card_file(tmp_path: Path, **overrides: str) -> Path:
    card = {
        "kind": "template",
        "template": "ktp-v1",
        "fields": {**SAMPLE_FIELDS, **overrides},
        "images": {
            "photo": base64.b64encode(photo_bytes()).decode(),
            "signature": base64.b64encode(signature_bytes()).decode(),
        },
    }
    path = tmp_path / "card.json"
    path.write_text(json.dumps({"card": card}), encoding="utf-8")
    return path


def test_templates_lists_the_shipped_one() -> None:
    """`printd render templates` names ktp-v1 with its description."""
    result = CliRunner().invoke(cli, ["render", "templates"])
    assert result.exit_code == 0, result.output
    assert result.output.startswith("ktp-v1\t")


def test_templates_name_lists_fields() -> None:
    """`printd render templates ktp-v1` lists every field and image."""
    result = CliRunner().invoke(cli, ["render", "templates", "ktp-v1"])
    assert result.exit_code == 0, result.output
    for name in SAMPLE_FIELDS:
        assert f"fields.{name}:" in result.output
    assert "images.photo:" in result.output


def test_unknown_template_name_is_a_usage_error() -> None:
    """Asking for a template that does not exist exits 2 and lists the known ones."""
    result = CliRunner().invoke(cli, ["render", "templates", "nope"])
    assert result.exit_code == 2
    assert "ktp-v1" in result.output


def test_preview_writes_files(tmp_path: Path) -> None:
    """`printd render preview` writes the eight PNGs and prints their paths."""
    out = tmp_path / "preview"
    result = CliRunner().invoke(
        cli, ["render", "preview", "--card", str(_card_file(tmp_path)), "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    assert len(list(out.glob("*.png"))) == 8
    assert str(out / "front.png") in result.output


def test_preview_of_bad_card_names_the_field_and_writes_nothing(tmp_path: Path) -> None:
    """A card with a problem exits 1 with the field named and no file written."""
    out = tmp_path / "preview"
    card = _card_file(tmp_path, nik="123")
    result = CliRunner().invoke(cli, ["render", "preview", "--card", str(card), "--out", str(out)])
    assert result.exit_code == 1
    assert "fields.nik: pattern" in result.output
    assert not out.exists()


def test_check_accepts_a_good_card(tmp_path: Path) -> None:
    """`printd render check` says a good card is printable."""
    result = CliRunner().invoke(cli, ["render", "check", "--card", str(_card_file(tmp_path))])
    assert result.exit_code == 0, result.output
    assert "printable" in result.output


def test_card_file_that_is_not_json(tmp_path: Path) -> None:
    """A card file that is not JSON is a usage error naming --card."""
    path = tmp_path / "card.json"
    path.write_text("{not json", encoding="utf-8")
    result = CliRunner().invoke(cli, ["render", "check", "--card", str(path)])
    assert result.exit_code == 2
    assert "--card" in result.output
