"""The typed evaluation result and the one table writer."""
import json

import numpy as np
import pytest

from retinaseg import RetinasegError
from retinaseg.evaluation.evaluate import EvalOptions, Scorer, format_table
from retinaseg.evaluation.results import (METRIC_NAMES, EvaluationResult, metric_columns, read_result)
from retinaseg.io.tables import markdown_table, text_table


def _result(observer: bool = True) -> EvaluationResult:
    """A result scored for real on three small random images."""
    rng = np.random.default_rng(0)
    model, human = Scorer(0.5, EvalOptions(bootstrap=20)), Scorer(0.5, EvalOptions())
    for i in range(3):
        truth = rng.random((20, 30)) > 0.8
        fov = np.ones((20, 30), bool)
        model.update(np.clip(truth * 0.5 + rng.random((20, 30)) * 0.5, 0, 1), truth, fov, str(i))
        human.update((rng.random((20, 30)) > 0.7).astype(np.float32), truth, fov, str(i))
    scores = model.compute()
    return EvaluationResult(**vars(scores), threshold=0.5, threshold_source="validation-f1",
                            model="runs/a/model.pt", dataset="drive", split="test", images=3,
                            observers={"2nd_manual": human.compute()} if observer else {})


def test_metrics_json_round_trips_and_keeps_its_shape():
    result = _result()
    data = json.loads(json.dumps(result.to_dict()))  # through JSON, as on disk
    assert EvaluationResult.from_dict(data).to_dict() == data
    assert set(METRIC_NAMES) <= set(data["pooled"]) and "threshold" in data["pooled"]
    assert set(data["observers"]["2nd_manual"]) == {"pooled", "per_image", "mean", "sd",
                                                    "histogram"}  # no nulls for absent parts
    assert "model_name" not in data and "command" not in data and "topology" not in data
    assert len(data["ci95"]["pooled"]["f1"]) == 2


def test_an_older_metrics_json_loads_and_unknown_keys_survive(tmp_path):
    data = _result(observer=False).to_dict()
    for key in ("machine", "software", "model_meta", "model_config", "observers", "fov"):
        data.pop(key)  # written by earlier versions without them
    data["written_by_a_later_version"] = {"x": 1}
    (tmp_path / "metrics.json").write_text(json.dumps(data))
    result = read_result(tmp_path)
    assert result.observers == {} and result.label == "a/model.pt"
    assert result.to_dict()["written_by_a_later_version"] == {"x": 1}
    assert "human observer" not in format_table(result)


def test_a_result_missing_what_a_report_needs_is_a_clear_error(tmp_path):
    (tmp_path / "metrics.json").write_text(json.dumps({"pooled": {}}))
    with pytest.raises(RetinasegError, match="lacks per_image, mean, histogram, threshold"):
        read_result(tmp_path)
    (tmp_path / "metrics.json").write_text("[1, 2]")
    with pytest.raises(RetinasegError, match="expected a JSON object"):
        read_result(tmp_path)


def test_metric_columns_select_from_the_one_list():
    assert metric_columns() == METRIC_NAMES
    assert metric_columns(first=("auc_roc", "f1"), drop=("iou", "fpr", "auc_pr")) == (
        "auc_roc", "f1", "accuracy", "sensitivity", "specificity", "precision", "mcc")
    with pytest.raises(ValueError, match="not a metric: dice"):
        metric_columns(drop=("dice",))


def test_markdown_table_escapes_pipes_and_aligns_numbers():
    table = markdown_table(["name", "n"], [["a|b", 3]], align="lr")
    assert table.splitlines() == ["| name | n |", "|---|---:|", "| a\\|b | 3 |"]
    assert markdown_table(["x"], []) == "| x |\n|---|"


def test_text_table_lines_up_columns():
    lines = text_table(["", "f1", "auc_roc"], [["model", "0.8000", "-"]]).splitlines()
    assert lines[1] == f"{'model':<22}{'0.8000':>12}{'-':>12}"
    assert len(set(map(len, lines))) == 1
