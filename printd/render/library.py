"""The card templates a station knows: the shipped ones plus an optional directory."""

from __future__ import annotations

import functools
import string
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from PIL import Image
from pydantic import ValidationError

from printd.config import Settings
from printd.render.errors import TemplateError
from printd.render.fonts import SHIPPED_FONTS, FontError, font_coverage
from printd.render.model import ImageElement, Template, TextElement

SHIPPED_TEMPLATES = Path(__file__).parent / "templates"


def _inside(base: Path, name: str) -> Path | None:
    """``base/name`` if it is a file inside ``base``; template files cannot reach out."""
    candidate = (base / name).resolve()
    if candidate.is_relative_to(base.resolve()) and candidate.is_file():
        return candidate
    return None


@dataclass(frozen=True, eq=False)
class LoadedTemplate:
    """A template with its fonts and pictures found on disk."""

    template: Template
    directory: Path
    fonts: dict[str, Path] = field(default_factory=dict)
    assets: dict[str, Path] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.template.name

    def font_path(self, element: TextElement) -> Path:
        return self.fonts[element.font]

    def coverage(self, element: TextElement) -> frozenset[int]:
        return font_coverage(self.fonts[element.font])

    def asset(self, name: str, size: tuple[int, int] | None = None) -> Image.Image:
        """A picture beside the template, decoded once (and resized once to ``size``)."""
        return _decode_asset(self.assets[name], size)


@functools.lru_cache(maxsize=64)
def _decode_asset(path: Path, size: tuple[int, int] | None) -> Image.Image:
    with Image.open(path) as raw:
        image = (
            raw.convert("RGBA")
            if "A" in raw.getbands() or "transparency" in raw.info
            else raw.convert("RGB")
        )
    if size is not None and image.size != size:
        image = image.resize(size, Image.Resampling.LANCZOS)
    image.load()
    return image


def load_template(path: Path) -> LoadedTemplate:
    """Read and check one template file; raise :class:`TemplateError` naming each problem."""
    where = path.name
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise TemplateError([f"template {where}: cannot be read: {exc}"]) from None
    except tomllib.TOMLDecodeError as exc:
        raise TemplateError([f"template {where}: not valid TOML: {exc}"]) from None
    try:
        template = Template.model_validate(raw)
    except ValidationError as exc:
        lines = []
        for error in exc.errors(include_url=False):
            key = ".".join(str(part) for part in error["loc"]) or "(top level)"
            lines.append(f"template {where}: {key}: {error['msg']}")
        raise TemplateError(lines) from None
    if template.name != path.stem:
        raise TemplateError([f"template {where}: name {template.name!r} must match the file name"])
    directory = path.parent
    problems: list[str] = []
    fonts: dict[str, Path] = {}
    assets: dict[str, Path] = {}
    for side_name, side in template.sides():
        if side.background is not None:
            assets.setdefault(side.background, Path())
        for i, element in enumerate(side.elements):
            if isinstance(element, TextElement) and element.font not in fonts:
                found = (
                    _inside(directory, element.font)
                    or _inside(directory / "fonts", element.font)
                    or _inside(SHIPPED_FONTS, element.font)
                )
                if found is None:
                    problems.append(
                        f"template {where}: {side_name}.elements[{i}]: font {element.font!r} "
                        "not found beside the template, in its fonts/ or among the shipped fonts"
                    )
                    continue
                try:
                    font_coverage(found)
                except FontError as exc:
                    problems.append(f"template {where}: {exc}")
                    continue
                fonts[element.font] = found
            if isinstance(element, TextElement) and element.font in fonts:
                literal = "".join(part for part, *_ in string.Formatter().parse(element.text))
                literal = literal.upper() if element.upper else literal
                coverage = font_coverage(fonts[element.font])
                missing = sorted({c for c in literal if ord(c) not in coverage})
                if missing:
                    problems.append(
                        f"template {where}: {side_name}.elements[{i}]: font {element.font!r} "
                        f"cannot draw {', '.join(f'U+{ord(c):04X}' for c in missing)}"
                    )
            if isinstance(element, ImageElement) and element.asset is not None:
                assets.setdefault(element.asset, Path())
    for name in list(assets):
        found = _inside(directory, name)
        if found is None:
            problems.append(f"template {where}: picture {name!r} not found beside the template")
            continue
        try:
            with Image.open(found) as image:
                image.verify()
        except Exception as exc:  # Pillow raises many types for a bad file
            problems.append(f"template {where}: picture {name!r} cannot be decoded: {exc}")
            continue
        assets[name] = found
    if problems:
        raise TemplateError(problems)
    return LoadedTemplate(template, directory, fonts, assets)


class TemplateLibrary:
    """Templates by name: the shipped ones, then those of ``extra_dir``.

    All files are read and checked when the library is made, so a bad template
    stops start-up with a clear message instead of failing a job later. A name
    can be defined once: an extra template may not redefine a shipped one
    (publish a new version, e.g. ``ktp-v2``).
    """

    def __init__(self, extra_dir: Path | None = None) -> None:
        self._templates: dict[str, LoadedTemplate] = {}
        problems: list[str] = []
        dirs = [SHIPPED_TEMPLATES]
        if extra_dir is not None:
            if not extra_dir.is_dir():
                raise TemplateError([f"templates directory {extra_dir} does not exist"])
            dirs.append(extra_dir)
        for directory in dirs:
            for path in sorted(directory.glob("*.toml")):
                try:
                    loaded = load_template(path)
                except TemplateError as exc:
                    problems.extend(exc.lines)
                    continue
                if loaded.name in self._templates:
                    problems.append(
                        f"template {path.name}: {loaded.name!r} is already defined; "
                        "give the new version a new name"
                    )
                    continue
                self._templates[loaded.name] = loaded
        if problems:
            raise TemplateError(problems)

    @classmethod
    def from_settings(cls, settings: Settings) -> TemplateLibrary:
        """The library for a station's configuration (``settings.templates.dir``)."""
        return cls(settings.templates.dir)

    def get(self, name: str) -> LoadedTemplate | None:
        return self._templates.get(name)

    def all(self) -> list[LoadedTemplate]:
        """Every template, by name."""
        return [self._templates[name] for name in sorted(self._templates)]

    def names(self) -> list[str]:
        return sorted(self._templates)

    def __contains__(self, name: object) -> bool:
        return name in self._templates

    def __len__(self) -> int:
        return len(self._templates)
