"""Synthetic image folders in the real hotdog layout, deterministic by seed.

Each image shows one "food" drawn from simple parts (a hotdog is a sausage in a bun; the other kinds
are donuts, pizzas, burgers...) on a textured, cluttered background, at a random size, aspect ratio,
position, scale and angle. The target set is hotdog vs not-hotdog; a *source* set with many kinds (the
hotdog among them, as ImageNet has class 934) is what the offline demo pretrains on, so that features
learned there genuinely transfer. File naming follows the real archive: train files ``0.png, 1.png...``
and test files numbered on from ``1000.png``.
"""
import multiprocessing
import os
import pickle
import re
import sys
import zipfile
from concurrent.futures import ProcessPoolExecutor

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

from .._io import atomic_save, sha1_file
from .layout import CLASSES

POOL_MIN_IMAGES = 64  # fewer are drawn in this process: starting workers would cost more than it saves

# Kinds of food a picture can show; "hotdog" is the target's positive class.
FOOD_KINDS = ("hotdog", "donut", "pizza", "burger", "fries", "sushi", "cake", "taco", "skewer", "egg")
NOT_HOTDOG_KINDS = tuple(k for k in FOOD_KINDS if k != "hotdog")
TEST_OFFSET = 1000  # the real archive numbers test images from 1000.png

# The offline demo (experiments/demo.py) generates its target set in a folder named "target-" and a key of
# 10 hex digits, wherever its root is (--demo-root). A run's config.json records that folder as its
# data_dir, which is how `hotdog serve` tells that a model learned from synthetic drawings.
DEMO_TARGET_PREFIX = "target-"
DEMO_KEY_LENGTH = 10
_DEMO_TARGET = re.compile(re.escape(DEMO_TARGET_PREFIX) + "[0-9a-f]{{{}}}".format(DEMO_KEY_LENGTH))


def _color(rng, base, spread=30):
    return tuple(int(np.clip(c + rng.integers(-spread, spread + 1), 0, 255)) for c in base)


def _background(rng, width, height):
    """Noise, a colour gradient and random stripes or blobs: texture that says nothing about the class."""
    base = rng.integers(40, 220, size=3)
    yy, xx = np.mgrid[0:height, 0:width]
    angle = rng.uniform(0, np.pi)
    ramp = (np.cos(angle) * xx + np.sin(angle) * yy) / max(width, height)
    img = base[None, None, :] + 60 * ramp[..., None] * rng.uniform(-1, 1, size=3)
    img = img + rng.normal(0, rng.uniform(5, 25), size=(height, width, 3))
    image = Image.fromarray(np.clip(img, 0, 255).astype(np.uint8))
    draw = ImageDraw.Draw(image)
    for _ in range(rng.integers(3, 12)):  # clutter
        x, y = rng.integers(0, width), rng.integers(0, height)
        r = rng.integers(4, max(5, min(width, height) // 8))
        fill = tuple(int(v) for v in rng.integers(0, 256, size=3))
        if rng.random() < 0.5:
            draw.line([(x, y), (x + rng.integers(-3 * r, 3 * r), y + rng.integers(-3 * r, 3 * r))],
                      fill=fill, width=int(rng.integers(1, 4)))
        else:
            draw.rectangle([x, y, x + r, y + r], outline=fill)
    return image


def _draw_food(draw, kind, rng, s):
    """Draw ``kind`` centred in an ``s``-by-``s`` transparent layer."""
    c = s / 2
    if kind == "hotdog":
        bun, sausage = _color(rng, (222, 170, 100)), _color(rng, (170, 50, 35), 20)
        draw.rounded_rectangle([0.05 * s, c - 0.17 * s, 0.95 * s, c + 0.17 * s], radius=0.16 * s, fill=bun)
        draw.rounded_rectangle([0.0, c - 0.08 * s, s, c + 0.08 * s], radius=0.08 * s, fill=sausage)
        if rng.random() < 0.6:  # mustard zigzag
            pts = [(0.12 * s + i * 0.08 * s, c + (0.03 if i % 2 else -0.03) * s) for i in range(10)]
            draw.line(pts, fill=_color(rng, (235, 200, 40)), width=max(1, int(0.02 * s)))
    elif kind == "donut":
        draw.ellipse([0.1 * s, 0.1 * s, 0.9 * s, 0.9 * s], fill=_color(rng, (200, 130, 70)))
        draw.ellipse([0.18 * s, 0.18 * s, 0.82 * s, 0.82 * s], fill=_color(rng, (230, 120, 170)))
        draw.ellipse([0.38 * s, 0.38 * s, 0.62 * s, 0.62 * s], fill=(0, 0, 0, 0))
    elif kind == "pizza":
        draw.pieslice([0.05 * s, 0.05 * s, 0.95 * s, 0.95 * s], 0, 360 - rng.integers(0, 90),
                      fill=_color(rng, (230, 180, 80)))
        for _ in range(6):
            x, y = rng.uniform(0.3, 0.7, size=2) * s
            draw.ellipse([x - 0.05 * s, y - 0.05 * s, x + 0.05 * s, y + 0.05 * s], fill=_color(rng, (180, 40, 40)))
    elif kind == "burger":
        for i, base in enumerate([(200, 140, 70), (60, 160, 60), (110, 60, 30), (230, 200, 60), (200, 140, 70)]):
            top = 0.2 * s + i * 0.12 * s
            draw.rounded_rectangle([0.12 * s, top, 0.88 * s, top + 0.12 * s], radius=0.05 * s, fill=_color(rng, base))
    elif kind == "fries":
        draw.polygon([(0.25 * s, 0.5 * s), (0.75 * s, 0.5 * s), (0.7 * s, 0.95 * s), (0.3 * s, 0.95 * s)],
                     fill=_color(rng, (200, 30, 30)))
        for i in range(7):
            x = 0.3 * s + i * 0.065 * s
            draw.rectangle([x, 0.15 * s + rng.uniform(0, 0.1) * s, x + 0.04 * s, 0.55 * s],
                           fill=_color(rng, (240, 200, 80)))
    elif kind == "sushi":
        draw.ellipse([0.15 * s, 0.15 * s, 0.85 * s, 0.85 * s], fill=_color(rng, (20, 40, 20), 10))
        draw.ellipse([0.22 * s, 0.22 * s, 0.78 * s, 0.78 * s], fill=_color(rng, (245, 245, 240), 10))
        draw.ellipse([0.38 * s, 0.38 * s, 0.62 * s, 0.62 * s], fill=_color(rng, (240, 120, 80)))
    elif kind == "cake":
        draw.rectangle([0.15 * s, 0.35 * s, 0.85 * s, 0.85 * s], fill=_color(rng, (120, 70, 40)))
        draw.rectangle([0.15 * s, 0.5 * s, 0.85 * s, 0.56 * s], fill=_color(rng, (245, 240, 230)))
        draw.rectangle([0.15 * s, 0.3 * s, 0.85 * s, 0.37 * s], fill=_color(rng, (240, 220, 230)))
        draw.ellipse([0.45 * s, 0.18 * s, 0.55 * s, 0.3 * s], fill=_color(rng, (200, 20, 40)))
    elif kind == "taco":
        draw.chord([0.1 * s, 0.2 * s, 0.9 * s, 1.0 * s], 180, 360, fill=_color(rng, (230, 190, 90)))
        draw.chord([0.2 * s, 0.35 * s, 0.8 * s, 0.9 * s], 180, 360, fill=_color(rng, (80, 170, 60)))
    elif kind == "skewer":
        draw.line([(0.02 * s, c), (0.98 * s, c)], fill=_color(rng, (150, 110, 60)), width=max(1, int(0.03 * s)))
        for i in range(4):
            x = 0.15 * s + i * 0.2 * s
            draw.rectangle([x, c - 0.1 * s, x + 0.13 * s, c + 0.1 * s], fill=_color(rng, (150, 70, 40)))
    elif kind == "egg":
        draw.ellipse([0.1 * s, 0.2 * s, 0.9 * s, 0.8 * s], fill=_color(rng, (250, 250, 245), 8))
        draw.ellipse([0.37 * s, 0.37 * s, 0.63 * s, 0.63 * s], fill=_color(rng, (250, 190, 30)))
    else:
        raise ValueError("unknown food kind {!r}; choose from {}".format(kind, ", ".join(FOOD_KINDS)))


def render_image(kind, rng, size_range=(150, 500)):
    """One RGB PIL image showing ``kind`` at a random place, scale and angle."""
    width, height = (int(v) for v in rng.integers(size_range[0], size_range[1] + 1, size=2))
    image = _background(rng, width, height)
    s = int(min(width, height) * rng.uniform(0.45, 0.85))
    layer = Image.new("RGBA", (s, s), (0, 0, 0, 0))
    _draw_food(ImageDraw.Draw(layer), kind, rng, s)
    layer = layer.rotate(float(rng.uniform(0, 360)), resample=Image.BILINEAR, expand=True)
    x = int(rng.integers(0, max(1, width - layer.width // 2))) - layer.width // 4
    y = int(rng.integers(0, max(1, height - layer.height // 2))) - layer.height // 4
    image.paste(layer, (x, y), layer)
    if rng.random() < 0.3:
        image = image.filter(ImageFilter.GaussianBlur(rng.uniform(0.5, 1.5)))
    return image


def target_kind(cls, rng):
    """The food a target-set image of class ``cls`` shows."""
    return "hotdog" if cls == "hotdog" else NOT_HOTDOG_KINDS[rng.integers(len(NOT_HOTDOG_KINDS))]


def is_demo_target(data_dir):
    """Whether ``data_dir`` is a target set the offline demo generated (by its folder's name)."""
    return bool(_DEMO_TARGET.fullmatch(os.path.basename(os.path.normpath(str(data_dir)))))


def make_image_folder(root, n_train, n_test, seed=0, classes=CLASSES, kind_of=None, size_range=(150, 500),
                      processes=None):
    """Write ``root/{train,test}/{class}/N.png``; return ``{split: {class: count}}``.

    ``kind_of(cls, rng)`` picks the food for one image (a module-level function, so that worker processes
    can run it); by default the hotdog target task (``hotdog`` shows a hotdog, ``not-hotdog`` any other
    food). Every image has its own seed, so the output depends only on the arguments, not on ``processes``
    (default: every core; a few images are drawn in this process).
    """
    kind_of = kind_of or target_kind
    counts, jobs = {}, []
    for split_index, (split, n, offset) in enumerate((("train", n_train, 0), ("test", n_test, TEST_OFFSET))):
        counts[split] = {}
        for class_index, cls in enumerate(classes):
            folder = os.path.join(root, split, cls)
            os.makedirs(folder, exist_ok=True)
            jobs += [(os.path.join(folder, "{}.png".format(offset + i)), kind_of, cls,
                      (seed, split_index, class_index, i), tuple(size_range)) for i in range(n)]
            counts[split][cls] = n
    processes = processes or os.cpu_count() or 1
    if processes > 1 and len(jobs) >= POOL_MIN_IMAGES and _can_send_to_workers(kind_of):
        _draw_in_workers(jobs, processes)
    else:
        for job in jobs:
            _draw_job(job)
    return counts


def _can_send_to_workers(kind_of):
    """Whether worker processes can receive ``kind_of``; if not, the images are drawn in this process instead
    (the same images, more slowly) rather than failing. A lambda or a nested function cannot be pickled; a
    function defined in a notebook or script (``__main__``) is pickled by name, which only a forked worker
    can look up (spawn is the default on macOS and Windows)."""
    try:
        pickle.dumps(kind_of)
    except (pickle.PicklingError, AttributeError, TypeError):
        return False
    return getattr(kind_of, "__module__", None) != "__main__" or multiprocessing.get_start_method() == "fork"


def _draw_in_workers(jobs, processes):
    pool = ProcessPoolExecutor(processes)
    try:
        # Chunks of several images keep the pickling small; several chunks per worker keep all busy; at most
        # 16 images a chunk, so that Ctrl-C waits for little (the same speed as 95 a chunk on the demo's source).
        list(pool.map(_draw_job, jobs, chunksize=min(16, max(1, len(jobs) // (processes * 8)))))
    finally:
        # On Ctrl-C or an error, drop the chunks not yet started instead of drawing them all first (3.9+).
        pool.shutdown(**({"cancel_futures": True} if sys.version_info >= (3, 9) else {}))


def _draw_job(job):
    path, kind_of, cls, seed, size_range = job
    rng = np.random.default_rng(list(seed))
    render_image(kind_of(cls, rng), rng, size_range).save(path, compress_level=1)


def source_kind(cls, rng):
    """The food a source-set image of class ``cls`` shows: its own."""
    return cls


def make_source_folder(root, n_train, n_test, seed=0, kinds=FOOD_KINDS, size_range=(150, 500), processes=None):
    """A many-class *source* set (one class per food kind) for pretraining in the offline demo."""
    return make_image_folder(root, n_train, n_test, seed=seed, classes=tuple(sorted(kinds)), kind_of=source_kind,
                             size_range=size_range, processes=processes)


def make_zip(folder, zip_path, arcname="hotdog"):
    """Zip ``folder`` as ``arcname/...`` (the real archive's layout); return the zip's sha1."""
    def write(path):
        with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as zf:
            for dirpath, dirnames, filenames in os.walk(folder):
                dirnames.sort()
                for name in sorted(filenames):
                    file = os.path.join(dirpath, name)
                    # A fixed timestamp: the same files always give the same zip (and sha1).
                    info = zipfile.ZipInfo(os.path.join(arcname, os.path.relpath(file, folder)), (1980, 1, 1, 0, 0, 0))
                    info.external_attr = 0o644 << 16
                    with open(file, "rb") as f:
                        zf.writestr(info, f.read())

    atomic_save(write, zip_path)
    return sha1_file(zip_path)


def make_synthetic_hotdog(root, n_train=20, n_test=8, seed=0, size_range=(150, 500), zip_path=None):
    """The synthetic target set at ``root`` (layout of ``hotdog/``); with ``zip_path``, also zipped.

    Returns the sha1 of the zip when one is written, else None.
    """
    make_image_folder(root, n_train, n_test, seed=seed, size_range=size_range)
    return make_zip(root, zip_path) if zip_path else None
