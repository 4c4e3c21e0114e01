"""`netspec export`: the ONNX file runs in onnxruntime with the same outputs; .pt2 reloads and agrees."""

from __future__ import annotations

from pathlib import Path

import pytest

import netspec

torch = pytest.importorskip("torch")

FEATURES = Path(__file__).parent / "specs" / "torch" / "features.net"


def run_cli(argv, monkeypatch, capsys):
    from netspec import cli as cli_module

    monkeypatch.setattr(cli_module, "COMMANDS", ("compile", "export"))
    code = cli_module.main(argv)
    return code, capsys.readouterr().err


@pytest.mark.parametrize("optimize", [False, True])
def test_onnx_export_matches_in_onnxruntime(tmp_path, monkeypatch, capsys, optimize):
    ort = pytest.importorskip("onnxruntime")
    pytest.importorskip("onnx")
    from netspec.backends.torch import build

    out = tmp_path / "features.onnx"
    argv = ["export", str(FEATURES), "--format", "onnx", "-o", str(out), "--seed", "3"]
    code, err = run_cli(argv + (["--optimize"] if optimize else []), monkeypatch, capsys)
    assert code == 0, err
    model = build(str(FEATURES), seed=3, optimize="inference" if optimize else None).eval()
    session = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    for batch in (1, 3):  # the batch dimension is dynamic
        x = torch.randn(batch, 3, 16, 16)
        (got,) = session.run(None, {"input": x.numpy()})
        with torch.no_grad():
            expected = model(x).numpy()
        assert got.shape == expected.shape == (batch, 7)
        assert abs(got - expected).max() < 1e-4


def test_pt2_export_reloads(tmp_path, monkeypatch, capsys):
    from netspec.backends.torch import build

    out = tmp_path / "features.pt2"
    code, err = run_cli(["export", str(FEATURES), "--format", "pt2", "-o", str(out)], monkeypatch, capsys)
    assert code == 0, err
    program = torch.export.load(str(out))
    model = build(str(FEATURES), seed=0).eval()
    x = torch.randn(2, 3, 16, 16)
    with torch.no_grad():
        torch.testing.assert_close(program.module()(x), model(x), rtol=1e-5, atol=1e-5)


def test_export_with_bad_weights_is_a_plain_error(tmp_path, monkeypatch, capsys):
    from netspec.backends.torch import build, save_weights

    other = build(netspec.parse("network other\ninput 3x16x16\nconv3-4 gap fc-7"), seed=0)
    weights = save_weights(other, tmp_path / "other.safetensors")
    code, err = run_cli(["export", str(FEATURES), "--format", "onnx", "-o", str(tmp_path / "x.onnx"),
                         "--weights", str(weights)], monkeypatch, capsys)
    assert code == 3 and "different architecture" in err and "Traceback" not in err
    assert not (tmp_path / "x.onnx").exists()
