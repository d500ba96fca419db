#!/usr/bin/env python
"""Decoding speed: hotdog.images.decode_image (Pillow, checked, EXIF-aware) against MXNet's
mx.image.imread(...).asnumpy() (OpenCV), one image after the other, on the same generated files.

    python benchmarks/decode_speed.py                 # 100 images: 50 PNG, 50 JPEG, 150-500 px a side
    python benchmarks/decode_speed.py --count 400 --repeat 5

Each decoder reads every file of a format ``--repeat`` times; the best pass counts (the files are in the
page cache after the first). It also prints how far apart the two decoders' pixels are.
"""
import argparse
import os
import tempfile
import time

import numpy as np
from PIL import Image

import hotdog  # noqa: F401 - sets OMP_NUM_THREADS before mxnet is imported
import mxnet as mx
from hotdog.data.images import decode_image


def make_images(folder, count, seed=0):
    """``count`` photo-like images, alternately PNG and JPEG: {".png": [paths], ".jpg": [paths]}.

    Smooth random colour fields plus noise compress roughly like photos do (flat colour or pure noise
    would flatter or punish one codec).
    """
    rng = np.random.default_rng(seed)
    paths = {".png": [], ".jpg": []}
    for i in range(count):
        width, height = (int(n) for n in rng.integers(150, 501, size=2))
        field = Image.fromarray(rng.integers(0, 256, size=(6, 6, 3), dtype=np.uint8)).resize(
            (width, height), Image.Resampling.BICUBIC)
        noise = rng.normal(0, 8, size=(height, width, 3))
        image = Image.fromarray(np.clip(np.asarray(field) + noise, 0, 255).astype(np.uint8))
        ext = ".png" if i % 2 else ".jpg"
        path = os.path.join(folder, "{:04d}{}".format(i, ext))
        image.save(path)  # JPEG at Pillow's default quality, 75
        paths[ext].append(path)
    return paths


def images_per_second(decode, paths, repeat):
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        for path in paths:
            decode(path)
        best = min(best, time.perf_counter() - start)
    return len(paths) / best


def mxnet_decode(path):
    return mx.image.imread(path).asnumpy()  # asnumpy waits for MXNet's asynchronous decode


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=100, help="images to generate, half PNG, half JPEG")
    parser.add_argument("--repeat", type=int, default=3, help="passes per decoder; the best one counts")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        paths = make_images(folder, args.count)
        mxnet_decode(paths[".jpg"][0])  # start MXNet's engine outside the timing
        print("{:<6} {:>7} {:>14} {:>14} {:>8} {:>13}".format(
            "format", "images", "Pillow img/s", "MXNet img/s", "ratio", "mean |diff|"))
        for ext, files in paths.items():
            pillow = images_per_second(decode_image, files, args.repeat)
            mxnet = images_per_second(mxnet_decode, files, args.repeat)
            diff = np.mean([np.abs(decode_image(p).astype(int) - mxnet_decode(p)).mean() for p in files])
            print("{:<6} {:>7} {:>14.0f} {:>14.0f} {:>7.2f}x {:>13.3f}".format(
                ext[1:].upper(), len(files), pillow, mxnet, pillow / mxnet, diff))
        print("ratio = Pillow / MXNet speed (above 1: Pillow is faster); mean |diff| in 0-255 pixel units")


if __name__ == "__main__":
    main()
