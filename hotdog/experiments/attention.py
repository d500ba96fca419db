"""The classroom picture of what transfer learning changes: the same test images, one row per strategy,
each with its Grad-CAM overlay (where that net looked) and its answer."""
import os

import mxnet as mx

from ..data.folders import load_split
from ..data.images import decode_image
from ..data.transforms import tensor_transform
from ..evaluate.gradcam import grad_cam, overlay
from ..evaluate.inference import load_trained
from ..models.export import preprocess_image
from .plots import image_grid, save_figure


def pick_images(data_dir, classes, exclude=(), n=6):
    """``n`` test images, as even across the classes as ``n`` allows, the first of each class (a fixed choice,
    so every strategy and every run shows the same ones)."""
    test = load_split(data_dir, "test", classes, exclude)
    by_class = [[path for path, label in test.items if label == i] for i in range(len(classes))]
    chosen, depth = [], 0
    while len(chosen) < n and any(depth < len(paths) for paths in by_class):
        chosen += [(paths[depth], label) for label, paths in enumerate(by_class) if depth < len(paths)]
        depth += 1
    return chosen[:n]


def save_attention_grid(results, out_dir, data_dir, ctx, exclude=(), n=6, name="attention.png"):
    """OUT/attention.png for a comparison's results (strategies that failed are left out); returns its
    path, or None when no strategy succeeded."""
    rows = [row for row in results["strategies"] if row["status"] == "ok"]
    if not rows:
        return None
    images, titles, chosen = [], [], None
    to_tensor = tensor_transform()
    for row in rows:
        net, config = load_trained(os.path.join(out_dir, row["out_dir"]), ctx)
        classes = config["classes"]
        chosen = chosen or pick_images(data_dir, classes, exclude, n)
        for path, label in chosen:
            crop = preprocess_image(decode_image(path), config["image_size"])
            x = to_tensor(mx.nd.array(crop, dtype="uint8")).expand_dims(axis=0).as_in_context(ctx[0])
            heat, best, probs = grad_cam(net, x)
            images.append(overlay(crop, heat))
            titles.append("{}\n{}: {} {:.2f}".format("true: " + classes[label], row["name"], classes[best], probs[best]))
    fig = image_grid(images, len(rows), len(chosen), titles, scale=2.0)
    fig.suptitle("Grad-CAM: where each strategy's net looked (red) on the same test images", fontsize=9)
    return save_figure(fig, os.path.join(out_dir, name))
