"""Reproduce a model card's table on held-out TEST entities (never used for training/tuning).

/usr/bin/python3 models/training/eval_adapters.py --model models/generative-adapter-tiny [--quick]
/usr/bin/python3 models/training/eval_adapters.py --model models/iag-tiny [--quick]

Rows: base closed-book; base with the document in the prompt; base + generated adapter
(closed-book prompt); base + per-document LoRA fine-tuned by Adam for 10 / 100 steps (LM loss
on the document; lr tuned on validation entities by tune_lora.py). EM / token-F1 with 95%
bootstrap CIs over questions; wall time per adapter at batch 1 on CPU with 2 threads.
Uses the torch checkpoints in models/training/ckpt (export.py verifies that the shipped ONNX
graphs match them numerically).
"""
import argparse, json, os, time, statistics
import torch
import common, data, baselines

CK = common.CKPT
SPECS = {
    "generative-adapter-tiny": dict(test_pool="ga_test", val_pool="ga_val", ckpt="ga.pt",
                                    condition="context"),
    "iag-tiny": dict(test_pool="mem_test", val_pool="mem_val", ckpt="iag.pt",
                     condition="question"),
}


def groups_for(mid):
    """Adapter target groups of a trained model (from its checkpoint)."""
    return torch.load(os.path.join(CK, SPECS[mid]["ckpt"]))["groups"]


EVAL_SEED = 2024


def rep(lora, n):
    idx = torch.zeros(n, dtype=torch.long)
    return {g: (A[idx], B[idx]) for g, (A, B) in lora.items()}


def answers(base, t, prompts, lora=None):
    outs = []
    for i in range(0, len(prompts), 64):
        sub = None if lora is None else {g: (A[i:i + 64], B[i:i + 64]) for g, (A, B) in lora.items()}
        outs += [t.decode(o) for o in common.greedy(base, prompts[i:i + 64], lora=sub)]
    return outs


def closed_book_em_with(base, t, item, lora):
    prompts = [t.encode(common.closed_prompt(qa["question"])) for qa in item["qas"]]
    preds = answers(base, t, prompts, rep(lora, len(prompts)))
    return [common.em(p, qa["answer"]) for p, qa in zip(preds, item["qas"])]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", required=True, help="models/<id> (or just <id>)")
    ap.add_argument("--quick", action="store_true", help="first 30 test entities only")
    ap.add_argument("--n", type=int, default=0, help="number of test entities (0 = all)")
    ap.add_argument("--no-ft", action="store_true", help="skip the LoRA fine-tuning rows")
    ap.add_argument("--write-sample", type=int, default=0,
                    help="also write <model dir>/eval-sample.json with this many questions")
    args = ap.parse_args()
    mid = os.path.basename(os.path.normpath(args.model))
    spec = SPECS[mid]
    mdir = os.path.join(common.ROOT, mid)
    common.setup()
    t = common.get_tok()
    pools = data.splits()
    items = common.eval_set(spec["test_pool"], pools, seed=EVAL_SEED)
    n = 30 if args.quick else (args.n or len(items))
    items = items[:n]
    from export import load_generator
    base, gen, _ = load_generator(mid)
    groups = list(gen.groups)
    flat = [(it, qa) for it in items for qa in it["qas"]]
    golds = [qa["answer"] for _, qa in flat]
    rows, preds = {}, {}

    def record(name, p, secs=None):
        preds[name] = p
        ems = [common.em(a, g) for a, g in zip(p, golds)]
        f1s = [common.f1(a, g) for a, g in zip(p, golds)]
        by = {}
        for (it, qa), e in zip(flat, ems):
            by.setdefault(qa["attr"], []).append(e)
        rows[name] = {"em": common.bootstrap(ems), "f1": common.bootstrap(f1s), "secs": secs,
                      "em_by_attr": {k: round(sum(v) / len(v), 3) for k, v in sorted(by.items())}}
        print(name, json.dumps(rows[name]), flush=True)

    closed = [t.encode(common.closed_prompt(qa["question"])) for _, qa in flat]
    record("base, closed-book", answers(base, t, closed))
    ctx = [t.encode(common.context_prompt(it["context"], qa["question"])) for it, qa in flat]
    record("base, document in prompt", answers(base, t, ctx))

    # generated adapters (batch 1 timing per condition)
    gen_times, loras = [], []
    with torch.no_grad():
        for it in items:
            conds = [it["context"]] if spec["condition"] == "context" else \
                [qa["question"] for qa in it["qas"]]
            for c in conds:
                ids, mask = common.pad([t.encode(c)])
                t0 = time.perf_counter()
                lo = gen(ids, mask)
                gen_times.append(time.perf_counter() - t0)
                reps = len(it["qas"]) if spec["condition"] == "context" else 1
                loras.append(rep(lo, reps))
    lora = {g: (torch.cat([l[g][0] for l in loras]), torch.cat([l[g][1] for l in loras]))
            for g in groups}
    record("base + generated adapter (closed-book)", answers(base, t, closed, lora),
           statistics.median(gen_times))

    if not args.no_ft:
        lrs = json.load(open(os.path.join(CK, f"lora_lr_{mid}.json")))
        for k in (10, 100):
            lr = float(lrs[str(k)])
            ft_preds, times = [], []
            for j, it in enumerate(items):
                snaps = baselines.finetune(base, groups, t.encode(it["context"]), k, lr, seed=j)
                lo, secs = snaps[k]
                times.append(secs)
                prompts = [t.encode(common.closed_prompt(qa["question"])) for qa in it["qas"]]
                ft_preds += answers(base, t, prompts, rep(lo, len(prompts)))
            record(f"base + LoRA fine-tuned on the document, Adam lr={lr:g}, {k} steps",
                   ft_preds, statistics.median(times))

    # table
    lines = [f"Test entities: {len(items)} ({spec['test_pool']}), questions: {len(flat)}. "
             "EM / F1 in %, [95% bootstrap CI]; time = median wall time to produce one adapter "
             "(batch 1, CPU, 2 threads).", "",
             "| condition | EM | F1 | time per adapter |", "|---|---|---|---|"]
    for name, r in rows.items():
        e, f = r["em"], r["f1"]
        tm = "" if r["secs"] is None else (f"{r['secs'] * 1000:.1f} ms" if r["secs"] < 1
                                           else f"{r['secs']:.2f} s")
        lines.append(f"| {name} | {100 * e[0]:.1f} [{100 * e[1]:.1f}, {100 * e[2]:.1f}] | "
                     f"{100 * f[0]:.1f} [{100 * f[1]:.1f}, {100 * f[2]:.1f}] | {tm} |")
    table = "\n".join(lines)
    print(table)
    tag = "quick" if args.quick else ("full" if n == len(common.eval_set(spec["test_pool"], pools, EVAL_SEED)) else f"n{n}")
    json.dump({"model": mid, "n_entities": len(items), "n_questions": len(flat), "rows": rows,
               "table": table}, open(f"/tmp/eval-{mid}-{tag}.json", "w"), indent=1)
    if args.write_sample:
        sample = []
        for i, (it, qa) in enumerate(flat[:args.write_sample]):
            sample.append({"entity": it["name"], "kind": it["kind"], "attr": qa["attr"],
                           "context": it["context"], "question": qa["question"],
                           "answer": qa["answer"],
                           "python_predictions": {
                               "closed_book": preds["base, closed-book"][i],
                               "with_context": preds["base, document in prompt"][i],
                               "adapter": preds["base + generated adapter (closed-book)"][i]}})
        json.dump({"model": mid, "split": spec["test_pool"], "condition_field": spec["condition"],
                   "metric": "exact match / token F1 after normalisation: lowercase, every "
                             "non [a-z0-9] character -> space, split on whitespace",
                   "items": sample}, open(os.path.join(mdir, "eval-sample.json"), "w"), indent=1)
        print("wrote", os.path.join(mdir, "eval-sample.json"), len(sample))


if __name__ == "__main__":
    main()
