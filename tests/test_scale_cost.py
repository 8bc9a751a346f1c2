"""benchmarks/scale_cost.py on a tiny real model and synthetic photos: every rule runs as
a real ``retinaseg segment`` process and the widths match the library's."""
from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


def test_scale_cost_times_every_rule(two_camera_model, synthetic_root, tmp_path):
    from retinaseg.hub.checkpoint import read_checkpoint, write_checkpoint
    from retinaseg.pipeline.segment import SCALES

    sys.path.insert(0, str(BENCHMARKS))
    spec = importlib.util.spec_from_file_location("scale_cost", BENCHMARKS / "scale_cost.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    model = tmp_path / "model.safetensors"  # the tiny model with a calibre to scale by
    checkpoint = read_checkpoint(two_camera_model)
    checkpoint.meta.caliber_px, checkpoint.meta.caliber_band = 50.0, [40.0, 60.0]
    write_checkpoint(model, checkpoint)
    out = tmp_path / "cost"
    assert module.main(["--model", str(model), "--data-root", str(synthetic_root), "--runs", "1",
                        "--out", str(out), "--allow-dirty"]) == 0
    result = json.loads(out.with_suffix(".json").read_text())
    for part in result["photos"].values():
        assert set(part["median_s"]) == set(SCALES) and part["ratio_to_fov"]["fov"] == 1.0
        # a reference far above every calibre: both rules enlarge by the 2x bound
        assert part["fov_width_px"]["caliber"] > part["fov_width_px"]["fov"]
        assert part["fov_width_px"]["band"] == part["fov_width_px"]["caliber"]
        assert part["calibre_s"] > 0
    assert "second pass" in out.with_suffix(".md").read_text()
