"""`printd keys`: the station's signing key."""

from __future__ import annotations

from pathlib import Path

import click

from printd.signing import KeyFileError, Signer, public_b64


@click.group()
def keys() -> None:
    """Create and show Ed25519 signing keys."""


@keys.command()
@click.option(
    "--out",
    "out",
    type=click.Path(dir_okay=False, path_type=Path),
    required=True,
    help="Where to write the private key (PEM, mode 0600). Never overwritten.",
)
def generate(out: Path) -> None:
    """Create a new private key; print its key id and base64 public key."""
    signer = Signer.generate()
    try:
        signer.write(out)
    except KeyFileError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"key_id {signer.key_id}")
    click.echo(f"public {public_b64(signer.public_key)}")


@keys.command()
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--id", "show_id", is_flag=True, help="Print the key id instead.")
def public(file: Path, show_id: bool) -> None:
    """Print the base64 raw public key of a private key FILE."""
    try:
        signer = Signer.from_file(file)
    except KeyFileError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(signer.key_id if show_id else public_b64(signer.public_key))
