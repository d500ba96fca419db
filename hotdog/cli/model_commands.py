"""Commands that use a model: predict, evaluate, zeroshot."""
import json
import sys

from ..errors import HotdogError
from . import options


def cmd_predict(args):
    import csv

    from ..evaluate.inference import predict_images
    if args.batch_size < 1:
        raise HotdogError("--batch-size must be at least 1 (got {})".format(args.batch_size))
    results = predict_images(args.images, args.model_dir, options.contexts(args), explain_dir=args.explain,
                             batch_size=args.batch_size, tta=args.tta)
    failed = [r for r in results if "error" in r]
    answered = [r for r in results if "error" not in r]
    for r in failed:
        print("{}\terror: {}".format(r["path"], r["detail"]), file=sys.stderr)
    if args.format == "json":
        print(json.dumps(answered, indent=2))
    elif args.format == "csv":
        classes = list(answered[0]["probabilities"]) if answered else []
        writer = csv.writer(sys.stdout, lineterminator="\n")
        writer.writerow(["path", "label", "probability"] + ["p_" + c for c in classes] +
                        (["explanation"] if args.explain else []))
        for r in answered:
            writer.writerow([r["path"], r["label"], "{:.6f}".format(r["probability"])] +
                            ["{:.6f}".format(r["probabilities"][c]) for c in classes] +
                            ([r["explanation"]] if args.explain else []))
    else:
        for r in answered:
            print("{}\t{}\t{:.4f}{}".format(r["path"], r["label"], r["probability"],
                                             "\t" + r["explanation"] if "explanation" in r else ""))
    if failed:
        raise HotdogError("{} of {} file(s) could not be read as images (named above); the others were "
                          "answered".format(len(failed), len(results)))


def cmd_evaluate(args):
    from ..evaluate.inference import evaluate_model
    report = evaluate_model(args.model_dir, options.contexts(args), data_dir=args.data_dir,
                            batch_size=args.batch_size, num_workers=args.workers, split=args.split,
                            skip_bad_images=args.skip_bad_images)
    classes = report["classes"]
    print("{} images in the {} split".format(report["n"], args.split))
    print("accuracy  {:.4f}".format(report["accuracy"]))
    width = max(len(c) for c in classes) + 2
    if len(classes) == 2:  # precision and recall of "the" positive class only mean something for two classes
        print("precision {:.4f}\nrecall    {:.4f}   ({} is the positive class)".format(
            report["precision"], report["recall"], classes[0]))
    else:
        print("per class".ljust(width) + "precision".rjust(11) + "recall".rjust(9))
        for cls, figures in zip(classes, report["per_class"]):
            print(cls.ljust(width) + "{:11.4f}{:9.4f}".format(figures["precision"], figures["recall"]))
    print("confusion matrix (rows: true, columns: predicted)")
    print(" " * width + "".join(c.rjust(width) for c in classes))
    for cls, row in zip(classes, report["confusion"]):
        print(cls.ljust(width) + "".join(str(v).rjust(width) for v in row))


def cmd_export(args):
    from ..evaluate.deploy import export_run
    info = export_run(args.model_dir, args.out, options.contexts(args), fmt=args.format, int8=args.int8,
                      calibration_images=args.calibration_images, overwrite=args.overwrite,
                      skip_bad_images=args.skip_bad_images)
    print("exported {} ({}{}) to {}: {}".format(args.model_dir, info["format"], ", int8" if info["int8"] else "",
                                                 args.out, ", ".join(info["files"])))
    check = info.get("int8_check")
    if check:
        print("int8 vs float32 on {} test images: accuracy {:.4f} -> {:.4f}; {:.1f} -> {:.1f} images/s ({:.2f}x, "
              "batch {})".format(check["test_images"], check["fp32_test_acc"], check["int8_test_acc"],
                                 check["fp32_images_per_sec"], check["int8_images_per_sec"],
                                 check["int8_images_per_sec"] / check["fp32_images_per_sec"], check["batch_size"]))


def cmd_interpret(args):
    import os

    from ..evaluate.interpret import interpret_run
    from ..experiments.interpretation import write_interpretation
    result = interpret_run(args.model_dir, options.contexts(args), data_dir=args.data_dir, split=args.split,
                           top=args.top, suspect_threshold=args.suspect_threshold, batch_size=args.batch_size,
                           skip_bad_images=args.skip_bad_images)
    out = args.out or os.path.join(args.model_dir, "interpret")
    write_interpretation(result, out, result["image_size"])
    print("{} images of the {} split, accuracy {:.4f}; written to {}".format(result["images"], args.split,
                                                                           result["accuracy"], out))
    for true, predicted, count in result["most_confused"][:5]:
        print("  {} taken for {}: {}".format(true, predicted, count))
    print("{} training image(s) the model calls another class with probability >= {:g}: {}".format(
        len(result["suspects"]), args.suspect_threshold, os.path.join(out, "suspect_labels.csv")))


def cmd_zeroshot(args):
    from ..evaluate.zeroshot import zeroshot
    from ..models.zoo import pretrained_net
    from ..train.devices import describe
    ctx = options.contexts(args)
    net = pretrained_net(args.model, args.pretrained_params, ctx)
    net.hybridize()
    report = zeroshot(net, args.data_dir, image_size=args.image_size, batch_size=args.batch_size, ctx=ctx,
                      imagenet_class=args.imagenet_class, threshold=args.threshold, num_workers=args.workers,
                      split=args.split)
    print("zero-shot {} on the {} split ({} images, {}): ImageNet class {} '{}', rule: {}".format(
        args.model, args.split, report["n"], describe(ctx), report["imagenet_class"],
        report["imagenet_class_name"], report["rule"]))
    print("accuracy  {:.4f}\nprecision {:.4f}\nrecall    {:.4f}".format(
        report["accuracy"], report["precision"], report["recall"]))


def add_commands(sub):
    p = sub.add_parser(
        "zeroshot", help="use the untouched ImageNet net as a hotdog detector",
        description="Evaluate the 1000-class pretrained net on hotdog / not-hotdog without training: an "
                    "image is 'hotdog' when ImageNet's hotdog class wins the argmax (or passes --threshold).",
        epilog="The book's exercise uses row 713, which is 'photocopier' in ImageNet-1k; 'hotdog' is 934. "
               "Pass --imagenet-class 713 to reproduce the book verbatim.")
    options.add_data_dir(p)
    options.add_model(p)
    options.add_eval_options(p)
    options.add_devices(p)
    p.add_argument("--imagenet-class", default="hotdog", metavar="NAME|ROW",
                   help="ImageNet class: a name, a synset or a row number; default: %(default)s (row 934)")
    p.add_argument("--threshold", type=float, metavar="P",
                   help="call it hotdog when that class's probability is at least P (default: when it wins the argmax)")
    p.add_argument("--split", default="test", choices=["train", "test"], help="default: %(default)s")
    p.set_defaults(func=cmd_zeroshot)

    p = sub.add_parser(
        "export", help="write a servable model: preprocessing inside, MXNet or ONNX, float32 or int8",
        description="Export a `hotdog train` run folder so that it can be used without this package. The graph "
                    "takes uint8 RGB images (batch, S, S, 3) and does the normalisation and the softmax inside; "
                    "preprocessing.json states the resize and crop to do before it (squash to round(S*256/224), "
                    "centre crop S). The folder also holds labels.json and export.json. Load it with plain MXNet "
                    "(mx.gluon.SymbolBlock.imports) or onnxruntime: see the README.",
        epilog="int8: MKLDNN post-training quantization calibrated on training images; the command scores the "
               "test split before and after and prints both accuracies and speeds. `hotdog predict --model-dir "
               "EXPORT` uses an export folder too.")
    p.add_argument("--model-dir", required=True, metavar="RUN", help="a `hotdog train` output folder")
    p.add_argument("--out", required=True, metavar="DIR", help="the export folder to write (written whole, or not at all)")
    p.add_argument("--format", default="mxnet", choices=["mxnet", "onnx"],
                   help="mxnet: symbol + params; onnx: model.onnx, checked with onnxruntime (needs "
                        "pip install 'hotdog-finetune[onnx]'); default: %(default)s")
    p.add_argument("--int8", action="store_true", help="quantize to int8 (MXNet format only)")
    p.add_argument("--calibration-images", type=int, default=256, metavar="N",
                   help="training images to calibrate int8 on; default: %(default)s")
    p.add_argument("--overwrite", action="store_true", help="replace an existing --out (once the new export is whole)")
    options.add_skip_bad_images(p)
    options.add_devices(p)
    p.set_defaults(func=cmd_export)

    p = sub.add_parser(
        "interpret", help="what a trained model gets wrong: confusion, top losses, suspect labels",
        description="Score a run's test split and its training images with the final model and write into "
                    "--out: confusion.png, top_losses.png (the worst images with what the model said), "
                    "interpret.json (every figure, the most-confused pairs) and suspect_labels.csv (training "
                    "images the model confidently calls another class: a wrong label or a stray photo?).")
    p.add_argument("--model-dir", required=True, metavar="RUN", help="a `hotdog train` output folder")
    p.add_argument("--out", metavar="DIR", help="default: RUN/interpret (replaced if it exists)")
    p.add_argument("--data-dir", metavar="DIR", help="dataset to look at; default: the one it was trained on")
    p.add_argument("--split", default="test", choices=["train", "test"], help="for the confusion and the top "
                   "losses; default: %(default)s")
    p.add_argument("--top", type=int, default=16, metavar="N", help="images in the top-losses grid; default: %(default)s")
    p.add_argument("--suspect-threshold", type=float, default=0.9, metavar="P",
                   help="a training image is suspect when the model gives another class at least P; default: "
                        "%(default)s")
    p.add_argument("--batch-size", type=int, default=64, help="default: %(default)s")
    options.add_skip_bad_images(p)
    options.add_devices(p)
    p.set_defaults(func=cmd_interpret)

    p = sub.add_parser("predict", help="classify images with a trained model",
                       description="Print each image's label and probability (tab-separated), preprocessed like "
                                   "the test split. Every readable image is answered; each unreadable one is "
                                   "named on stderr, and the exit status is then 1.")
    p.add_argument("images", nargs="+", metavar="IMAGE",
                   help="image files, folders (searched recursively for .jpg, .jpeg, .png) or glob patterns "
                        "such as 'photos/**/*.jpg' (quoted, so that the shell leaves them alone)")
    p.add_argument("--model-dir", required=True, metavar="DIR",
                   help="a `hotdog train` output folder, or a `hotdog export` folder")
    p.add_argument("--batch-size", type=int, default=32, help="images per forward pass; default: %(default)s")
    p.add_argument("--format", default="tsv", choices=["tsv", "csv", "json"],
                   help="tsv: path, label, probability a line (the default); csv: with every class's probability "
                        "and a header; json: a list of answers with every class's probability")
    p.add_argument("--tta", action="store_true",
                   help="test-time augmentation: also look at each image mirrored left-right and average the two")
    p.add_argument("--explain", metavar="DIR",
                   help="also write a Grad-CAM overlay per answered image into DIR (where the net looked: red), "
                        "its path printed after the probability; run folders only")
    options.add_devices(p)
    p.set_defaults(func=cmd_predict)

    p = sub.add_parser("evaluate", help="accuracy, precision, recall and confusion matrix of a trained model")
    p.add_argument("--model-dir", required=True, metavar="DIR", help="a `hotdog train` output folder")
    p.add_argument("--data-dir", metavar="DIR", help="dataset to evaluate on; default: the one it was trained on")
    p.add_argument("--split", default="test", choices=["train", "test"], help="default: %(default)s")
    p.add_argument("--batch-size", type=int, default=64, help="default: %(default)s")
    p.add_argument("--workers", type=int, default=0, help="data-loading worker processes; default: %(default)s")
    options.add_skip_bad_images(p)
    options.add_devices(p)
    p.set_defaults(func=cmd_evaluate)
