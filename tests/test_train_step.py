"""One training step: accumulation, clipping and EMA on hand-checkable numbers; AMP; NaN runs stop."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("sklearn")

from torch import nn  # noqa: E402

from netspec.backends.torch.train import TrainConfig, TrainError, make_config, train  # noqa: E402
from netspec.backends.torch.train import checkpoint, step  # noqa: E402
from netspec.backends.torch.train.loop import summary_line  # noqa: E402

from conftest import run_cli  # noqa: E402

RELU = "network relu(num_classes=10)\ninput 1x16x16\nconv3-8 relu maxpool fc-32 relu fc-{num_classes}\n"


def quiet(_line: str) -> None:
    pass


def squared_error(out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return ((out.squeeze(1) - y) ** 2).mean()


def one_weight(sgd_lr: float = 1.0):
    """y = w * x with w = 0 and plain SGD: the gradient of (w x - y)^2 at w is 2 (w x - y) x."""
    model = nn.Linear(1, 1, bias=False)
    nn.init.zeros_(model.weight)
    return model, torch.optim.SGD(model.parameters(), lr=sgd_lr)


BATCHES = [(torch.tensor([[1.0]]), torch.tensor([2.0])),  # grad at w=0: 2(0 - 2)1 = -4
           (torch.tensor([[3.0]]), torch.tensor([1.0])),  # grad at w=0: 2(0 - 1)3 = -6
           (torch.tensor([[1.0]]), torch.tensor([1.0]))]


def run(stepper, batches):
    stepper.start_epoch(0, len(batches))
    for x, y in batches:
        stepper(x, y)


def test_without_accumulation_every_batch_steps():
    model, opt = one_weight()
    run(step.Stepper(model, opt, criterion=squared_error), BATCHES[:2])
    # w = 0 + 4 = 4; then the gradient at w = 4 is 2(12 - 1)3 = 66: w = 4 - 66
    assert model.weight.item() == pytest.approx(-62.0)


def test_accumulate_two_steps_once_on_the_mean_gradient_and_a_short_last_group_still_steps():
    model, opt = one_weight()
    run(step.Stepper(model, opt, criterion=squared_error, accumulate=2), BATCHES)
    # batches 1+2: mean gradient (-4 - 6) / 2 = -5, w = 5; batch 3 alone: 2(5 - 1)1 = 8, w = -3
    assert model.weight.item() == pytest.approx(-3.0)
    assert opt.state_dict()["state"] == {}  # plain SGD keeps no state; the weight says how many steps ran


def test_clip_grad_caps_the_norm_before_the_step():
    model, opt = one_weight()
    run(step.Stepper(model, opt, criterion=squared_error, accumulate=2, clip_grad=1.0), BATCHES[:2])
    assert model.weight.item() == pytest.approx(1.0)  # the gradient -5 clipped to norm 1


def test_ema_averages_after_each_step():
    model, opt = one_weight()
    ema = step.ema_model(model, 0.5)
    # criterion = the output itself, x = 1: the gradient is always 1, so w goes -1, -2, -3
    stepper = step.Stepper(model, opt, criterion=lambda out, y: out.sum(), ema=ema)
    ones = [(torch.ones(1, 1), torch.zeros(1))] * 3
    run(stepper, ones)
    assert model.weight.item() == pytest.approx(-3.0)
    # first update copies (-1); then 0.5 * -1 + 0.5 * -2 = -1.5; then 0.5 * -1.5 + 0.5 * -3 = -2.25
    assert ema.module.weight.item() == pytest.approx(-2.25)


def test_bf16_autocast_on_cpu_runs_close_to_float32():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 8, 3), nn.ReLU(), nn.Flatten(), nn.Linear(8 * 6 * 6, 4))
    x, y = torch.randn(16, 3, 8, 8), torch.randint(0, 4, (16,))
    ref = nn.functional.cross_entropy(model(x), y)
    stepper = step.Stepper(model, torch.optim.SGD(model.parameters(), lr=0.0), amp="bf16")
    stepper.start_epoch(0, 1)
    loss, logits = stepper(x, y)
    assert logits.dtype == torch.bfloat16 and loss.dtype == torch.float32  # autocast keeps the loss in float32
    assert loss.item() == pytest.approx(ref.item(), rel=2e-2)
    assert stepper.scaler is None
    fp16 = step.Stepper(model, torch.optim.SGD(model.parameters(), lr=0.0), amp="fp16")
    assert fp16.scaler is not None and "scaler" in fp16.state_dict()


def test_amp_channels_last_accumulate_ema_are_recorded_and_resumed(tmp_path):
    spec = tmp_path / "relu.net"
    spec.write_text(RELU)
    cfg = TrainConfig(epochs=2, amp="bf16", channels_last=True, accumulate=2, ema=0.9, clip_grad=5.0)
    full = train(spec, config=cfg, out=tmp_path / "full", log=quiet)
    train(spec, config=cfg, out=tmp_path / "part", log=quiet, stop_after=1)
    rest = train(spec, out=tmp_path / "part", resume=True, log=quiet)
    strip = lambda r: [{k: v for k, v in h.items() if k not in ("images_per_s", "seconds", "data_seconds")}  # noqa: E731
                       for h in r.history]
    assert strip(rest) == strip(full)
    state = checkpoint.load(tmp_path / "part" / "last.pt")
    assert {k: state["config"][k] for k in ("amp", "channels_last", "accumulate", "ema", "clip_grad")} == \
        {"amp": "bf16", "channels_last": True, "accumulate": 2, "ema": 0.9, "clip_grad": 5.0}
    # 1,438 digits in 23 batches of 64 an epoch: 11 pairs and one lone batch, 12 steps; 2 epochs
    assert int(state["ema"]["n_averaged"]) == 24
    # what is evaluated and shipped is the EMA
    deployed = checkpoint.deployed(state)
    assert deployed.keys() == state["model"].keys()
    assert all(torch.equal(deployed[k], state["ema"]["module." + k]) for k in deployed)
    assert not all(torch.equal(deployed[k], state["model"][k]) for k in deployed)


def test_settings_are_checked(tmp_path):
    with pytest.raises(TrainError, match="unknown --amp 'fp8'"):
        make_config(amp="fp8")
    with pytest.raises(TrainError, match="--ema is a decay between 0 and 1"):
        make_config(ema=1.5)
    with pytest.raises(TrainError, match="--clip-grad is a positive"):
        make_config(clip_grad=0.0)
    with pytest.raises(TrainError, match="crop is for image folders and shards"):
        train("lenet5", config=TrainConfig(epochs=1, augment="crop,flip"), out=tmp_path / "x", log=quiet)


def test_progress_line_splits_time_into_data_wait_and_compute():
    row = {"epoch": 3, "train_loss": 0.5, "train_acc": 0.8, "val_loss": 0.6, "val_acc": 0.75, "lr": 0.1,
           "images_per_s": 1000.0, "seconds": 2.0, "data_seconds": 1.5}
    line = summary_line(row, 10)
    assert "2.0s (data 1.5s, compute 0.5s)  data-bound" in line
    assert "data-bound" not in summary_line({**row, "data_seconds": 0.4}, 10)


# ---------------------------------------------------------------- runs that blow up (issue 13)


def test_nan_loss_stops_at_once_with_exit_1_and_saves_nothing(tmp_path):
    spec = tmp_path / "relu.net"
    spec.write_text(RELU)
    proc = run_cli("train", str(spec), "--optimizer", "sgd", "--lr", "1e6", "--epochs", "3",
                   "--out", str(tmp_path / "run"))
    assert proc.returncode == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    assert "became NaN or infinite at epoch 1, batch" in proc.stderr and "learning rate 1e+06" in proc.stderr
    assert "no checkpoint was written" in proc.stderr and "help: lower --lr (try 100000)" in proc.stderr
    assert "epoch 1/3" not in proc.stdout  # it stopped inside the first epoch
    assert not any((tmp_path / "run" / n).exists() for n in ("last.pt", "best.pt", "best.safetensors"))


def test_divergence_later_keeps_the_last_good_checkpoint(tmp_path):
    spec = tmp_path / "relu.net"
    spec.write_text(RELU)
    run = tmp_path / "run"
    cfg = TrainConfig(epochs=3, optimizer="sgd", lr=0.05, augment="none")
    train(spec, config=cfg, out=run, log=quiet, stop_after=1)
    good = checkpoint.load(run / "last.pt")
    weights = (run / "best.safetensors").read_bytes()
    # the second epoch blows up: the same run, with its learning rate raised a million-fold
    state = dict(good)
    state["optimizer"]["param_groups"][0]["lr"] = 1e6
    state["scheduler"]["base_lrs"] = [1e6]
    checkpoint.save(state, run / "last.pt")
    with pytest.raises(step.Diverged, match=r"at epoch 2, batch \d+ of 23 \(learning rate 1e\+06\)") as err:
        train(spec, out=run, resume=True, log=quiet)
    assert "keep epoch 1 (best: epoch 1)" in str(err.value) and err.value.exit_code == 1
    kept = checkpoint.load(run / "last.pt")
    assert kept["epoch"] == 1 and all(bool(torch.isfinite(t).all()) for t in kept["model"].values())
    assert checkpoint.load(run / "best.pt")["epoch"] == 1
    assert (run / "best.safetensors").read_bytes() == weights


def test_detect_anomaly_names_the_operation(tmp_path):
    spec = tmp_path / "relu.net"
    spec.write_text(RELU)
    cfg = TrainConfig(epochs=1, optimizer="sgd", lr=1e6, detect_anomaly=True)
    with pytest.warns(UserWarning), pytest.raises(step.Diverged, match=r"--detect-anomaly: Function '\w+' returned nan"):
        train(spec, config=cfg, out=tmp_path / "run", log=quiet)


def test_unwritable_output_folder_is_found_before_training(tmp_path):
    (tmp_path / "file").write_text("not a folder")
    proc = run_cli("train", "lenet5", "--epochs", "1", "--out", str(tmp_path / "file" / "run"))
    assert proc.returncode == 3 and "cannot write to the output folder" in proc.stderr
    assert "Traceback" not in proc.stderr and "training lenet5" not in proc.stdout


def test_sync_bn_in_one_process_changes_nothing(tmp_path):
    lines = []
    spec = tmp_path / "bn.net"
    spec.write_text("network bn(num_classes=10)\ninput 1x16x16\nconv3-8 bn relu gap fc-{num_classes}\n")
    a = train(spec, config=TrainConfig(epochs=1, sync_bn=True), out=tmp_path / "a", log=lines.append)
    b = train(spec, config=TrainConfig(epochs=1), out=tmp_path / "b", log=quiet)
    assert any("one process, so batch norm already sees the whole batch" in s for s in lines)
    assert a.final["val_loss"] == b.final["val_loss"]


def test_tensorboard_when_installed_or_a_clear_error(tmp_path):
    cfg = TrainConfig(epochs=1, tensorboard=True)
    try:
        import tensorboard  # noqa: F401
    except ImportError:
        with pytest.raises(TrainError, match="--tensorboard needs the tensorboard package"):
            train("lenet5", config=cfg, out=tmp_path / "run", log=quiet)
        return
    train("lenet5", config=cfg, out=tmp_path / "run", log=quiet)
    assert list((tmp_path / "run" / "tensorboard").glob("events.out.tfevents.*"))


def test_compiled_model_trains_to_the_eager_metrics(tmp_path, monkeypatch):
    """--compile goes through torch.compile; the inductor backend takes minutes on 2 busy cores (measured
    95 s for this net), so the test traces with dynamo's eager backend: the same graph capture, no codegen."""
    spec = tmp_path / "relu.net"
    spec.write_text(RELU)
    real, calls = torch.compile, []

    def compile_eager(model, **kwargs):
        calls.append(type(model).__name__)
        return real(model, backend="eager", **kwargs)

    monkeypatch.setattr(torch, "compile", compile_eager)
    cfg = TrainConfig(epochs=1, augment="none")
    compiled = train(spec, config=cfg.replace(compile=True), out=tmp_path / "c", log=quiet)
    eager = train(spec, config=cfg, out=tmp_path / "e", log=quiet)
    assert len(calls) == 1
    assert compiled.final["train_loss"] == pytest.approx(eager.final["train_loss"], rel=1e-5)
    assert compiled.final["val_acc"] == pytest.approx(eager.final["val_acc"], abs=0.01)
    assert checkpoint.load(tmp_path / "c" / "last.pt")["config"]["compile"] is True


def test_sync_bn_across_cpu_processes_is_refused_with_the_reason():
    from netspec.backends.torch.train import distributed

    with pytest.raises(TrainError, match="--sync-bn needs CUDA devices") as err:
        distributed.sync_batch_norm(nn.BatchNorm2d(3), distributed.Context(rank=0, world_size=2))
    assert "leave out --sync-bn" in err.value.help
