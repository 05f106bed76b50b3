"""Train the tiny base LM: reading comprehension with the document in the prompt (ga_train
names with fresh attributes) + plain LM on documents of the memorised pools (mem_*), whose
QUESTIONS the base never sees. Writes ckpt/base.pt.

/usr/bin/python3 models/training/train_base.py [--steps 1800]
"""
import argparse, math, os, random, time, json
import torch
import data, tok, lm, common


def rc_item(t, rng, pools, forbidden, other_w=0.2):
    """'{doc} question: q1 answer: a1 [EOS] question: q2 answer: a2 [EOS] ...' with 1..all of
    the entity's questions in random order. The first QA is exactly the with_context prompt
    format; later ones add answer-token signal per document token. Weights: answers+EOS 1.0,
    everything else other_w. Returned as explicit (ids, weights)."""
    e = data.fresh_entity(rng, pools["ga_train"], forbidden)
    doc = data.render_doc(e, rng)
    qs = data.questions(e, rng)
    rng.shuffle(qs)
    qs = qs[:rng.randint(1, len(qs))]
    ids = t.encode(doc)
    w = [other_w] * len(ids)
    for q, a, _ in qs:
        p = t.encode(data.PROMPT_CLOSED.format(question=q))
        tg = t.encode(a) + [tok.EOS]
        ids += p + tg
        w += [other_w] * len(p) + [1.0] * len(tg)
    return ids, w


def mem_item(t, rng, mem):
    ids = t.encode(data.render_doc(rng.choice(mem), rng))
    return ids, [1.0] * len(ids)


def batch(items):
    """items: (ids, weights-of-predicting-each-token). Next-token labels; weight of label t+1."""
    ids, mask = common.pad([i for i, _ in items])
    labels = torch.full_like(ids, -100)
    w = torch.zeros(ids.shape, dtype=torch.float)
    for r, (s, ws) in enumerate(items):
        n = len(s)
        labels[r, :n - 1] = ids[r, 1:n]
        w[r, :n - 1] = torch.tensor(ws[1:])
    return ids, mask, labels, w


@torch.no_grad()
def evaluate(model, t, pools, n=60):
    model.eval()
    ev = common.eval_set("ga_val", pools, seed=99)[:n]
    prompts, golds = [], []
    for it in ev:
        for qa in it["qas"]:
            prompts.append(t.encode(common.context_prompt(it["context"], qa["question"])))
            golds.append(qa["answer"])
    ems = []
    for i in range(0, len(prompts), 64):
        outs = common.greedy(model, prompts[i:i + 64])
        ems += [common.em(t.decode(o), g) for o, g in zip(outs, golds[i:i + 64])]
    # memorisation probe: LM loss on memorised (mem_val) vs never-seen (ga_val) documents
    rng = random.Random(5)
    res = {"rc_em": sum(ems) / len(ems)}
    for name in ("mem_val", "ga_val"):
        items = [(t.encode(data.render_doc(e, rng)), [], 1.0) for e in pools[name][:40]]
        ids, mask, labels, w = common.lm_batch(items)
        res[name + "_loss"] = common.weighted_ce(model(ids, mask), labels, w).item()
    model.train()
    return res


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=1800)
    ap.add_argument("--rc", type=int, default=16)
    ap.add_argument("--mem", type=int, default=12)
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default=os.path.join(common.CKPT, "base.pt"))
    ap.add_argument("--init", default="", help="continue from this checkpoint (phase 2)")
    ap.add_argument("--warmup", type=int, default=100)
    args = ap.parse_args()
    common.setup(seed=args.seed)
    t = common.get_tok()
    pools = data.splits()
    forbidden = data.heldout_names(pools)
    mem = pools["mem_train"] + pools["mem_val"] + pools["mem_test"]
    cfg = lm.Cfg(vocab=t.size)
    model = lm.TinyLM(cfg)
    if args.init:
        model.load_state_dict(torch.load(args.init)["state"])
        print("initialised from", args.init, flush=True)
    print("params", sum(p.numel() for p in model.parameters()), flush=True)
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, betas=(0.9, 0.98), weight_decay=0.0)
    rng = random.Random(args.seed)
    warm = args.warmup
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: min(1.0, (s + 1) / warm) * (
        0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * min(1.0, s / args.steps)))))
    t0 = time.time()
    run = 0.0
    for step in range(1, args.steps + 1):
        items = [rc_item(t, rng, pools, forbidden) for _ in range(args.rc)] + \
                [mem_item(t, rng, mem) for _ in range(args.mem)]
        # two separately padded forward passes (RC rows are ~2x longer than plain documents)
        tot, wsum = 0.0, 0.0
        for part in (items[:args.rc], items[args.rc:]):
            ids, mask, labels, w = batch(part)
            ce = torch.nn.functional.cross_entropy(model(ids, mask).reshape(-1, cfg.vocab),
                                                   labels.reshape(-1).clamp(min=0), reduction="none")
            w = w.reshape(-1) * (labels.reshape(-1) >= 0).float()
            tot = tot + (ce * w).sum()
            wsum += w.sum().item()
        loss = tot / wsum
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step(); sched.step()
        run = 0.98 * run + 0.02 * loss.item() if step > 1 else loss.item()
        if step % 50 == 0:
            print(f"step {step} loss {run:.3f} lr {sched.get_last_lr()[0]:.2e} "
                  f"{time.time() - t0:.0f}s", flush=True)
        if step % 300 == 0 or step == args.steps:
            print("eval", step, json.dumps(evaluate(model, t, pools)), flush=True)
            torch.save({"cfg": cfg.to_dict(), "state": model.state_dict(), "step": step}, args.out)
    print("done", time.time() - t0, flush=True)


if __name__ == "__main__":
    main()
