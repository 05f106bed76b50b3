"""Wall time to produce ONE adapter at batch 1 on CPU with 2 threads: the generator's forward
pass vs per-document LoRA fine-tuning (10 and 100 Adam steps), on the first N test items.
Run it on an otherwise idle machine; prints medians (and writes /tmp/timing-<id>.json).

/usr/bin/python3 models/training/time_adapters.py --model models/generative-adapter-tiny [--n 10]
"""
import argparse, json, os, statistics, time
import torch
import common, data, baselines
from eval_adapters import SPECS, EVAL_SEED
from export import load_generator


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", required=True)
    ap.add_argument("--n", type=int, default=10)
    args = ap.parse_args()
    mid = os.path.basename(os.path.normpath(args.model))
    spec = SPECS[mid]
    common.setup()
    t = common.get_tok()
    items = common.eval_set(spec["test_pool"], data.splits(), seed=EVAL_SEED)[:args.n]
    base, gen, _ = load_generator(mid)
    lrs = json.load(open(os.path.join(common.CKPT, f"lora_lr_{mid}.json")))
    gt, ft = [], {10: [], 100: []}
    with torch.no_grad():      # warm-up
        ids, mask = common.pad([t.encode(items[0]["context"])])
        gen(ids, mask)
    for j, it in enumerate(items):
        cond = it["context"] if spec["condition"] == "context" else it["qas"][0]["question"]
        ids, mask = common.pad([t.encode(cond)])
        with torch.no_grad():
            for _ in range(5):
                t0 = time.perf_counter(); gen(ids, mask); gt.append(time.perf_counter() - t0)
        for k in (10, 100):
            snaps = baselines.finetune(base, list(gen.groups), t.encode(it["context"]), k,
                                       float(lrs[str(k)]), seed=j)
            ft[k].append(snaps[k][1])
    res = {"model": mid, "n": len(items), "generator_ms": 1000 * statistics.median(gt),
           "lora_10_steps_s": statistics.median(ft[10]), "lora_100_steps_s": statistics.median(ft[100]),
           "loadavg_1min_at_end": os.getloadavg()[0]}
    res["speedup_vs_100_steps"] = res["lora_100_steps_s"] * 1000 / res["generator_ms"]
    res["speedup_vs_10_steps"] = res["lora_10_steps_s"] * 1000 / res["generator_ms"]
    print(json.dumps(res, indent=1))
    json.dump(res, open(f"/tmp/timing-{mid}.json", "w"), indent=1)


if __name__ == "__main__":
    main()
