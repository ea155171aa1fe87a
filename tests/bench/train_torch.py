#!/usr/bin/env python3
"""train_torch.py: `gradc train examples/digits_mlp.expr` in PyTorch, for
train_torch.sh. The same network and data: X = P/16 (N = 1797 rows of
examples/digits.csv), H = tanh(X @ V' + b) with 32 units, Z = H @ W' + c,
J = mean cross-entropy of softmax(Z) against the digit (gradc's
-mean(sum(onehot(label, 10) * log_softmax(Z, 1), 1))); V, W ~ N(0, 0.1^2),
b, c = 0; Adam (lr 0.01, betas 0.9 and 0.999, eps 1e-8, as gradc's) on the
whole data, float64, for STEPS steps.

  train_torch.py DIGITS.csv [--steps S] [--reps R] [--threads T] [--json OUT]

Prints, per run, the wall and CPU (process) seconds from reading the CSV
to the last step (`import torch` not counted) and the final loss; then the
medians. Exits 0 with a message when PyTorch is missing (python3-torch is
for this benchmark only, never for the tests)."""
import csv
import json
import statistics
import sys
import time

try:
    import torch
except ImportError:
    print("train_torch.py: skipped: PyTorch is missing "
          "(Debian: apt-get install python3-torch)")
    sys.exit(0)


def load(path):
    with open(path, newline="") as f:
        rows = list(csv.reader(f))
    head = rows[0]
    cols = [head.index("p%d" % i) for i in range(64)]
    lab = head.index("digit")
    P = torch.tensor([[float(r[i]) for i in cols] for r in rows[1:]], dtype=torch.float64)
    label = torch.tensor([int(float(r[lab])) for r in rows[1:]], dtype=torch.long)
    return P, label


def run(path, steps, seed):
    t0, c0 = time.perf_counter(), time.process_time()
    P, label = load(path)
    g = torch.Generator().manual_seed(seed)
    V = (0.1 * torch.randn(32, 64, generator=g, dtype=torch.float64)).requires_grad_(True)
    b = torch.zeros(32, dtype=torch.float64, requires_grad=True)
    W = (0.1 * torch.randn(10, 32, generator=g, dtype=torch.float64)).requires_grad_(True)
    c = torch.zeros(10, dtype=torch.float64, requires_grad=True)
    opt = torch.optim.Adam([V, b, W, c], lr=0.01, betas=(0.9, 0.999), eps=1e-8)
    X = P / 16
    for _ in range(steps):
        opt.zero_grad(set_to_none=True)
        H = torch.tanh(X @ V.T + b)
        Z = H @ W.T + c
        J = torch.nn.functional.cross_entropy(Z, label)
        J.backward()
        opt.step()
    with torch.no_grad():
        Z = torch.tanh(X @ V.T + b) @ W.T + c
        J = torch.nn.functional.cross_entropy(Z, label).item()
        acc = (Z.argmax(1) == label).double().mean().item()
    return time.perf_counter() - t0, time.process_time() - c0, J, acc


def main():
    args = sys.argv[1:]
    if not args or args[0].startswith("-"):
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    path, steps, reps, threads, out = args[0], 2000, 3, 1, None
    i = 1
    while i < len(args):
        if args[i] in ("--steps", "--reps", "--threads", "--json") and i + 1 < len(args):
            v = args[i + 1]
            if args[i] == "--steps":
                steps = int(v)
            elif args[i] == "--reps":
                reps = int(v)
            elif args[i] == "--threads":
                threads = int(v)
            else:
                out = v
            i += 2
        else:
            print("train_torch.py: unknown argument %s" % args[i], file=sys.stderr)
            sys.exit(2)
    torch.set_num_threads(threads)
    runs = []
    for r in range(reps):
        wall, cpu, J, acc = run(path, steps, r)
        runs.append({"wall_s": wall, "cpu_s": cpu, "J": J, "accuracy": acc})
        print("  torch run %d: wall %.3f s, cpu %.3f s, J = %.6g, accuracy = %.4g" % (r + 1, wall, cpu, J, acc))
    wall = statistics.median(x["wall_s"] for x in runs)
    cpu = statistics.median(x["cpu_s"] for x in runs)
    print("  torch %s, float64, %d thread(s): %d steps, median wall %.3f s (%.0f steps/s), cpu %.3f s (%.0f steps/s)"
          % (torch.__version__, threads, steps, wall, steps / wall, cpu, steps / cpu))
    if out:
        with open(out, "w") as f:
            json.dump({"bench": "train_torch", "torch": torch.__version__, "threads": threads, "steps": steps,
                       "wall_s": wall, "cpu_s": cpu, "runs": runs}, f, indent=1)


if __name__ == "__main__":
    main()
