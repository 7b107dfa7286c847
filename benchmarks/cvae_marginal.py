"""cvae's sampled label marginal against the summed one, on a stored MNIST run (issue 28).

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/cvae_marginal.py RESULTS_DIR RUN_ID [IMAGES] [IWAE_K]

For the first IMAGES test images of MNIST and of Fashion-MNIST (ood-auroc's set) it prints the CPU
seconds per image of each estimator, the nll in bits/dim of each with its standard error, and the
per-image difference of the two bounds in nats (same seed; the draws differ, so the difference is
Monte Carlo noise plus any bias). Needs GENBENCH_DATA.
"""

import math
import sys
import time

import torch

from genbench.api.dataset import ImageData
from genbench.data import load_dataset
from genbench.engine.runner import Runner

torch.set_num_threads(1)
results, run_id, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
k = int(sys.argv[4]) if len(sys.argv) > 4 else None
model, data = Runner(results).load_trained(run_id)
model.eval()
if k:
    model.config.iwae_k = k
dims = 784 * math.log(2)
for name, xs in (("mnist test", data.test_x[:n]), ("fashion-mnist test", load_dataset("fashion-mnist").test_x[:n])):
    x = ImageData.to_float(xs)
    vals, secs = {}, {}
    for marginal in ("sum", "sampled"):
        model.config.marginal = marginal
        torch.manual_seed(0)
        t0 = time.process_time()
        vals[marginal] = model.log_likelihood(x).double()
        secs[marginal] = (time.process_time() - t0) / len(x)
    d = vals["sum"] - vals["sampled"]
    nll = {m: float(-v.mean() / dims) for m, v in vals.items()}
    se = {m: float(v.std() / dims / math.sqrt(len(v))) for m, v in vals.items()}
    print(f"{name}, {n} images, iwae_k={model.config.iwae_k}:")
    print(f"  CPU s/image: sum {secs['sum']:.3f}, sampled {secs['sampled']:.3f}")
    print(f"  nll bits/dim: sum {nll['sum']:.4f} (se {se['sum']:.4f}), sampled {nll['sampled']:.4f}")
    print(f"  sum - sampled per image (nats): mean {float(d.mean()):.3f}, sd {float(d.std()):.3f}")
