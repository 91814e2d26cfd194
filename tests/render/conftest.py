"""Shared fixtures for the render tests."""

from __future__ import annotations

import pytest

from printd.render import TemplateLibrary


@pytest.fixture(scope="session")
def library() -> TemplateLibrary:
    return TemplateLibrary()
