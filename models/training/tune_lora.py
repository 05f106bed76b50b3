"""Tune the LoRA fine-tuning baseline's learning rate on VALIDATION entities only.

/usr/bin/python3 models/training/tune_lora.py --model generative-adapter-tiny
generative-adapter-tiny: 4-window ga_val documents (as in the card's fine-tuning row).
Writes ckpt/lora_lr_<model>.json: {"lr": best lr at --steps, "grid": {lr: {k: em}}}.
"""
import argparse, json, os
import torch
import common, data, baselines, evalsets
from eval_adapters import SPECS, groups_for, answers, rep


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", required=True, choices=list(SPECS))
    ap.add_argument("--n", type=int, default=4)
    ap.add_argument("--steps", default="10,50")
    ap.add_argument("--lrs", default="3e-3,1e-2,3e-2")
    args = ap.parse_args()
    common.setup()
    t = common.get_tok()
    spec = SPECS[args.model]
    pools = data.splits()
    steps = [int(x) for x in args.steps.split(",")]
    if args.model == "iag-tiny":
        items = evalsets.mem_items(spec["val_pool"], pools, 99, q_styles=("template",))[:args.n * 3]
    else:
        items = evalsets.ga_docs(spec["val_pool"], pools, t, args.n, 4, seed=99, max_q=32)
    base = common.load_base()
    groups = groups_for(args.model)
    grid = {}
    for lr in [float(x) for x in args.lrs.split(",")]:
        ems = {k: [] for k in steps}
        for j, it in enumerate(items):
            snaps = baselines.finetune_windows(base, groups, [t.encode(w) for w in it["windows"]],
                                               max(steps), lr, seed=j, snapshots=steps)
            prompts = [t.encode(common.closed_prompt(qa["question"])) for qa in it["qas"]]
            for k in steps:
                p = answers(base, t, prompts, rep(snaps[k][0], torch.zeros(len(prompts), dtype=torch.long)))
                ems[k] += [common.em(a, qa["answer"]) for a, qa in zip(p, it["qas"])]
        grid[lr] = {k: sum(v) / len(v) for k, v in ems.items()}
        print(lr, grid[lr], flush=True)
    best = max(grid, key=lambda lr: (grid[lr][max(steps)], -lr))
    res = {"optimizer": "Adam", "tuned_on": spec["val_pool"], "n_docs": len(items), "lr": best,
           "selected_at_steps": max(steps), "grid": {str(lr): grid[lr] for lr in sorted(grid)}}
    json.dump(res, open(os.path.join(common.CKPT, f"lora_lr_{args.model}.json"), "w"), indent=1)
    print(res)


if __name__ == "__main__":
    main()
