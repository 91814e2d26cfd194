"""Configuration: one TOML file plus PRINTD_* variables, checked at start-up."""

from pathlib import Path

import pytest
from click.testing import CliRunner

from printd.cli import cli
from printd.config import ConfigError, load_settings

GOOD = """
[station]
id = "ngawi-01"
operator = "Sri"
state_dir = "{state}"

[mqtt]
host = "broker.example"
port = 8883
password = "hunter2-secret"

[[printers]]
name = "evolis-1"
url = "serial:///dev/ttyUSB0?baudrate=9600"
"""


@pytest.fixture
def good_file(tmp_path: Path) -> Path:
    path = tmp_path / "printd.toml"
    path.write_text(GOOD.format(state=tmp_path / "state"))
    return path


def test_file_values_are_read(good_file: Path) -> None:
    """Values from the TOML file reach the settings."""
    settings = load_settings(good_file)
    assert settings.station.id == "ngawi-01"
    assert settings.mqtt.port == 8883
    assert settings.printers[0].name == "evolis-1"
    assert settings.client_id == "printd-ngawi-01"


def test_environment_overrides_the_file(good_file: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """PRINTD_* variables, nested with __, win over the file."""
    monkeypatch.setenv("PRINTD_MQTT__PORT", "1884")
    monkeypatch.setenv("PRINTD_STATION__OPERATOR", "Budi")
    settings = load_settings(good_file)
    assert settings.mqtt.port == 1884
    assert settings.station.operator == "Budi"
    assert settings.station.id == "ngawi-01"


@pytest.mark.parametrize(
    ("snippet", "expected"),
    [
        ("[mqtt]\nport = 70000", "config: mqtt.port = 70000: Input should be less than or equal"),
        ('[station]\nid = "a/b"', "config: station.id = 'a/b'"),
        ('[station]\nresume = "sometimes"', "station.resume = 'sometimes'"),
        ("[mqtt]\nportt = 1", "config: unknown key mqtt.portt"),
        ('[[printers]]\nurl = "sim://x"', "config: printers.0.name is required"),
        (
            '[[printers]]\nname = "a"\nurl = "sim://a"\n[[printers]]\nname = "a"\nurl = "sim://b"',
            "printer names must be unique",
        ),
    ],
)
def test_bad_values_give_one_line_naming_key_value_and_expectation(
    tmp_path: Path, snippet: str, expected: str
) -> None:
    """A bad value stops loading with a line that says what and where."""
    path = tmp_path / "bad.toml"
    path.write_text(snippet)
    with pytest.raises(ConfigError) as caught:
        load_settings(path)
    assert any(expected in line for line in caught.value.lines), caught.value.lines
    assert all("\n" not in line for line in caught.value.lines)


def test_corrupt_toml_is_reported_with_its_position(tmp_path: Path) -> None:
    """A file that is not TOML is named, with where parsing stopped."""
    path = tmp_path / "broken.toml"
    path.write_text("[station\nid = 1")
    with pytest.raises(ConfigError, match=r"not valid TOML.*line 1"):
        load_settings(path)


def test_named_file_must_exist(tmp_path: Path) -> None:
    """--config pointing nowhere is an error, not a silent fall-back to defaults."""
    with pytest.raises(ConfigError, match="does not exist"):
        load_settings(tmp_path / "nope.toml")


def test_config_check_exit_codes(good_file: Path, tmp_path: Path) -> None:
    """`config check` exits 0 on a usable file and 3 with the reason on a bad one."""
    runner = CliRunner()
    ok = runner.invoke(cli, ["config", "check", str(good_file)])
    assert ok.exit_code == 0, ok.output
    assert "ok" in ok.output
    bad = tmp_path / "bad.toml"
    bad.write_text("[mqtt]\nport = 'x'")
    result = runner.invoke(cli, ["config", "check", str(bad)])
    assert result.exit_code == 3
    assert "mqtt.port = 'x'" in result.output


def test_config_show_masks_secrets(good_file: Path) -> None:
    """The effective configuration never prints the broker password."""
    result = CliRunner().invoke(cli, ["--config", str(good_file), "config", "show"])
    assert result.exit_code == 0, result.output
    assert "hunter2-secret" not in result.output
    assert "********" in result.output
    as_json = CliRunner().invoke(cli, ["--config", str(good_file), "config", "show", "--json"])
    assert "hunter2-secret" not in as_json.output
    assert '"port": 8883' in as_json.output


def test_example_config_in_docs_is_valid() -> None:
    """The commented example shipped for technicians loads as it is."""
    example = Path(__file__).parents[2] / "docs" / "printd.example.toml"
    settings = load_settings(example)
    assert settings.printers, "the example should show at least one printer"
