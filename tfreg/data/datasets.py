"""Offline-first dataset loaders returning uint8 NHWC arrays and int labels.

--data_dir, when given, is the only place read: the dataset is there or the run is refused with
what is missing (no fallback to another copy). Without it, each place is tried and reported:
Debian's /usr/share/datasets/fashion-mnist (Fashion-MNIST), the Keras cache (~/.keras/datasets),
then a download (off when TFREG_OFFLINE=1). The CIFAR pickle format and the IDX format are read
here, not by Keras, because Keras deletes a cached archive it cannot verify and then tries to
download. Every file is checked as it is read (array shapes, dtypes, image size, labels in
[0, classes)), so a corrupt or foreign file is refused in one line naming it, before training.
"""

import dataclasses
import gzip
import os
import pickle
import struct
import tarfile

import numpy as np

from tfreg.errors import UsageError

DEBIAN_FASHION_MNIST = "/usr/share/datasets/fashion-mnist"
KERAS_CACHE = os.path.join(os.path.expanduser("~"), ".keras", "datasets")
OFFLINE_VARIABLE = "TFREG_OFFLINE"  # "1": never download (the tests set it)

# What every loader returns, known before loading (TF-free, for start-up checks of the flags)
IMAGE_SHAPES = {"synthetic": (32, 32, 3), "fashion_mnist": (28, 28, 1), "cifar10": (32, 32, 3),
                "cifar100": (32, 32, 3)}
NUM_CLASSES = {"synthetic": 10, "fashion_mnist": 10, "cifar10": 10, "cifar100": 100}

FASHION_FILES = {
    "x_train": "train-images-idx3-ubyte", "y_train": "train-labels-idx1-ubyte",
    "x_test": "t10k-images-idx3-ubyte", "y_test": "t10k-labels-idx1-ubyte",
}
CIFAR = {
    "cifar10": ("cifar-10-python.tar.gz", "cifar-10-batches-py", b"labels",
                [f"data_batch_{i}" for i in range(1, 6)], "test_batch", 10),
    "cifar100": ("cifar-100-python.tar.gz", "cifar-100-python", b"fine_labels",
                 ["train"], "test", 100),
}


CLASS_NAMES = {
    "fashion_mnist": ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt",
                      "Sneaker", "Bag", "Ankle boot"),
    "cifar10": ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship",
                "truck"),
    # CIFAR-100's fine labels in label order (the archive's meta fine_label_names)
    "cifar100": tuple("""apple aquarium_fish baby bear beaver bed bee beetle bicycle bottle bowl boy
        bridge bus butterfly camel can castle caterpillar cattle chair chimpanzee clock cloud
        cockroach couch crab crocodile cup dinosaur dolphin elephant flatfish forest fox girl
        hamster house kangaroo keyboard lamp lawn_mower leopard lion lizard lobster man maple_tree
        motorcycle mountain mouse mushroom oak_tree orange orchid otter palm_tree pear pickup_truck
        pine_tree plain plate poppy porcupine possum rabbit raccoon ray road rocket rose sea seal
        shark shrew skunk skyscraper snail snake spider squirrel streetcar sunflower sweet_pepper
        table tank telephone television tiger tractor train trout tulip turtle wardrobe whale
        willow_tree wolf woman worm""".split()),
}


def class_names(dataset, num_classes, classes=()):
    """The label names of `dataset` in label order (class_<k> where it has none), after
    --classes kept and relabelled a subset."""
    names = CLASS_NAMES.get(dataset) or tuple(f"class_{k}" for k in range(num_classes))
    return tuple(names[c] for c in classes) if classes else tuple(names[:num_classes])


@dataclasses.dataclass
class Arrays:
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    num_classes: int
    source: str


def load(cfg_data, seed=0):
    """Loads `cfg_data.dataset` as uint8 arrays; UsageError naming every place tried."""
    name = cfg_data.dataset
    if name == "synthetic":
        return synthetic(cfg_data.synthetic_train_examples, cfg_data.synthetic_test_examples, seed)
    reader = read_fashion_mnist if name == "fashion_mnist" else (lambda d: read_cifar(d, name))
    if cfg_data.data_dir:
        arrays = reader(cfg_data.data_dir)
        if arrays is None:
            _refuse_data_dir(name, cfg_data.data_dir)
        return arrays
    places = [DEBIAN_FASHION_MNIST] if name == "fashion_mnist" else []
    places.append(KERAS_CACHE if name != "fashion_mnist" else os.path.join(KERAS_CACHE, "fashion-mnist"))
    for place in places:
        arrays = reader(place)
        if arrays is not None:
            return arrays
    fix = ("install Debian's dataset-fashion-mnist or pass --data_dir with the four IDX files"
           if name == "fashion_mnist" else
           f"pass --data_dir with {CIFAR[name][0]} or its extracted folder")
    if os.environ.get(OFFLINE_VARIABLE) == "1":
        raise UsageError(f"{name} not found in {', '.join(places)} and downloads are off "
                         f"({OFFLINE_VARIABLE}=1): {fix}")
    arrays = _download(name)
    if arrays is None:
        raise UsageError(f"{name} not found in {', '.join(places)} and the download from "
                         f"{DOWNLOADS[name][1]} failed: {fix}")
    return arrays


def _refuse_data_dir(name, place):
    """UsageError saying what --data_dir lacks: a named place is used or refused, never replaced."""
    if name == "fashion_mnist":
        what = "the four Fashion-MNIST IDX files (train-images-idx3-ubyte[.gz] ...)"
        missing = [stem for stem in FASHION_FILES.values() if _idx_path(place, stem) is None]
        lack = f"lacks {', '.join(missing)} (.gz or not)"
    else:
        archive, folder, _, train_names, test_name, _ = CIFAR[name]
        what = f"{name}'s {archive} or its extracted {folder}/"
        lack = f"holds neither {archive} nor {folder}/"
        names = train_names + [test_name]
        for path in (place, os.path.join(place, folder)):
            missing = [n for n in names if not os.path.isfile(os.path.join(path, n))]
            if len(missing) < len(names):
                lack = f"holds part of {name}: {path} lacks {', '.join(missing)}"
                break
    fix = f"put {what} there, or leave out --data_dir to use the standard places"
    if not os.path.exists(place):
        lack, fix = "does not exist", f"give the folder that holds {what}"
    elif not os.path.isdir(place):
        lack = "is a file, not a folder" + ("" if name == "fashion_mnist" else " or a .tar.gz archive")
        fix = f"give the folder that holds {what}"
    raise UsageError(f"--data_dir={place} {lack}; {fix}")


DOWNLOADS = {
    "fashion_mnist": ("fashion-mnist", "https://storage.googleapis.com/tensorflow/tf-keras-datasets/",
                      [stem + ".gz" for stem in FASHION_FILES.values()]),
    "cifar10": ("", "https://www.cs.toronto.edu/~kriz/", [CIFAR["cifar10"][0]]),
    "cifar100": ("", "https://www.cs.toronto.edu/~kriz/", [CIFAR["cifar100"][0]]),
}


def _download(name):
    """Fetches the official files into the Keras cache and reads them; None when offline."""
    import urllib.request

    sub, base, files = DOWNLOADS[name]
    folder = os.path.join(KERAS_CACHE, sub)
    try:
        for f in files:
            target = os.path.join(folder, f)
            if not os.path.isfile(target):
                with urllib.request.urlopen(base + f, timeout=30) as r:
                    payload = r.read()
                os.makedirs(folder, exist_ok=True)
                with open(target + ".part", "wb") as out:
                    out.write(payload)
                os.replace(target + ".part", target)
    except OSError:
        return None
    return read_fashion_mnist(folder) if name == "fashion_mnist" else read_cifar(folder, name)


# ---- Fashion-MNIST (IDX) ------------------------------------------------------------------

def _idx_path(folder, stem):
    for candidate in (stem + ".gz", stem):
        path = os.path.join(folder, candidate)
        if os.path.isfile(path):
            return path
    return None


IDX_TYPES = {0x08: "unsigned byte", 0x09: "signed byte", 0x0B: "short", 0x0C: "int",
             0x0D: "float", 0x0E: "double"}


def read_idx(path):
    """Reads one unsigned-byte IDX file (optionally gzipped); UsageError if truncated or malformed."""
    opener = gzip.open if path.endswith(".gz") else open
    try:
        with opener(path, "rb") as f:
            data = f.read()
    except (OSError, EOFError) as e:
        raise UsageError(f"cannot read {path}: {e}; replace the file") from None
    if len(data) < 4 or data[0] != 0 or data[1] != 0:
        raise UsageError(f"{path} is not an IDX file (it does not start with two zero bytes); "
                         "replace the file")
    if data[2] != 0x08:
        kind = IDX_TYPES.get(data[2], "an unknown type")
        raise UsageError(f"{path} holds {kind} values (IDX type code 0x{data[2]:02X}), Fashion-MNIST "
                         "files hold unsigned bytes (0x08); replace the file")
    ndim = data[3]
    header = 4 + 4 * ndim
    if len(data) < header:
        raise UsageError(f"{path} is truncated; replace the file")
    shape = struct.unpack(">" + "I" * ndim, data[4:header])
    expected = int(np.prod(shape))
    if len(data) - header != expected:
        raise UsageError(f"{path} holds {len(data) - header} bytes of data, its header says "
                         f"{expected}: the file is truncated or corrupt; replace it")
    return np.frombuffer(data, dtype=np.uint8, offset=header).reshape(shape)


def read_fashion_mnist(folder):
    """Arrays from the four IDX files in `folder`, or None if they are not all there."""
    paths = {k: _idx_path(folder, stem) for k, stem in FASHION_FILES.items()}
    if any(p is None for p in paths.values()):
        return None
    a = {k: read_idx(p) for k, p in paths.items()}
    rows, cols, _ = IMAGE_SHAPES["fashion_mnist"]
    for split in ("train", "test"):
        x, y = a[f"x_{split}"], a[f"y_{split}"]
        x_path, y_path = paths[f"x_{split}"], paths[f"y_{split}"]
        if x.ndim != 3 or x.shape[1:] != (rows, cols):
            raise UsageError(f"{x_path} holds an array of shape {x.shape}, Fashion-MNIST images are "
                             f"(count, {rows}, {cols}); replace the file")
        if y.ndim != 1:
            raise UsageError(f"{y_path} holds an array of shape {y.shape}, a label file holds one "
                             "label per image (count,); replace the file")
        check_labels(y, NUM_CLASSES["fashion_mnist"], y_path)
        if len(x) != len(y):
            raise UsageError(f"{x_path} holds {len(x)} images but {y_path} {len(y)} labels; "
                             "replace them")
    return Arrays(a["x_train"][..., None], a["y_train"].astype(np.int32), a["x_test"][..., None],
                  a["y_test"].astype(np.int32), NUM_CLASSES["fashion_mnist"], folder)


def check_labels(labels, classes, where):
    """UsageError naming `where` unless every label is an integer in [0, classes)."""
    bad = labels[(labels < 0) | (labels >= classes)]
    if len(bad):
        raise UsageError(f"{where} holds label {bad[0]} ({len(bad)} labels outside 0..{classes - 1}): "
                         "the file is corrupt or from another dataset; replace it")


# ---- CIFAR (python pickle batches) ---------------------------------------------------------

def _unpickle_batch(raw, where, label_key, classes):
    try:
        batch = pickle.loads(raw, encoding="bytes")
        data, labels = np.asarray(batch[b"data"]), np.asarray(batch[label_key])
    except KeyError as e:
        raise UsageError(f"{where} has no {e} entry, so it is not a batch of this CIFAR "
                         "(CIFAR-10 labels are b'labels', CIFAR-100's b'fine_labels'); replace it") from None
    except Exception as e:  # noqa: BLE001 - pickle raises many types on corrupt input
        raise UsageError(f"{where} is corrupt ({type(e).__name__}); replace it") from None
    if data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3072:
        raise UsageError(f"{where} holds {data.dtype} data of shape {data.shape}, CIFAR batches hold "
                         "uint8 rows of 3072 bytes (32x32x3 images); replace it")
    if labels.dtype.kind not in "iu" or labels.ndim != 1 or len(labels) != len(data):
        raise UsageError(f"{where} holds {len(data)} images but labels of type {labels.dtype} and "
                         f"shape {labels.shape}, CIFAR batches hold one integer label per image; "
                         "replace it")
    check_labels(labels, classes, where)
    return data.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1), labels.astype(np.int32)


def read_cifar(place, name):
    """Arrays from a CIFAR archive, its extracted folder, or a folder holding either; else None."""
    archive, folder, label_key, train_names, test_name, classes = CIFAR[name]
    candidates = [place, os.path.join(place, folder), os.path.join(place, archive)]
    for path in candidates:
        if os.path.isfile(path) and path.endswith(".tar.gz"):
            return _read_cifar_archive(path, folder, label_key, train_names, test_name, classes)
        if os.path.isdir(path) and all(
                os.path.isfile(os.path.join(path, n)) for n in train_names + [test_name]):
            parts = {}
            for n in train_names + [test_name]:
                where = os.path.join(path, n)
                try:
                    with open(where, "rb") as f:
                        raw = f.read()
                except OSError as e:
                    raise UsageError(f"cannot read {where}: {e.strerror}; fix its permissions or "
                                     "replace it") from None
                parts[n] = _unpickle_batch(raw, where, label_key, classes)
            return _cifar_arrays(parts, train_names, test_name, classes, path)
    return None


def _read_cifar_archive(path, folder, label_key, train_names, test_name, classes):
    parts = {}
    try:
        with tarfile.open(path, "r:gz") as tar:
            for member in tar:
                base = os.path.basename(member.name)
                if member.isfile() and base in train_names + [test_name]:
                    parts[base] = _unpickle_batch(tar.extractfile(member).read(),
                                                  f"{path}:{member.name}", label_key, classes)
    except (tarfile.TarError, OSError, EOFError) as e:
        raise UsageError(f"{path} is truncated or corrupt ({e}); download it again") from None
    missing = [n for n in train_names + [test_name] if n not in parts]
    if missing:
        raise UsageError(f"{path} lacks {', '.join(missing)}; download it again")
    return _cifar_arrays(parts, train_names, test_name, classes, path)


def _cifar_arrays(parts, train_names, test_name, classes, source):
    x_train = np.concatenate([parts[n][0] for n in train_names])
    y_train = np.concatenate([parts[n][1] for n in train_names])
    return Arrays(x_train, y_train, parts[test_name][0], parts[test_name][1], classes, source)


# ---- synthetic ----------------------------------------------------------------------------

SYNTHETIC_COLOURS = np.array([[220, 60, 50], [50, 90, 220]], dtype=np.float32)


def synthetic(train_examples, test_examples, seed=0, size=32):
    """A learnable 10-class 32x32x3 set: class c is shape c % 5 drawn in colour family c // 5.

    Shapes: disc, square, triangle, cross, ring; position, size and the exact colour vary, on a
    noisy background. Generated from `seed` alone (numpy Generator, no global state).
    """
    rng = np.random.default_rng(seed + 7919)
    n = train_examples + test_examples
    # balanced within each split (class counts differ by at most one)
    labels = np.concatenate([rng.permutation(np.arange(k) % 10) for k in (train_examples, test_examples)])
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    images = np.empty((n, size, size, 3), dtype=np.uint8)
    for i, c in enumerate(labels):
        r = rng.uniform(0.22, 0.36) * size
        cy, cx = rng.uniform(r, size - r, size=2)
        dy, dx = (yy - cy) / r, (xx - cx) / r
        shape = c % 5
        if shape == 0:
            mask = dy**2 + dx**2 <= 1
        elif shape == 1:
            mask = (np.abs(dy) <= 0.8) & (np.abs(dx) <= 0.8)
        elif shape == 2:
            mask = (dy <= 0.8) & (dy >= -0.9 + 1.7 * np.abs(dx))
        elif shape == 3:
            mask = ((np.abs(dy) <= 0.25) | (np.abs(dx) <= 0.25)) & (np.abs(dy) <= 1) & (np.abs(dx) <= 1)
        else:
            mask = (dy**2 + dx**2 <= 1) & (dy**2 + dx**2 >= 0.4)
        colour = SYNTHETIC_COLOURS[c // 5] + rng.normal(0, 25, size=3)
        background = rng.uniform(60, 160) + rng.normal(0, 20, size=(size, size, 3))
        image = np.where(mask[..., None], colour, background)
        images[i] = np.clip(image + rng.normal(0, 12, size=image.shape), 0, 255).astype(np.uint8)
    labels = labels.astype(np.int32)
    return Arrays(images[:train_examples], labels[:train_examples], images[train_examples:],
                  labels[train_examples:], 10, f"synthetic(seed={seed})")
