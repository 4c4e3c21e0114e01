"""Streaming image folders and tar shards: `netspec shard`, decoding in workers, views, kill -9 and resume."""

from __future__ import annotations

import csv
import os
import random
import signal
import subprocess
import sys
import tarfile
import time
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("PIL")

from netspec import shards  # noqa: E402
from netspec.backends.torch.train import DataError, TrainConfig, TrainError, load_data, train  # noqa: E402
from netspec.backends.torch.train import checkpoint, stream  # noqa: E402

from conftest import CLASSES, ROOT, run_cli, write_pictures  # noqa: E402

TIMING = ("images_per_s", "seconds", "data_seconds")
TINY = "network tiny(num_classes=3)\ninput 3x24x24\nconv3-8 bn relu maxpool conv3-16 relu gap fc-{num_classes}\n"


def quiet(_line: str) -> None:
    pass


@pytest.fixture(scope="module")
def pictures(tmp_path_factory):
    root = tmp_path_factory.mktemp("pictures") / "shapes"
    write_pictures(root, per_class=200)  # 600 JPEGs
    return root


@pytest.fixture(scope="module")
def shard_dir(pictures, tmp_path_factory):
    out = tmp_path_factory.mktemp("shards") / "shapes"
    proc = run_cli("shard", str(pictures), "-o", str(out), "--size", "200KB")
    assert proc.returncode == 0, proc.stderr
    return out, proc.stdout


def history(result) -> list[dict]:
    return [{k: v for k, v in row.items() if k not in TIMING} for row in result.history]


# ---------------------------------------------------------------- netspec shard


def test_shard_command_packs_every_image_unchanged_within_the_size(pictures, shard_dir):
    out, stdout = shard_dir
    tars = sorted(out.glob("*.tar"))
    assert len(tars) > 1 and all(p.stat().st_size <= 200_000 for p in tars)
    # the pattern it prints names exactly the shards it wrote
    pattern = stdout.split("shards:", 1)[1].split("'")[0]
    assert [Path(p) for p in shards.expand_braces(pattern)] == tars
    assert (out / "classes.txt").read_text().split() == list(CLASSES)
    # every image's bytes, unchanged, with its class index beside it (WebDataset's KEY.jpg + KEY.cls)
    originals = {p.read_bytes(): CLASSES.index(p.parent.name) for p in pictures.rglob("*.jpg")}
    seen = 0
    for tar_path in tars:
        with tarfile.open(tar_path) as tar:
            members = {m.name: tar.extractfile(m).read() for m in tar}
        for name, data in members.items():
            if name.endswith(".jpg"):
                assert originals[data] == int(members[name[:-4] + ".cls"])
                seen += 1
    assert seen == len(originals) == 600


def test_shard_command_needs_no_torch_and_says_what_is_wrong(tmp_path):
    code = "import sys, netspec.cli, netspec.commands.shard; assert 'torch' not in sys.modules"
    assert subprocess.run([sys.executable, "-c", code], cwd=ROOT).returncode == 0
    (tmp_path / "flat").mkdir()
    proc = run_cli("shard", str(tmp_path / "flat"), "-o", str(tmp_path / "o"))
    assert proc.returncode == 3 and "needs a sub-folder per class" in proc.stderr and "Traceback" not in proc.stderr
    proc = run_cli("shard", str(tmp_path / "flat"), "-o", str(tmp_path / "o"), "--size", "1XB")
    assert proc.returncode == 2 and "expected a size such as 1GB" in proc.stderr


def test_sizes_and_brace_patterns():
    assert shards.parse_size("1GB") == 10**9 and shards.parse_size("2GiB") == 2 * 2**30
    assert shards.parse_size("500 MB") == 500 * 10**6 and shards.parse_size("4096") == 4096
    assert shards.expand_braces("d/{000008..000011}.tar") == ["d/000008.tar", "d/000009.tar", "d/000010.tar",
                                                              "d/000011.tar"]
    assert shards.expand_braces("{a,b}-{0..1}") == ["a-0", "a-1", "b-0", "b-1"]
    with pytest.raises(ValueError, match="backwards"):
        shards.expand_braces("{5..2}")


def test_missing_shards_are_named(shard_dir, tmp_path):
    out, _ = shard_dir
    with pytest.raises(DataError, match=r"000998\.tar does not exist \(and 1 more\)"):
        load_data(f"shards:{out}/{{000998..000999}}.tar", (3, 24, 24))
    (tmp_path / "bad.tar").write_bytes(b"not a tar file" * 100)
    with pytest.raises(DataError, match="not a readable tar shard"):
        load_data(f"shards:{tmp_path / 'bad.tar'}", (3, 24, 24))


# ---------------------------------------------------------------- views


def test_evaluation_view_is_the_centre_87_5_percent():
    # 64x48 image to 28x28: shorter side to 28 / 0.875 = 32, i.e. scale 2/3; the centre 42x42 region
    assert stream.eval_box(64, 48, 28, 28) == pytest.approx((11, 3, 53, 45))
    assert stream.eval_box(32, 32, 28, 28) == pytest.approx((2, 2, 30, 30))


def test_random_crop_stays_inside_with_the_promised_area_and_aspect():
    for seed in range(200):
        rng = random.Random(seed)
        x0, y0, x1, y1 = stream.random_box(64, 48, 24, 24, 0.08, rng)
        w, h = x1 - x0, y1 - y0
        assert 0 <= x0 < x1 <= 64 and 0 <= y0 < y1 <= 48
        assert 0.08 * 64 * 48 * 0.9 <= w * h <= 64 * 48  # rounding to whole pixels
        assert 3 / 4 * 0.9 <= w / h <= 4 / 3 * 1.1


def flat_folder(root: Path, per_class: int = 5) -> None:
    from PIL import Image

    for c, name in enumerate(("cat", "dog", "emu")):
        (root / name).mkdir(parents=True)
        for i in range(per_class):
            value = 40 * c + i  # one flat colour per image: class and index recoverable from the pixels
            Image.new("RGB", (12, 10), (value, 255 - value, 7)).save(root / name / f"{i}.png")


def test_folder_holds_out_a_fifth_of_every_class_and_decodes_exactly(tmp_path):
    flat_folder(tmp_path / "pets")
    data = load_data(f"folder:{tmp_path / 'pets'}", (3, 8, 8), workers=0)
    assert data.classes == ["cat", "dog", "emu"]
    assert len(data.train) == 12 and len(data.val) == 3
    assert torch.bincount(data.val.labels).tolist() == [1, 1, 1]
    images = data.images("train", stream.View(crop=0.5, flip=True), seed=3)
    red = []
    for i in range(len(images)):
        for epoch in (-1, 0, 7):  # any view of a flat image is the same flat image
            x, y = images[(epoch, i)]
            assert x.dtype == torch.uint8 and tuple(x.shape) == (8, 8, 3)  # height, width, channels (PIL's order)
            assert bool((x[..., 0] == x[0, 0, 0]).all()) and int(x[0, 0, 0]) // 40 == y
            assert torch.equal(x[..., 1].int(), 255 - x[..., 0].int())
        red.append(int(x[0, 0, 0]))
    held = data.images("val")
    red += [int(held[(-1, i)][0][0, 0, 0]) for i in range(len(held))]
    assert sorted(red) == [40 * c + i for c in range(3) for i in range(5)]
    # the statistics come from the pixels: the mean red of all 12 training images
    assert data.mean[0] == pytest.approx(sum(r for r in red[:12]) / 12 / 255, abs=1e-6)


def test_same_sample_same_epoch_same_view_and_epochs_differ(pictures):
    data = load_data(f"folder:{pictures}", (3, 24, 24), workers=0)
    a = data.images("train", stream.View(crop=0.08, flip=True), seed=1)
    b = data.images("train", stream.View(crop=0.08, flip=True), seed=1)
    assert torch.equal(a[(2, 5)][0], b[(2, 5)][0])
    assert not torch.equal(a[(2, 5)][0], a[(3, 5)][0])
    assert not torch.equal(a[(2, 5)][0], a[(-1, 5)][0])


def test_folder_with_train_and_val_and_errors(tmp_path):
    flat_folder(tmp_path / "d" / "train", per_class=3)
    flat_folder(tmp_path / "d" / "val", per_class=2)
    data = load_data(str(tmp_path / "d"), (1, 10, 12), workers=0)
    assert (len(data.train), len(data.val), data.num_classes) == (9, 6, 3)
    (tmp_path / "one" / "only").mkdir(parents=True)
    with pytest.raises(DataError, match="needs a sub-folder per class"):
        load_data(f"folder:{tmp_path / 'one'}", (1, 8, 8))
    (tmp_path / "empty" / "a").mkdir(parents=True)
    (tmp_path / "empty" / "b").mkdir(parents=True)
    with pytest.raises(DataError, match="no images"):
        load_data(f"folder:{tmp_path / 'empty'}", (1, 8, 8))
    (tmp_path / "empty" / "a" / "x.png").write_bytes(b"not a png")
    (tmp_path / "empty" / "b" / "y.png").write_bytes(b"not a png either")
    with pytest.raises(DataError, match=r"x\.png: not a readable image"):  # from a worker, unwrapped
        load_data(f"folder:{tmp_path / 'empty'}", (1, 8, 8), workers=1)


# ---------------------------------------------------------------- training


def test_folder_with_two_workers_and_shards_train_to_the_same_metrics(pictures, shard_dir, tmp_path):
    spec = tmp_path / "tiny.net"
    spec.write_text(TINY)
    cfg = TrainConfig(epochs=2, batch_size=32, augment="crop=0.35,flip", seed=4)
    folder = train(spec, config=cfg.replace(data=f"folder:{pictures}", workers=2), out=tmp_path / "f", log=quiet)
    packed = train(spec, config=cfg.replace(data=f"shards:{shard_dir[0]}", workers=0), out=tmp_path / "s", log=quiet)
    assert history(folder) == history(packed)
    assert folder.history[1]["train_loss"] < folder.history[0]["train_loss"]  # it learns
    a = checkpoint.load(tmp_path / "f" / "last.pt")
    b = checkpoint.load(tmp_path / "s" / "last.pt")
    assert all(torch.equal(a["model"][k], b["model"][k]) for k in a["model"])
    assert a["normalize"] == b["normalize"] and a["input_shape"] == [3, 24, 24]
    # the CLI evaluates the streamed run on the same held-out images
    proc = run_cli("eval", str(spec), str(tmp_path / "f" / "best.pt"))
    assert proc.returncode == 0, proc.stderr
    assert f"{100 * folder.best_val_acc:.2f}%" in proc.stdout and "120 held-out images" in proc.stdout


def rows(path: Path) -> list[dict]:
    with open(path, newline="") as fh:
        return [{k: v for k, v in r.items() if k not in TIMING} for r in csv.DictReader(fh)]


@pytest.mark.slow
def test_streaming_run_killed_with_sigkill_resumes_exactly(pictures, tmp_path):
    spec = tmp_path / "tiny.net"
    spec.write_text(TINY)
    args = ["train", str(spec), "--data", f"folder:{pictures}", "--epochs", "4", "--batch-size", "32",
            "--workers", "2", "--seed", "7"]
    env = {**os.environ, "CI": "true"}
    full = subprocess.run([sys.executable, "-m", "netspec", *args, "--out", str(tmp_path / "full")], cwd=ROOT,
                          env=env, capture_output=True, text=True, timeout=300)
    assert full.returncode == 0, full.stderr
    killed = tmp_path / "killed"
    proc = subprocess.Popen([sys.executable, "-m", "netspec", *args, "--out", str(killed)], cwd=ROOT, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
    deadline = time.time() + 120
    while not (killed / "last.pt").exists():
        assert proc.poll() is None, f"training ended before its first checkpoint: {proc.stderr.read()}"
        assert time.time() < deadline
        time.sleep(0.005)
    os.killpg(proc.pid, signal.SIGKILL)  # the trainer and its decoding workers, at once
    proc.wait()
    done = checkpoint.load(killed / "last.pt")["epoch"]
    assert 1 <= done < 4, "the kill came after the run had finished"
    resumed = subprocess.run([sys.executable, "-m", "netspec", *args[:2], "--resume", "--workers", "1",
                              "--out", str(killed)], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr
    assert "ignoring" not in resumed.stderr  # --workers says where to decode, not what: it is not ignored
    assert rows(killed / "metrics.csv") == rows(tmp_path / "full" / "metrics.csv")
    a, b = checkpoint.load(killed / "last.pt"), checkpoint.load(tmp_path / "full" / "last.pt")
    assert all(torch.equal(a["model"][k], b["model"][k]) for k in b["model"])


def test_memory_holds_uint8_until_the_device(pictures):
    """What crosses from the workers is uint8; floats appear only in to_float."""
    data = load_data(f"folder:{pictures}", (3, 24, 24), workers=0)
    from netspec.backends.torch.train.feed import LoaderFeed

    feed = LoaderFeed(data, device=torch.device("cpu"), batch_size=16, seed=0, workers=0)
    raw, labels = next(iter(feed.train_loader))
    assert raw.dtype == torch.uint8 and tuple(raw.shape) == (16, 24, 24, 3)
    x, y = next(iter(feed.train(0)))
    mean, std = torch.tensor(data.mean).view(1, 3, 1, 1), torch.tensor(data.std).view(1, 3, 1, 1)
    assert tuple(x.shape) == (16, 3, 24, 24) and x.is_contiguous()
    assert torch.allclose(x, (raw.permute(0, 3, 1, 2).float() / 255 - mean) / std, atol=1e-5)
    assert torch.equal(y, labels)


def test_per_rank_shards_deal_each_process_its_own_shards(shard_dir, pictures):
    data = load_data(f"shards:{shard_dir[0]}", (3, 24, 24), workers=0)
    shard_of = data.train.table.where[data.train.rows, 0]
    one = stream.RankShardBatches(shard_of, 32, seed=1)
    assert sorted(i for batch in one for _, i in batch) == list(range(len(data.train)))  # each sample once
    two = [stream.RankShardBatches(shard_of, 32, seed=1, rank=r, world_size=2) for r in (0, 1)]
    dealt = []
    for epoch in (0, 1):
        for s in two:
            s.set_epoch(epoch)
        taken = [[i for batch in s for _, i in batch] for s in two]
        assert len(two[0]) == len(two[1]) and all(len(b) == 16 for s in two for b in s)
        shards_read = [set(shard_of[t].tolist()) for t in taken]
        assert not shards_read[0] & shards_read[1]  # no shard is read by both processes
        assert len(set(taken[0] + taken[1])) == len(taken[0]) + len(taken[1])
        dealt.append(shards_read[0])
    assert dealt[0] != dealt[1]  # dealt anew every epoch
    with pytest.raises(TrainError, match="--batch-size 33 is not a multiple of the 2 processes"):
        stream.RankShardBatches(shard_of, 33, seed=1, world_size=2)
    folder = load_data(f"folder:{pictures}", (3, 24, 24), workers=0)
    from netspec.backends.torch.train.feed import LoaderFeed

    with pytest.raises(DataError, match="is not sharded"):
        LoaderFeed(folder, device=torch.device("cpu"), batch_size=32, seed=0, per_rank_shards=True)
