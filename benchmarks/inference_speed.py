#!/usr/bin/env python
"""Inference speed of an exported resnet18_v2: fp32 MXNet, int8 MXNet and onnxruntime fp32, in one run.

    python benchmarks/inference_speed.py                    # 224 px, batch 32
    python benchmarks/inference_speed.py --image-size 112 --rounds 5

All three take uint8 NHWC images and return probabilities (the normalisation and softmax are in the graph,
see hotdog/models/export.py). ONNX needs `pip install onnx==1.14.1 onnxruntime==1.24.4`; without it, --no-onnx.
"""
import argparse
import os
import platform
import sys

# run from a checkout without installing it
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--image-size", type=int, default=224)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=3, help="the engines take turns this many times")
    parser.add_argument("--iterations", type=int, default=5, help="batches per engine per round")
    parser.add_argument("--no-onnx", action="store_true", help="skip onnxruntime")
    parser.add_argument("--threads", type=int, default=None,
                        help="compute threads for MXNet and onnxruntime alike (default: all cores)")
    args = parser.parse_args(argv)
    if args.threads:
        os.environ["OMP_NUM_THREADS"] = str(args.threads)  # read once, when mxnet is imported (below)
    from hotdog.models.export import benchmark_inference  # first: hotdog sets OMP_NUM_THREADS to all cores if unset
    import mxnet as mx

    print("resnet18_v2, batch {}, {} px, uint8 NHWC in, probabilities out; {} cores, OMP_NUM_THREADS={}, "
          "mxnet {}, Python {}; load average {:.1f}".format(
              args.batch_size, args.image_size, os.cpu_count(), os.environ.get("OMP_NUM_THREADS"), mx.__version__,
              platform.python_version(), os.getloadavg()[0]))
    if not args.no_onnx:
        try:
            import onnxruntime
            print("onnxruntime", onnxruntime.__version__)
        except ImportError:
            pass
    benchmark_inference(image_size=args.image_size, batch_size=args.batch_size, rounds=args.rounds,
                        iterations=args.iterations, with_onnx=not args.no_onnx, onnx_threads=args.threads)
    print("load average {:.1f} (other processes share the cores: compare the ratios, not the speeds)".format(
        os.getloadavg()[0]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
