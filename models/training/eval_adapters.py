"""Reproduce a v2 model card's tables on held-out TEST entities (never used for training/tuning).

/usr/bin/python3 models/training/eval_adapters.py --model generative-adapter-tiny [--quick]
/usr/bin/python3 models/training/eval_adapters.py --model iag-tiny [--quick]

generative-adapter-tiny (ga_test entities): documents of 1, 4 and 16 windows (evalsets.ga_docs;
sentences in template / reworded / held-out shapes, questions likewise). Rows: base closed-book;
base with the document in the prompt (1 window; for long documents the ORACLE window, the one
stating the fact); base + adapter from the SUM of all windows' states; base + adapter from the
first window only (what truncation gives) on questions about later windows; per-document LoRA
fine-tuning on the 4-window documents (k Adam steps on the LM loss of all windows).
iag-tiny (mem_test entities): questions in template / reworded / held-out shapes; closed-book,
teacher document in the prompt, generated adapter.
EM / F1 with 95% bootstrap CIs, overall and by attribute, sentence shape, question shape,
entities per window, distractor. Uses the torch checkpoints in ckpt/ (export.py verifies that
the staged ONNX graphs match them). Writes /tmp/eval-<id>-<tag>.json (+ --write-sample).
"""
import argparse, json, os, time, statistics
import torch
import common, data, baselines, evalsets, evalreport

CK = common.CKPT
EVAL_SEED = 2024
SPECS = {"generative-adapter-tiny": dict(test_pool="ga_test", val_pool="ga_val", ckpt="ga.pt"),
         "iag-tiny": dict(test_pool="mem_test", val_pool="mem_val", ckpt="iag.pt")}


def groups_for(mid):
    return torch.load(os.path.join(CK, SPECS[mid]["ckpt"]))["groups"]


def rep(lora, idx):
    return {g: (A[idx], B[idx]) for g, (A, B) in lora.items()}


def answers(base, t, prompts, lora=None, bs=64):
    outs = []
    for i in range(0, len(prompts), bs):
        sub = None if lora is None else {g: (A[i:i + bs], B[i:i + bs]) for g, (A, B) in lora.items()}
        outs += [t.decode(o) for o in common.greedy(base, prompts[i:i + bs], lora=sub)]
    return outs


def cat(loras):
    return {g: (torch.cat([l[g][0] for l in loras]), torch.cat([l[g][1] for l in loras]))
            for g in loras[0]}


@torch.no_grad()
def ga_adapters(gen, t, items, first_only=False):
    """one adapter per document from the SUM of its windows' states (batched windows)."""
    out, secs = [], []
    for it in items:
        wins = it["windows"][:1] if first_only else it["windows"]
        ids, mask = common.pad([t.encode(w) for w in wins])
        t0 = time.perf_counter()
        S = gen.states(ids, mask)
        lo = gen.from_states({g: s.sum(0, keepdim=True) for g, s in S.items()})
        secs.append(time.perf_counter() - t0)
        out.append(lo)
    return out, secs


def per_question(loras, items):
    idx = torch.tensor([i for i, it in enumerate(items) for _ in it["qas"]])
    return rep(cat(loras), idx)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", required=True, help="<id> or models/<id>")
    ap.add_argument("--quick", action="store_true", help="small sets (CI-sized)")
    ap.add_argument("--n1", type=int, default=150, help="1-window documents")
    ap.add_argument("--n4", type=int, default=40)
    ap.add_argument("--n16", type=int, default=15)
    ap.add_argument("--n_ft", type=int, default=12, help="4-window documents for LoRA fine-tuning")
    ap.add_argument("--ft_steps", default="10,50")
    ap.add_argument("--ft_lr", type=float, default=0, help="0: ckpt/lora_lr_<id>.json")
    ap.add_argument("--no-ft", action="store_true")
    ap.add_argument("--base", default="", help="base checkpoint (default ckpt/base.pt)")
    ap.add_argument("--ckpt", default="", help="generator checkpoint (default ckpt/<ga|iag>.pt)")
    ap.add_argument("--write-sample", default="", help="e.g. 100,60,60 questions of 1/4/16 windows")
    args = ap.parse_args()
    mid = os.path.basename(os.path.normpath(args.model))
    spec = SPECS[mid]
    if args.quick:
        args.n1, args.n4, args.n16, args.n_ft = 30, 8, 3, 3
    common.setup()
    t = common.get_tok()
    pools = data.splits()
    from export import load_generator
    base, gen, _ = load_generator(mid, args.base or None, args.ckpt or None)
    rows, preds, sets = {}, {}, {}

    def record(name, p, flat, secs=None):
        preds[name] = p
        rows[name] = evalreport.score(p, flat)
        rows[name]["secs"] = secs
        print(name, f"EM {evalreport.pct(rows[name]['em'])} n={len(p)}", flush=True)

    if mid == "iag-tiny":
        items = evalsets.mem_items(spec["test_pool"], pools, EVAL_SEED)
        items = items[:40] if args.quick else items
        flat = [(it, qa) for it in items for qa in it["qas"]]
        sets["mem"] = flat
        closed = [t.encode(common.closed_prompt(qa["question"])) for _, qa in flat]
        record("base, closed-book", answers(base, t, closed), flat)
        ctx = [t.encode(common.context_prompt(it["context"], qa["question"])) for it, qa in flat]
        record("base, document in prompt", answers(base, t, ctx), flat)
        lo, secs = [], []
        with torch.no_grad():
            for _, qa in flat:
                ids, mask = common.pad([t.encode(qa["question"])])
                t0 = time.perf_counter(); lo.append(gen(ids, mask)); secs.append(time.perf_counter() - t0)
        record("base + generated adapter (closed-book)", answers(base, t, closed, cat(lo)), flat,
               statistics.median(secs))
        names = list(rows)
    else:
        for nw, n, mq in ((1, args.n1, None), (4, args.n4, 32), (16, args.n16, 48)):
            items = evalsets.ga_docs(spec["test_pool"], pools, t, n, nw, seed=EVAL_SEED, max_q=mq)
            sets[nw] = [(it, qa) for it in items for qa in it["qas"]]
            flat = sets[nw]
            tag = f"{nw} window" + ("s" if nw > 1 else "")
            closed = [t.encode(common.closed_prompt(qa["question"])) for _, qa in flat]
            record(f"base, closed-book ({tag})", answers(base, t, closed), flat)
            ctx = [t.encode(common.context_prompt(it["windows"][qa["window"]], qa["question"]))
                   for it, qa in flat]
            record(f"base, document in prompt ({tag}{'' if nw == 1 else ', oracle window'})",
                   answers(base, t, ctx), flat)
            lo, secs = ga_adapters(gen, t, items)
            record(f"base + generated adapter ({tag})", answers(base, t, closed, per_question(lo, items)),
                   flat, statistics.median(secs))
            if nw > 1:
                later = [(i, x) for i, x in enumerate(flat) if x[1]["window"] > 0]
                sub = [x for _, x in later]
                record(f"  same, questions about windows 2-{nw} only",
                       [preds[f"base + generated adapter ({tag})"][i] for i, _ in later], sub)
                lo1, _ = ga_adapters(gen, t, items, first_only=True)
                p1 = answers(base, t, closed, per_question(lo1, items))
                preds[f"first-window-only adapter ({tag}, all)"] = p1
                record(f"base + first-window-only adapter ({tag}), questions about windows 2-{nw}",
                       [p1[i] for i, _ in later], sub)
            if nw == 4 and not args.no_ft:
                lr = args.ft_lr or float(json.load(open(os.path.join(CK, f"lora_lr_{mid}.json")))["lr"])
                steps = [int(x) for x in args.ft_steps.split(",")]
                ft_items = items[:args.n_ft]
                ft_flat = [(it, qa) for it in ft_items for qa in it["qas"]]
                got = {k: ([], []) for k in steps}
                for j, it in enumerate(ft_items):
                    snaps = baselines.finetune_windows(base, list(gen.groups),
                                                       [t.encode(w) for w in it["windows"]],
                                                       max(steps), lr, seed=j, snapshots=steps)
                    prompts = [t.encode(common.closed_prompt(qa["question"])) for qa in it["qas"]]
                    for k in steps:
                        l, s = snaps[k]
                        got[k][0].extend(answers(base, t, prompts, rep(l, torch.zeros(len(prompts), dtype=torch.long))))
                        got[k][1].append(s)
                for k in steps:
                    record(f"base + LoRA fine-tuned on the document ({tag}, first {len(ft_items)} docs), "
                           f"Adam lr={lr:g}, {k} steps", got[k][0], ft_flat, statistics.median(got[k][1]))
                sub_idx = {id(it) for it in ft_items}
                same = [(i, x) for i, x in enumerate(flat) if id(x[0]) in sub_idx]
                record(f"  generated adapter on the same {len(ft_items)} docs",
                       [preds[f"base + generated adapter ({tag})"][i] for i, _ in same], [x for _, x in same])
        names = [n for n in rows if not n.startswith("  ")]
    lines = [f"Model {mid}, held-out {spec['test_pool']} entities.", ""] + evalreport.table(rows)
    main_names = [n for n in rows if not n.startswith(" ") and ("generated adapter" in n or "prompt" in n)
                  and "16 windows, oracle" not in n]
    for key in evalreport.BREAKDOWNS:
        lines += ["", f"By {key}:", ""] + evalreport.breakdown(rows, key, main_names)
    report = "\n".join(lines)
    print(report)
    tag = "quick" if args.quick else "full"
    json.dump({"model": mid, "rows": rows, "table": report}, open(f"/tmp/eval-{mid}-{tag}.json", "w"), indent=1)
    if args.write_sample:
        import evalsample
        evalsample.write(mid, spec, sets, preds, args.write_sample)


if __name__ == "__main__":
    main()
