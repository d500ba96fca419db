"""Check an image folder before training: every problem found in one pass and named, one line each.

``check_dataset(root)`` walks ``root/{train,test}/<class>/``, reads every image file completely (with
``images.inspect_image``, on two processes) and returns a JSON-serialisable report:

  errors    stop training: layout problems (missing splits, too few classes, test classes that differ
            from train's, empty class folders), unreadable files, images over the pixel limit;
  warnings  do not: the same image in train/ and test/, or in two classes; images smaller than the crop;
            files that are not read (.gif, .DS_Store, notes.txt...); a large class imbalance;
and what is fine as it is: modes converted to RGB, photos turned upright from EXIF, copies within a class.

``format_report(report)`` renders it for people. What was learnt about each file is remembered in
``root/.cache/check-v1.json`` against its size and modification time, so checking an unchanged folder
again opens no image; ``file_fingerprints(root)`` gives the content hashes from the same memo.
"""
import contextlib
import hashlib
import json
import logging
import os
import tempfile
import time
from collections import Counter, defaultdict
from concurrent.futures import ProcessPoolExecutor

import PIL
from tqdm import tqdm

from ..errors import HotdogError
from .images import CANNOT_READ, DEFAULT_MAX_PIXELS, TOO_LARGE, inspect_image
from .layout import IMAGE_EXTENSIONS, SPLITS, val_folder

log = logging.getLogger(__name__)

# What the loader (folders.ImageFolder, like Gluon's ImageFolderDataset) reads, by extension,
# case-insensitive. Anything else is skipped by the loader, so it is listed as "not read", not opened.
# Warn when train/'s largest class has this many times the images of its smallest. At 10:1 always
# answering the large class already scores 91%, so accuracy stops saying much about the small one, and
# it gets a tenth of the gradient updates; milder imbalance is common in real folders and trains fine.
IMBALANCE_WARNING_RATIO = 10
# Below this many files to open, starting worker processes costs more than it saves.
POOL_MIN_FILES = 64
MEMO_FORMAT = 1
MEMO_PATH = os.path.join(".cache", "check-v{}.json".format(MEMO_FORMAT))
# format_report shows at most this many lines of one kind of warning (the report has them all).
MAX_LINES_PER_WARNING = 20


def check_dataset(root, image_size=224, max_pixels=DEFAULT_MAX_PIXELS, processes=2, memo=True):
    """Everything wrong with the image folder ``root``, found at once; never raises for a bad folder.

    ``image_size``: the training crop; smaller images get a warning. ``max_pixels``: larger images are
    errors (not decoded). ``processes``: worker processes for opening images. ``memo``: reuse and update
    ``root/.cache/check-v1.json``.

    The report (JSON-serialisable; paths relative to ``root``, with "/"):
      ok             True when training can proceed: no errors
      errors         [{"kind": "layout" | "unreadable" | "too large", "message"}], one per problem
      warnings       [{"kind": "across splits" | "different classes" | "small" | "not read" | "imbalance",
                     "message"}], one per problem
      classes        train/'s class folders; counts: {split: {class: number of image files}}
      unreadable     [{"path", "reason", "message"}], reasons as in hotdog.images (too large included)
      ignored_files  files and subfolders the loader skips; image_extensions: what it reads
      duplicates     [{"sha1", "paths", "kind": "across splits" | "different classes" | "same class"}]
      modes          {mode: number of images converted from it to RGB}
      exif_rotated   paths turned upright; small: [{"path", "width", "height"}] under the crop
      imbalance      {"ratio", "threshold", "largest", "largest_count", "smallest", "smallest_count"} of
                     train/, or None; root, image_size, max_pixels: what was checked
      stats          {"images", "opened", "remembered" (from the memo), "seconds"}
    """
    started = time.perf_counter()
    layout = _scan(root)
    results, opened = _inspect(root, layout["images"], max_pixels, processes, memo)
    report = _report(root, layout, results, image_size, max_pixels)
    report["stats"] = {"images": len(results), "opened": opened, "remembered": len(results) - opened,
                       "seconds": round(time.perf_counter() - started, 3)}
    log.debug("checked %s: %s", root, report["stats"])
    return report


def file_fingerprints(root):
    """{relative path: sha1 of the file's bytes} for every image file of ``root``'s layout.

    Files unchanged since the last check are not read again (their sha1 comes from the check's memo);
    a file that cannot be read maps to None.
    """
    remembered = _load_memo(root).get("files", {})
    fingerprints = {}
    for rel in _scan(root)["images"]:
        entry = _fresh_entry(remembered, rel, _stat(root, rel))
        fingerprints[rel] = entry["result"]["sha1"] if entry else _sha1_of_file(_abs(root, rel))
    return fingerprints


# ----------------------------------------------------------------------------------------------------
# Walking the layout


def _scan(root):
    """The folder structure, without opening any image.

    Returns {"errors": layout problems, "classes": {split: [class, ...]}, "counts": {split: {class: number
    of image files}}, "images": [relative path, ...], "ignored": [relative path, ...]}. Entries starting
    with "." (.cache/, .DS_Store) at the split level are not classes and are skipped.
    """
    layout = {"errors": [], "classes": {}, "counts": {}, "images": [], "ignored": []}
    errors = layout["errors"]
    if not os.path.isdir(root):
        errors.append("{} is not a folder; expected {}/train/<class>/ and {}/test/<class>/ with images "
                      "inside".format(root, root, root))
        return layout
    val = val_folder(root)
    for split in SPLITS + ((val,) if val else ()):
        if not os.path.isdir(os.path.join(root, split)):
            errors.append("missing folder {}/: expected {}/<class>/ folders of images, with the same classes "
                          "in train/ and test/".format(split, split))
            continue
        classes = []
        for name in _listdir(root, split, errors):
            if name.startswith("."):
                continue
            if os.path.isdir(_abs(root, "{}/{}".format(split, name))):
                classes.append(name)
            else:
                layout["ignored"].append("{}/{}".format(split, name))
        layout["classes"][split] = classes
        layout["counts"][split] = {cls: _scan_class(root, split, cls, layout) for cls in classes}
    train = layout["classes"].get("train")
    if train is not None and len(train) < 2:
        errors.append("train/ needs at least two class folders (found: {})".format(", ".join(train) or "none"))
    for other in [split for split in layout["classes"] if split != "train"] if train is not None else []:
        # Labels are the sorted folder names of each split: a class missing from test/ shifts them.
        classes = layout["classes"][other]
        missing, extra = sorted(set(train) - set(classes)), sorted(set(classes) - set(train))
        if missing:
            errors.append("{}/ lacks the class folder(s) {} that train/ has; both need the same classes".format(
                other, ", ".join(missing)))
        if extra:
            errors.append("{}/ has class folder(s) {} that train/ does not; both need the same classes".format(
                other, ", ".join(extra)))
    return layout


def _scan_class(root, split, cls, layout):
    """Sort ``split/cls/`` into images and ignored entries; returns the number of image files."""
    names = _listdir(root, "{}/{}".format(split, cls), layout["errors"])
    n_images = 0
    for name in names:
        rel = "{}/{}/{}".format(split, cls, name)
        if os.path.isdir(_abs(root, rel)):
            layout["ignored"].append(rel + "/")  # the loader does not look into subfolders
        elif os.path.splitext(name)[1].lower() in IMAGE_EXTENSIONS:
            layout["images"].append(rel)
            n_images += 1
        else:
            layout["ignored"].append(rel)
    if n_images == 0:
        layout["errors"].append("{}/{}/ has no images ({}){}; add some or remove the folder".format(
            split, cls, ", ".join(IMAGE_EXTENSIONS), ", only {} other file(s)".format(len(names)) if names else ""))
    return n_images


def _listdir(root, rel, errors):
    try:
        return sorted(os.listdir(_abs(root, rel)))
    except OSError as exc:
        errors.append("cannot list {}/ ({}); check its permissions".format(rel, exc.strerror or exc))
        return []


def _abs(root, rel):
    return os.path.join(root, *rel.split("/"))


# ----------------------------------------------------------------------------------------------------
# Opening every image, or remembering it


def _inspect(root, rels, max_pixels, processes, memo):
    """({relative path: inspect_image result}, number of files opened)."""
    remembered = {}
    if memo:
        saved = _load_memo(root)
        # Results depend on the pixel limit and on what Pillow can decode: reuse them only when both match.
        if saved.get("max_pixels") == max_pixels and saved.get("pillow") == PIL.__version__:
            remembered = saved.get("files", {})
    stats = {rel: _stat(root, rel) for rel in rels}
    results, to_open = {}, []
    for rel in rels:
        entry = _fresh_entry(remembered, rel, stats[rel])
        if entry:
            results[rel] = entry["result"]
        else:
            to_open.append(rel)
    results.update(zip(to_open, _open_all(root, to_open, max_pixels, processes)))
    if memo:
        # A file that could not be read (permissions, a disk error) may become readable without changing
        # its size or modification time: it is not remembered, so it is tried again next time.
        files = {rel: {"size": stats[rel][0], "mtime_ns": stats[rel][1], "result": results[rel]}
                 for rel in rels if stats[rel] is not None and results[rel]["reason"] != CANNOT_READ}
        if files != remembered:
            _save_memo(root, {"format": MEMO_FORMAT, "max_pixels": max_pixels, "pillow": PIL.__version__,
                              "files": files})
    return {rel: results[rel] for rel in rels}, len(to_open)


def _open_all(root, rels, max_pixels, processes):
    """inspect_image for each file, in order; on worker processes unless there are only a few."""
    jobs = [(_abs(root, rel), rel, max_pixels) for rel in rels]
    if processes > 1 and len(jobs) >= POOL_MIN_FILES:
        with ProcessPoolExecutor(processes) as pool:
            # Chunks of several files keep the pickling overhead small; several chunks per worker keep
            # both busy until the end.
            chunksize = max(1, len(jobs) // (processes * 8))
            return _with_progress(pool.map(_inspect_job, jobs, chunksize=chunksize), len(jobs))
    return _with_progress(map(_inspect_job, jobs), len(jobs))


def _inspect_job(job):
    path, rel, max_pixels = job
    return inspect_image(path, max_pixels, name=rel)


def _with_progress(results, total):
    # disable=None: a progress bar on a terminal only, nothing in logs and pipes.
    return list(tqdm(results, total=total, desc="checking images", unit="img", disable=None, leave=False))


def _stat(root, rel):
    """(size, mtime_ns), or None if the file cannot be stat'ed (inspect_image will then say why)."""
    try:
        st = os.stat(_abs(root, rel))
    except OSError:
        return None
    return st.st_size, st.st_mtime_ns


def _fresh_entry(remembered, rel, stat):
    """The memo entry of ``rel`` if the file still has the size and modification time it had then."""
    entry = remembered.get(rel)
    if entry and stat is not None and (entry.get("size"), entry.get("mtime_ns")) == stat:
        return entry
    return None


def _load_memo(root):
    try:
        with open(os.path.join(root, MEMO_PATH)) as f:
            memo = json.load(f)
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:  # unreadable or damaged: start afresh, it is only a memo
        log.debug("ignoring the check memo in %s (%s)", root, exc)
        return {}
    return memo if isinstance(memo, dict) and memo.get("format") == MEMO_FORMAT else {}


def _save_memo(root, memo):
    """Write the memo atomically (a temporary file in the same folder, then renamed over the old one), so a
    crash or a concurrent check never leaves a half-written memo. On a read-only dataset, skip it."""
    folder = os.path.join(root, os.path.dirname(MEMO_PATH))
    try:
        os.makedirs(folder, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".check-", suffix=".tmp", dir=folder)
    except OSError as exc:
        log.debug("not remembering the check of %s: cannot write in %s (%s)", root, folder, exc)
        return
    try:
        with os.fdopen(fd, "w") as f:
            json.dump(memo, f)
        os.replace(tmp, os.path.join(root, MEMO_PATH))
    except OSError as exc:
        log.debug("not remembering the check of %s (%s)", root, exc)
        with contextlib.suppress(OSError):
            os.unlink(tmp)


def _sha1_of_file(path):
    digest = hashlib.sha1()
    try:
        with open(path, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                digest.update(block)
    except OSError:
        return None
    return digest.hexdigest()


# ----------------------------------------------------------------------------------------------------
# The report


def _report(root, layout, results, image_size, max_pixels):
    errors = [{"kind": "layout", "message": message} for message in layout["errors"]]
    warnings = []
    unreadable = [{"path": rel, "reason": r["reason"], "message": r["message"]}
                  for rel, r in results.items() if not r["ok"]]
    for item in unreadable:
        errors.append({"kind": TOO_LARGE if item["reason"] == TOO_LARGE else "unreadable",
                       "message": item["message"]})

    readable = {rel: r for rel, r in results.items() if r["ok"]}
    duplicates = _duplicates(readable)
    for group in duplicates:
        if group["kind"] == "across splits":
            warnings.append({"kind": "across splits", "message": "{}: the same image in two splits (test "
                             "accuracy would be inflated); keep one copy".format(" = ".join(group["paths"]))})
        elif group["kind"] == "different classes":
            warnings.append({"kind": "different classes", "message": "{}: the same image in two classes; keep "
                             "it in the right one".format(" = ".join(group["paths"]))})

    small = [{"path": rel, "width": r["width"], "height": r["height"]}
             for rel, r in readable.items() if min(r["width"], r["height"]) < image_size]
    for item in small:
        warnings.append({"kind": "small", "message": "{}: {} x {} px, smaller than the {} px crop (it will be "
                         "upscaled, so blurry)".format(item["path"], item["width"], item["height"], image_size)})

    for rel in layout["ignored"]:
        warnings.append({"kind": "not read", "message": "{}: not read ({})".format(rel, _why_ignored(rel))})

    imbalance = _imbalance(layout["counts"].get("train", {}))
    if imbalance and imbalance["ratio"] >= IMBALANCE_WARNING_RATIO:
        warnings.append({"kind": "imbalance", "message": "train/ is imbalanced {:g}:1: {} has {} images, {} only "
                         "{} (accuracy will mostly reflect {}); add {} images if you can".format(
                             imbalance["ratio"], imbalance["largest"], imbalance["largest_count"],
                             imbalance["smallest"], imbalance["smallest_count"], imbalance["largest"],
                             imbalance["smallest"])})

    return {
        "root": os.path.abspath(root),
        "ok": not errors,
        "errors": errors,
        "warnings": warnings,
        "classes": layout["classes"].get("train", []),
        "counts": layout["counts"],
        "image_extensions": list(IMAGE_EXTENSIONS),
        "image_size": image_size,
        "max_pixels": max_pixels,
        "unreadable": unreadable,
        "ignored_files": layout["ignored"],
        "duplicates": duplicates,
        "modes": dict(sorted(Counter(r["mode"] for r in readable.values() if r["converted"]).items())),
        "exif_rotated": [rel for rel, r in readable.items() if r["exif_rotated"]],
        "small": small,
        "imbalance": imbalance,
    }


def _why_ignored(rel):
    if rel.count("/") == 1:
        return "not in a class folder"
    if rel.endswith("/"):
        return "a folder inside a class folder: the loader does not look into those"
    return "only {} files are read".format(", ".join(IMAGE_EXTENSIONS))


def _duplicates(readable):
    """Groups of files with the same bytes: [{"sha1", "paths", "kind"}], kind being "across splits",
    "different classes" (within a split) or "same class"."""
    by_sha1 = defaultdict(list)
    for rel, result in readable.items():
        by_sha1[result["sha1"]].append(rel)
    groups = []
    for sha1, paths in sorted(by_sha1.items(), key=lambda item: sorted(item[1])):
        if len(paths) < 2:
            continue
        splits = {p.split("/")[0] for p in paths}
        classes = {p.split("/")[1] for p in paths}
        kind = "across splits" if len(splits) > 1 else "different classes" if len(classes) > 1 else "same class"
        groups.append({"sha1": sha1, "paths": sorted(paths), "kind": kind})
    return groups


def _imbalance(train_counts):
    """Largest over smallest class of train/, or None without two classes that have images."""
    counted = {cls: n for cls, n in train_counts.items() if n > 0}
    if len(counted) < 2:
        return None
    largest = max(counted, key=counted.get)
    smallest = min(counted, key=counted.get)
    return {"ratio": round(counted[largest] / counted[smallest], 2), "threshold": IMBALANCE_WARNING_RATIO,
            "largest": largest, "largest_count": counted[largest],
            "smallest": smallest, "smallest_count": counted[smallest]}


# format_report's headings, in the order shown.
_ERROR_HEADINGS = {
    "layout": "layout",
    "unreadable": "unreadable files",
    TOO_LARGE: "images over the pixel limit",
}
_WARNING_HEADINGS = {
    "across splits": "the same image in two splits",
    "different classes": "the same image in two classes",
    "small": "images smaller than the crop",
    "not read": "files that are not read",
    "imbalance": "class imbalance",
}


def format_report(report):
    """The report for people: a summary, then errors and warnings grouped by kind with counts, one line each."""
    lines = ["{}: {}".format(report["root"], _summary(report))]
    lines += _grouped("error", report["errors"], _ERROR_HEADINGS, limit=None)
    lines += _grouped("warning", report["warnings"], _WARNING_HEADINGS, limit=MAX_LINES_PER_WARNING)
    notes = []
    if report["modes"]:
        notes.append("images converted to RGB, by mode: " + ", ".join(
            "{}: {}".format(mode, n) for mode, n in report["modes"].items()))
    if report["exif_rotated"]:
        notes.append("turned upright from their EXIF orientation: {}".format(len(report["exif_rotated"])))
    same_class = [g for g in report["duplicates"] if g["kind"] == "same class"]
    if same_class:
        notes.append("copies of the same image within a class: {} group(s)".format(len(same_class)))
    if notes:
        lines.append("fine as they are:")
        lines += ["  " + note for note in notes]
    stats = report.get("stats")
    if stats:
        lines.append("{} images checked in {:.1f} s ({} opened, {} unchanged since the last check)".format(
            stats["images"], stats["seconds"], stats["opened"], stats["remembered"]))
    if report["ok"]:
        lines.append("OK: training can use this folder")
    else:
        lines.append("NOT OK: fix the {} error(s) above, then check again".format(len(report["errors"])))
    return "\n".join(lines)


def _summary(report):
    parts = []
    for split, counts in report["counts"].items():
        parts.append("{} {} images ({})".format(split, sum(counts.values()), ", ".join(
            "{} {}".format(cls, n) for cls, n in counts.items()) or "no classes"))
    if report["imbalance"]:
        parts.append("imbalance {:g}:1".format(report["imbalance"]["ratio"]))
    return "; ".join(parts) or "nothing to check"


def _grouped(severity, problems, headings, limit):
    if not problems:
        return []
    by_kind = defaultdict(list)
    for problem in problems:
        by_kind[problem["kind"]].append(problem["message"])
    lines = ["{} {}(s):".format(len(problems), severity)]
    for kind, messages in sorted(by_kind.items(), key=lambda item: list(headings).index(item[0])):
        lines.append("  {} ({}):".format(headings[kind], len(messages)))
        shown = messages[:limit]
        lines += ["    " + message for message in shown]
        if len(shown) < len(messages):
            lines.append("    ... and {} more (`hotdog check --json FILE` lists them all)".format(len(messages) - len(shown)))
    return lines


# ----------------------------------------------------------------------------------------------------
# Before training: refuse with the whole list, or leave the unreadable files out


class DatasetProblems(HotdogError):
    """The image folder has problems that stop training; the message lists every one."""

    def __init__(self, message, report):
        super().__init__(message)
        self.report = report


def require_usable(root, image_size=224, skip_bad_images=False, max_pixels=DEFAULT_MAX_PIXELS):
    """Check ``root`` the way ``hotdog check`` does (an unchanged folder opens no image) before it is used.

    Problems that stop training raise DatasetProblems listing all of them at once. With
    ``skip_bad_images``, unreadable and oversized images are left out instead (one warning line); layout
    problems still stop. Warnings (duplicates across splits, imbalance...) are logged. Returns the
    absolute paths of the images to leave out.
    """
    report = check_dataset(root, image_size=image_size, max_pixels=max_pixels)
    bad_files = {TOO_LARGE, "unreadable"}
    blocking = [e for e in report["errors"] if not (skip_bad_images and e["kind"] in bad_files)]
    if blocking:
        raise DatasetProblems("{} cannot be used as it is:\n{}\nFix the files above and run again{}.".format(
            root, format_report(report), "" if any(e["kind"] not in bad_files for e in blocking) else
            " (or pass --skip-bad-images to leave the unreadable images out)"), report)
    by_kind = defaultdict(list)
    for warning in report["warnings"]:
        by_kind[warning["kind"]].append(warning["message"])
    for kind, messages in by_kind.items():
        if kind in ("across splits", "imbalance"):  # worth reading every time: they change what results mean
            for message in messages:
                log.warning("%s", message)
        else:
            log.warning("%s: %d (`hotdog check` lists them)", _WARNING_HEADINGS.get(kind, kind), len(messages))
    skipped = [_abs(root, item["path"]) for item in report["unreadable"]]
    if skipped:
        log.warning("leaving out %d unreadable image(s) (--skip-bad-images): %s", len(skipped),
                    ", ".join(item["path"] for item in report["unreadable"]))
    return skipped
