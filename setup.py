"""Packaging for hotdog: the D2L "Fine-Tuning" chapter as reusable MXNet Gluon software.

The distribution is called hotdog-finetune ("hotdog" on the package index is an unrelated 2017 testing
framework); the import name and the command stay `hotdog`.
"""
import os
import re

from setuptools import find_packages, setup

HERE = os.path.dirname(os.path.abspath(__file__))


def read_version():
    """The version from hotdog/_version.py, its one place (setup.py must not import the package)."""
    with open(os.path.join(HERE, "hotdog", "_version.py"), encoding="utf-8") as f:
        return re.search(r'^__version__ = "([^"]+)"', f.read(), re.M).group(1)


# Known to work with mxnet 1.9.1 and numpy<1.24; pinned because the export tests compare onnxruntime's answers
# with MXNet's. onnxruntime 1.24.4 has wheels for Python 3.11 only; below that, 1.16.3 (1.17 to 1.23 do not
# resolve with numpy<1.24).
ONNX = ["onnx==1.14.1", "onnxruntime==1.24.4; python_version >= '3.11'",
        "onnxruntime==1.16.3; python_version < '3.11'"]
# `hotdog serve`'s web libraries, an optional extra (the tests install it too): Starlette and uvicorn
# (plain, with its pure-Python h11 parser: no compiled extras) and python-multipart for uploads. Pinned,
# so that a new release cannot change the server without a change here. These releases need Python 3.11+;
# below that pip installs none of them and `hotdog serve` says so.
SERVE = ["starlette==1.10.0; python_version >= '3.11'", "uvicorn==0.54.0; python_version >= '3.11'",
         "python-multipart==0.0.34; python_version >= '3.11'"]

setup(
    name="hotdog-finetune",
    version=read_version(),
    description="Fine-tune vs train-from-scratch on hotdog / not-hotdog (and your own image folders) with MXNet Gluon",
    long_description=open(os.path.join(HERE, "README.md"), encoding="utf-8").read(),
    long_description_content_type="text/markdown",
    packages=find_packages(include=["hotdog", "hotdog.*"]),
    # mxnet 1.9.1 needs numpy < 1.24, and numpy 1.23 has no wheels for Python >= 3.12.
    python_requires=">=3.8,<3.12",
    install_requires=[
        "mxnet==1.9.1",
        "numpy>=1.17,<1.24",
        "gluoncv>=0.10.5",
        "matplotlib>=3.5",  # matplotlib.colormaps (Grad-CAM overlays); Figure-only drawing
        "tqdm>=4.50",
        "requests>=2.20",
        "Pillow>=9.1",  # Image.Transpose and ExifTags.Base (careful decoding, data/images.py)
    ],
    # The page `hotdog serve` shows (HTML, CSS, JS, icon), read with importlib.resources.
    package_data={"hotdog.serve": ["static/*"]},
    extras_require={
        "serve": SERVE,
        # nbclient/nbformat/ipykernel run the classroom notebook in the tests; pinned so that a new
        # release cannot break the notebook test without a change here.
        # import-linter checks that imports run one way (setup.cfg); it needs Python 3.11+, and the test
        # that runs it is skipped below that. selenium drives Chromium in the browser check of
        # `hotdog serve` (skipped when no Chromium is installed).
        # Below Python 3.11 (3.10 for nbclient and nbformat) the newest releases that still install there.
        "test": ["pytest>=7", "pytest-timeout>=2.1",
                 "nbclient==0.11.0; python_version >= '3.10'", "nbclient==0.10.0; python_version < '3.10'",
                 "nbformat==5.11.1; python_version >= '3.10'", "nbformat==5.10.4; python_version < '3.10'",
                 "ipykernel==7.4.0; python_version >= '3.11'", "ipykernel==6.29.5; python_version < '3.11'",
                 "import-linter==2.16; python_version >= '3.11'", "selenium==4.51.0; python_version >= '3.11'"]
                + ONNX + SERVE,
        # hotdog export --format onnx, and the ONNX column of hotdog bench --inference.
        "onnx": ONNX,
    },
    entry_points={"console_scripts": ["hotdog=hotdog.cli:main"]},
    classifiers=[
        "Programming Language :: Python :: 3.8",
        "Programming Language :: Python :: 3.9",
        "Programming Language :: Python :: 3.10",
        "Programming Language :: Python :: 3.11",
    ],
)
