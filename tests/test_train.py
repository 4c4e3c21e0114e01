"""`netspec train` / `netspec eval`: the README's main job, determinism, kill -9 and resume, eval output."""

from __future__ import annotations

import csv
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("sklearn")

from netspec.backends.torch.train import TrainConfig, TrainError, make_config, train  # noqa: E402
from netspec.backends.torch.train import checkpoint  # noqa: E402

from conftest import ROOT  # noqa: E402

TIMING = ("images_per_s", "seconds", "data_seconds")  # the only columns allowed to differ between identical runs


def quiet(_line: str) -> None:
    pass


def metrics(path: Path) -> list[dict]:
    with open(path, newline="") as fh:
        return [{k: v for k, v in row.items() if k not in TIMING} for row in csv.DictReader(fh)]


def netspec_cmd(*args: str, cwd: Path = ROOT, timeout: float = 300) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "CI": "true"}
    return subprocess.run([sys.executable, "-m", "netspec", *args], capture_output=True, text=True, cwd=cwd,
                          env=env, timeout=timeout)


def test_main_job_lenet5_on_digits_reaches_97_5_percent(tmp_path):
    """The README's first command, as a user runs it, from a folder with nothing in it.

    (Its time, "under 30 seconds on two cores", is measured by .ci/run and benchmarks/bench_train.py,
    not asserted here: a test's clock measures the load of the machine as much as the code.)"""
    spec = ROOT / "specs" / "lenet5.net"
    proc = netspec_cmd("train", str(spec), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    out = tmp_path / "runs" / "lenet5"
    rows = list(csv.DictReader(open(out / "metrics.csv")))
    assert [int(r["epoch"]) for r in rows] == list(range(1, 31))
    final = float(rows[-1]["val_acc"])
    assert final >= 0.975, f"held-out accuracy {final:.4f} after the last epoch"
    # one summary line per epoch, then the final table
    assert sum(line.startswith("epoch ") for line in proc.stdout.splitlines()) == 30
    assert f"{100 * final:.2f}%" in proc.stdout.split("held-out loss / accuracy")[1].splitlines()[0]
    # the outputs a user is promised
    assert (out / "spec.net").read_text() == spec.read_text()
    from PIL import Image

    with Image.open(out / "curves.png") as im:
        assert im.format == "PNG" and im.width > 600 and im.height > 300
        # not a blank canvas: the curves put colour on it
        assert len(im.convert("RGB").getcolors(maxcolors=1 << 16) or range(1 << 16)) > 20
    state = checkpoint.load(out / "last.pt")
    assert state["epoch"] == 30 and state["spec_hash"] and len(state["history"]) == 30
    best = checkpoint.load(out / "best.pt")
    assert abs(best["best_val_acc"] - max(float(r["val_acc"]) for r in rows)) < 1e-5


def test_same_seed_same_metrics_other_seed_other_metrics(tmp_path):
    cfg = TrainConfig(epochs=2)
    a = train("lenet5", config=cfg, out=tmp_path / "a", log=quiet)
    b = train("lenet5", config=cfg, out=tmp_path / "b", log=quiet)
    c = train("lenet5", config=cfg.replace(seed=1), out=tmp_path / "c", log=quiet)
    strip = lambda r: [{k: v for k, v in h.items() if k not in TIMING} for h in r.history]  # noqa: E731
    assert strip(a) == strip(b)
    assert metrics(tmp_path / "a" / "metrics.csv") == metrics(tmp_path / "b" / "metrics.csv")
    assert strip(a) != strip(c)
    wa = checkpoint.load(tmp_path / "a" / "last.pt")["model"]
    wb = checkpoint.load(tmp_path / "b" / "last.pt")["model"]
    assert all(torch.equal(wa[k], wb[k]) for k in wa)


def test_kill_9_then_resume_gives_the_uninterrupted_metrics(tmp_path):
    args = ["train", "lenet5", "--epochs", "6", "--seed", "5"]
    full = netspec_cmd(*args, "--out", str(tmp_path / "full"))
    assert full.returncode == 0, full.stderr

    killed = tmp_path / "killed"
    env = {**os.environ, "CI": "true"}
    proc = subprocess.Popen([sys.executable, "-m", "netspec", *args, "--out", str(killed)], cwd=ROOT, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.time() + 120
    while not (killed / "last.pt").exists():
        assert proc.poll() is None, f"training ended before its first checkpoint: {proc.stderr.read()}"
        assert time.time() < deadline
        time.sleep(0.002)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL
    done = checkpoint.load(killed / "last.pt")["epoch"]  # a whole checkpoint, never half of one
    assert 1 <= done < 6, "the kill came after the run had finished"

    resumed = netspec_cmd(*args, "--out", str(killed), "--resume")
    assert resumed.returncode == 0, resumed.stderr
    assert f"resuming {killed / 'last.pt'} after epoch {done}/6" in resumed.stdout
    assert sum(line.startswith("epoch ") for line in resumed.stdout.splitlines()) == 6 - done
    assert metrics(killed / "metrics.csv") == metrics(tmp_path / "full" / "metrics.csv")
    a = checkpoint.load(killed / "last.pt")
    b = checkpoint.load(tmp_path / "full" / "last.pt")
    assert all(torch.equal(a["model"][k], b["model"][k]) for k in b["model"])
    assert a["optimizer"]["state"][0]["step"] == b["optimizer"]["state"][0]["step"]


def test_resume_in_process_after_stop_matches_and_restores_rng(tmp_path):
    """Dropout draws from the global RNG: the restored RNG state must make them the same."""
    spec = tmp_path / "drop.net"
    spec.write_text("network drop(num_classes=10)\ninput 1x16x16\nconv3-8 relu maxpool dropout(0.5) fc-32 relu "
                    "dropout(0.3) fc-{num_classes}\n")
    cfg = TrainConfig(epochs=3, augment="shift=1")
    full = train(spec, config=cfg, out=tmp_path / "full", log=quiet)
    part = train(spec, config=cfg, out=tmp_path / "part", log=quiet, stop_after=1)
    assert len(part.history) == 1
    torch.manual_seed(1234)  # whatever happened to the global RNG since, resume puts it back
    rest = train(spec, out=tmp_path / "part", resume=True, log=quiet)
    assert rest.resumed_from == 1
    strip = lambda r: [{k: v for k, v in h.items() if k not in TIMING} for h in r.history]  # noqa: E731
    assert strip(rest) == strip(full)


def test_resume_refuses_another_architecture_and_an_empty_folder(tmp_path):
    train("lenet5", config=TrainConfig(epochs=1), out=tmp_path / "run", log=quiet)
    with pytest.raises(TrainError, match="different architecture"):
        train("lenet5", out=tmp_path / "run", resume=True, params={"num_classes": 12}, log=quiet)
    with pytest.raises(TrainError, match="holds no last.pt"):
        train("lenet5", out=tmp_path / "empty", resume=True, log=quiet)


def test_checkpoint_write_is_atomic(tmp_path, monkeypatch):
    path = tmp_path / "last.pt"
    checkpoint.save({"epoch": 1, "w": torch.ones(3)}, path)

    def broken_save(obj, target):  # a crash halfway through writing
        Path(target).write_bytes(b"half a checkpoint")
        raise OSError("disk full")

    monkeypatch.setattr(checkpoint.torch, "save", broken_save)
    with pytest.raises(OSError):
        checkpoint.save({"epoch": 2, "w": torch.zeros(3)}, path)
    state = checkpoint.load(path)
    assert state["epoch"] == 1 and torch.equal(state["w"], torch.ones(3))
    assert [p.name for p in tmp_path.iterdir()] == ["last.pt"]  # no temp file left behind


def test_eval_prints_accuracy_and_a_confusion_matrix_that_add_up(tmp_path):
    import numpy as np
    from sklearn.datasets import load_digits

    run = tmp_path / "run"
    train("lenet5", config=TrainConfig(epochs=3), out=run, log=quiet)
    proc = netspec_cmd("eval", "lenet5", str(run / "best.pt"), "--confusion", str(tmp_path / "cm.png"))
    assert proc.returncode == 0, proc.stderr
    text = proc.stdout
    best = checkpoint.load(run / "best.pt")
    assert f"accuracy  {100 * best['best_val_acc']:.2f}%" in text
    assert "top-5" in text
    rows = [line.split() for line in text.splitlines() if line.split() and line.split()[0] in list("0123456789")]
    assert len(rows) == 10
    matrix = np.array([[int(v) for v in r[1:11]] for r in rows])
    # rows: the held-out images of each class, 20% of sklearn's count (independent of netspec's loader)
    counts = np.bincount(load_digits().target, minlength=10)
    assert matrix.sum(1).tolist() == [round(0.2 * c) for c in counts]
    correct = int(text.split("(")[1].split("/")[0].replace(",", ""))
    assert np.trace(matrix) == correct
    from PIL import Image

    with Image.open(tmp_path / "cm.png") as im:
        assert im.format == "PNG" and im.width > 300


def test_config_file_then_command_line(tmp_path):
    toml = tmp_path / "train.toml"
    toml.write_text('[train]\nepochs = 7\noptimizer = "sgd"\nbatch-size = 32\n')
    cfg = make_config(toml, epochs=3, lr=None)
    assert (cfg.epochs, cfg.optimizer, cfg.batch_size, cfg.learning_rate) == (3, "sgd", 32, 0.05)
    toml.write_text("epoch = 7\n")
    with pytest.raises(TrainError, match="unknown training setting 'epoch'") as err:
        make_config(toml)
    assert "epochs" in err.value.help
    with pytest.raises(TrainError, match="unknown schedule"):
        make_config(schedule="cosin")


def test_cli_errors_are_plain_words_with_exit_code_3(tmp_path):
    proc = netspec_cmd("train", "lenet5", "--data", str(tmp_path / "nowhere"), "--out", str(tmp_path / "o"))
    assert proc.returncode == 3
    assert "does not exist" in proc.stderr and "never downloads" in proc.stderr
    assert "Traceback" not in proc.stderr
    proc = netspec_cmd("eval", "lenet5", str(tmp_path / "missing.pt"))
    assert proc.returncode == 3 and "no checkpoint" in proc.stderr and "Traceback" not in proc.stderr
