"""benchmarks/lodo.py and benchmarks/general_model.py: the leave-one-dataset-out
commands, and the aggregate of a tiny real training on the synthetic layouts."""
from __future__ import annotations

import importlib.util
import json
import shlex
import shutil
import sys
from pathlib import Path

import numpy as np
import torch
import pytest
from scipy import ndimage

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"
RECIPE = BENCHMARKS.parent / "configs" / "general.yaml"
TINY = ["epochs=1", "model.kwargs={base_channels: 4, depth: 2}", "data.crop_size=32",
        "data.crops_per_image=1", "data.fov_range=[40, 64]", "progress=false", "threads=1"]


def _benchmark(name: str):
    sys.path.insert(0, str(BENCHMARKS))  # lodo imports general_model from beside it
    try:
        spec = importlib.util.spec_from_file_location(name, BENCHMARKS / f"{name}.py")
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module  # dataclasses look their module up there
        spec.loader.exec_module(module)
        return module
    finally:
        sys.path.remove(str(BENCHMARKS))


@pytest.fixture(scope="module")
def lodo():
    return _benchmark("lodo")


@pytest.mark.parametrize("holdout, trained_on, val_ids", [
    ("drive", "chase_db1+hrf", ["chase_db1:05L", "chase_db1:05R", "hrf:05_h", "hrf:05_g",
                                "hrf:05_dr"]),
    ("chase_db1", "drive+hrf", ["drive:21", "drive:22", "hrf:05_h", "hrf:05_g", "hrf:05_dr"]),
    ("hrf", "drive+chase_db1", ["drive:21", "drive:22", "chase_db1:05L", "chase_db1:05R"]),
])
def test_the_printed_command_trains_the_recipe_on_the_two_other_datasets(
        lodo, capsys, holdout, trained_on, val_ids):
    from retinaseg.cli import build_parser
    from retinaseg.config.schema import load_config

    assert lodo.main(["command", "--holdout", holdout, "--data-root", "data",
                      "--set", "epochs=3"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 3  # general's three cycles
    folder = f"benchmarks/lodo_runs/lodo-{holdout}"
    recipes = ["general.yaml", "general-restart.yaml", "general-cycle3.yaml"]
    for cycle, (line, recipe) in enumerate(zip(lines, recipes), start=1):
        argv = shlex.split(line)
        assert argv[0] == "retinaseg"
        args = build_parser().parse_args(argv[1:])  # the real CLI takes it as printed
        assert args.config == f"configs/{recipe}" and not args.resume
        assert args.out == (folder if cycle == 1 else f"{folder}/cycle{cycle}")
        config = load_config(args.config, args.set)  # the --set list parses into a real list
        assert config.data.dataset == trained_on
        assert config.data.val_ids == val_ids
        assert config.epochs == 3  # extra --set items come after the hold-out's
        assert config.data.fov_range == [512, 1280]  # the rest of the recipe is kept
        # each later cycle starts from this run's previous one, never from general's
        previous = folder if cycle == 2 else f"{folder}/cycle{cycle - 1}"
        assert config.init_from == (None if cycle == 1 else f"{previous}/model.safetensors")


def test_a_holdout_outside_the_recipe_is_refused(lodo, tmp_path):
    recipe = tmp_path / "two.yaml"
    recipe.write_text("data: {dataset: drive+hrf, val_ids: ['drive:21']}\n")
    with pytest.raises(SystemExit, match="trains on drive\\+hrf"):
        lodo.main(["command", "--holdout", "chase_db1", "--config", str(recipe)])
    assert lodo.main(["command", "--holdout", "hrf", "--config", str(recipe),
                      "--resume"]) == 0


def test_later_cycles_start_from_the_run_before_and_the_aggregate_scores_the_last(
        lodo, synthetic_root, tiny_model, tmp_path):
    """Two real tiny cycles: the second trains into cycle2 from the first's weights,
    a rerun skips both, and the table scores the second, its cost the sum of both."""
    from safetensors.torch import load_file

    from retinaseg.config.schema import load_config

    runs = tmp_path / "runs"
    sets = [item for s in TINY for item in ("--set", s)]
    train = ["train", "--holdout", "hrf", "--data-root", str(synthetic_root),
             "--runs-root", str(runs), "--config", str(RECIPE), "--config",
             str(RECIPE.with_name("general-restart.yaml")), *sets]
    assert lodo.main(train + ["--cycles", "1"]) == 0
    first = runs / "lodo-hrf" / "model.safetensors"
    assert first.is_file() and not (runs / "lodo-hrf" / "cycle2").exists()
    assert lodo.final_run_dir(runs, "hrf") == runs / "lodo-hrf"
    first_weights = load_file(first)
    assert lodo.main(train) == 0
    second = runs / "lodo-hrf" / "cycle2"
    config = load_config(second / "config.yaml")
    assert Path(config.init_from).resolve() == first.resolve()
    assert config.seed == 1  # general-restart.yaml's own settings are kept
    assert lodo.final_run_dir(runs, "hrf") == second
    weights = load_file(second / "model.safetensors")
    assert any(not torch.equal(weights[k], first_weights[k]) for k in first_weights)
    stamp = (second / "model.safetensors").stat().st_mtime_ns
    assert lodo.main(train) == 0  # both finished: nothing trains again
    assert (second / "model.safetensors").stat().st_mtime_ns == stamp
    out = tmp_path / "lodo"
    assert lodo.main(["aggregate", "--data-root", str(synthetic_root), "--runs-root", str(runs),
                      "--general", "", "--limit", "1", "--out", str(out),
                      "--allow-dirty"]) == 0
    (row,) = [r for r in json.loads(out.with_suffix(".json").read_text())["runs"]
              if r["finished"]]
    assert row["cycle"] == 2 and row["training"]["cycles"] == 2
    assert row["training"]["epochs"] == 2  # one epoch a cycle
    costs = [c["total_seconds"] for c in row["training"]["per_cycle"]]
    assert row["training"]["total_seconds"] == pytest.approx(sum(costs))
    assert row["checkpoint_sha256"] != lodo.scorecard(str(first), str(synthetic_root),
                                                      1)["checkpoint_sha256"]
    assert "cycle 2 of the recipe; 2 epochs" in out.with_suffix(".md").read_text()


def test_finish_gives_the_last_cycle_generals_choices_made_on_its_own_validation(
        lodo, synthetic_root, tmp_path):
    """finish on a real tiny two-cycle run: the working range's top is the one
    working_scale.py chooses, the post-processing the one postprocess.py chooses (both
    on the run's validation images, their results kept beside the model), the weights
    are the last cycle's, and the aggregate then scores the finished model."""
    from safetensors.torch import load_file

    from retinaseg.hub.checkpoint import load_checkpoint
    from retinaseg.pipeline.postprocess import model_postprocess

    runs = tmp_path / "runs"
    sets = [item for s in TINY for item in ("--set", s)]
    chain = ["--holdout", "chase_db1", "--data-root", str(synthetic_root), "--runs-root",
             str(runs), "--config", str(RECIPE), "--config",
             str(RECIPE.with_name("general-restart.yaml"))]
    with pytest.raises(SystemExit, match="last cycle has not finished"):
        lodo.main(["finish", *chain, "--allow-dirty"])
    assert lodo.main(["train", *chain, *sets]) == 0
    assert lodo.main(["finish", *chain, "--allow-dirty"]) == 0
    finished = runs / "lodo-chase_db1" / "finished"
    scale = json.loads((finished / "working_scale.json").read_text())
    cleanup = json.loads((finished / "postprocess.json").read_text())
    last = runs / "lodo-chase_db1" / "cycle2" / "model.safetensors"
    assert scale["model"] == str(last) and scale["chosen_high"] is not None
    assert "test" not in cleanup  # chosen on validation images only, no test split read
    # named by the file that ships the setting, with the re-scaled weights it read
    assert cleanup["model"] == str(finished / "model.safetensors")
    assert Path(cleanup["measured_on"]).name == "scaled.safetensors"
    assert "measured as" in (finished / "postprocess.md").read_text()
    bundle = load_checkpoint(finished / "model.safetensors", for_inference=False)
    assert model_postprocess(bundle.meta).describe() == cleanup["chosen"]
    assert bundle.meta.fov_range[1] <= scale["chosen_high"]  # narrowed only to what training saw
    weights, trained = load_file(finished / "model.safetensors"), load_file(last)
    assert all(torch.equal(weights[k], trained[k]) for k in trained)
    assert not (finished / "scaled.safetensors").exists()
    assert lodo.final_run_dir(runs, "chase_db1") == finished
    out = tmp_path / "lodo"
    assert lodo.main(["aggregate", "--data-root", str(synthetic_root), "--runs-root", str(runs),
                      "--general", "", "--limit", "1", "--out", str(out),
                      "--allow-dirty"]) == 0
    (row,) = [r for r in json.loads(out.with_suffix(".json").read_text())["runs"] if r["finished"]]
    assert row["cycle"] == 2 and row["after_training_choices"]
    assert row["checkpoint_sha256"] == bundle.sha256
    assert f"post-processing {cleanup['chosen']}" in out.with_suffix(".md").read_text()


def _evaluate(model: Path, name: str, root: Path, limit: int) -> dict:
    from retinaseg.data import load_dataset
    from retinaseg.evaluation.evaluate import evaluate_model
    from retinaseg.hub.pretrained import load_model

    return evaluate_model(load_model(str(model)),
                          load_dataset(name, "test", root)[:limit]).pooled


def test_aggregate_scores_finished_runs_and_lists_unfinished_ones(lodo, synthetic_root,
                                                                   tiny_model, tmp_path):
    runs = tmp_path / "runs"
    sets = [item for s in TINY for item in ("--set", s)]
    assert lodo.main(["train", "--holdout", "hrf", "--data-root", str(synthetic_root),
                      "--runs-root", str(runs), "--cycles", "1", *sets]) == 0
    # A run stopped after its first epoch: the state and the log, no final model.
    shutil.copytree(runs / "lodo-hrf", runs / "lodo-drive")
    (runs / "lodo-drive" / "model.safetensors").unlink()
    out = tmp_path / "lodo"
    assert lodo.main(["aggregate", "--data-root", str(synthetic_root), "--runs-root", str(runs),
                      "--general", str(tiny_model), "--limit", "2", "--out", str(out),
                      "--allow-dirty"]) == 0
    result = json.loads(out.with_suffix(".json").read_text())
    by_holdout = {r["holdout"]: r for r in result["runs"]}
    assert by_holdout["drive"] == {**by_holdout["drive"], "finished": False, "epochs_done": 1}
    assert not by_holdout["chase_db1"]["finished"]
    scored = by_holdout["hrf"]
    assert scored["trained_on"] == "drive+chase_db1:train"
    for name in ("drive", "chase_db1", "hrf"):  # the same numbers retinaseg evaluate gives
        pooled = _evaluate(runs / "lodo-hrf" / "model.safetensors", name, synthetic_root, 2)
        assert scored["test_sets"][name]["f1"] == pytest.approx(pooled["f1"])
        assert scored["test_sets"][name]["images"] == 2
    assert result["held_out_f1"] == {"hrf": scored["test_sets"]["hrf"]["f1"]}
    text = out.with_suffix(".md").read_text()
    assert "| held out drive (trained on chase_db1+hrf) | unfinished |" in text
    assert f"**{scored['test_sets']['hrf']['f1']:.4f}**" in text  # the unseen set in bold
    assert "| COD (Galdran et al. 2022), unseen dataset | 0.775 | 0.779 | 0.746 | 0.806 |" in text
    assert "lodo-chase_db1: unfinished, not scored (not started)" in text
    assert "- command: `python " in text


def test_vessel_totals_match_the_confusion_counts(synthetic_root):
    general_model = _benchmark("general_model")
    from retinaseg.data import load_dataset
    from retinaseg.metrics import SegmentationMetrics

    comparison = general_model.VesselComparison(threshold=0.5)
    metrics = SegmentationMetrics(0.5)
    rng = np.random.default_rng(0)
    for sample in load_dataset("drive", "test", synthetic_root)[:3]:
        # a "prediction": the manual mask widened by a pixel all round, with a little noise
        wide = ndimage.binary_dilation(sample.vessel)
        prob = (np.clip(wide + rng.normal(0, 0.1, wide.shape), 0, 1) * sample.fov
                ).astype(np.float32)
        comparison(sample, prob, None, prob >= 0.5)
        metrics.update(prob, sample.vessel, sample.fov)
    pooled, summary = metrics.compute()["pooled"], comparison.summary()
    # predicted / true area inside the FOV is sensitivity / precision
    assert summary["area_ratio"] == pytest.approx(pooled["sensitivity"] / pooled["precision"])
    assert summary["area_ratio"] > 1.3 and summary["width_pred_px"] > summary["width_true_px"]
    assert 0 < summary["length_true_px"] and np.isfinite(summary["length_ratio"])


def test_the_targets_and_the_training_cost(tiny_model):
    general_model = _benchmark("general_model")
    row = {"f1": 0.825, "auc_roc": 0.979, "area_ratio": 1.16}
    assert general_model.verdict("drive", row) == {"f1": True, "auc_roc": False,
                                                   "area_ratio": False}
    assert general_model.verdict("hrf", {**row, "area_ratio": 0.9}) == {"f1": True,
                                                                      "area_ratio": True}
    cost = general_model.training_cost(tiny_model.parent)  # the fixture trained 2 epochs
    assert cost["epochs"] == 2 and cost["finished"] and cost["total_seconds"] > 0
    with pytest.raises(SystemExit, match="no training log"):
        general_model.training_cost(tiny_model.parent / "absent")


def test_threshold_rules_are_scored_on_the_unseen_training_split(lodo, synthetic_root, tmp_path):
    """benchmarks/threshold_rule.py on a tiny real hold-out run: each rule's F1 on the
    held-out dataset's training split is what cutting those maps directly gives."""
    from retinaseg.pipeline.cut import otsu_cut

    from retinaseg.data import load_dataset
    from retinaseg.data.geometry import resize_mask
    from retinaseg.data.preprocess import preprocess
    from retinaseg.pipeline.predict import predict_tensor, working_copy
    from retinaseg.metrics import confusion_counts, scores_from_counts
    from retinaseg.hub.pretrained import load_model

    runs = tmp_path / "runs"
    sets = [item for s in TINY for item in ("--set", s)]
    assert lodo.main(["train", "--holdout", "chase_db1", "--data-root", str(synthetic_root),
                      "--runs-root", str(runs), "--cycles", "1", *sets]) == 0
    out = tmp_path / "rule"
    assert _benchmark("threshold_rule").main([
        "--data-root", str(synthetic_root), "--runs-root", str(runs), "--limit", "2",
        "--out", str(out), "--allow-dirty", "--general", ""]) == 0
    result = json.loads(out.with_suffix(".json").read_text())
    (row,) = result["runs"]  # only the finished run
    assert row["holdout"] == "chase_db1" and row["unseen_images"] == 2
    assert sorted(row["seen_f1"]) == ["drive", "hrf"]  # validated on the two others only
    bundle = load_model(str(runs / "lodo-chase_db1" / "model.safetensors"))
    pooled, otsu, midway, shifted = None, None, None, None
    fractions = []  # (manual, predicted) vessel area fraction of each image, pooled cut
    for sample in load_dataset("chase_db1", "train", synthetic_root)[:2]:
        image, fov = working_copy(bundle, sample.image, sample.fov)  # as segment does
        vessel = resize_mask(sample.vessel, fov.shape)
        x = torch.from_numpy(preprocess(image, fov, bundle.meta.preprocess))
        prob = predict_tensor(bundle.module.eval(), x).numpy()
        cut = confusion_counts(prob >= row["thresholds"]["pooled"], vessel, fov)
        own_cut = otsu_cut(prob, fov, fallback=0.5)
        own = confusion_counts(prob >= own_cut, vessel, fov)
        half = confusion_counts(prob >= 0.5 * (row["thresholds"]["pooled"] + own_cut), vessel, fov)
        moved = confusion_counts(prob >= row["thresholds"]["pooled"] + own_cut
                                 - row["validation_otsu"], vessel, fov)
        fractions.append((vessel[fov].mean(), (prob[fov] >= row["thresholds"]["pooled"]).mean()))
        pooled, otsu, midway, shifted = ((cut, own, half, moved) if pooled is None
                                         else (pooled + cut, otsu + own, midway + half,
                                               shifted + moved))
    assert row["unseen_f1"]["pooled"] == pytest.approx(scores_from_counts(pooled)["f1"])
    assert row["unseen_f1"]["per_image_otsu"] == pytest.approx(scores_from_counts(otsu)["f1"])
    assert row["unseen_f1"]["midpoint"] == pytest.approx(scores_from_counts(midway)["f1"])
    assert row["unseen_f1"]["shifted"] == pytest.approx(scores_from_counts(shifted)["f1"])
    manual, predicted = np.asarray(fractions).sum(axis=0)
    assert row["unseen_area"]["pooled"]["area_ratio"] == pytest.approx(predicted / manual)
    both = {rule: 0.5 * (result["mean_unseen_f1"][rule] + result["mean_seen_f1"][rule])
            for rule in result["rules"]}
    assert result["chosen_rule"] == max(both, key=both.get)
    assert row["ceiling"]["f1"] >= max(row["unseen_f1"]["pooled"], row["unseen_f1"]["per_dataset"])
    text = out.with_suffix(".md").read_text()
    assert "| chase_db1 | 2 |" in text and "- command: `python " in text


def test_validated_cuts_each_model_at_its_own_validated_threshold_whatever_its_rule(
        lodo, tiny_model):
    from retinaseg.hub.pretrained import load_model

    assert lodo.aggregate_threshold("Validated") == lodo.VALIDATED
    assert lodo.aggregate_threshold("otsu") == "otsu"
    assert lodo.aggregate_threshold("0.4") == 0.4
    meta = load_model(str(tiny_model)).meta
    assert lodo.model_cut(str(tiny_model), lodo.VALIDATED) == pytest.approx(float(meta.threshold))
    assert lodo.model_cut(str(tiny_model), "otsu") == "otsu"
    assert lodo.model_cut(str(tiny_model), None) is None  # the model's own rule


def test_scorecard_predicts_under_the_tta_asked_for(tiny_model, synthetic_root):
    """general_model.py --tta: every test set scored as evaluate scores it under that
    test-time augmentation, and the result says which."""
    from retinaseg.data import load_dataset
    from retinaseg.evaluation.evaluate import EvalOptions, evaluate_model
    from retinaseg.hub.pretrained import load_model

    general_model = _benchmark("general_model")
    card = general_model.scorecard(str(tiny_model), str(synthetic_root), limit=1,
                                   sets=("drive",), tta="flip")
    plain = general_model.scorecard(str(tiny_model), str(synthetic_root), limit=1,
                                    sets=("drive",))
    assert card["tta"] == "flip" and plain["tta"] == "none"
    direct = evaluate_model(load_model(str(tiny_model)),
                            load_dataset("drive", "test", str(synthetic_root))[:1],
                            EvalOptions(tta="flip")).pooled
    assert card["test_sets"]["drive"]["auc_roc"] == pytest.approx(direct["auc_roc"])
    assert card["test_sets"]["drive"]["auc_roc"] != plain["test_sets"]["drive"]["auc_roc"]
