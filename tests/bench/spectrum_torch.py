#!/usr/bin/env python3
"""spectrum_torch.py: the top Hessian eigenvalue of the digits network with
PyTorch's double backward (Hessian-vector products as in PyHessian: the
gradient built with create_graph=True once, then one autograd.grad of the
gradient against v per product), for comparison with bench_spectrum.

  spectrum_torch.py INPUTS.json [--reps R] [--threads T] [--json OUT]

INPUTS.json is what `bench_spectrum --save-inputs` writes: the data, the
params, the reference eigenvalue (Lanczos to 1e-12) and the tolerance.
Two methods, each to the same tolerance, timed from reading the values to
the eigenvalue (wall clock, median of R runs):
  - Lanczos with full reorthogonalisation, stopped by the same test as
    ARPACK's: the Ritz estimate |beta_m s_m| <= tol |theta| (the residual
    of the top Ritz pair), so the eigenvalue is off by at most tol;
  - power iteration as PyHessian's `eigenvalues()`, stopped when the
    relative change of the Rayleigh quotient falls below tol (PyHessian's
    rule; it guarantees nothing, so the error is printed).
Exits 0 with a message when PyTorch is missing (python3-torch is for this
benchmark only, never for the tests)."""
import json
import statistics
import sys
import time

try:
    import torch
except ImportError:
    print("spectrum_torch.py: skipped: PyTorch is missing "
          "(Debian: apt-get install python3-torch)")
    sys.exit(0)


def load(path):
    with open(path) as f:
        d = json.load(f)
    t = lambda k: torch.tensor(d[k], dtype=torch.float64)
    X, label = t("X"), t("label").long()
    params = [t(k).requires_grad_(True) for k in ("V", "b", "W", "c")]
    return X, label, params, d["lambda_ref"], d["tol"]


def hvp_operator(X, label, params):
    """The loss of digits_bench.expr and a function v -> H v (flat)."""
    V, b, W, c = params
    H = torch.sigmoid(X @ V.T + b)
    Z = H @ W.T + c
    J = torch.nn.functional.cross_entropy(Z, label)  # -mean(log_softmax[label])
    grads = torch.autograd.grad(J, params, create_graph=True)
    sizes = [p.numel() for p in params]

    def hv(v):
        vs = [x.view_as(p) for x, p in zip(torch.split(v, sizes), params)]
        out = torch.autograd.grad(grads, params, grad_outputs=vs, retain_graph=True)
        return torch.cat([o.reshape(-1) for o in out])

    return J, hv, sum(sizes)


def lanczos_top(hv, n, tol, maxiter=1000, seed=1):
    g = torch.Generator().manual_seed(seed)
    q = torch.rand(n, generator=g, dtype=torch.float64) * 2 - 1
    q /= q.norm()
    Q, alpha, beta = [q], [], []
    for m in range(1, maxiter + 1):
        w = hv(Q[-1])
        alpha.append(torch.dot(w, Q[-1]).item())
        Qm = torch.stack(Q)
        w = w - Qm.T @ (Qm @ w)          # full reorthogonalisation, twice
        w = w - Qm.T @ (Qm @ w)
        bnorm = w.norm().item()
        T = torch.diag(torch.tensor(alpha, dtype=torch.float64))
        if m > 1:
            off = torch.tensor(beta, dtype=torch.float64)
            T += torch.diag(off, 1) + torch.diag(off, -1)
        theta, S = torch.linalg.eigh(T)
        top, s_last = theta[-1].item(), S[-1, -1].item()
        if abs(bnorm * s_last) <= tol * abs(top) or bnorm == 0:
            return top, m
        beta.append(bnorm)
        Q.append(w / bnorm)
    return top, maxiter


def power_top(hv, n, tol, maxiter=10000, seed=1):
    """PyHessian's hessian.eigenvalues(top_n=1): v <- Hv / |Hv|."""
    g = torch.Generator().manual_seed(seed)
    v = torch.randn(n, generator=g, dtype=torch.float64)
    v /= v.norm()
    eig = None
    for it in range(1, maxiter + 1):
        Hv = hv(v)
        tmp = torch.dot(Hv, v).item()
        v = Hv / Hv.norm()
        if eig is not None and abs(eig - tmp) / (abs(eig) + 1e-6) < tol:
            return tmp, it
        eig = tmp
    return eig, maxiter


def main():
    args = sys.argv[1:]
    if not args:
        print(__doc__)
        return 2
    path, reps, threads, out = args[0], 3, 1, None
    i = 1
    while i < len(args):
        if args[i] == "--reps":
            reps, i = int(args[i + 1]), i + 2
        elif args[i] == "--threads":
            threads, i = int(args[i + 1]), i + 2
        elif args[i] == "--json":
            out, i = args[i + 1], i + 2
        else:
            print("unknown argument", args[i])
            return 2
    torch.set_num_threads(threads)
    results = {}
    for name, method in (("torch Lanczos", lanczos_top), ("torch power (PyHessian)", power_top)):
        times, cpus = [], []
        for _ in range(reps):
            t0, c0 = time.perf_counter(), time.process_time()
            X, label, params, ref, tol = load(path)
            J, hv, n = hvp_operator(X, label, params)
            lam, hvps = method(hv, n, tol)
            times.append(time.perf_counter() - t0)
            cpus.append(time.process_time() - c0)
        err = abs(lam - ref) / abs(ref)
        wall, cpu = statistics.median(times), statistics.median(cpus)
        results[name] = {"seconds": wall, "cpu_seconds": cpu, "hvps": hvps, "lambda": lam,
                         "rel_error": err}
        print("  %-26s %8.3f %8.3f %6d %12.2e%s" % (name, wall, cpu, hvps, err,
                                                 "" if err <= tol else "  (off by more than tol)"))
    if out:
        with open(out, "w") as f:
            json.dump({"threads": threads, "torch": torch.__version__, "runs": results}, f,
                      indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
