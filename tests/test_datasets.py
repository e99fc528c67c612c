"""Offline loaders read tiny archives written here in the official formats, exactly; corrupt or
foreign files (bad labels, shapes, dtypes) fail with the file's name; --data_dir is used or refused,
never replaced by another copy; nothing downloads; splits and subsets are seeded and balanced, and
ones that would make a run meaningless are refused."""

import gzip
import io
import os
import pickle
import re
import struct
import tarfile

import numpy as np
import pytest

from tfreg.flags import UsageError, make_config
from tfreg.data import datasets, splits
from tfreg.norm_stats import fit_stats
from tfreg.data.prepare import check_settings, prepare

RNG = np.random.default_rng(0)


@pytest.fixture(autouse=True)
def offline(monkeypatch, tmp_path_factory):
    """No test downloads, or reads a copy outside its tmp_path: the default places are empty."""
    monkeypatch.setenv(datasets.OFFLINE_VARIABLE, "1")
    empty = tmp_path_factory.mktemp("nowhere")
    monkeypatch.setattr(datasets, "KERAS_CACHE", str(empty / "keras"))
    monkeypatch.setattr(datasets, "DEBIAN_FASHION_MNIST", str(empty / "debian"))
    monkeypatch.setattr(datasets, "_download", lambda name: pytest.fail("tried to download"))


def cifar_batch(n, label_key, classes):
    data = RNG.integers(0, 256, size=(n, 3072), dtype=np.uint8)
    labels = RNG.integers(0, classes, size=n).tolist()
    return {b"data": data, label_key: labels, b"batch_label": b"x"}


def write_cifar(root, name, as_archive=True, spoil=None):
    """Writes every batch of `name`; spoil(batch) may alter the test batch (a corrupt file)."""
    archive, folder, key, train_names, test_name, classes = datasets.CIFAR[name]
    batches = {n: cifar_batch(7, key, classes) for n in train_names + [test_name]}
    if spoil is not None:
        spoil(batches[test_name])
    if as_archive:
        path = os.path.join(root, archive)
        with tarfile.open(path, "w:gz") as tar:
            for n, b in batches.items():
                raw = pickle.dumps(b, protocol=2)
                info = tarfile.TarInfo(f"{folder}/{n}")
                info.size = len(raw)
                tar.addfile(info, io.BytesIO(raw))
    else:
        os.makedirs(os.path.join(root, folder))
        for n, b in batches.items():
            with open(os.path.join(root, folder, n), "wb") as f:
                pickle.dump(b, f, protocol=2)
    return batches, train_names, test_name


def expected_images(batch):
    return batch[b"data"].reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)


@pytest.mark.parametrize("name", ["cifar10", "cifar100"])
@pytest.mark.parametrize("as_archive", [True, False])
def test_cifar_loader_reads_the_official_format_exactly(tmp_path, name, as_archive):
    batches, train_names, test_name = write_cifar(str(tmp_path), name, as_archive)
    a = datasets.load(make_config(dataset=name, data_dir=str(tmp_path)).data)
    key = datasets.CIFAR[name][2]
    np.testing.assert_array_equal(a.x_train, np.concatenate([expected_images(batches[n]) for n in train_names]))
    np.testing.assert_array_equal(a.y_train, np.concatenate([batches[n][key] for n in train_names]))
    np.testing.assert_array_equal(a.x_test, expected_images(batches[test_name]))
    # pixel (row 0, col 1) of image 0 is bytes 1 (R), 1025 (G), 2049 (B) of its row
    assert list(a.x_test[0, 0, 1]) == [batches[test_name][b"data"][0, i] for i in (1, 1025, 2049)]
    assert a.num_classes == (10 if name == "cifar10" else 100) and a.x_train.dtype == np.uint8


def test_truncated_archive_names_the_file(tmp_path):
    write_cifar(str(tmp_path), "cifar10")
    path = tmp_path / "cifar-10-python.tar.gz"
    path.write_bytes(path.read_bytes()[: len(path.read_bytes()) // 2])
    with pytest.raises(UsageError, match="cifar-10-python.tar.gz"):
        datasets.load(make_config(dataset="cifar10", data_dir=str(tmp_path)).data)


def write_idx(path, array, type_code=8):
    header = struct.pack(">BBBB", 0, 0, type_code, array.ndim) + struct.pack(">" + "I" * array.ndim, *array.shape)
    with gzip.open(path, "wb") as f:
        f.write(header + array.astype(">u1" if type_code == 8 else ">f4").tobytes())


def fashion_arrays():
    return {"x_train": RNG.integers(0, 256, (5, 28, 28), dtype=np.uint8),
            "y_train": RNG.integers(0, 10, 5, dtype=np.uint8),
            "x_test": RNG.integers(0, 256, (3, 28, 28), dtype=np.uint8),
            "y_test": RNG.integers(0, 10, 3, dtype=np.uint8)}


def write_fashion(folder, arrays, type_codes=None):
    for key, stem in datasets.FASHION_FILES.items():
        write_idx(folder / (stem + ".gz"), arrays[key], (type_codes or {}).get(key, 8))


def load(dataset, data_dir):
    return datasets.load(make_config(dataset=dataset, data_dir=str(data_dir)).data)


def test_fashion_mnist_idx_reader_and_corruption(tmp_path):
    arrays = fashion_arrays()
    write_fashion(tmp_path, arrays)
    a = datasets.load(make_config(dataset="fashion_mnist", data_dir=str(tmp_path)).data)
    np.testing.assert_array_equal(a.x_train[..., 0], arrays["x_train"])
    np.testing.assert_array_equal(a.y_test, arrays["y_test"])
    assert a.x_train.shape == (5, 28, 28, 1) and a.source == str(tmp_path)
    bad = tmp_path / "t10k-images-idx3-ubyte.gz"
    with gzip.open(bad, "rb") as f:
        raw = f.read()
    with gzip.open(bad, "wb") as f:
        f.write(raw[:-10])
    with pytest.raises(UsageError, match="t10k-images-idx3-ubyte.gz.*truncated or corrupt"):
        datasets.load(make_config(dataset="fashion_mnist", data_dir=str(tmp_path)).data)


CIFAR_SPOILS = {  # (dataset, spoil the test batch, what the one line must say)
    "cifar-100 labels in a cifar-10 file": ("cifar10", lambda b: b[b"labels"].__setitem__(0, 57),
                                            "holds label 57"),
    "negative label": ("cifar10", lambda b: b[b"labels"].__setitem__(3, -1), "holds label -1"),
    "label 100 in cifar-100": ("cifar100", lambda b: b[b"fine_labels"].__setitem__(0, 100),
                               "holds label 100"),
    "float labels": ("cifar10", lambda b: b.__setitem__(b"labels", [0.5] * 7), "integer label"),
    "one label short": ("cifar10", lambda b: b[b"labels"].pop(), "7 images but labels"),
    "images of 3000 bytes": ("cifar10", lambda b: b.__setitem__(b"data", b[b"data"][:, :3000]),
                             "3072 bytes"),
    "int64 pixels": ("cifar10", lambda b: b.__setitem__(b"data", b[b"data"].astype(np.int64)),
                     "int64 data"),
    "a cifar-100 file in a cifar-10 slot": ("cifar10", lambda b: b.__setitem__(
        b"fine_labels", b.pop(b"labels")), "no b'labels' entry"),
}


@pytest.mark.parametrize("as_archive", [True, False], ids=["archive", "folder"])
@pytest.mark.parametrize("case", list(CIFAR_SPOILS))
def test_corrupt_or_foreign_cifar_batch_is_refused_naming_it(tmp_path, case, as_archive):
    name, spoil, says = CIFAR_SPOILS[case]
    write_cifar(str(tmp_path), name, as_archive, spoil=spoil)
    test_file = datasets.CIFAR[name][4]
    with pytest.raises(UsageError, match=f"{test_file} .*{re.escape(says)}.*replace it"):
        load(name, tmp_path)


IDX_SPOILS = {  # (file, replacement array, IDX type code, what the one line must say)
    "label 10": ("y_train", np.array([0, 10, 3, 3, 9], np.uint8), 8, "holds label 10"),
    "32x32 images": ("x_test", np.zeros((3, 32, 32), np.uint8), 8, "shape (3, 32, 32)"),
    "images without a count": ("x_test", np.zeros((28, 28), np.uint8), 8, "shape (28, 28)"),
    "labels as a matrix": ("y_test", np.zeros((3, 1), np.uint8), 8, "shape (3, 1)"),
    "float images": ("x_train", np.zeros((5, 28, 28), np.float32), 0x0D, "float values"),
    "one image more than labels": ("x_train", np.zeros((6, 28, 28), np.uint8), 8,
                                   "6 images but"),
}


@pytest.mark.parametrize("case", list(IDX_SPOILS))
def test_corrupt_or_foreign_idx_file_is_refused_naming_it(tmp_path, case):
    key, array, code, says = IDX_SPOILS[case]
    write_fashion(tmp_path, dict(fashion_arrays(), **{key: array}), {key: code})
    stem = datasets.FASHION_FILES[key]
    with pytest.raises(UsageError, match=f"{stem}.gz .*{re.escape(says)}.*replace"):
        load("fashion_mnist", tmp_path)


def test_image_shape_table_is_what_the_loaders_return(tmp_path):
    write_cifar(str(tmp_path), "cifar10")
    write_cifar(str(tmp_path), "cifar100")
    write_fashion(tmp_path, fashion_arrays())
    for name in datasets.IMAGE_SHAPES:
        a = datasets.load(make_config(dataset=name, data_dir=str(tmp_path),
                                      synthetic_train_examples=10, synthetic_test_examples=10).data)
        assert a.x_train.shape[1:] == a.x_test.shape[1:] == datasets.IMAGE_SHAPES[name], name
        assert a.num_classes == datasets.NUM_CLASSES[name], name


def test_data_dir_is_used_or_refused_never_replaced(tmp_path, monkeypatch):
    cache = tmp_path / "cache"  # a good copy in a standard place must not stand in for --data_dir
    cache.mkdir()
    write_cifar(str(cache), "cifar10")
    write_fashion(cache, fashion_arrays())
    monkeypatch.setattr(datasets, "KERAS_CACHE", str(cache))
    monkeypatch.setattr(datasets, "DEBIAN_FASHION_MNIST", str(cache))
    assert load("cifar10", "").source.startswith(str(cache))  # used when --data_dir is not given
    assert load("fashion_mnist", "").source == str(cache)
    empty, partial, regular = tmp_path / "empty", tmp_path / "partial", tmp_path / "file"
    empty.mkdir()
    partial.mkdir()
    regular.write_text("not a dataset")
    write_cifar(str(partial), "cifar10", as_archive=False)
    os.remove(partial / "cifar-10-batches-py" / "data_batch_3")
    write_fashion(partial, fashion_arrays())
    os.remove(partial / "t10k-labels-idx1-ubyte.gz")
    refusals = [
        ("cifar10", tmp_path / "missing", "does not exist; give the folder that holds cifar10's"),
        ("cifar10", regular, "is a file, not a folder or a .tar.gz archive"),
        ("cifar10", empty, "holds neither cifar-10-python.tar.gz nor cifar-10-batches-py/"),
        ("cifar10", partial, "cifar-10-batches-py lacks data_batch_3; put cifar10's"),
        ("cifar100", partial, "holds neither cifar-100-python.tar.gz"),
        ("fashion_mnist", empty, "lacks train-images-idx3-ubyte, train-labels-idx1-ubyte, "
                                 "t10k-images-idx3-ubyte, t10k-labels-idx1-ubyte"),
        ("fashion_mnist", partial, "lacks t10k-labels-idx1-ubyte (.gz or not); put the four"),
        ("fashion_mnist", regular, "is a file, not a folder"),
    ]
    for name, place, says in refusals:
        with pytest.raises(UsageError, match=f"^--data_dir={re.escape(str(place))} .*{re.escape(says)}"):
            load(name, place)


def test_default_places_never_download_when_offline(tmp_path):
    for name in ("cifar10", "cifar100", "fashion_mnist"):
        with pytest.raises(UsageError, match=f"{name} not found in .*downloads are off "
                                             r"\(TFREG_OFFLINE=1\): .*--data_dir"):
            load(name, "")


def test_synthetic_is_seeded_and_balanced():
    a = datasets.synthetic(200, 50, seed=3)
    b = datasets.synthetic(200, 50, seed=3)
    np.testing.assert_array_equal(a.x_train, b.x_train)
    assert a.x_train.shape == (200, 32, 32, 3) and np.bincount(a.y_train).tolist() == [20] * 10
    assert not np.array_equal(a.x_train, datasets.synthetic(200, 50, seed=4).x_train)


def test_validation_split_sizes_and_stratification():
    y = np.repeat(np.arange(100), 500)  # 50,000 labels, CIFAR-100 shaped
    train, val = splits.validation_split(y, 0.2, "random", 0)
    assert (len(train), len(val)) == (40_000, 10_000) and not set(train) & set(val)
    again = splits.validation_split(y, 0.2, "random", 0)
    assert np.array_equal(val, again[1])
    _, strat = splits.validation_split(y, 0.2, "stratified", 0)
    assert np.all(np.bincount(y[strat]) == 100)
    assert np.ptp(np.bincount(y[val], minlength=100)) > 0  # the random split is not stratified


def test_validation_split_that_is_empty_or_takes_everything_is_refused():
    y = np.repeat(np.arange(10), 3)  # 30 examples, 3 per class
    for mode, least in (("random", "0.0333"), ("stratified", "0.333")):
        with pytest.raises(UsageError, match=f"--val_split=0.01 of 30 .*empty validation split; "
                                             f"raise it to at least {least}"):
            splits.validation_split(y, 0.01, mode, 0)
        with pytest.raises(UsageError, match="--val_split=0.99 of 30 .*leaves none for training"):
            splits.validation_split(y, 0.99, mode, 0)
    assert len(splits.validation_split(y, 1 / 30, "random", 0)[1]) == 1  # the fix it names works
    assert len(splits.validation_split(y, 1 / 3, "stratified", 0)[1]) == 10


def test_balanced_subset():
    y = np.repeat(np.arange(10), 50)
    idx = splits.balanced_subset(y, 95, 0, 10)
    assert len(idx) == 95 and sorted(np.bincount(y[idx]).tolist()) == [9] * 5 + [10] * 5
    assert len(splits.balanced_subset(y, 10, 0, 10)) == 10 and len(splits.balanced_subset(y, 0, 0, 10)) == 500
    short = np.concatenate([np.repeat(np.arange(9), 20), [9, 9]])  # class 9 has 2 examples
    with pytest.raises(UsageError, match="--train_examples=100 needs 10 examples of class 9"):
        splits.balanced_subset(short, 100, 0, 10)
    with pytest.raises(UsageError, match="--train_examples=9 is fewer than the 10 classes"):
        splits.balanced_subset(y, 9, 0, 10)
    with pytest.raises(UsageError, match="--train_examples=501 is more than the training split's 500"):
        splits.balanced_subset(y, 501, 0, 10)


@pytest.mark.parametrize("overrides,says", [
    (dict(cutout_pixels=32), "--cutout_pixels=32 can cover all of synthetic's 32x32"),
    (dict(dataset="fashion_mnist", cutout_pixels=28), "fashion_mnist's 28x28 images"),
    (dict(dataset="cifar100", pad_crop_pixels=32), "--pad_crop_pixels=32 lets a crop"),
    (dict(tta="crops", tta_crop_pixels=32), "--tta_crop_pixels=32"),
    (dict(random_erasing_prob=0.5, random_erasing_area_min=0.99, random_erasing_area_max=1.0),
     "never fits.*lower --random_erasing_area_min"),
    (dict(random_erasing_prob=0.5, random_erasing_area_min=1e-4, random_erasing_area_max=2e-4),
     "never fits.*raise --random_erasing_area_max"),
    (dict(random_erasing_prob=0.5, random_erasing_area_min=0.6, random_erasing_area_max=0.7,
          random_erasing_aspect_min=3, random_erasing_aspect_max=4), "never fits"),
])
def test_augmentation_sizes_the_image_makes_meaningless_are_refused(overrides, says):
    with pytest.raises(UsageError, match=says):
        check_settings(make_config(**overrides))


def test_augmentation_sizes_just_inside_the_image_are_accepted():
    check_settings(make_config(cutout_pixels=31, pad_crop_pixels=31, tta="crops", tta_crop_pixels=31))
    check_settings(make_config(dataset="fashion_mnist", cutout_pixels=27, pad_crop_pixels=27))
    # the defaults (Zhong et al.) and a range that fits only for aspect near 1
    check_settings(make_config(random_erasing_prob=1.0))
    check_settings(make_config(random_erasing_prob=1.0, random_erasing_area_min=0.9,
                               random_erasing_area_max=0.95))


def test_prepare_records_sizes_and_fits_stats_on_train_only():
    cfg = make_config(dataset="synthetic", synthetic_train_examples=500, val_split=0.2,
                      split_mode="stratified", train_examples=200)
    data = prepare(cfg)
    d = data.describe()
    assert d["sizes"] == {"train": 200, "val": 100, "test": 500}
    assert d["class_proportions"]["train"] == [0.1] * 10
    flat = data.x_train.reshape(-1, 3).astype(np.float64)
    np.testing.assert_allclose(data.norm_stats["shift"], flat.mean(0))
    np.testing.assert_allclose(data.norm_stats["scale"], flat.std(0) + 1e-8)


def test_zca_whitens_the_training_split():
    x = RNG.integers(0, 256, (400, 4, 4, 1), dtype=np.uint8)
    stats = fit_stats(x, "zca", 1e-6)
    flat = x.reshape(400, -1) / 255.0
    white = (flat - stats["shift"].reshape(-1) / 255.0) @ stats["whiten"]
    np.testing.assert_allclose(np.cov(white, rowvar=False, bias=True), np.eye(16), atol=1e-3)
