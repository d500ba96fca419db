"""Careful decoding (hotdog.data.images) and the dataset check (hotdog.data.check), on real files built from
matplotlib's sample photo of Grace Hopper: every mode, EXIF-rotated photos, broken files, bombs."""
import errno
import hashlib
import io
import json
import os
import stat
import struct
import time
import warnings
import zlib
from concurrent.futures import ProcessPoolExecutor

import matplotlib
import numpy as np
import pytest
from PIL import Image, ImageFile

from hotdog.data import check
from hotdog.data.check import check_dataset, file_fingerprints, format_report
from hotdog.data.images import UnreadableImage, decode_image, inspect_image

PHOTO_PATH = os.path.join(matplotlib.get_data_path(), "sample_data", "grace_hopper.jpg")
# Not square, so that an image on its side has a different shape.
WIDTH, HEIGHT = 48, 64
ORIENTATION = 0x0112


@pytest.fixture(scope="module")
def photo():
    """Grace Hopper's face, upright, WIDTH x HEIGHT RGB."""
    with Image.open(PHOTO_PATH) as im:
        return im.convert("RGB").crop((100, 40, 400, 440)).resize((WIDTH, HEIGHT), Image.Resampling.LANCZOS)


def encode(im, fmt="PNG", **params):
    buffer = io.BytesIO()
    im.save(buffer, fmt, **params)
    return buffer.getvalue()


def write(path, data):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(data)


def palette_image(photo, transparent):
    """A P image with a 4-colour palette (index 0 fully transparent when ``transparent``), and the RGB
    pixels its palette gives (what decoding must return, transparent or not)."""
    palette = np.array([[250, 10, 10], [10, 250, 10], [10, 10, 250], [200, 200, 30]], dtype=np.uint8)
    indices = (np.asarray(photo.convert("L")) // 64).astype(np.uint8)
    im = Image.fromarray(indices, "P")
    im.putpalette(palette.reshape(-1).tolist())
    params = {"transparency": bytes([0, 255, 128, 255])} if transparent else {}
    return encode(im, **params), palette[indices]


def sixteen_bit_png(values):
    return encode(Image.fromarray(np.asarray(values, dtype=np.uint16)))


# ----------------------------------------------------------------------------------------------------
# decode_image: modes


def mode_cases(photo):
    """{name: (file bytes, the RGB pixels decode_image must give, or a tolerance for lossy JPEG)}."""
    rgb = np.asarray(photo)
    gray = np.asarray(photo.convert("L"))
    gray3 = np.repeat(gray[:, :, None], 3, axis=2)
    rgba = np.dstack([rgb, np.full(gray.shape, 255, np.uint8)])
    rgba[: HEIGHT // 2, :, 3] = 0  # fully transparent top half: its colours must survive
    bits = gray > 128
    # Uses the low byte too: gray * 257 - 100 (clipped at 0) divided by 257 rounds back to gray.
    sixteen = np.clip(gray.astype(np.int64) * 257 - 100, 0, None).astype(np.uint16)
    return {
        "L": (encode(photo.convert("L")), gray3),
        "LA": (encode(photo.convert("LA")), gray3),
        "P": palette_image(photo, transparent=False),
        "P with transparency": palette_image(photo, transparent=True),
        "RGBA": (encode(Image.fromarray(rgba, "RGBA")), rgb),
        "I;16": (encode(Image.fromarray(sixteen)), gray3),
        "1": (encode(Image.fromarray(bits).convert("1")), np.repeat(np.where(bits, 255, 0)[:, :, None], 3, 2)),
        "CMYK JPEG": (encode(photo.convert("CMYK"), "JPEG", quality=95), rgb),
    }


@pytest.mark.parametrize("name", ["L", "LA", "P", "P with transparency", "RGBA", "I;16", "1", "CMYK JPEG"])
def test_every_mode_decodes_to_rgb(photo, name):
    data, expected = mode_cases(photo)[name]
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no Pillow warning (e.g. about palette transparency) escapes
        pixels = decode_image(data)
    assert pixels.shape == (HEIGHT, WIDTH, 3) and pixels.dtype == np.uint8
    if name == "CMYK JPEG":  # lossy: close to the photo (inverted CMYK would be ~100 off)
        assert np.abs(pixels.astype(int) - expected).mean() < 4
    else:
        np.testing.assert_array_equal(pixels, expected)


def test_sixteen_bit_gray_is_scaled_not_clipped():
    pixels = decode_image(sixteen_bit_png([[0, 257, 32768, 65535, 200]]))
    np.testing.assert_array_equal(pixels[0, :, 0], [0, 1, 128, 255, 1])  # convert("RGB") gives 200 for 200


def test_inspect_reports_mode_and_conversion(tmp_path, photo):
    path = tmp_path / "gray.png"
    write(str(path), encode(photo.convert("L")))
    info = inspect_image(str(path))
    assert info == {"ok": True, "reason": None, "message": None, "width": WIDTH, "height": HEIGHT, "mode": "L",
                    "converted": True, "exif_rotated": False, "sha1": hashlib.sha1(path.read_bytes()).hexdigest()}


# ----------------------------------------------------------------------------------------------------
# decode_image: EXIF orientation

# What a camera stored for each Orientation value, given the upright scene: the inverse of the turn a
# viewer applies (6: "rotate 90 degrees clockwise to view", so the camera stored it turned anticlockwise).
STORED_FROM_UPRIGHT = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_90,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_270,
}


def exif_rotated(photo, orientation, fmt="PNG"):
    exif = Image.Exif()
    exif[ORIENTATION] = orientation
    return encode(photo.transpose(STORED_FROM_UPRIGHT[orientation]), fmt, exif=exif)


@pytest.mark.parametrize("orientation", sorted(STORED_FROM_UPRIGHT))
def test_exif_orientation_gives_the_upright_pixels(photo, orientation):
    np.testing.assert_array_equal(decode_image(exif_rotated(photo, orientation)), np.asarray(photo))


def test_exif_rotated_jpeg_phone_photo(tmp_path, photo):
    path = str(tmp_path / "portrait.jpg")
    write(path, exif_rotated(photo, 6, "JPEG"))
    with Image.open(path) as stored:
        assert stored.size == (HEIGHT, WIDTH)  # on its side in the file
        turned = np.asarray(stored.transpose(Image.Transpose.ROTATE_270))  # 6: turn 90 degrees clockwise
    pixels = decode_image(path)
    np.testing.assert_array_equal(pixels, turned)
    assert np.abs(pixels.astype(int) - np.asarray(photo)).mean() < 10  # the photo, up to JPEG loss
    info = inspect_image(path)
    assert (info["exif_rotated"], info["width"], info["height"]) == (True, WIDTH, HEIGHT)


def test_damaged_exif_still_turns_the_photo_without_warnings(photo):
    # Orientation 6, then a tag that points past the end of the block (Pillow warns and skips it).
    tiff = (b"MM\x00*" + struct.pack(">IH", 8, 2) + struct.pack(">HHIHH", ORIENTATION, 3, 1, 6, 0)
            + struct.pack(">HHII", 0x010F, 2, 100, 0x1000) + struct.pack(">I", 0))
    data = encode(photo.transpose(STORED_FROM_UPRIGHT[6]), "PNG", exif=b"Exif\x00\x00" + tiff)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a warning reaching the user would be an exception here
        pixels = decode_image(data)
    np.testing.assert_array_equal(pixels, np.asarray(photo))


# ----------------------------------------------------------------------------------------------------
# decode_image: bad files


def png_claiming(width, height, pixel_data=zlib.compress(b"\0" * 64)):
    """A well-formed PNG whose header claims width x height RGB, with only ``pixel_data`` as pixel data."""
    def chunk(kind, body):
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", pixel_data) + chunk(b"IEND", b""))


def bad_files(photo):
    png, jpeg = encode(photo), encode(photo, "JPEG")
    return {
        "empty file": b"",
        "not an image": b"just some notes, not a picture\n",
        "truncated": png[: len(png) // 2],
        "truncated JPEG": jpeg[: len(jpeg) // 2],
        "corrupt": png_claiming(WIDTH, HEIGHT, pixel_data=b"this is not a zlib stream" * 4),
    }


@pytest.mark.parametrize("case", ["empty file", "not an image", "truncated", "truncated JPEG", "corrupt"])
def test_bad_files_are_named_with_a_reason(tmp_path, photo, case):
    path = str(tmp_path / "photos" / "a.png")
    write(path, bad_files(photo)[case])
    with pytest.raises(UnreadableImage) as raised:
        decode_image(path)
    reason = "truncated" if case == "truncated JPEG" else case
    assert (raised.value.path, raised.value.reason) == (path, reason)
    assert str(raised.value).startswith(path + ": ")
    assert raised.value.exit_code == 1
    info = inspect_image(path, name="photos/a.png")  # the checker's view: no exception, the same reason
    assert (info["ok"], info["reason"]) == (False, reason) and info["message"].startswith("photos/a.png: ")


def test_truncated_is_refused_even_if_someone_allowed_padding(photo, monkeypatch):
    monkeypatch.setattr(ImageFile, "LOAD_TRUNCATED_IMAGES", True)
    with pytest.raises(UnreadableImage, match="truncated"):
        decode_image(bad_files(photo)["truncated"])
    assert ImageFile.LOAD_TRUNCATED_IMAGES is True  # put back for whoever set it


def test_unreadable_path_and_bytes_are_named(tmp_path):
    with pytest.raises(UnreadableImage) as raised:
        decode_image(str(tmp_path / "missing.png"))
    assert raised.value.reason == "cannot read" and "missing.png" in str(raised.value)
    with pytest.raises(UnreadableImage, match="^upload.png: empty file"):
        decode_image(b"", name="upload.png")


@pytest.fixture
def decoded(monkeypatch):
    """The sizes of the images whose pixel data gets decoded (ImageFile.load allocates their memory)."""
    calls = []
    real_load = ImageFile.ImageFile.load

    def spy(self):
        calls.append(self.size)
        return real_load(self)

    monkeypatch.setattr(ImageFile.ImageFile, "load", spy)
    return calls


def test_decoding_spy_sees_decoding(decoded):
    decode_image(png_claiming(4, 4, zlib.compress(b"\0" * 13 * 4)))
    assert decoded and set(decoded) == {(4, 4)}  # (load is called again, as a no-op, by later steps)


def test_too_large_is_refused_from_the_header(decoded):
    start = time.perf_counter()
    with pytest.raises(UnreadableImage) as raised:
        decode_image(png_claiming(2000, 1500), max_pixels=1_000_000, name="scan.png")
    assert time.perf_counter() - start < 0.5
    assert raised.value.reason == "too large"
    assert str(raised.value).startswith("scan.png: 2000 x 1500 = 3,000,000 pixels is over the limit of 1,000,000")
    assert "max_pixels" in str(raised.value)
    assert decoded == []


def test_decompression_bomb_refused_quickly_without_allocating(decoded):
    # 30000 x 30000 x 3 bytes would be 2.7 GB; Pillow itself refuses it inside Image.open.
    start = time.perf_counter()
    with pytest.raises(UnreadableImage) as raised:
        decode_image(png_claiming(30000, 30000), max_pixels=1_000_000, name="bomb.png")
    assert time.perf_counter() - start < 0.5
    assert raised.value.reason == "too large"
    assert "bomb.png: 900,000,000 pixels is over the limit of 1,000,000" in str(raised.value)
    # With our limit above Pillow's, Pillow's refusal is still ours to explain.
    with pytest.raises(UnreadableImage) as raised:
        decode_image(png_claiming(30000, 30000), max_pixels=10 ** 10, name="bomb.png")
    assert raised.value.reason == "too large"
    assert "Pillow's own limit" in str(raised.value) and "PIL.Image.MAX_IMAGE_PIXELS" in str(raised.value)
    assert decoded == []


def test_pillow_bomb_warning_becomes_our_check(decoded):
    # 100 MP: over Pillow's warning threshold (89 MP), under its refusal; our limit decides, silently.
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a warning reaching the user would be an exception here
        filters_before = list(warnings.filters)
        with pytest.raises(UnreadableImage, match="10000 x 10000 = 100,000,000 pixels is over the limit"):
            decode_image(png_claiming(10000, 10000), max_pixels=50_000_000)
        assert warnings.filters == filters_before  # no process-wide change left behind
    assert decoded == []


# ----------------------------------------------------------------------------------------------------
# check_dataset: a real, messy folder

BAD = {  # relative path: reason
    "train/hotdog/truncated.png": "truncated",
    "train/hotdog/empty.png": "empty file",
    "train/hotdog/text.png": "not an image",
    "train/hotdog/huge.png": "too large",
}
IGNORED = {  # relative path: why, as the warning says
    "train/hotdog/.DS_Store": "only .jpg, .jpeg, .png files are read",
    "train/hotdog/anim.gif": "only .jpg, .jpeg, .png files are read",
    "train/hotdog/notes.txt": "only .jpg, .jpeg, .png files are read",
    "train/hotdog/more/": "a folder inside a class folder",
    "train/readme.md": "not in a class folder",
}
CROP = 32
LIMIT = 10_000  # pixels; the photos are 48 x 64 = 3072, huge.png 120 x 100


def make_messy_folder(root, photo):
    cases = mode_cases(photo)
    files = {
        "train/hotdog/upright.jpeg": encode(photo, "JPEG"),
        "train/hotdog/UPPER.JPG": encode(photo.rotate(5), "JPEG"),  # extensions are case-insensitive
        "train/hotdog/mode_L.png": cases["L"][0],
        "train/hotdog/mode_P.png": cases["P"][0],
        "train/hotdog/mode_P_transparent.png": cases["P with transparency"][0],
        "train/hotdog/mode_RGBA.png": cases["RGBA"][0],
        "train/hotdog/mode_I16.png": cases["I;16"][0],
        "train/hotdog/mode_CMYK.jpg": cases["CMYK JPEG"][0],
        "train/hotdog/mode_1.png": cases["1"][0],
        "train/hotdog/rotated.png": exif_rotated(photo, 6),
        "train/hotdog/rotated.jpg": exif_rotated(photo, 8, "JPEG"),
        "train/hotdog/tiny.png": encode(photo.resize((16, 40))),  # too narrow for the crop
        "train/hotdog/truncated.png": bad_files(photo)["truncated"],
        "train/hotdog/empty.png": b"",
        "train/hotdog/text.png": b"my notes about hotdogs\n",
        "train/hotdog/huge.png": encode(photo.resize((120, 100))),
        "train/hotdog/.DS_Store": b"\0\0\0\1Bud1",
        "train/hotdog/notes.txt": b"todo: more photos\n",
        "train/hotdog/anim.gif": encode(photo, "GIF"),
        "train/hotdog/more/extra.jpg": encode(photo.rotate(33), "JPEG"),
        "train/readme.md": b"# my photos\n",
        "train/.DS_Store": b"\0\0\0\1Bud1",  # hidden, beside the classes: skipped silently
        "train/.cache/decoded/index.json": b"{}",  # a hidden folder: not a class
        "train/not-hotdog/shared.png": encode(photo.rotate(180)),
        "test/not-hotdog/shared.png": encode(photo.rotate(180)),  # the same bytes in both splits
    }
    for i in range(3):
        files["train/not-hotdog/{}.jpg".format(i)] = encode(photo.rotate(90 + 10 * i), "JPEG")
        files["test/hotdog/{}.jpg".format(i)] = encode(photo.rotate(-10 * i - 3), "JPEG")
    files["test/not-hotdog/0.jpg"] = encode(photo.rotate(120), "JPEG")
    for rel, data in files.items():
        write(os.path.join(root, *rel.split("/")), data)


def test_check_finds_every_problem_at_once(tmp_path, photo):
    root = str(tmp_path / "photos")
    make_messy_folder(root, photo)
    report = check_dataset(root, image_size=CROP, max_pixels=LIMIT, processes=1)

    assert report["ok"] is False
    assert {u["path"]: u["reason"] for u in report["unreadable"]} == BAD
    for item in report["unreadable"]:
        assert item["message"].startswith(item["path"] + ": ")
    assert "120 x 100 = 12,000 pixels is over the limit of 10,000" in next(
        u["message"] for u in report["unreadable"] if u["reason"] == "too large")
    assert sorted(e["kind"] for e in report["errors"]) == ["too large", "unreadable", "unreadable", "unreadable"]
    assert sorted(report["ignored_files"]) == sorted(IGNORED)
    not_read = {w["message"].split(":")[0]: w["message"] for w in report["warnings"] if w["kind"] == "not read"}
    assert sorted(not_read) == sorted(IGNORED)
    for rel, why in IGNORED.items():
        assert why in not_read[rel]
    assert report["classes"] == ["hotdog", "not-hotdog"]
    assert report["counts"] == {"train": {"hotdog": 16, "not-hotdog": 4}, "test": {"hotdog": 3, "not-hotdog": 2}}
    assert [(d["kind"], d["paths"]) for d in report["duplicates"]] == [
        ("across splits", ["test/not-hotdog/shared.png", "train/not-hotdog/shared.png"])]
    assert any("test accuracy would be inflated" in w["message"] for w in report["warnings"])
    assert report["modes"] == {"1": 1, "CMYK": 1, "I;16": 1, "L": 1, "P": 2, "RGBA": 1}
    assert report["exif_rotated"] == ["train/hotdog/rotated.jpg", "train/hotdog/rotated.png"]
    assert report["small"] == [{"path": "train/hotdog/tiny.png", "width": 16, "height": 40}]
    assert report["imbalance"]["ratio"] == 4 and not any(w["kind"] == "imbalance" for w in report["warnings"])
    assert json.loads(json.dumps(report)) == report

    text = format_report(report)
    for rel in list(BAD) + list(IGNORED) + ["train/hotdog/tiny.png", "test/not-hotdog/shared.png"]:
        assert rel in text
    assert "unreadable files (3):" in text and "NOT OK" in text and "Traceback" not in text

    for rel in BAD:
        os.remove(os.path.join(root, *rel.split("/")))
    fixed = check_dataset(root, image_size=CROP, max_pixels=LIMIT, processes=1)
    assert fixed["ok"] is True and fixed["errors"] == [] and fixed["unreadable"] == []
    assert fixed["warnings"] and format_report(fixed).endswith("OK: training can use this folder")


def test_worker_processes_give_the_same_report(tmp_path, photo, monkeypatch):
    root = str(tmp_path / "photos")
    make_messy_folder(root, photo)
    alone = check_dataset(root, image_size=CROP, max_pixels=LIMIT, processes=1, memo=False)
    pools = []

    class RecordingPool(ProcessPoolExecutor):
        def __init__(self, *args, **kwargs):
            pools.append(args)
            super().__init__(*args, **kwargs)

    monkeypatch.setattr(check, "POOL_MIN_FILES", 1)
    monkeypatch.setattr(check, "ProcessPoolExecutor", RecordingPool)
    pooled = check_dataset(root, image_size=CROP, max_pixels=LIMIT, processes=2, memo=False)
    assert pools == [(2,)]
    for report in (alone, pooled):
        report.pop("stats")
    assert pooled == alone


def test_layout_problems_are_listed_together(tmp_path, photo):
    root = tmp_path / "own"
    for rel in ("train/cats/1.png", "train/cats/2.png", "test/cats/1.png", "test/birds/1.png"):
        write(str(root / rel), encode(photo.rotate(len(rel))))
    (root / "train" / "dogs").mkdir()
    (root / "train" / ".cache").mkdir()
    write(str(root / "train" / "dogs" / "notes.txt"), b"dogs go here")
    report = check_dataset(str(root), processes=1)
    assert report["ok"] is False
    assert [e["message"] for e in report["errors"]] == [
        "train/dogs/ has no images (.jpg, .jpeg, .png), only 1 other file(s); add some or remove the folder",
        "test/ lacks the class folder(s) dogs that train/ has; both need the same classes",
        "test/ has class folder(s) birds that train/ does not; both need the same classes",
    ]

    lonely = tmp_path / "lonely"
    write(str(lonely / "train" / "cats" / "1.png"), encode(photo))
    messages = [e["message"] for e in check_dataset(str(lonely), processes=1)["errors"]]
    assert messages[0].startswith("missing folder test/")
    assert messages[1] == "train/ needs at least two class folders (found: cats)"

    nowhere = check_dataset(str(tmp_path / "nowhere"))
    assert nowhere["ok"] is False and "is not a folder" in nowhere["errors"][0]["message"]
    assert "NOT OK" in format_report(nowhere)


@pytest.mark.parametrize("n_large, warned", [(9, False), (10, True)])
def test_imbalance_warning(tmp_path, n_large, warned):
    root = tmp_path / "imbalanced"
    colours = [(i * 20, 255 - i * 20, 7) for i in range(n_large + 2)]  # all different: no duplicates
    for i in range(n_large):
        write(str(root / "train" / "big" / "{}.png".format(i)), encode(Image.new("RGB", (8, 8), colours[i])))
    for split, name, colour in (("train", "small", -1), ("test", "big", -2), ("test", "small", -2)):
        write(str(root / split / name / "0.png"), encode(Image.new("RGB", (8, 8), colours[colour])))
    report = check_dataset(str(root), image_size=8, processes=1)
    assert report["imbalance"]["ratio"] == n_large
    assert report["ok"] is True
    assert any(w["kind"] == "imbalance" and "train/ is imbalanced" in w["message"]
               for w in report["warnings"]) is warned


# ----------------------------------------------------------------------------------------------------
# The memo


@pytest.fixture
def opened(monkeypatch):
    """The relative paths that check_dataset opens, in order."""
    calls = []
    real = check.inspect_image

    def spy(path, max_pixels, name):
        calls.append(name)
        return real(path, max_pixels, name=name)

    monkeypatch.setattr(check, "inspect_image", spy)
    return calls


def small_folder(root, photo):
    for split in ("train", "test"):
        for cls in ("a", "b"):
            write(os.path.join(root, split, cls, "0.png"), encode(photo.rotate(len(split) * 10 + len(cls))))


def test_memo_skips_unchanged_files_and_reopens_changed_ones(tmp_path, photo, opened):
    root = str(tmp_path / "photos")
    small_folder(root, photo)
    first = check_dataset(root, processes=1)
    assert len(opened) == 4 and first["stats"]["opened"] == 4
    assert os.listdir(os.path.join(root, ".cache")) == ["check-v1.json"]  # no temporary file left behind

    opened.clear()
    second = check_dataset(root, processes=1)
    assert opened == [] and second["stats"] == dict(second["stats"], opened=0, remembered=4)
    assert {k: v for k, v in second.items() if k != "stats"} == {k: v for k, v in first.items() if k != "stats"}

    changed = os.path.join(root, "train", "b", "0.png")
    write(changed, b"overwritten by a text editor")
    third = check_dataset(root, processes=1)
    assert opened == ["train/b/0.png"]
    assert [u["path"] for u in third["unreadable"]] == ["train/b/0.png"]

    opened.clear()
    check_dataset(root, processes=1, max_pixels=10_000)  # another limit: the old results do not apply
    assert len(opened) == 4


def test_fingerprints_reuse_the_memo(tmp_path, photo, monkeypatch):
    root = str(tmp_path / "photos")
    small_folder(root, photo)
    expected = {}
    for split in ("train", "test"):
        for cls in ("a", "b"):
            with open(os.path.join(root, split, cls, "0.png"), "rb") as f:
                expected["{}/{}/0.png".format(split, cls)] = hashlib.sha1(f.read()).hexdigest()
    assert file_fingerprints(root) == expected  # no memo yet: hashed from the files
    check_dataset(root, processes=1)
    monkeypatch.setattr(check, "_sha1_of_file", None)  # with the memo, no file is read
    assert file_fingerprints(root) == expected


def test_damaged_memo_is_ignored(tmp_path, photo, opened):
    root = str(tmp_path / "photos")
    small_folder(root, photo)
    write(os.path.join(root, ".cache", "check-v1.json"), b"{not json")
    assert check_dataset(root, processes=1)["ok"] is True and len(opened) == 4
    opened.clear()
    check_dataset(root, processes=1)
    assert opened == []  # rewritten properly


def test_read_only_folder_is_checked_without_a_memo(tmp_path, photo, monkeypatch, caplog):
    root = str(tmp_path / "photos")
    small_folder(root, photo)

    def read_only(*args, **kwargs):
        raise OSError(errno.EROFS, "Read-only file system")

    # chmod alone does not stop root (as in containers) from writing; a read-only mount is what is meant.
    monkeypatch.setattr(check.tempfile, "mkstemp", read_only)
    modes = {}
    for folder, _, _ in os.walk(root):
        modes[folder] = os.stat(folder).st_mode
        os.chmod(folder, stat.S_IMODE(modes[folder]) & ~0o222)
    try:
        with caplog.at_level("DEBUG", logger="hotdog.data.check"):
            report = check_dataset(root, processes=1)
    finally:
        for folder, mode in modes.items():
            os.chmod(folder, stat.S_IMODE(mode))
    assert report["ok"] is True and report["stats"]["opened"] == 4
    assert not os.path.exists(os.path.join(root, ".cache", "check-v1.json"))
    assert any("not remembering" in record.getMessage() for record in caplog.records)


def test_format_report_shortens_long_warning_lists_but_never_errors(tmp_path, photo):
    root = str(tmp_path / "photos")
    small_folder(root, photo)
    report = check_dataset(root, processes=1)
    report["warnings"] = [{"kind": "small", "message": "train/a/{}.png: small".format(i)} for i in range(25)]
    report["errors"] = [{"kind": "unreadable", "message": "train/a/bad{}.png: corrupt".format(i)} for i in range(25)]
    text = format_report(report)
    assert "train/a/19.png: small" in text and "train/a/20.png" not in text
    assert "... and 5 more (`hotdog check --json FILE` lists them all)" in text
    assert all("train/a/bad{}.png".format(i) in text for i in range(25))
