"""Print the representation and anomaly tables of a results folder (issue 11's two tables).

    .venv/bin/python benchmarks/ae_tables.py --results-dir /tmp/ae-results [--grid RUN --out recon.png]

Table 1: probe-acc and accuracy per dataset, model and label budget (quick budget). Table 2:
ood-auroc per model on each benchmark that names an out-of-distribution set. Rows are models
(aeclf split by finetune); a cell is the latest value of that run and label budget. ``--grid``
saves originals (odd rows) above their reconstructions (even rows) for a stored run.
"""

from __future__ import annotations

import argparse
from collections import defaultdict
from pathlib import Path

from sqlalchemy import select

from genbench.store import Store, default_db_url
from genbench.store.schema import MetricRecord, Run

BUDGETS = ("100", "1000", "all")


def label(run: Run) -> str:
    if run.model == "aeclf":
        return f"aeclf ({'fine-tuned' if run.config['model'].get('finetune') else 'frozen'})"
    if run.model == "vae":
        extra = {k: v for k, v in run.config["model"].items() if k in ("hidden", "iwae_k") and v not in (32, 64)}
        return "vae" + (f" ({', '.join(f'{k}={v}' for k, v in extra.items())})" if extra else "")
    return run.model


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--results-dir", default="results")
    parser.add_argument("--budget", default="quick")
    parser.add_argument("--grid", help="a run id: save its reconstructions of the first 32 test images")
    parser.add_argument("--out", default="reconstructions.png")
    args = parser.parse_args()
    store = Store(default_db_url(Path(args.results_dir)))
    if args.grid:
        save_grid(args.results_dir, args.grid, Path(args.out))
        return
    with store.session() as s:
        pairs = s.execute(
            select(MetricRecord, Run).join(Run).where(Run.status == "finished", Run.budget == args.budget)
            .order_by(MetricRecord.id)
        ).all()  # fmt: skip
        cells: dict[tuple[str, str, str, str], tuple[float, str]] = {}
        ood: dict[tuple[str, str], tuple[float, str, str]] = {}
        for rec, run in pairs:
            if rec.name in ("probe-acc", "accuracy"):
                labels = rec.settings.get("labels", "all" if rec.name == "accuracy" else "?")
                cells[(run.dataset, label(run), rec.name, labels)] = (rec.value, run.id)
            elif rec.name == "ood-auroc":
                # A fine-tuned encoder depends on the labels it saw: one row per label budget.
                labels = run.config["eval"].get("labels", "all")
                name = f"{label(run)}, {labels} labels" if run.model == "aeclf" else label(run)
                ood[(run.dataset, name)] = (rec.value, rec.settings.get("ood_score", ""), run.id)
    for dataset in sorted({k[0] for k in cells}):
        print(f"\n{dataset}, {args.budget} budget: probe-acc / accuracy by label budget\n")
        heads = [f"probe {b}" for b in BUDGETS] + [f"acc {b}" for b in BUDGETS]
        print("| model | " + " | ".join(heads) + " |")
        print("| --- " * (1 + 2 * len(BUDGETS)) + "|")
        rows = defaultdict(dict)
        for (d, model, metric, labels), (value, _) in cells.items():
            if d == dataset:
                rows[model][(metric, labels)] = value
        for model in sorted(rows):
            vals = [rows[model].get((m, b)) for m in ("probe-acc", "accuracy") for b in BUDGETS]
            print(f"| {model} | " + " | ".join("—" if v is None else f"{v:.4f}" for v in vals) + " |")
    for dataset in sorted({k[0] for k in ood}):
        print(f"\nood-auroc, {dataset} in-distribution ({args.budget} budget)\n")
        print("| model | ood-auroc | score | run |\n| --- | --- | --- | --- |")
        for (d, model), (value, score, run_id) in sorted(ood.items(), key=lambda kv: -kv[1][0]):
            if d == dataset:
                print(f"| {model} | {value:.4f} | {score} | {run_id} |")


def save_grid(results_dir: str, run_id: str, out: Path) -> None:
    import torch
    from torchvision.utils import save_image

    from genbench.api.dataset import ImageData
    from genbench.engine.runner import Runner

    model, data = Runner(results_dir).load_trained(run_id)
    x = ImageData.to_float(data.test_x[:32])
    with torch.no_grad():
        rec = model.eval().reconstruct(x)
    rows = torch.stack([x.view(4, 8, *x.shape[1:]), rec.view(4, 8, *x.shape[1:])], 1).flatten(0, 2)
    save_image(rows, out, nrow=8, padding=1, pad_value=0.5)
    print(f"saved {out}")


if __name__ == "__main__":
    main()
