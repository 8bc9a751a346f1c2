"""The config layer refuses every invalid config when it is loaded, in one line
naming the file or the ``--set`` item, and never with another exception type."""
import math
import string
import time

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from retinaseg import RetinasegError
from retinaseg.config.schema import (TrainConfig, config_from_dict, config_to_dict, load_config,
                              read_yaml)
from retinaseg.config.rules import RULES, leaves
from retinaseg.config.safe_yaml import MAX_FILE_BYTES

BILLION_LAUGHS = """\
data:
  val_ids: &a9 [&a8 [&a7 [&a6 [&a5 [&a4 [&a3 [&a2 [&a1 [&a0 [lol, lol, lol, lol, lol, lol,
    lol, lol, lol]]]]]]]]]]
a: [*a0, *a0, *a0, *a0, *a0, *a0, *a0, *a0, *a0]
b: [*a1, *a1, *a1, *a1, *a1, *a1, *a1, *a1, *a1]
c: [*a2, *a2, *a2, *a2, *a2, *a2, *a2, *a2, *a2]
d: [*a3, *a3, *a3, *a3, *a3, *a3, *a3, *a3, *a3]
e: [*a4, *a4, *a4, *a4, *a4, *a4, *a4, *a4, *a4]
f: [*a5, *a5, *a5, *a5, *a5, *a5, *a5, *a5, *a5]
g: [*a6, *a6, *a6, *a6, *a6, *a6, *a6, *a6, *a6]
h: [*a7, *a7, *a7, *a7, *a7, *a7, *a7, *a7, *a7]
"""


@pytest.mark.parametrize("override,allowed", [
    ("optim.lr=-0.1", "optim.lr=-0.1 is not allowed: must be > 0"),
    ("optim.lr=0", "must be > 0"),
    ("optim.lr=.nan", "optim.lr=nan is not allowed: must be a finite number"),
    ("optim.lr=.inf", "must be a finite number"),
    ("seed=-1", "seed=-1 is not allowed: must be in [0, 4294967295]"),
    ("seed=4294967296", "must be in [0, 4294967295]"),
    ("threads=-1", "threads=-1 is not allowed"),
    ("data.val_count=-1", "data.val_count=-1 is not allowed: must be >= 0"),
    ("val_every=0", "val_every=0 is not allowed: must be >= 1"),
    ("epochs=0", "epochs=0 is not allowed: must be >= 1"),
    ("data.crop_size=-8", "data.crop_size=-8 is not allowed"),
    ("data.crop_size=100000", "data.crop_size=100000 is not allowed: must be in [0, 16384]"),
    ("data.crops_per_image=0", "data.crops_per_image=0 is not allowed"),
    ("data.batch_size=0", "data.batch_size=0 is not allowed"),
    ("select_metric=loss", "select_metric='loss' is not allowed: must be one of auc_roc, f1"),
    ("loss=focal", "must be one of bce, weighted_bce, dice, bce+dice"),
    ("optim.name=lbfgs", "must be one of sgd, sgd_momentum"),
    ("schedule.name=cyclic", "must be one of constant, step"),
    ("schedule.gamma=0", "schedule.gamma=0.0 is not allowed"),
    ("schedule.min_lr=1", "schedule.min_lr=1 is not allowed: must be <= optim.lr"),
    ("augment.scale=1", "augment.scale=1.0 is not allowed: must be in [0, 1)"),
    ("augment.rotate=-5", "augment.rotate=-5.0 is not allowed"),
    ("ema=1", "ema=1.0 is not allowed"),
    ("tta=rot99", "tta='rot99' is not allowed"),
    ("init_scope=decoder", "must be one of all, encoder"),
    ("model.name=resnet", "model.name='resnet' is not allowed: must be one of"),
    ("model.kwargs={widht: 8}", "model.kwargs.widht=8 is not allowed: must be one of the "
                                "keywords unet takes: base_channels, depth, dropout, upsample"),
    ("model.kwargs={in_channels: 3}", "data.preprocess sets it"),
    ("data.preprocess=[clahe]", "must start with one of green"),
    ("data.preprocess=[green, 'gamma:nan']", "argument must be a finite number > 0"),
    ("data.preprocess=[green, 7]", "a list of step names"),
    ("data.val_ids=[01, 01]", "a list without repeats"),
    ("data.fov_diameter=500", "both rescale"),
    ("augment.fixed_rotations=4", "replaces random rotation"),
    ("epochs=1.5", "epochs must be an int, not float 1.5"),
    ("optim.lr=1.0e+999999", "optim.lr=inf is not allowed: must be a finite number"),
    ("optim.lr=" + "9" * 400, "too large for a float"),
])
def test_every_rule_is_one_error_naming_the_set_item_key_and_what_is_allowed(override, allowed):
    extra = ["data.square_size=512"] if "fov_diameter" in override else []
    with pytest.raises(RetinasegError) as caught:
        load_config(None, extra + [override])
    message = str(caught.value)
    assert allowed in message and "\n" not in message
    if "both rescale" not in message:  # a combination is blamed on the last of its items
        assert message.startswith("--set " + repr(override)[:40]), message  # long items cut


def test_a_bad_value_in_a_file_names_the_file(tmp_path):
    path = tmp_path / "recipe.yaml"
    path.write_text("epochs: 5\ndata: {crops_per_image: 0}\n")
    with pytest.raises(RetinasegError, match=r"recipe\.yaml: config key data.crops_per_image=0"):
        load_config(path)
    # ... unless a --set item overrode it: then the item is named, not the file
    with pytest.raises(RetinasegError, match=r"^--set 'epochs=0': config key epochs=0"):
        load_config(path, ["data.crops_per_image=2", "epochs=0"])


def test_every_rule_accepts_the_defaults_and_every_shipped_config():
    config_from_dict({})
    assert {key for key, _ in leaves(TrainConfig())} >= set(RULES)  # no rule for a missing key
    from pathlib import Path

    configs = Path(__file__).resolve().parents[1] / "configs"
    recipes = [p for p in configs.glob("*.yaml") if "base" not in read_yaml(p)]
    assert len(recipes) >= 5
    for path in recipes:
        load_config(path)


def test_loaded_configs_round_trip_and_stay_valid(tmp_path):
    cfg = load_config(None, ["optim.lr=0.02", "data.val_ids=[1, '02']"])
    assert config_to_dict(config_from_dict(config_to_dict(cfg))) == config_to_dict(cfg)


@pytest.mark.parametrize("text,message", [
    (BILLION_LAUGHS, "anchors and aliases (&name, *name, <<) are not allowed (line 2"),
    ("base: &b {epochs: 2}\n<<: *b\n", "anchors and aliases"),
    ("epochs: " + "[" * 100 + "]" * 100 + "\n", "nested deeper than 32 levels"),
    ("epochs: 2020-13-45\n", "invalid YAML (bad value"),
    ("optim: [unclosed\n", "invalid YAML (expected ',' or ']'"),
    ("!!python/object:os.system {}\n", "invalid YAML"),
    ("- 1\n- 2\n", "must be a YAML mapping"),
    ("{1: 2, x: 3}\n", "unknown config key 1"),
])
def test_yaml_files_that_are_refused(tmp_path, text, message):
    path = tmp_path / "c.yaml"
    path.write_text(text)
    started = time.perf_counter()
    with pytest.raises(RetinasegError) as caught:
        load_config(path)
    assert time.perf_counter() - started < 5  # the laughs are refused, never expanded
    assert str(caught.value).startswith(f"{path}: ") and message in str(caught.value)
    assert "\n" not in str(caught.value)


def test_non_utf8_and_oversized_files_are_one_line(tmp_path):
    latin = tmp_path / "latin1.yaml"
    latin.write_bytes("out_dir: runs/é\n".encode("latin-1"))
    with pytest.raises(RetinasegError, match=r"latin1\.yaml: is not UTF-8 text \(byte 0xe9 at "
                                             r"offset 14\)"):
        load_config(latin)
    big = tmp_path / "big.yaml"
    big.write_text("# " + "x" * MAX_FILE_BYTES + "\n")
    with pytest.raises(RetinasegError, match=r"big\.yaml: is \d+ bytes; a config file is at most"):
        load_config(big)


def test_set_values_are_parsed_as_strictly_as_files():
    with pytest.raises(RetinasegError, match=r"^--set 'data.crop_size=\[1': invalid YAML value"):
        load_config(None, ["data.crop_size=[1"])
    with pytest.raises(RetinasegError, match=r"^--set 'data.val_ids=&a \[1\]': invalid YAML "
                                             r"value \(anchors and aliases"):
        load_config(None, ["data.val_ids=&a [1]"])
    with pytest.raises(RetinasegError, match="at most 65536"):
        load_config(None, ["out_dir=" + "x" * 70000])


# --------------------------------------------------------------------------- fuzzing

KEYS = sorted(key for key, _ in leaves(TrainConfig())) + ["model.kwargs.depth", "nope", "data"]
SCALARS = (st.none() | st.booleans() | st.integers(-2**70, 2**70)
           | st.floats(allow_nan=True, allow_infinity=True)
           | st.text(string.printable, max_size=12) | st.sampled_from(
               ["auc_roc", "f1", "green", "clahe:0.01", "rot4", "flip", "sgd", "step", "unet",
                "dice", "encoder", "1e999", "0x10", ".nan", "2020-13-45"]))
VALUES = st.recursive(SCALARS, lambda inner: st.lists(inner, max_size=4)
                      | st.dictionaries(st.sampled_from(KEYS + ["x", "1"]), inner, max_size=4),
                      max_leaves=12)


def _nested(flat: dict) -> dict:
    nested: dict = {}
    for key, value in flat.items():
        node = nested
        *parents, leaf = key.split(".")
        for part in parents:
            node = node.setdefault(part, {}) if isinstance(node.get(part, {}), dict) else {}
        node[leaf] = value
    return nested


def _only_retinaseg_errors(call) -> None:
    try:
        cfg = call()
    except RetinasegError as exc:
        assert "\n" not in str(exc)
        return
    for key, value in leaves(cfg):  # what loads is valid: finite, and inside every rule
        assert not (isinstance(value, float) and not math.isfinite(value)), key
        assert RULES.get(key, lambda v: None)(value) is None, key


FUZZ = settings(max_examples=150, deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.too_slow])
FUZZ_SLOW = settings(max_examples=2000, deadline=None,
                     suppress_health_check=[HealthCheck.too_slow])


def _dict_case(flat):
    _only_retinaseg_errors(lambda: config_from_dict(_nested(flat)))


def _overrides_case(items):
    overrides = [f"{key}={raw}" for key, raw in items]
    _only_retinaseg_errors(lambda: load_config(None, overrides))


def _file_case(tmp_path_factory, data: bytes):
    path = tmp_path_factory.mktemp("fuzz") / "c.yaml"
    path.write_bytes(data)
    _only_retinaseg_errors(lambda: load_config(path))


YAML_TEXT = st.one_of(
    st.binary(max_size=200),
    st.dictionaries(st.sampled_from(KEYS), VALUES, max_size=6).map(
        lambda d: yaml.safe_dump(_nested(d), allow_unicode=True).encode("utf-8", "surrogatepass")),
    st.text(string.printable + "&*!<>é", max_size=200).map(lambda t: t.encode()),
)
OVERRIDES = st.lists(st.tuples(st.sampled_from(KEYS), st.text(string.printable, max_size=20)
                               | SCALARS.map(lambda v: yaml.safe_dump(v).strip())), max_size=4)


@FUZZ
@given(st.dictionaries(st.sampled_from(KEYS), VALUES, max_size=8))
def test_fuzz_config_from_dict(flat):
    _dict_case(flat)


@FUZZ
@given(OVERRIDES)
def test_fuzz_set_overrides(items):
    _overrides_case(items)


@FUZZ
@given(data=YAML_TEXT)
def test_fuzz_config_files(tmp_path_factory, data):
    _file_case(tmp_path_factory, data)


@pytest.mark.slow
@FUZZ_SLOW
@given(st.dictionaries(st.sampled_from(KEYS), VALUES, max_size=8))
def test_fuzz_config_from_dict_long(flat):
    _dict_case(flat)


@pytest.mark.slow
@FUZZ_SLOW
@given(OVERRIDES)
def test_fuzz_set_overrides_long(items):
    _overrides_case(items)


@pytest.mark.slow
@FUZZ_SLOW
@given(data=YAML_TEXT)
def test_fuzz_config_files_long(tmp_path_factory, data):
    _file_case(tmp_path_factory, data)
