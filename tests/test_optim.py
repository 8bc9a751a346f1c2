import pytest
import torch

from retinaseg import RetinasegError
from retinaseg.config.schema import OptimConfig, ScheduleConfig
from retinaseg.train.optim import OPTIMIZERS, PlateauTracker, build_optimizer, lr_at

TOTAL, PER_EPOCH = 1000, 10


def lrs(**kwargs):
    cfg = ScheduleConfig(**kwargs)
    return [lr_at(cfg, 0.1, step, TOTAL, PER_EPOCH) for step in range(TOTAL)]


def test_constant_and_warmup():
    values = lrs(name="constant", warmup_epochs=2)
    assert values[0] == pytest.approx(0.1 / 20) and values[19] == pytest.approx(0.1)
    assert all(v == 0.1 for v in values[20:])


def test_cosine_falls_from_base_to_min():
    values = lrs(name="cosine", min_lr=0.001)
    assert values[0] == pytest.approx(0.1) and values[-1] == pytest.approx(0.001, abs=1e-4)
    assert all(a >= b for a, b in zip(values, values[1:]))


def test_step_decays_every_step_epochs():
    values = lrs(name="step", step_epochs=30, gamma=0.5)
    assert values[299] == pytest.approx(0.1) and values[300] == pytest.approx(0.05)


def test_poly_reaches_min():
    assert lrs(name="poly", power=2.0)[-1] == pytest.approx(0.0, abs=1e-5)


def test_onecycle_peaks_at_thirty_percent():
    values = lrs(name="onecycle")
    assert values[0] == pytest.approx(0.1 / 25, rel=0.01)
    assert max(values) == pytest.approx(0.1, rel=1e-3)
    assert abs(values.index(max(values)) - 300) <= 1
    assert values[-1] < 0.001


def test_plateau_decays_after_patience():
    tracker = PlateauTracker(ScheduleConfig(name="plateau", patience=2, gamma=0.5))
    for score in [0.5, 0.6, 0.6, 0.6, 0.6]:
        tracker.update(score)
    assert tracker.factor == 0.5
    assert lr_at(ScheduleConfig(name="plateau"), 0.1, 5, TOTAL, PER_EPOCH, tracker.factor) == 0.05


def test_unknown_schedule():
    with pytest.raises(RetinasegError, match="unknown LR schedule"):
        lr_at(ScheduleConfig(name="linear"), 0.1, 0, TOTAL, PER_EPOCH)


@pytest.mark.parametrize("name", OPTIMIZERS)
def test_every_optimizer_steps(name):
    weight = torch.nn.Parameter(torch.ones(3))
    optimizer = build_optimizer([weight], OptimConfig(name=name, lr=0.1))
    (weight ** 2).sum().backward()
    optimizer.step()
    assert (weight < 1).all()
    if name == "sgd_nesterov":
        assert optimizer.param_groups[0]["nesterov"] is True


def test_unknown_optimizer():
    with pytest.raises(RetinasegError, match="known: sgd"):
        build_optimizer([torch.nn.Parameter(torch.ones(1))], OptimConfig(name="rmsprop"))
