"""benchmarks/loco.py: leave one camera out over six sources, on the synthetic layouts."""
from __future__ import annotations

import importlib
import json
import shlex
import shutil
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"
RECIPE = BENCHMARKS.parent / "configs" / "loco-baseline.yaml"
TINY = ["epochs=1", "model.kwargs={base_channels: 4, depth: 2}", "data.crop_size=32",
        "data.crops_per_image=1", "data.fov_range=[40, 64]", "progress=false", "threads=1"]


@pytest.fixture(scope="module")
def loco():
    return importlib.import_module("loco")


@pytest.mark.parametrize("holdout", ["drive", "chase_db1", "hrf", "les_av", "av_wide", "vevio"])
def test_the_printed_command_trains_on_the_five_other_sources(loco, capsys, holdout):
    from retinaseg.cli import build_parser
    from retinaseg.config.schema import load_config, read_yaml

    assert loco.main(["command", "--recipe", str(RECIPE), "--holdout", holdout,
                      "--runs-root", "/somewhere/runs", "--set", "epochs=3"]) == 0
    (line,) = capsys.readouterr().out.splitlines()
    argv = shlex.split(line)
    args = build_parser().parse_args(argv[1:])
    assert args.resume  # a killed run continues; a fresh one starts
    assert Path(args.out).resolve() == Path("/somewhere/runs/baseline") / f"loco-{holdout}"
    config = load_config(args.config, args.set)
    trained = config.data.dataset.split("+")
    assert sorted(trained) == sorted(s for s in loco.SOURCES if s != holdout)
    recipe_val = read_yaml(RECIPE, "recipe")["data"]["val_ids"]
    assert config.data.val_ids == [i for i in recipe_val if not i.startswith(holdout + ":")]
    assert {i.split(":")[0] for i in config.data.val_ids} == set(trained)  # each has some
    assert config.epochs == 3 and config.threshold_rule == "otsu"


def test_the_held_out_sources_weight_is_dropped(loco, tmp_path):
    from retinaseg.config.schema import load_config

    recipe = tmp_path / "loco-weighted.yaml"
    shutil.copy(RECIPE, recipe)
    values = loco.read_yaml(RECIPE, "recipe")
    values["data"]["source_weights"] = {"hrf": 0.5, "les_av": 2}
    items = loco.loco_overrides(values, "les_av")
    assert 'data.source_weights={"hrf": 0.5}' in items
    config = load_config(RECIPE, [*items, 'data.source_weights={"hrf": 0.5}'])
    assert config.data.source_weights == {"hrf": 0.5}
    assert loco.recipe_name(recipe) == "weighted"


def test_train_copies_finished_runs_into_the_tree_and_score_and_aggregate_read_them(
        loco, synthetic_root, tmp_path):
    """Two real tiny runs: trained outside the tree, resumable, copied into the tree
    without their resume state, scored on the held-out test split with its subsets,
    at the calibre scale and at the validated cut, and aggregated with the selection."""
    from retinaseg.hub.load import load_model

    runs, tree = tmp_path / "runs", tmp_path / "tree"
    recipe = tmp_path / "loco-baseline.yaml"
    shutil.copy(RECIPE, recipe)
    where = ["--recipe", str(recipe), "--data-root", str(synthetic_root), "--runs-root",
             str(runs), "--tree-root", str(tree)]
    sets = [item for s in TINY for item in ("--set", s)]
    assert loco.main(["train", *where, "--holdout", "les_av", "vevio", *sets]) == 0
    for holdout in ("les_av", "vevio"):
        trained, kept = runs / "baseline" / f"loco-{holdout}", tree / "baseline" / f"loco-{holdout}"
        assert (trained / "last.safetensors").is_file()  # the resume state stays outside
        assert sorted(p.name for p in kept.iterdir()) == sorted(loco.KEPT)
    stamp = (runs / "baseline" / "loco-les_av" / "model.safetensors").stat().st_mtime_ns
    assert loco.main(["train", *where, "--holdout", "les_av", *sets]) == 0  # finished: skipped
    assert (runs / "baseline" / "loco-les_av" / "model.safetensors").stat().st_mtime_ns == stamp

    assert loco.main(["score", *where, "--holdout", "les_av", "vevio", "--allow-dirty"]) == 0
    les_av = json.loads((tree / "baseline" / "loco-les_av" / "heldout.json").read_text())
    assert les_av["held_out"]["images"] == 11 and les_av["threshold_rule"] == "otsu"
    assert les_av["subsets"]["glaucoma"]["images"] == 3  # 275, 279, 304 in the fixture
    assert les_av["subsets"]["normal"]["images"] == 8
    assert "les_av" not in les_av["trained_on"]
    assert 0 <= les_av["held_out"]["f1"] <= 1 and les_av["held_out"]["area_ratio"] >= 0
    assert les_av["in_domain"]["epochs"] == 1
    vevio = json.loads((tree / "baseline" / "loco-vevio" / "heldout.json").read_text())
    assert {k: s["images"] for k, s in vevio["subsets"].items()} == {"frames": 8, "mosaics": 8}

    # the scale lever: the same models at the calibre scale, measured on their validation
    assert loco.main(["score", *where, "--holdout", "les_av", "vevio", "--scale", "caliber",
                      "--allow-dirty"]) == 0
    scaled = json.loads((tree / "baseline" / "loco-les_av" / "heldout-caliber.json").read_text())
    assert scaled["recipe"] == "baseline+caliber" and scaled["scale"] == "caliber"
    assert scaled["caliber_px"] > 0 and scaled["held_out"]["images"] == 11
    assert (runs / "baseline" / "loco-les_av" / "calibrated.safetensors").is_file()
    assert json.loads((tree / "baseline" / "loco-les_av" / "heldout.json").read_text()) == les_av

    # the cut lever: every photo at the threshold the run chose on its validation photos
    assert loco.main(["score", *where, "--holdout", "les_av", "vevio", "--cut", "validated",
                      "--allow-dirty"]) == 0
    cut = json.loads((tree / "baseline" / "loco-les_av" / "heldout-validated.json").read_text())
    validated = load_model(str(tree / "baseline" / "loco-les_av" / "model.safetensors")).meta
    assert cut["recipe"] == "baseline+validated" and cut["threshold_rule"] == "fixed"
    assert cut["median_cut"] == cut["validated_threshold"] == pytest.approx(validated.threshold)
    assert cut["held_out"]["images"] == 11

    out = tmp_path / "loco"
    assert loco.main(["aggregate", "--tree-root", str(tree), "--out", str(out),
                      "--allow-dirty"]) == 0
    result = json.loads(out.with_suffix(".json").read_text())
    assert result["selection"]["compared_on"] == ["les_av", "vevio"]
    assert set(result["runs"]) == {"baseline", "baseline+caliber", "baseline+validated"}
    assert result["selection"]["chosen"] in result["runs"]
    assert "rule (written before scoring)" in out.with_suffix(".md").read_text()


def _run(f1, area=1.0, val_f1=0.8):
    return {"held_out": {"f1": f1, "area_ratio": area}, "in_domain": {"val_f1": val_f1}}


def test_the_selection_rule(loco):
    base = {"les_av": _run(0.70), "vevio": _run(0.60)}
    better = {"les_av": _run(0.74), "vevio": _run(0.598)}
    assert loco.select({"baseline": base, "better": better})["chosen"] == "better"
    # a higher mean bought with a worse worst source does not win
    lopsided = {"les_av": _run(0.80), "vevio": _run(0.58)}
    assert loco.select({"baseline": base, "lopsided": lopsided})["chosen"] == "baseline"
    # the area guard and the in-domain constraint exclude a candidate
    wide = {"les_av": _run(0.75, area=1.3), "vevio": _run(0.65)}
    selection = loco.select({"baseline": base, "wide": wide})
    assert selection["chosen"] == "baseline"
    assert selection["without_area_guard"] == "wide"  # said apart, after the choice
    assert loco.select({"baseline": base, "better": better})["without_area_guard"] == "better"
    forgetful = {"les_av": _run(0.75, val_f1=0.7), "vevio": _run(0.65, val_f1=0.7)}
    selection = loco.select({"baseline": base, "forgetful": forgetful})
    assert selection["chosen"] == "baseline" and selection["without_area_guard"] is None
    # only the held-out sources every recipe has are compared
    partial = {"les_av": _run(0.75)}
    selection = loco.select({"baseline": base, "partial": partial})
    assert selection["compared_on"] == ["les_av"] and selection["chosen"] == "partial"
    assert loco.select({"partial": partial})["chosen"] is None


def test_hrf_subsets_are_its_categories(loco):
    group = loco.subset_of("hrf", None)
    assert [group(i) for i in ("06_h", "07_g", "15_dr")] == ["healthy", "glaucoma",
                                                             "diabetic retinopathy"]
    assert loco.subset_of("drive", None) is None


def _checkpoint(path, threshold, source):
    """A tiny untrained U-Net saved as a loco run ships: the Otsu rule, and a threshold
    said to come from its validation photos."""
    from retinaseg.hub.checkpoint import save_model
    from retinaseg.hub.meta import ModelMeta
    from retinaseg.models import create_model

    kwargs = {"in_channels": 1, "base_channels": 4, "depth": 2}
    meta = ModelMeta("unet", kwargs, ["green"], 64.0, threshold=threshold,
                     threshold_source=source, threshold_rule="otsu")
    save_model(path, create_model("unet", **kwargs), meta)
    return path


def test_the_cut_lever_is_its_own_row_at_the_checkpoints_validated_threshold(loco, tmp_path):
    from retinaseg.hub.load import load_model

    recipe = Path("configs/loco-rgb.yaml")
    assert loco.scored_name(recipe, None) == "rgb"
    assert loco.scored_name(recipe, None, "validated") == "rgb+validated"
    assert loco.scored_name(recipe, "caliber", "validated") == "rgb+caliber+validated"
    assert loco.scored_name(recipe, "caliber", "own") == "rgb+caliber"
    stems = [loco.heldout_stem(loco.parse_args(["score", "--recipe", str(recipe), *extra]))
             for extra in ([], ["--cut", "validated"], ["--scale", "caliber", "--cut", "validated"],
                           ["--cut", "validated", "--limit", "2"])]
    assert stems == ["heldout", "heldout-validated", "heldout-caliber-validated",
                     "heldout-test-validated"]
    assert [loco.is_variant_stem(s) for s in stems] == [True, True, True, False]

    meta = load_model(str(_checkpoint(tmp_path / "run.safetensors", 0.4321, "validation-f1"))).meta
    assert loco.cut_threshold(meta, "own") is None  # the model's rule (its Otsu), as before
    assert loco.cut_threshold(meta, "otsu") == "otsu"
    assert loco.cut_threshold(meta, "validated") == pytest.approx(0.4321)
    assert loco.cut_fields("own", meta) == {}  # the default score's files keep their fields
    assert loco.cut_fields("validated", meta)["validated_threshold"] == pytest.approx(0.4321)
    unvalidated = load_model(str(_checkpoint(tmp_path / "fixed.safetensors", 0.5, "fixed"))).meta
    with pytest.raises(SystemExit, match="not chosen on validation photos"):
        loco.cut_threshold(unvalidated, "validated")

    # the aggregate reads each variant as its own row, the default score's name unchanged
    for stem, name in (("heldout", "rgb"), ("heldout-validated", "rgb+validated"),
                       ("heldout-caliber-validated", "rgb+caliber+validated"),
                       ("heldout-test-validated", "a check, left out")):
        folder = tmp_path / "tree" / "rgb" / "loco-les_av"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"{stem}.json").write_text(json.dumps({"recipe": name, "holdout": "les_av"}))
    assert sorted(loco.scored_runs(tmp_path / "tree")) == ["rgb", "rgb+caliber+validated",
                                                          "rgb+validated"]
