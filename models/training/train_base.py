"""Train the tiny base LM: reading comprehension with the document in the prompt (ga_train
names with fresh attributes) + plain LM on documents of the memorised pools (mem_*), whose
QUESTIONS the base never sees. Writes ckpt/base.pt.

/usr/bin/python3 models/training/train_base.py [--steps 1800]
"""
import argparse, math, os, random, time, json
import torch
import data, tok, lm, common


def rc_item(t, rng, pools, forbidden):
    e = data.fresh_entity(rng, pools["ga_train"], forbidden)
    doc = data.render_doc(e, rng)
    q, a, _ = rng.choice(data.questions(e, rng))
    p, tg = common.qa_ids(t, common.context_prompt(doc, q), a)
    return (p, tg, 0.5)


def mem_item(t, rng, mem):
    e = rng.choice(mem)
    return (t.encode(data.render_doc(e, rng)), [], 1.0)


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
    ap.add_argument("--rc", type=int, default=20)
    ap.add_argument("--mem", type=int, default=12)
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default=os.path.join(common.CKPT, "base.pt"))
    args = ap.parse_args()
    common.setup(seed=args.seed)
    t = common.get_tok()
    pools = data.splits()
    forbidden = data.heldout_names(pools)
    mem = pools["mem_train"] + pools["mem_val"] + pools["mem_test"]
    cfg = lm.Cfg(vocab=t.size)
    model = lm.TinyLM(cfg)
    print("params", sum(p.numel() for p in model.parameters()), flush=True)
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, betas=(0.9, 0.98), weight_decay=0.0)
    rng = random.Random(args.seed)
    warm = 100
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: min(1.0, (s + 1) / warm) * (
        0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * min(1.0, s / args.steps)))))
    t0 = time.time()
    run = 0.0
    for step in range(1, args.steps + 1):
        items = [rc_item(t, rng, pools, forbidden) for _ in range(args.rc)] + \
                [mem_item(t, rng, mem) for _ in range(args.mem)]
        ids, mask, labels, w = common.lm_batch(items)
        loss = common.weighted_ce(model(ids, mask), labels, w)
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
