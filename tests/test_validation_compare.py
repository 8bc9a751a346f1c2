"""benchmarks/validation_compare.py: a recipe's validation photos, grouped by source."""
import pytest
from validation_compare import validation_photos


def test_validation_ids_are_grouped_by_source(tmp_path):
    config = tmp_path / "recipe.yaml"
    config.write_text("data:\n  val_ids: ['drive:21', 'drive:22', 'hrf:05_h', 'vevio:neo02od1_d']\n")
    assert validation_photos(config) == {"drive": ["21", "22"], "hrf": ["05_h"],
                                         "vevio": ["neo02od1_d"]}


def test_the_shipped_candidate_recipe_names_only_training_photos():
    from pathlib import Path

    recipe = Path(__file__).resolve().parents[1] / "configs" / "general-six-rgb.yaml"
    photos = validation_photos(recipe)
    assert set(photos) == {"drive", "chase_db1", "hrf", "les_av", "av_wide", "vevio"}
    assert all(int(i) >= 21 for i in photos["drive"])  # DRIVE 21-40 is its training split
    with pytest.raises(SystemExit, match="unet-drive.yaml: names no data.val_ids"):
        validation_photos(recipe.with_name("unet-drive.yaml"))
