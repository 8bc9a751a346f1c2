"""The bad-input corpus (benchmarks/bad_input.py): its classifier, a small subset of the
corpus through the real CLI, and the whole corpus under ``-m slow``."""
import importlib.util
import sys
from pathlib import Path

import pytest

BENCHMARK = Path(__file__).resolve().parents[1] / "benchmarks" / "bad_input.py"
SUBSET = ["malicious .pt (bare) via segment", "sliver.png via segment",
          "--set 'optim.lr=.nan' via train", "palette PNG vs its RGB twin",
          "door: checkpoint meta threshold NaN via segment",
          "door: checkpoint meta bad tta via segment", "door: ONNX custom operator via segment", "door: --bootstrap -5 via evaluate",
          "door: data.crop_size 1000 on 64 px photos via train"]


@pytest.fixture(scope="module")
def corpus():
    spec = importlib.util.spec_from_file_location("bad_input", BENCHMARK)
    module = importlib.util.module_from_spec(spec)
    sys.modules["bad_input"] = module  # its dataclass looks its module up there
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("status,err,verdict", [
    (None, "", "hang"),
    (2, "Traceback (most recent call last):\nValueError: x", "traceback"),
    (4, "retinaseg: error: x.png: nope", "wrong exit code"),
    (2, "retinaseg: error: other.png: nope", "unclear message"),
    (2, "retinaseg: error: x.png: nope\nmore", "unclear message"),
    (2, "retinaseg: error: x.png: nope", "clear"),
])
def test_the_classifier(corpus, tmp_path, status, err, verdict):
    case = corpus.Case("c", "k", "segment", [], 2, "x.png", tmp_path / "out")
    assert corpus.classify(case, status, err, None)[0] == verdict


def test_leftovers_and_a_pickle_that_ran_are_bad(corpus, tmp_path):
    out, marker = tmp_path / "out", tmp_path / "marker"
    out.mkdir()
    (out / "model.safetensors.tmp").write_bytes(b"")
    case = corpus.Case("c", "k", "train", [], 2, "x.pt", out, marker=marker)
    assert corpus.classify(case, 2, "retinaseg: error: x.pt: bad", None)[0] == "partial output"
    marker.write_text("")
    assert corpus.classify(case, 2, "retinaseg: error: x.pt: bad", None)[0] == "code executed"


def _assert_all_good(corpus, rows):
    bad = [(r["name"], r["verdict"], r["detail"]) for r in rows if r["verdict"] in corpus.BAD]
    assert not bad, bad


def test_a_subset_of_the_corpus(corpus, tmp_path):
    rows = corpus.run_corpus(tmp_path, SUBSET)
    assert sorted(r["name"] for r in rows) == sorted(SUBSET)
    _assert_all_good(corpus, rows)


@pytest.mark.slow
def test_the_whole_corpus(corpus, tmp_path):
    rows = corpus.run_corpus(tmp_path)
    assert len(rows) >= 80 and {r["verb"] for r in rows} == {"segment", "evaluate", "train",
                                                              "calibrate", "report"}
    _assert_all_good(corpus, rows)
