#!/usr/bin/env python
"""Does the offline demo show transfer learning, reliably and in time? Runs `hotdog compare --demo` for
several seeds, each from an empty cache (data generation + source pretraining + comparison), and prints
the wall time and the final test accuracy of every strategy, then the peak memory of the largest run.

    python benchmarks/demo_seeds.py                 # seeds 0 1 2, finetune vs scratch
    python benchmarks/demo_seeds.py --seeds 0 1 2 3 --strategies finetune,scratch,frozen
"""
import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--strategies", default="finetune,scratch")
    args = parser.parse_args()
    rows = []
    for seed in args.seeds:
        with tempfile.TemporaryDirectory() as tmp:
            out = os.path.join(tmp, "out")
            tic = time.time()
            subprocess.run([sys.executable, "-m", "hotdog", "compare", "--demo", "--seed", str(seed), "-q",
                            "--strategies", args.strategies, "--out", out, "--demo-root", os.path.join(tmp, "demo")],
                           check=True)
            seconds = time.time() - tic
            with open(os.path.join(out, "results.json")) as f:
                results = json.load(f)
        accs = {r["name"]: r.get("final_test_acc") for r in results["strategies"]}
        rows.append((seed, seconds, accs))
        print("seed {}: {:.0f}s  {}".format(seed, seconds, "  ".join(
            "{} {:.3f}".format(k, v) for k, v in accs.items())), flush=True)
    names = list(rows[0][2])
    print("\n| seed | wall time (s) | " + " | ".join(names) + " |")
    print("|---|---|" + "---|" * len(names))
    for seed, seconds, accs in rows:
        print("| {} | {:.0f} | {} |".format(seed, seconds, " | ".join("{:.3f}".format(accs[n]) for n in names)))
    # ru_maxrss of the children: the largest resident set any one run reached (kilobytes on Linux)
    print("\npeak resident memory of one run: {:.0f} MiB".format(
        resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024))


if __name__ == "__main__":
    main()
