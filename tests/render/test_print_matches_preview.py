"""What the technician previews is, pixel for pixel, what reached the printer."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps
from render_samples import sample_card
from stations import daemon, printd_cli, start_simulator, wait_for, write_config

from drivers.evolis.panels import color_planes
from printd.serials import parse_serials
from printd.store import Store

BLANKS = "AB-100001..AB-100005"


def test_preview_equals_the_panels_the_simulator_received(tmp_path: Path) -> None:
    """K and overlay match exactly; Y/M/C match the preview's colour at the printer's 32 levels."""
    sim = start_simulator(tmp_path, "evolis-1", BLANKS)
    try:
        config = write_config(tmp_path, [sim])
        payload = json.dumps({"card": sample_card().model_dump(mode="json")}).encode()
        with Store.open(tmp_path / "state") as store:
            serials = parse_serials([BLANKS])
            store.ledger.receive("BOX-1", serials, "t")
            store.ledger.load("evolis-1", serials, "t")
            with store.transaction() as conn:
                store.jobs.accept(
                    conn,
                    job_id="ktp-1",
                    priority="normal",
                    not_after=datetime.now(UTC) + timedelta(days=1),
                    payload=payload,
                    content_hash="h",
                    key_id="test",
                )
        preview = tmp_path / "preview"
        result = printd_cli(config, "jobs", "preview", "ktp-1", "--out", str(preview))
        assert result.returncode == 0, result.stderr
        with daemon(config, tmp_path / "daemon.log"):
            wait_for(lambda: len(sim.state()["output"]) == 1, 60, "the card in the output bin")
        for side in ("front", "back"):
            printed = {
                panel: np.asarray(
                    Image.open(io.BytesIO(sim.control.picture_png(panel, side=side))).convert("L")
                )
                for panel in ("y", "m", "c", "k", "o")
            }
            k = ImageOps.invert(Image.open(preview / f"{side}-k.png").convert("L"))
            overlay = ImageOps.invert(Image.open(preview / f"{side}-overlay.png").convert("L"))
            assert np.array_equal(printed["k"], np.asarray(k)), f"{side} K differs"
            assert np.array_equal(printed["o"], np.asarray(overlay)), f"{side} overlay differs"
            assert np.asarray(k).any(), "the K panel should carry text"
            color = Image.open(preview / f"{side}-color.png").convert("RGB")
            for name, plane in zip("ymc", color_planes(color), strict=True):
                landscape = np.rot90(plane, k=-1) * (255 // 31)
                assert np.array_equal(printed[name], landscape.astype(np.uint8)), (side, name)
    finally:
        sim.stop()
