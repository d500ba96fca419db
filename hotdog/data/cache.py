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
a stale hit. It is written to a temporary folder and renamed, so a crash leaves no half-cache.
"""
import hashlib
import json
import os

import mxnet as mx
import numpy as np
from mxnet.gluon.data import Dataset
from tqdm import tqdm

from .._io import building, show_progress, update_sha1
from .folders import dataset_root, load_split
from .transforms import resize_size

CACHE_FORMAT = 2


class CachedImages(Dataset):
    """(uint8 HxWx3 NDArray, label) items from a cache folder, memory-mapped."""

    def __init__(self, folder):
        with open(os.path.join(folder, "index.json")) as f:
            index = json.load(f)
        self.synsets = index["synsets"]
        self._shapes = [tuple(s) for s in index["shapes"]]
        self._offsets = np.cumsum([0] + [int(np.prod(s)) for s in self._shapes])
        self._labels = index["labels"]
        self.paths = index["paths"]
        self._pixels = np.load(os.path.join(folder, "pixels.npy"), mmap_mode="r")

    def __len__(self):
        return len(self._labels)

    def __getitem__(self, idx):
        start, stop = self._offsets[idx], self._offsets[idx + 1]
        image = np.array(self._pixels[start:stop]).reshape(self._shapes[idx])
        return mx.nd.array(image, dtype="uint8"), self._labels[idx]


def content_key(dataset, split, image_size):
    """Hash of every file's bytes (in label order), the split, the size and the cache format."""
    digest = hashlib.sha1(json.dumps([CACHE_FORMAT, split, image_size, list(dataset.synsets)]).encode())
    for path, label in dataset.items:
        digest.update("{}\0{}\0".format(os.path.basename(path), label).encode())
        update_sha1(digest, path)
    return digest.hexdigest()[:16]


def _preprocess(image, split, image_size):
    if split == "train":
        return mx.image.resize_short(image, resize_size(image_size))
    # What transforms.Resize(R) (a squash) and transforms.CenterCrop(S) do, done once.
    squashed = mx.image.imresize(image, resize_size(image_size), resize_size(image_size))
    return mx.image.center_crop(squashed, (image_size, image_size))[0]


def build_cache(dataset, folder, split, image_size, quiet=False):
    """Decode and resize every image of ``dataset`` into ``folder`` (atomically)."""
    with building(folder) as build:
        shapes, chunks = [], []
        for i in tqdm(range(len(dataset)), desc="decoding {} once".format(split), unit="img",
                      disable=not show_progress(quiet)):
            image, _ = dataset[i]  # ImageFolder: names an unreadable file
            array = _preprocess(image, split, image_size).asnumpy()
            shapes.append(array.shape)
            chunks.append(array.reshape(-1))
        pixels = np.concatenate(chunks) if chunks else np.zeros((0,), dtype=np.uint8)
        np.save(os.path.join(build.path, "pixels.npy"), pixels)
        with open(os.path.join(build.path, "index.json"), "w") as f:
            json.dump({"format": CACHE_FORMAT, "split": split, "image_size": image_size, "synsets": list(dataset.synsets),
                       "shapes": shapes, "labels": [label for _, label in dataset.items],
                       "paths": [path for path, _ in dataset.items]}, f)
    return folder


def cached_split(data_dir, split, image_size, classes=None, quiet=False):
    """The split as CachedImages, building the cache on a miss. Returns (dataset, hit)."""
    raw = load_split(data_dir, split, classes)
    key = content_key(raw, split, image_size)
    folder = os.path.join(dataset_root(data_dir), ".cache", "decoded-{}".format(key))
    hit = os.path.exists(os.path.join(folder, "index.json"))
    if not hit:
        build_cache(raw, folder, split, image_size, quiet)
    return CachedImages(folder), hit

