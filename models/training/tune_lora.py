"""Tune the LoRA fine-tuning baseline's learning rate on VALIDATION entities only.

/usr/bin/python3 models/training/tune_lora.py --model generative-adapter-tiny
Writes ckpt/lora_lr_<model>.json: {"10": best lr, "100": best lr, "grid": {...}}.
"""
import argparse, json, os
import torch
import common, data, baselines
from eval_adapters import SPECS, closed_book_em_with, groups_for

def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", required=True, choices=list(SPECS))
    ap.add_argument("--n", type=int, default=40)
    ap.add_argument("--lrs", default="1e-3,3e-3,1e-2,3e-2,1e-1")
    ap.add_argument("--merge", action="store_true", help="merge with the existing grid")
    args = ap.parse_args()
    common.setup()
    t = common.get_tok()
    spec = SPECS[args.model]
    pools = data.splits()
    items = common.eval_set(spec["val_pool"], pools, seed=99)[:args.n]
    base = common.load_base()
    grid = {}
    groups = groups_for(args.model)
    for lr in [float(x) for x in args.lrs.split(",")]:
        ems = {10: [], 100: []}
        for j, it in enumerate(items):
            snaps = baselines.finetune(base, groups, t.encode(it["context"]), 100, lr,
                                       seed=j, snapshots=(10,))
            for k in (10, 100):
                ems[k] += closed_book_em_with(base, t, it, snaps[k][0])
        grid[lr] = {k: sum(v) / len(v) for k, v in ems.items()}
        print(lr, grid[lr], flush=True)
    # merge with an earlier grid on the same validation items (--merge), then pick the best
    path = os.path.join(common.CKPT, f"lora_lr_{args.model}.json")
    if args.merge and os.path.exists(path):
        old = json.load(open(path))
        if old.get("n_entities") == len(items) and old.get("tuned_on") == spec["val_pool"]:
            for lr, v in old["grid"].items():
                grid.setdefault(float(lr), {int(k): x for k, x in v.items()})
    best = {str(k): max(grid, key=lambda lr: (grid[lr][k], -lr)) for k in (10, 100)}
    res = {"optimizer": "Adam", "tuned_on": spec["val_pool"], "n_entities": len(items), **best,
           "grid": {str(lr): grid[lr] for lr in sorted(grid)}}
    json.dump(res, open(path, "w"), indent=1)
    print(res)

if __name__ == "__main__":
    main()
