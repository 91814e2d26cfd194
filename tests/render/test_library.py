"""Loading templates: shipped ones always, extra ones checked before use."""

from __future__ import annotations

from pathlib import Path

import pytest

from printd.card import TemplateCard
from printd.config import Settings, TemplateSettings
from printd.render import TemplateError, TemplateLibrary, render_card

MINIMAL = """
format = 1
name = "{name}"
description = "test card"
orientation = "{orientation}"

[fields.title]
label = "Title"

[front]
background_color = "#ffeecc"

[[front.elements]]
type = "text"
text = "{{title}}"
size = 30
min_size = 20
box = [{x}, 20, 400, 60]
"""


def _write(directory: Path, name: str, text: str) -> Path:
    path = directory / f"{name}.toml"
    path.write_text(text, encoding="utf-8")
    return path


def _lines(directory: Path) -> list[str]:
    with pytest.raises(TemplateError) as caught:
        TemplateLibrary(directory)
    return caught.value.lines


def test_shipped_templates_are_always_there() -> None:
    """With no extra directory the library holds the shipped KTP template."""
    assert "ktp-v1" in TemplateLibrary()


def test_extra_directory_adds_templates(tmp_path: Path) -> None:
    """A valid template in the configured directory is loaded beside the shipped ones."""
    _write(tmp_path, "badge-v1", MINIMAL.format(name="badge-v1", orientation="landscape", x=40))
    settings = Settings(templates=TemplateSettings(dir=tmp_path))
    library = TemplateLibrary.from_settings(settings)
    assert library.names() == ["badge-v1", "ktp-v1"]


def test_missing_directory_is_refused(tmp_path: Path) -> None:
    """A configured directory that does not exist stops start-up with its path."""
    with pytest.raises(TemplateError, match="does not exist"):
        TemplateLibrary(tmp_path / "nope")


def test_box_outside_the_card(tmp_path: Path) -> None:
    """An element box beyond the card edge names the element."""
    _write(tmp_path, "wide-v1", MINIMAL.format(name="wide-v1", orientation="landscape", x=900))
    lines = _lines(tmp_path)
    assert any("wide-v1.toml" in line and "front.elements[0]" in line for line in lines)


def test_portrait_box_checked_against_portrait_canvas(tmp_path: Path) -> None:
    """In a portrait template the card is 648 wide, so x=400 + 400 goes beyond it."""
    _write(tmp_path, "tall-v1", MINIMAL.format(name="tall-v1", orientation="portrait", x=400))
    assert any("648 x 1016" in line for line in _lines(tmp_path))


def test_undeclared_placeholder(tmp_path: Path) -> None:
    """A {field} not declared in [fields] is named."""
    text = MINIMAL.format(name="t-v1", orientation="landscape", x=40).replace("{title}", "{nama}")
    _write(tmp_path, "t-v1", text)
    assert any("{nama}" in line for line in _lines(tmp_path))


def test_unknown_font(tmp_path: Path) -> None:
    """A font found neither beside the template nor among the shipped ones is named."""
    text = MINIMAL.format(name="f-v1", orientation="landscape", x=40).replace(
        'type = "text"', 'type = "text"\nfont = "Comic.ttf"'
    )
    _write(tmp_path, "f-v1", text)
    assert any("Comic.ttf" in line for line in _lines(tmp_path))


def test_asset_outside_the_directory_is_refused(tmp_path: Path) -> None:
    """A background path climbing out of the templates directory is not read."""
    text = MINIMAL.format(name="p-v1", orientation="landscape", x=40).replace(
        'background_color = "#ffeecc"', 'background = "../secret.png"'
    )
    inner = tmp_path / "templates"
    inner.mkdir()
    _write(inner, "p-v1", text)
    assert any("../secret.png" in line for line in _lines(inner))


def test_name_must_match_file(tmp_path: Path) -> None:
    """name inside the file and the file name agree, so jobs find what they name."""
    _write(tmp_path, "other", MINIMAL.format(name="badge-v1", orientation="landscape", x=40))
    assert any("must match the file name" in line for line in _lines(tmp_path))


def test_shipped_name_cannot_be_redefined(tmp_path: Path) -> None:
    """An extra ktp-v1 is refused: a changed card is a new version."""
    _write(tmp_path, "ktp-v1", MINIMAL.format(name="ktp-v1", orientation="landscape", x=40))
    assert any("already defined" in line for line in _lines(tmp_path))


def test_invalid_toml(tmp_path: Path) -> None:
    """A file that is not TOML is named with the parser's reason."""
    _write(tmp_path, "broken", "format = = 1")
    assert any("broken.toml: not valid TOML" in line for line in _lines(tmp_path))


def test_unknown_key(tmp_path: Path) -> None:
    """A misspelt key is refused rather than silently ignored."""
    text = MINIMAL.format(name="k-v1", orientation="landscape", x=40).replace(
        "min_size = 20", "min_size = 20\nshrink = true"
    )
    _write(tmp_path, "k-v1", text)
    assert any("shrink" in line for line in _lines(tmp_path))


def test_portrait_template_renders_landscape_panels(tmp_path: Path) -> None:
    """A portrait card is drawn upright and handed to the printer as 1016 x 648."""
    _write(tmp_path, "tall-v1", MINIMAL.format(name="tall-v1", orientation="portrait", x=40))
    library = TemplateLibrary(tmp_path)
    artwork = render_card(TemplateCard(template="tall-v1", fields={"title": "HALO"}), None, library)
    assert artwork.front.color is not None
    assert artwork.front.color.size == (1016, 648)
    assert artwork.front.black is not None
    # The text band at the top of the portrait card lies along the left edge when turned.
    assert artwork.front.black.crop((0, 0, 90, 648)).getbbox() is not None
    assert artwork.front.black.crop((200, 0, 1016, 648)).getbbox() is None
