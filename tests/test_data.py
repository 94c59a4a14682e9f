"""The bundled MNIST, directories in MNIST format, stratified splits."""

import gzip
import hashlib

import numpy as np
import pytest

from ddse_np.data.mnist import (
    BUNDLED_MNIST,
    flatten,
    load_split,
    stratified_split,
    stratified_subset,
)
from ddse_np.errors import DDSEError

from conftest import write_mnist_dir

MD5 = {
    "train-images-idx3-ubyte.gz": "6bbc9ace898e44ae57da46a324031adb",
    "train-labels-idx1-ubyte.gz": "a25bea736e30d166cdddb491f175f624",
    "t10k-images-idx3-ubyte.gz": "2646ac647ad5339dbf082846283269ea",
    "t10k-labels-idx1-ubyte.gz": "27ae3e4e09519cfbb04c329615203637",
}
TRAIN_COUNTS = [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
TEST_COUNTS = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]


@pytest.mark.parametrize("name", sorted(MD5))
def test_bundled_files_match_the_original_md5(name):
    raw = gzip.decompress((BUNDLED_MNIST / name).read_bytes())
    assert hashlib.md5(raw).hexdigest() == MD5[name]


def test_bundled_label_counts():
    train, test = load_split(BUNDLED_MNIST, "train"), load_split(BUNDLED_MNIST, "test")
    assert train.images.shape == (60000, 28, 28) and test.images.shape == (10000, 28, 28)
    assert np.bincount(train.labels).tolist() == TRAIN_COUNTS
    assert np.bincount(test.labels).tolist() == TEST_COUNTS


@pytest.mark.parametrize("gz", [True, False])
def test_any_mnist_format_directory(tmp_path, gz):
    directory = write_mnist_dir(tmp_path / "d", n_train=40, n_test=20, gz=gz)
    train = load_split(directory, "train")
    assert len(train) == 40 and train.labels.dtype == np.int64


def test_dot_named_files_are_found(tmp_path):
    directory = write_mnist_dir(tmp_path / "d", n_train=20, n_test=10, gz=False)
    (directory / "t10k-images-idx3-ubyte").rename(directory / "t10k-images.idx3-ubyte")
    assert len(load_split(directory, "test")) == 10


def test_missing_directory_and_files(tmp_path):
    with pytest.raises(DDSEError, match="does not exist"):
        load_split(tmp_path / "nowhere", "train")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DDSEError, match="no train-images"):
        load_split(tmp_path / "empty", "train")


def test_labels_out_of_range(tmp_path):
    directory = write_mnist_dir(tmp_path / "d", n_train=30, n_test=12, labels_max=11)
    with pytest.raises(DDSEError, match="outside 0..9"):
        load_split(directory, "train")


def test_image_and_label_counts_must_agree(tmp_path):
    a = write_mnist_dir(tmp_path / "a", n_train=30, n_test=10)
    b = write_mnist_dir(tmp_path / "b", n_train=20, n_test=10)
    (b / "train-labels-idx1-ubyte.gz").replace(a / "train-labels-idx1-ubyte.gz")
    with pytest.raises(DDSEError, match="30 images but 20 labels"):
        load_split(a, "train")


def test_stratified_split_keeps_class_proportions(rng):
    labels = np.repeat(np.arange(4), [100, 200, 300, 400])
    rest, held = stratified_split(labels, 100, rng)
    assert len(held) == 100 and len(rest) == 900
    assert not set(rest) & set(held)
    assert np.bincount(labels[held]).tolist() == [10, 20, 30, 40]


def test_stratified_split_rounds_to_the_exact_size(rng):
    labels = np.repeat(np.arange(3), [7, 7, 7])
    _, held = stratified_split(labels, 5, rng)
    counts = np.bincount(labels[held], minlength=3)
    assert counts.sum() == 5 and counts.max() - counts.min() <= 1


def test_stratified_subset_fraction(rng):
    labels = np.repeat(np.arange(10), 50)
    subset = stratified_subset(labels, 0.1, rng)
    assert np.bincount(labels[subset]).tolist() == [5] * 10
    assert len(stratified_subset(labels, 1.0, rng)) == 500
    for bad in (0.0, -0.5, 1.5):
        with pytest.raises(DDSEError, match=r"outside \(0, 1\]"):
            stratified_subset(labels, bad, rng)


def test_flatten_scales_to_unit_interval():
    images = np.array([[[0, 255], [51, 102]]], dtype=np.uint8)
    out = flatten(images, np.float32)
    assert out.dtype == np.float32 and out.shape == (1, 4)
    assert np.allclose(out, [[0, 1, 0.2, 0.4]])
