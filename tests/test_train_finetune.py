"""Fine-tuning: --init, --freeze, a new head with --num-classes, --unfreeze-after."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("sklearn")

import netspec  # noqa: E402
from netspec.backends.torch.train import TrainConfig, TrainError, train  # noqa: E402
from netspec.backends.torch.train import checkpoint, finetune  # noqa: E402


def quiet(_line: str) -> None:
    pass


def write_shapes(root, per_class=8):
    """Three classes a LeNet tells apart quickly: horizontal bars, vertical bars, a filled square."""
    from PIL import Image, ImageDraw

    for name in ("hbar", "vbar", "box"):
        (root / name).mkdir(parents=True)
        for i in range(per_class):
            im = Image.new("L", (32, 32), 0)
            d = ImageDraw.Draw(im)
            o = 4 + i % 5
            if name == "hbar":
                d.rectangle([4, o + 8, 28, o + 12], fill=255)
            elif name == "vbar":
                d.rectangle([o + 8, 4, o + 12, 28], fill=255)
            else:
                d.rectangle([o + 4, o + 4, o + 16, o + 16], fill=255)
            im.save(root / name / f"{i}.png")


@pytest.fixture(scope="module")
def pretrained(tmp_path_factory):
    out = tmp_path_factory.mktemp("pre") / "run"
    train("lenet5", config=TrainConfig(epochs=1), out=out, log=quiet)
    return out / "best.pt"


def test_frozen_layers_stay_bit_identical_and_the_new_head_trains(tmp_path, pretrained):
    write_shapes(tmp_path / "shapes")
    cfg = TrainConfig(data=f"folder:{tmp_path / 'shapes'}", epochs=2, init=str(pretrained), freeze="C3")
    lines = []
    train("lenet5", config=cfg, out=tmp_path / "ft", params={"num_classes": 3}, log=lines.append)
    before = checkpoint.load(pretrained)["model"]
    after = checkpoint.load(tmp_path / "ft" / "last.pt")["model"]
    for name in ("C1.weight", "C1.bias", "C3.weight", "C3.bias"):  # everything up to and including C3
        assert torch.equal(after[name], before[name]), name
    for name in ("C5.weight", "F6.weight"):  # loaded, then trained
        assert after[name].shape == before[name].shape and not torch.equal(after[name], before[name]), name
    assert after["output.weight"].shape == (3, 84) and before["output.weight"].shape == (10, 84)
    report = "\n".join(lines)
    assert "frozen: 2 layers, 2,572 parameters (C1 ... C3)" in report  # 156 + 2416, LeNet-5's C1 and C3
    assert "output" in report  # the old 10-way head found no place in the new model, and says so


def test_unfreeze_after_trains_everything_in_the_second_phase(tmp_path, pretrained):
    write_shapes(tmp_path / "shapes")
    cfg = TrainConfig(data=f"folder:{tmp_path / 'shapes'}", epochs=2, init=str(pretrained), freeze="C1",
                      unfreeze_after=1)
    train("lenet5", config=cfg, out=tmp_path / "ft", params={"num_classes": 3}, log=quiet, stop_after=1)
    before = checkpoint.load(pretrained)["model"]
    phase1 = checkpoint.load(tmp_path / "ft" / "last.pt")["model"]
    assert torch.equal(phase1["C1.weight"], before["C1.weight"])
    assert not torch.equal(phase1["C3.weight"], before["C3.weight"])
    lines = []
    train("lenet5", out=tmp_path / "ft", resume=True, params={"num_classes": 3}, log=lines.append)
    phase2 = checkpoint.load(tmp_path / "ft" / "last.pt")["model"]
    assert not torch.equal(phase2["C1.weight"], before["C1.weight"])
    assert any("unfreezing 1 layers" in line for line in lines)


def test_frozen_batch_norm_keeps_its_statistics(tmp_path):
    spec = tmp_path / "bn.net"
    spec.write_text("network bn(num_classes=10)\ninput 1x16x16\nstem: { conv3-8 bn relu }\nmaxpool\n"
                    "body: { conv3-16 bn relu }\ngap\nhead: fc-{num_classes}\n")
    cfg = TrainConfig(epochs=1, freeze="stem")
    train(spec, config=cfg, out=tmp_path / "run", log=quiet)
    trained = checkpoint.load(tmp_path / "run" / "last.pt")["model"]
    fresh = netspec.build(netspec.load(spec), seed=0).state_dict()
    for name in ("stem.conv1.weight", "stem.bn1.weight", "stem.bn1.bias", "stem.bn1.running_mean",
                 "stem.bn1.running_var"):
        assert torch.equal(trained[name], fresh[name]), name
    assert not torch.equal(trained["body.bn1.running_mean"], fresh["body.bn1.running_mean"])


def test_freeze_by_glob_and_by_unknown_label(tmp_path):
    model = netspec.build(netspec.load("lenet5"), seed=0)
    assert finetune.frozen_paths(model, "C*") == ["C1", "C3", "C5"]
    assert finetune.frozen_paths(model, "F6,C1") == ["C1", "C3", "C5", "F6"]
    with pytest.raises(TrainError, match="no layer with weights has that label") as err:
        finetune.frozen_paths(model, "C4")
    assert "C1" in err.value.help or "C3" in err.value.help
    with pytest.raises(TrainError, match="matches no layer"):
        finetune.frozen_paths(model, "conv*")


def test_head_smaller_than_the_classes_is_an_error_that_names_the_fix(tmp_path):
    with pytest.raises(TrainError, match="4 outputs but the data has 10 classes") as err:
        train("lenet5", config=TrainConfig(epochs=1), out=tmp_path / "x", params={"num_classes": 4}, log=quiet)
    assert err.value.help == "--num-classes 10"


def test_init_from_a_foreign_state_dict(tmp_path, pretrained):
    """A plain torch state_dict with other names goes in by structure (the backend's weight import)."""
    state = checkpoint.load(pretrained)["model"]
    names = {"C1": "features.0", "C3": "features.3", "C5": "classifier.1", "F6": "classifier.4",
             "output": "classifier.6"}  # torchvision-style names for the same layers
    foreign = {f"{names[k.split('.')[0]]}.{k.split('.')[1]}": v for k, v in state.items()}
    torch.save(foreign, tmp_path / "foreign.pth")
    model = netspec.build(netspec.load("lenet5"), seed=1)
    report = finetune.load_init(model, tmp_path / "foreign.pth")
    assert "loaded 10 tensors" in report
    assert torch.equal(model.state_dict()["C3.weight"], state["C3.weight"])
