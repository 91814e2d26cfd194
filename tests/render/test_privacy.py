"""Personal data never reaches a log line while validating, rendering or previewing."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from render_samples import SAMPLE_FIELDS, sample_card
from structlog.testing import capture_logs

from printd.render import InvalidCard, TemplateLibrary, render_card, validate_card, write_preview


def test_logs_carry_no_personal_data(
    library: TemplateLibrary, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Log events of a full validate-render-preview cycle hold no field value."""
    caplog.set_level(logging.DEBUG)
    citizen_name = "DEWI KARTIKA SARI"
    citizen_nik = "3521019999990001"
    card = sample_card(name=citizen_name, nik=citizen_nik)
    bad = sample_card(name="W" * 58, nik=citizen_nik)
    with capture_logs() as logs:
        assert validate_card(card, library) == []
        write_preview(render_card(card, None, library), tmp_path)
        validate_card(bad, library)
        with pytest.raises(InvalidCard):
            render_card(bad, None, library)
    assert any(entry["event"] == "card_rendered" for entry in logs)
    text = repr(logs) + caplog.text
    personal = [citizen_name, citizen_nik, "W" * 20, *SAMPLE_FIELDS.values()]
    for value in personal:
        if len(value) > 3:  # short codes like "O" or "WNI" also appear in ordinary words
            assert value not in text


def test_render_log_names_template_and_timing(library: TemplateLibrary) -> None:
    """The one render log line says which template and how long, for the technician."""
    with capture_logs() as logs:
        render_card(sample_card(), None, library)
    entries = [e for e in logs if e["event"] == "card_rendered"]
    assert len(entries) == 1
    assert entries[0]["template"] == "ktp-v1"
    assert entries[0]["sides"] == 2
    assert set(entries[0]) == {"event", "template", "sides", "ms", "log_level"}
