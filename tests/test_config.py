import pytest

from retinaseg import RetinasegError
from retinaseg.config.schema import config_to_dict, load_config, save_config


def test_file_then_overrides(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("optim: {name: sgd_nesterov, lr: 0.05}\nepochs: 7\n")
    cfg = load_config(path, ["optim.lr=0.01", "data.preprocess=[grey, clahe]", "bf16=true"])
    assert cfg.optim.name == "sgd_nesterov" and cfg.optim.lr == 0.01
    assert cfg.epochs == 7 and cfg.bf16 is True
    assert cfg.data.preprocess == ["grey", "clahe"]


def test_resolved_config_round_trips(tmp_path):
    cfg = load_config(None, ["schedule.name=step", "model.kwargs={base_channels: 8, depth: 3}"])
    save_config(cfg, tmp_path / "resolved.yaml")
    assert config_to_dict(load_config(tmp_path / "resolved.yaml")) == config_to_dict(cfg)


@pytest.mark.parametrize("override,message", [
    (["optim.lrr=1"], "unknown config key optim.lrr"),
    (["optim"], "expected key=value"),
    (["epochs.x=1"], "epochs must be an int"),
    (["optim.lr=fast"], "optim.lr must be a float"),
    (["bf16=1"], "bf16 must be a bool"),
])
def test_bad_overrides(override, message):
    with pytest.raises(RetinasegError, match=message):
        load_config(None, override)


def test_missing_and_invalid_files(tmp_path):
    with pytest.raises(RetinasegError, match="no such config file"):
        load_config(tmp_path / "nope.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("optim: [unclosed\n")
    with pytest.raises(RetinasegError, match="bad.yaml: invalid YAML"):
        load_config(bad)
