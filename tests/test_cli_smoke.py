"""The command line starts and describes itself."""

from click.testing import CliRunner

from printd.cli import cli


def test_help_names_the_product() -> None:
    result = CliRunner().invoke(cli, ["--help"])
    assert result.exit_code == 0
    assert "card" in result.output


def test_unknown_command_is_refused() -> None:
    result = CliRunner().invoke(cli, ["no-such-command"])
    assert result.exit_code == 2
    assert "No such command" in result.output
