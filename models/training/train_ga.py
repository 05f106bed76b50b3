"""Train the generative-adapter generator end to end (base frozen): the adapter generated from
a document must make the base answer questions about it with the CLOSED-BOOK prompt.
Training entities: ga_train names with fresh attributes; model selection on ga_val.

/usr/bin/python3 models/training/train_ga.py [--steps 3000]
"""
import argparse, math, os, random, time, json
import torch
import data, tok, lm, common, hyper

GROUPS = lm.ALL_GROUPS


def make_batch(t, rng, pools, forbidden, n_docs):
    docs, rows = [], []
    for i in range(n_docs):
        e = data.fresh_entity(rng, pools["ga_train"], forbidden)
        docs.append(t.encode(data.render_doc(e, rng))[:common.MAX_CONTEXT])
        for q, a, _ in data.questions(e, rng):
            p, tg = common.qa_ids(t, common.closed_prompt(q), a)
            rows.append((i, (p, tg, 0.0)))
    return docs, rows


def expand(lora, idx):
    return {g: (A[idx], B[idx]) for g, (A, B) in lora.items()}


@torch.no_grad()
def evaluate(gen, t, items):
    gen.eval()
    ems = []
    for it in items:
        ids, mask = common.pad([t.encode(it["context"])[:common.MAX_CONTEXT]])
        lora = gen(ids, mask)
        prompts = [t.encode(common.closed_prompt(qa["question"])) for qa in it["qas"]]
        idx = torch.zeros(len(prompts), dtype=torch.long)
        outs = common.greedy(gen.base, prompts, lora=expand(lora, idx))
        ems += [common.em(t.decode(o), qa["answer"]) for o, qa in zip(outs, it["qas"])]
    gen.train()
    return sum(ems) / len(ems)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=3000)
    ap.add_argument("--docs", type=int, default=16)
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--mk", type=int, default=64)
    ap.add_argument("--norm", default="frobenius")
    ap.add_argument("--recon", type=float, default=0.0, help="weight of a document-reconstruction LM loss")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--eval_every", type=int, default=500)
    ap.add_argument("--out", default=os.path.join(common.CKPT, "ga.pt"))
    ap.add_argument("--init", default="", help="continue from this generator checkpoint")
    ap.add_argument("--warmup", type=int, default=100)
    args = ap.parse_args()
    common.setup(seed=args.seed)
    t = common.get_tok()
    pools = data.splits()
    forbidden = data.heldout_names(pools)
    base = common.load_base()
    gen = hyper.GAGenerator(base, GROUPS, r=common.LORA_R, mk=args.mk, norm=args.norm)
    if args.init:
        gen.load_state_dict(torch.load(args.init)["state"], strict=False)
        print("initialised from", args.init, flush=True)
    params = [p for n, p in gen.named_parameters() if not n.startswith("base.")]
    print("generator params", sum(p.numel() for p in params), flush=True)
    opt = torch.optim.AdamW(params, lr=args.lr, betas=(0.9, 0.98), weight_decay=0.0)
    warm = args.warmup
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: min(1.0, (s + 1) / warm) * (
        0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * min(1.0, s / args.steps)))))
    val = common.eval_set("ga_val", pools, seed=99)[:60]
    rng = random.Random(args.seed + 1)
    t0, run, best = time.time(), 0.0, -1.0
    scaling = common.LORA_ALPHA / common.LORA_R
    for step in range(1, args.steps + 1):
        docs, rows = make_batch(t, rng, pools, forbidden, args.docs)
        ids, mask = common.pad(docs)
        lora = gen(ids, mask)
        idx = torch.tensor([i for i, _ in rows])
        qi, qm, ql, qw = common.lm_batch([r for _, r in rows])
        loss = common.weighted_ce(base(qi, qm, lora=expand(lora, idx), scaling=scaling), ql, qw)
        if args.recon > 0:
            di, dm, dl, dw = common.lm_batch([(d, [], 1.0) for d in docs])
            loss = loss + args.recon * common.weighted_ce(
                base(di, dm, lora=lora, scaling=scaling), dl, dw)
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step(); sched.step()
        run = 0.98 * run + 0.02 * loss.item() if step > 1 else loss.item()
        if step % 50 == 0:
            print(f"step {step} loss {run:.3f} {time.time() - t0:.0f}s", flush=True)
        if step % args.eval_every == 0 or step == args.steps:
            v = evaluate(gen, t, val)
            print(f"eval {step} val_em {v:.3f}", flush=True)
            if v >= best:
                best = v
                torch.save({"args": vars(args), "groups": GROUPS, "step": step, "val_em": v,
                            "state": {k: p.detach().clone() for k, p in gen.named_parameters()
                                      if not k.startswith("base.")}}, args.out)
    print("done", time.time() - t0, "best val_em", best, flush=True)


if __name__ == "__main__":
    main()
