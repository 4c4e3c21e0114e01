"""Two CPU processes under torchrun (gloo, loopback) against one process with the same global batch."""

from __future__ import annotations

import csv
import os
import socket
import subprocess
import sys

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("sklearn")

from conftest import ROOT  # noqa: E402


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rows(path):
    return list(csv.DictReader(open(path)))


@pytest.mark.skipif(not torch.distributed.is_available(), reason="torch built without torch.distributed")
def test_torchrun_two_processes_agree_and_match_one_process(tmp_path):
    # augmentation off: each process draws its own shifts, which one process cannot reproduce
    args = ["train", "lenet5", "--epochs", "2", "--augment", "none", "--seed", "2"]
    env = {**os.environ, "CI": "true", "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}
    torchrun = [sys.executable, "-m", "torch.distributed.run"]
    two = subprocess.run([*torchrun, "--nnodes", "1", "--nproc_per_node", "2", "--master_addr", "127.0.0.1",
                          "--master_port", str(free_port()), "-m", "netspec", *args, "--out", str(tmp_path / "two")],
                         cwd=ROOT, env=env, capture_output=True, text=True, timeout=240)
    assert two.returncode == 0, two.stderr[-3000:]
    one = subprocess.run([sys.executable, "-m", "netspec", *args, "--out", str(tmp_path / "one")],
                         cwd=ROOT, env=env, capture_output=True, text=True, timeout=240)
    assert one.returncode == 0, one.stderr

    # the replicas hold the same parameters at the end (checked by all-reduce inside the run)
    agree = [line for line in two.stdout.splitlines() if "processes agree" in line]
    assert len(agree) == 1 and agree[0].startswith("2 processes agree")
    assert float(agree[0].rsplit(" ", 1)[1]) == 0.0
    # only rank 0 talks: one summary line per epoch, not two
    assert sum(line.startswith("epoch ") for line in two.stdout.splitlines()) == 2

    # each process saw half of every global batch of 64; the all-reduced gradient is the same mean
    a, b = rows(tmp_path / "one" / "metrics.csv"), rows(tmp_path / "two" / "metrics.csv")
    for r1, r2 in zip(a, b, strict=True):
        for key in ("train_loss", "val_loss"):
            assert float(r2[key]) == pytest.approx(float(r1[key]), rel=2e-3), key
        for key in ("train_acc", "val_acc"):
            assert abs(float(r2[key]) - float(r1[key])) <= 0.01, key
    w1 = torch.load(tmp_path / "one" / "last.pt", weights_only=True)["model"]
    w2 = torch.load(tmp_path / "two" / "last.pt", weights_only=True)["model"]
    for k in w1:
        assert torch.allclose(w1[k], w2[k], atol=1e-3, rtol=1e-2), k

