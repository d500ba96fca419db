"""Decode once: the dataset's images decoded and resized a single time, kept as uint8 arrays.

The chapter decodes every PNG again in every epoch, in the training process; at 64 px that alone keeps
the cores at a third of what the net can do. The cache stores, per split:

  train: each image with its shorter side resized to R = round(S*256/224), aspect ratio kept, so that
         RandomResizedCrop, RandomFlipLeftRight, ToTensor and Normalize then run on it as usual (the same
         random augmentations, drawn from a smaller source image);
  test:  each image exactly as the chapter's ``Resize(R)`` and ``CenterCrop(S)`` leave it (S x S uint8):
         both are deterministic, so only ``ToTensor`` and ``Normalize`` remain per image, and the tensors
         are the very ones the full test transform gives on the file.

A cache lives in ``<dataset>/.cache/decoded-<key>/`` where the key hashes the content of every image
file, the split, the size and the cache format: changed data or a changed size is a different key, never
a stale hit. It is written to a temporary folder and renamed, so a crash leaves no half-cache; a cache
found damaged is rebuilt, and one that no longer matches the files is removed once its successor exists
(``hotdog check --prune-cache`` removes all of those at once).
"""
import hashlib
import json
import logging
import os
import shutil

import mxnet as mx
import numpy as np
from mxnet.gluon.data import Dataset
from tqdm import tqdm

from .._io import building, show_progress
from ..errors import HotdogError
from .check import file_fingerprints
from .folders import dataset_root, load_split
from .transforms import resize_size

log = logging.getLogger(__name__)

# 3: decoded with Pillow, EXIF orientation applied (images.py); keys from the check's content hashes.
CACHE_FORMAT = 3
CACHE_FOLDER = ".cache"


class DamagedCache(Exception):
    """A cache folder whose files are missing, unreadable or do not agree with each other."""


class CachedImages(Dataset):
    """(uint8 HxWx3 numpy array, label) items from a cache folder, memory-mapped.

    Opening checks that the index and the pixel file agree (a truncated or damaged cache is rebuilt by
    ``cached_split``, never read as wrong pixels).
    """

    def __init__(self, folder):
        try:
            with open(os.path.join(folder, "index.json")) as f:
                index = json.load(f)
            self.synsets = index["synsets"]
            self._shapes = [tuple(s) for s in index["shapes"]]
            self._labels = index["labels"]
            self.paths = index["paths"]
            self._pixels = np.load(os.path.join(folder, "pixels.npy"), mmap_mode="r")
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise DamagedCache("{}: {}".format(type(exc).__name__, exc)) from None
        self._offsets = np.cumsum([0] + [int(np.prod(s)) for s in self._shapes])
        if not len(self._labels) == len(self._shapes) == len(self.paths):
            raise DamagedCache("index.json lists {} labels, {} shapes and {} paths".format(
                len(self._labels), len(self._shapes), len(self.paths)))
        if self._pixels.dtype != np.uint8 or self._pixels.shape != (self._offsets[-1],):
            raise DamagedCache("pixels.npy holds {} {} values, the index needs {} uint8".format(
                self._pixels.shape, self._pixels.dtype, self._offsets[-1]))

    def __len__(self):
        return len(self._labels)

    def __getitem__(self, idx):
        start, stop = self._offsets[idx], self._offsets[idx + 1]
        # numpy, not an NDArray: making an NDArray waits for the engine (see transforms.py); the loader
        # makes one per batch
        return np.array(self._pixels[start:stop]).reshape(self._shapes[idx]), self._labels[idx]


# How images are stored: "augment" keeps the short side at R (random crops follow, each epoch), "eval" is
# the test transform's squash and centre crop done once. train/ is stored both ways when a validation
# split is taken from it (its validation images get the test transform).
FORMS = ("augment", "eval")


def default_form(split):
    return "augment" if split == "train" else "eval"


def content_key(dataset, split, image_size, fingerprints, form=None):
    """Hash of every file's content (in label order), the split, how it is stored, the size and the cache
    format.

    ``fingerprints``: {absolute path: sha1 of the file} (``check.file_fingerprints``, which rereads only
    files changed since the last check, so an unchanged folder is not hashed again).
    """
    digest = hashlib.sha1(json.dumps([CACHE_FORMAT, split, form or default_form(split), image_size,
                                      list(dataset.synsets)]).encode())
    for path, label in dataset.items:
        digest.update("{}\0{}\0{}\0".format(os.path.basename(path), label, fingerprints[path]).encode())
    return digest.hexdigest()[:16]


def _preprocess(image, form, image_size):
    if form == "augment":
        return mx.image.resize_short(image, resize_size(image_size))
    # What transforms.Resize(R) (a squash) and transforms.CenterCrop(S) do, done once.
    squashed = mx.image.imresize(image, resize_size(image_size), resize_size(image_size))
    return mx.image.center_crop(squashed, (image_size, image_size))[0]


def build_cache(dataset, folder, split, image_size, quiet=False, form=None):
    """Decode and resize every image of ``dataset`` into ``folder`` (atomically)."""
    with building(folder) as build:
        shapes, chunks = [], []
        for i in tqdm(range(len(dataset)), desc="decoding {} once".format(split), unit="img",
                      disable=not show_progress(quiet)):
            image, _ = dataset[i]  # ImageFolder: names an unreadable file
            array = _preprocess(image, form or default_form(split), image_size).asnumpy()
            shapes.append(array.shape)
            chunks.append(array.reshape(-1))
        pixels = np.concatenate(chunks) if chunks else np.zeros((0,), dtype=np.uint8)
        np.save(os.path.join(build.path, "pixels.npy"), pixels)
        with open(os.path.join(build.path, "index.json"), "w") as f:
            json.dump({"format": CACHE_FORMAT, "split": split, "form": form or default_form(split),
                       "image_size": image_size, "synsets": list(dataset.synsets),
                       "shapes": shapes, "labels": [label for _, label in dataset.items],
                       "paths": [path for path, _ in dataset.items]}, f)
    return folder


def cached_split(data_dir, split, image_size, classes=None, quiet=False, exclude=(), form=None):
    """The split as CachedImages, building the cache on a miss. Returns (dataset, hit).

    ``form``: how the images are stored (FORMS; default: "augment" for train/, "eval" otherwise).
    A damaged cache folder is rebuilt with a warning; after a build, older caches of the same split and
    size (made from files that have changed since) are removed.
    """
    raw = load_split(data_dir, split, classes, exclude)
    root = dataset_root(data_dir)
    fingerprints = {os.path.join(root, *rel.split("/")): sha1 for rel, sha1 in file_fingerprints(root).items()}
    form = form or default_form(split)
    key = content_key(raw, split, image_size, fingerprints, form)
    folder = os.path.join(root, CACHE_FOLDER, "decoded-{}".format(key))
    if os.path.exists(os.path.join(folder, "index.json")):
        try:
            return CachedImages(folder), True
        except DamagedCache as exc:
            log.warning("the decode-once cache %s is damaged (%s); rebuilding it", folder, exc)
            shutil.rmtree(folder)
    build_cache(raw, folder, split, image_size, quiet, form)
    for stale in cache_folders(root):
        if (stale["split"], stale["form"], stale["image_size"]) == (split, form, image_size) and stale["path"] != folder:
            shutil.rmtree(stale["path"], ignore_errors=True)
    return CachedImages(folder), False


def cache_folders(root):
    """[{"path", "split", "form", "image_size", "bytes"}] of the decode-once caches under ``root``."""
    parent = os.path.join(root, CACHE_FOLDER)
    found = []
    for name in sorted(os.listdir(parent)) if os.path.isdir(parent) else []:
        path = os.path.join(parent, name)
        if not name.startswith("decoded-"):
            continue
        try:
            with open(os.path.join(path, "index.json")) as f:
                index = json.load(f)
            split, form, image_size = index["split"], index["form"], index["image_size"]
        except (OSError, ValueError, KeyError):
            split = form = image_size = None  # damaged or half-removed: stale whatever its key
        size = sum(os.path.getsize(os.path.join(path, f)) for f in os.listdir(path))
        found.append({"path": path, "split": split, "form": form, "image_size": image_size, "bytes": size})
    return found


def prune_stale_caches(data_dir):
    """Remove every cache folder that the current files would not use; return [(path, bytes)] removed."""
    root = dataset_root(data_dir)
    fingerprints = {os.path.join(root, *rel.split("/")): sha1 for rel, sha1 in file_fingerprints(root).items()}
    current = {}
    removed = []
    for cache in cache_folders(root):
        wanted = None
        if cache["split"] is not None:
            key_of = (cache["split"], cache["form"], cache["image_size"])
            if key_of not in current:
                try:
                    raw = load_split(data_dir, cache["split"])
                    current[key_of] = "decoded-" + content_key(raw, cache["split"], cache["image_size"],
                                                               fingerprints, cache["form"])
                except HotdogError:
                    current[key_of] = None
            wanted = current[key_of]
        if os.path.basename(cache["path"]) != wanted:
            shutil.rmtree(cache["path"], ignore_errors=True)
            removed.append((cache["path"], cache["bytes"]))
    return removed
