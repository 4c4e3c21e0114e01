"""Data sources for `netspec train`, on small files written here in each format's published layout."""

from __future__ import annotations

import gzip
import struct

import pytest

torch = pytest.importorskip("torch")

from netspec.backends.torch.train.data import DataError, load_data, parse_source, read_idx  # noqa: E402

IDENTITY = ([0.0], [1.0])  # no standardising: values stay pixel / 255
IDENTITY3 = ([0.0] * 3, [1.0] * 3)


def idx_bytes(array: torch.Tensor) -> bytes:
    """LeCun's IDX layout: 0, 0, type 0x08 (ubyte), ndim, big-endian int32 sizes, then the bytes."""
    header = bytes([0, 0, 0x08, array.dim()]) + b"".join(struct.pack(">i", d) for d in array.shape)
    return header + bytes(array.flatten().tolist())


def write_mnist(folder, n_train=6, n_test=4, size=28, compress=False):
    folder.mkdir(parents=True, exist_ok=True)
    g = torch.Generator().manual_seed(0)
    sets = {}
    for prefix, n in (("train", n_train), ("t10k", n_test)):
        images = torch.randint(0, 256, (n, size, size), generator=g, dtype=torch.uint8)
        labels = torch.arange(n, dtype=torch.uint8) % 10
        for what, arr, nd in (("images", images, 3), ("labels", labels, 1)):
            data = idx_bytes(arr)
            name = f"{prefix}-{what}-idx{nd}-ubyte"
            if compress:
                (folder / f"{name}.gz").write_bytes(gzip.compress(data))
            else:
                (folder / name).write_bytes(data)
        sets[prefix] = (images, labels)
    return sets


@pytest.mark.parametrize("compress", [False, True])
def test_idx_files_read_back_pixel_for_pixel(tmp_path, compress):
    sets = write_mnist(tmp_path / "mnist", compress=compress)
    data = load_data(f"mnist:{tmp_path / 'mnist'}", (1, 28, 28), normalize=IDENTITY)
    assert data.kind == "idx" and data.num_classes == 6
    images, labels = sets["train"]
    assert torch.equal(data.train.labels, labels.long())
    assert torch.allclose(data.train.images[:, 0] * 255, images.float(), atol=1e-4)
    assert torch.equal(data.val.labels, sets["t10k"][1].long())
    # a bare folder is recognised as IDX by its file names
    assert parse_source(str(tmp_path / "mnist"))[0] == "idx"


def test_idx_resized_and_given_three_channels(tmp_path):
    write_mnist(tmp_path / "m")
    data = load_data(str(tmp_path / "m"), (3, 32, 32))
    assert tuple(data.train.images.shape) == (6, 3, 32, 32)
    assert torch.equal(data.train.images[:, 0], data.train.images[:, 2])  # grey repeated
    # standardised with the training split's own statistics
    assert abs(float(data.train.images.mean())) < 1e-5


def test_idx_errors_say_what_is_wrong(tmp_path):
    folder = tmp_path / "m"
    write_mnist(folder)
    images = folder / "train-images-idx3-ubyte"
    good = images.read_bytes()
    images.write_bytes(good[:-10])
    with pytest.raises(DataError, match="header promises 6x28x28 = 4,704 bytes but the file holds 4,694"):
        load_data(f"idx:{folder}", (1, 28, 28))
    images.write_bytes(b"\x08\x03" + good[2:])
    with pytest.raises(DataError, match="not an IDX file"):
        read_idx(images)
    images.write_bytes(gzip.compress(good)[:40])
    images.rename(folder / "train-images-idx3-ubyte.gz")
    with pytest.raises(DataError, match="damaged gzip"):
        load_data(f"idx:{folder}", (1, 28, 28))
    (folder / "train-images-idx3-ubyte.gz").unlink()
    with pytest.raises(DataError, match="no train images file") as err:
        load_data(f"idx:{folder}", (1, 28, 28))
    assert "t10k-images" in err.value.help
    (folder / "train-images-idx3-ubyte").write_bytes(good)
    (folder / "train-labels-idx1-ubyte").write_bytes(idx_bytes(torch.zeros(5, dtype=torch.uint8)))
    with pytest.raises(DataError, match="6 train images but 5 labels"):
        load_data(f"idx:{folder}", (1, 28, 28))


def cifar_records(images: torch.Tensor, labels: torch.Tensor, coarse: torch.Tensor | None = None) -> bytes:
    """The CIFAR binary layout: per image, label byte(s), then 1024 R, 1024 G, 1024 B bytes."""
    out = bytearray()
    for i in range(len(labels)):
        if coarse is not None:
            out.append(int(coarse[i]))
        out.append(int(labels[i]))
        out += bytes(images[i].flatten().tolist())
    return bytes(out)


def test_cifar10_batches_channel_order_and_class_names(tmp_path):
    folder = tmp_path / "cifar-10-batches-bin"
    folder.mkdir()
    g = torch.Generator().manual_seed(1)
    images = torch.randint(0, 256, (10, 3, 32, 32), generator=g, dtype=torch.uint8)
    labels = torch.arange(10, dtype=torch.uint8)
    (folder / "data_batch_1.bin").write_bytes(cifar_records(images[:6], labels[:6]))
    (folder / "data_batch_2.bin").write_bytes(cifar_records(images[6:8], labels[6:8]))
    (folder / "test_batch.bin").write_bytes(cifar_records(images[8:], labels[8:]))
    names = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
    (folder / "batches.meta.txt").write_text("\n".join(names) + "\n\n")
    data = load_data(str(folder), (3, 32, 32), normalize=IDENTITY3)
    assert data.kind == "cifar10" and data.classes == names
    assert torch.equal(data.train.labels, torch.arange(8))
    assert torch.allclose(data.train.images * 255, images[:8].float(), atol=1e-4)  # R plane first
    assert torch.allclose(data.val.images * 255, images[8:].float(), atol=1e-4)
    grey = load_data(str(folder), (1, 32, 32), normalize=IDENTITY)
    want = (images[:8].float() * torch.tensor([0.299, 0.587, 0.114]).view(1, 3, 1, 1)).sum(1) / 255
    assert torch.allclose(grey.train.images[:, 0], want, atol=1e-5)
    (folder / "test_batch.bin").write_bytes(b"\x00" * 3000)
    with pytest.raises(DataError, match="not a whole number of 3073-byte cifar10 records"):
        load_data(str(folder), (3, 32, 32))


def test_cifar100_uses_fine_labels(tmp_path):
    folder = tmp_path / "cifar-100-binary"
    folder.mkdir()
    images = torch.randint(0, 256, (4, 3, 32, 32), dtype=torch.uint8)
    fine, coarse = torch.tensor([3, 99, 42, 7]), torch.tensor([1, 19, 5, 0])
    (folder / "train.bin").write_bytes(cifar_records(images[:3], fine[:3], coarse[:3]))
    (folder / "test.bin").write_bytes(cifar_records(images[3:], fine[3:], coarse[3:]))
    data = load_data(f"cifar100:{folder}", (3, 32, 32), normalize=IDENTITY3)
    assert data.num_classes == 100
    assert data.train.labels.tolist() == [3, 99, 42] and data.val.labels.tolist() == [7]
    assert torch.allclose(data.val.images * 255, images[3:].float(), atol=1e-4)
    with pytest.raises(DataError, match="cifar100 binary files not found"):
        load_data(f"cifar100:{tmp_path}", (3, 32, 32))


# Image folders are streamed: tests/test_train_stream.py reads them.


def test_sources_that_do_not_exist_or_cannot_be_told_apart(tmp_path):
    with pytest.raises(DataError, match="does not exist") as err:
        parse_source(f"cifar10:{tmp_path / 'nope'}")
    assert "never downloads" in err.value.help
    (tmp_path / "loose.txt").write_text("hi")
    with pytest.raises(DataError, match="cannot tell what kind of data"):
        parse_source(str(tmp_path))
    with pytest.raises(DataError, match="concrete size"):
        load_data("digits", (1, "H", "W"))


def test_digits_default_split_is_fixed_and_stratified():
    from sklearn.datasets import load_digits

    a = load_data(None, (1, 32, 32))
    b = load_data("digits", (1, 32, 32))
    assert torch.equal(a.val.images, b.val.images)
    counts = torch.bincount(torch.tensor(load_digits().target))
    assert torch.bincount(a.val.labels).tolist() == [round(0.2 * int(c)) for c in counts]
    assert len(a.train) + len(a.val) == 1797
    assert tuple(a.train.images.shape[1:]) == (1, 32, 32)
