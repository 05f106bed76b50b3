"""Train the IAG (IMcQA implicit imagination) hypernetwork by distillation, base frozen.

Student: base + adapter generated from the QUESTION, closed-book prompt.
Teacher: the same frozen base with the entity's document in its prompt.
Loss: KL(teacher || student) on the answer tokens (teacher-forced gold answer + EOS).
Questions: mem_train entities only (their documents were in the base's pre-training corpus),
in template AND reworded shapes (v2; the held-out shapes are never used); teacher documents in
template + reworded sentence shapes; model selection on mem_val; mem_test is never used here.

/usr/bin/python3 models/training/train_iag.py --steps 1200 --max_minutes 12
"""
import argparse, math, os, random, time, json
import torch
import torch.nn.functional as F
import data, tok, lm, common, hyper, evalsets

GROUPS = lm.ALL_GROUPS


@torch.no_grad()
def evaluate(hn, t, items):
    hn.eval()
    qs = [(qa["question"], qa["answer"]) for it in items for qa in it["qas"]]
    ems = []
    for i in range(0, len(qs), 64):
        sub = qs[i:i + 64]
        ids, mask = common.pad([t.encode(q) for q, _ in sub])
        lora = hn(ids, mask)
        outs = common.greedy(hn.base, [t.encode(common.closed_prompt(q)) for q, _ in sub], lora=lora)
        ems += [common.em(t.decode(o), a) for o, (_, a) in zip(outs, sub)]
    hn.train()
    return sum(ems) / len(ems)


def init_from_onnx(hn, path):
    """Every Linear from its exported MatMul (weight transposed) + named bias; the layer
    embedding is the one [1, L, emb] constant the graph expands."""
    m, init = common.onnx_initializers(path)
    made_by = {o: n for n in m.graph.node for o in n.output}
    state = {}
    for n in m.graph.node:
        bias = [x for x in n.input if x.startswith("gen.") and x.endswith(".bias")]
        if n.op_type != "Add" or not bias:
            continue
        mm = made_by[[x for x in n.input if x != bias[0]][0]]
        w = [x for x in mm.input if x in init][0]
        name = bias[0][len("gen."):-len(".bias")]
        state[name + ".weight"], state[name + ".bias"] = init[w].T.contiguous(), init[bias[0]]
    emb = [v for k, v in init.items() if k.startswith("onnx::Expand") and v.dim() == 3 and v.shape[1] == hn.L]
    assert len(emb) == 1, "expected one layer-embedding constant"
    state["layer_emb"] = emb[0][0]
    common.copy_params(hn, state, f"hypernetwork from {path}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=2500)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--hidden", type=int, default=64)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=2, help="torch threads (1 when two trainers share the 2 cores)")
    ap.add_argument("--eval_every", type=int, default=500)
    ap.add_argument("--out", default=os.path.join(common.CKPT, "iag.pt"))
    ap.add_argument("--max_minutes", type=float, default=0)
    ap.add_argument("--init_onnx", default="", help="start from a shipped iag generator.onnx of the same shapes")
    ap.add_argument("--stop_after", type=int, default=0,
                    help="stop after this many steps (the lr schedule still assumes --steps)")
    args = ap.parse_args()
    common.setup(threads=args.threads, seed=args.seed)
    t = common.get_tok()
    pools = data.splits()
    base = common.load_base()
    hn = hyper.IAGHyperNet(base, GROUPS, r=common.LORA_R, hidden=args.hidden)
    if args.init_onnx:
        init_from_onnx(hn, args.init_onnx)
    params = [p for n, p in hn.named_parameters() if not n.startswith("base.")]
    print("hypernet params", sum(p.numel() for p in params), flush=True)
    opt = torch.optim.AdamW(params, lr=args.lr, betas=(0.9, 0.98), weight_decay=0.0)
    warm = 100
    t0 = time.time()
    prog = lambda s: max(s / args.steps, (time.time() - t0) / 60 / args.max_minutes if args.max_minutes else 0)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: min(1.0, (s + 1) / warm) * (
        0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * min(1.0, prog(s))))))
    train = pools["mem_train"]
    val = evalsets.mem_items("mem_val", pools, 99, q_styles=data.TRAIN_STYLES)
    rng = random.Random(args.seed + 2)
    scaling = common.LORA_ALPHA / common.LORA_R
    run, best = 0.0, -1.0
    if args.init_onnx:   # where the initialisation starts, on this base
        print(f"eval 0 val_em {evaluate(hn, t, val):.3f}", flush=True)
    for step in range(1, args.steps + 1):
        ents = [rng.choice(train) for _ in range(args.batch)]
        qa = [rng.choice(data.questions(e, rng, all_templates=True, styles=data.TRAIN_STYLES))
              for e in ents]
        teach = [common.qa_ids(t, common.context_prompt(data.render_doc(e, rng, styles=data.TRAIN_STYLES),
                                                        q), a) + (0.0,)
                 for e, (q, a, _) in zip(ents, qa)]
        stud = [common.qa_ids(t, common.closed_prompt(q), a) + (0.0,) for q, a, _ in qa]
        with torch.no_grad():
            ti, tm, _, _ = common.lm_batch(teach)
            tp = common.answer_positions(teach)
            tlog = F.log_softmax(base(ti, tm)[tp[:, 0], tp[:, 1]], -1)
        qi, qm = common.pad([t.encode(q) for q, _, _ in qa])
        lora = hn(qi, qm)
        si, sm, _, _ = common.lm_batch(stud)
        sp = common.answer_positions(stud)
        slog = F.log_softmax(base(si, sm, lora=lora, scaling=scaling)[sp[:, 0], sp[:, 1]], -1)
        loss = F.kl_div(slog, tlog, log_target=True, reduction="batchmean")
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step(); sched.step()
        run = 0.98 * run + 0.02 * loss.item() if step > 1 else loss.item()
        if step % 50 == 0:
            print(f"step {step} kl {run:.3f} {time.time() - t0:.0f}s", flush=True)
        last = step == args.steps or prog(step) >= 1.0
        if step % args.eval_every == 0 or last:
            v = evaluate(hn, t, val)
            print(f"eval {step} val_em {v:.3f}", flush=True)
            if v >= best:
                best = v
                torch.save({"args": vars(args), "groups": GROUPS, "step": step, "val_em": v,
                            "state": {k: p.detach().clone() for k, p in hn.named_parameters()
                                      if not k.startswith("base.")}}, args.out)
        if last or (args.stop_after and step >= args.stop_after):
            break
    print("done", time.time() - t0, "best val_em", best, flush=True)


if __name__ == "__main__":
    main()
