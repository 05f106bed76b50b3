"""Train the generative-adapter generator end to end (base frozen): the adapter generated from
a document must make the base answer questions about it with the CLOSED-BOOK prompt.

v2: documents of 1..16 windows (data.build_document, windows packed by data.pack_ids); every
window is read separately, the windows' additive states are SUMMED (hyper.GAGenerator.
sum_windows) and one adapter per document is made from the sum; questions about facts in any
window. Window counts are mixed (--mix), so single-window quality stays high.
Training entities: ga_train names with fresh attributes; model selection on ga_val.

/usr/bin/python3 models/training/train_ga.py --steps 3000 --max_minutes 30
"""
import argparse, math, os, random, time, json
import torch
import torch.nn.functional as F
import data, tok, lm, common, hyper, evalsets
from ga_aux import entity_facts_loss, make_batch, parse_boost, retrieval_loss

GROUPS = lm.ALL_GROUPS


def expand(lora, idx):
    return {g: (A[idx], B[idx]) for g, (A, B) in lora.items()}


@torch.no_grad()
def doc_adapter(gen, t, windows):
    ids, mask = common.pad([t.encode(w) for w in windows])
    S = gen.states(ids, mask)
    return gen.from_states({g: s.sum(0, keepdim=True) for g, s in S.items()})


@torch.no_grad()
def evaluate(gen, t, items):
    gen.eval()
    ems = []
    for it in items:
        lora = doc_adapter(gen, t, it["windows"])
        prompts = [t.encode(common.closed_prompt(qa["question"])) for qa in it["qas"]]
        outs = common.greedy(gen.base, prompts, lora=expand(lora, torch.zeros(len(prompts), dtype=torch.long)))
        ems += [common.em(t.decode(o), qa["answer"]) for o, qa in zip(outs, it["qas"])]
    gen.train()
    return sum(ems) / len(ems)


def init_from_onnx(gen, path):
    """A1, A2, A3 and gain by their initializer names; B is the constant each lora_B output expands."""
    m, init = common.onnx_initializers(path)
    state = {f"{name}.{g}": init[f"gen.{name}.{g}"] for name in ("A1", "A2", "A3", "gain") for g in gen.groups}
    if gen.norm == "growth":   # not in a frobenius graph: q = 0 (the same function), ref set from data later
        state.update({f"{name}.{g}": getattr(gen, name)[g].detach().clone()
                      for name in ("growth", "ref") for g in gen.groups})
    for n in m.graph.node:
        for o in n.output:
            if o.startswith("lora_B__") and n.op_type == "Expand":
                g = o[len("lora_B__"):]
                state[f"B.{g}"] = init[n.input[0]].reshape(gen.B[g].shape)
    common.copy_params(gen, state, f"generator from {path}")


@torch.no_grad()
def widen(gen, old):
    """gen (mk, r) from old (mk0 <= mk, r0 <= r): A2/A1 keep old's keys first, new keys small; A3/B
    keep old's value columns first, new value columns small in A3 and zero in B (so the adapter is
    old's exactly but for the norm's small share of the new columns); the gain scaled by
    sqrt(mk0 r0 / (mk r)), which cancels the larger sqrt(mk r) of the normalisation."""
    k0, r0 = old.mk, old.r
    for g in gen.groups:
        gen.A2[g][:, :, :k0] = old.A2[g]
        gen.A2[g][:, :, k0:] *= 0.1
        gen.A1[g][:, :k0] = old.A1[g]
        gen.A1[g][:, k0:] *= 0.1
        gen.A3[g][:, :, :r0] = old.A3[g]
        gen.A3[g][:, :, r0:] *= 0.1
        gen.B[g][:, :, :r0] = old.B[g]
        gen.B[g][:, :, r0:] = 0.0
        gen.gain[g].copy_(old.gain[g] * math.sqrt(k0 * r0 / (gen.mk * gen.r)))
        if gen.gate and old.gate:
            gen.gate_w[g].copy_(old.gate_w[g])
            gen.gate_b[g].copy_(old.gate_b[g])
        if gen.norm == "growth":
            gen.growth[g].copy_(old.growth[g])
            gen.ref[g].copy_(old.ref[g])
    print(f"widened mk {k0} -> {gen.mk}, r {r0} -> {gen.r}", flush=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=3000)
    ap.add_argument("--max_minutes", type=float, default=0)
    ap.add_argument("--docs", type=int, default=12)
    ap.add_argument("--q_per_doc", type=int, default=8)
    ap.add_argument("--mix", default="0.4,0.3,0.15,0.15")
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--mk", type=int, default=64)
    ap.add_argument("--norm", default="frobenius")
    ap.add_argument("--gate", action="store_true", help="per-token write gate (hyper.GAGenerator)")
    ap.add_argument("--shift", action="store_true", help="token-shift keys (hyper.GAGenerator): a key "
                    "also sees the previous token; A2s starts at zero")
    ap.add_argument("--ctx", type=int, default=-1, help="contextual keys/values from this layer's output "
                    "(hyper.GAGenerator; zero at the start)")
    ap.add_argument("--zkeys", action="store_true", help="down_proj's keys also read the base's MLP "
                    "activations (hyper.GAGenerator: the space down_proj's query reads; zero at the start)")
    ap.add_argument("--vnext", action="store_true", help="look-ahead values: v_t also reads token t+1 "
                    "(hyper.GAGenerator: the second token of a two-token value rides in the first's slot; zero at the start)")
    ap.add_argument("--ls", default="", help="least-squares read at these layers:modules, e.g. "
                    "'0:gate_proj,up_proj,down_proj' (hyper.GAGenerator; starts near the Hebbian read)")
    ap.add_argument("--ctxb", action="store_true", help="context-dependent B (hyper.GAGenerator; zero at the start)")
    ap.add_argument("--off", default="", help="layers whose LoRA is off (lora_A zero), e.g. '0'")
    ap.add_argument("--ls_lam", type=float, default=10.0, help="--ls: lam at the start, in units of tr(G)/mk")
    ap.add_argument("--ls_freeze", action="store_true", help="--ls: lam stays at --ls_lam")
    ap.add_argument("--new_lr", type=float, default=1.0, help="learning-rate multiplier of the zero-initialised "
                    "additions (A2s, A2c/A3c, A2z, A3n, loglam, U/bgain)")
    ap.add_argument("--efacts", type=float, default=0.0, help="weight of the entity-facts loss "
                    "(ga_aux.entity_facts_loss): at a question's entity name, the adapted layer-0 output "
                    "predicts that entity's values (a training-only linear head)")
    ap.add_argument("--drop0", type=float, default=0.0, help="share of steps whose adapters lose layer 0's "
                    "LoRA (the one the shipped adapters answer from), so the deeper layers learn to answer")
    ap.add_argument("--gate_db", type=float, default=0.0, help="added to every write gate's bias at the "
                    "start: the shipped gates sit at sigmoid(4) = 0.98, where they barely learn (-4: back to 0.5)")
    ap.add_argument("--prenorm", action="store_true", help="normalise each window's state before the sum")
    ap.add_argument("--topk", type=int, default=0, help="sparse keys: each token keeps its topk largest |key| "
                    "entries (experiment; export does not support it yet)")
    ap.add_argument("--r", type=int, default=common.LORA_R, help="LoRA rank (value dimensions); above the "
                    "checkpoint's, give --widen_from (its mk) and --from_r (its r); lora_alpha stays 2r")
    ap.add_argument("--from_r", type=int, default=common.LORA_R)
    ap.add_argument("--from_gate", action="store_true", help="the checkpoint being widened has a write gate")
    ap.add_argument("--widen_from", type=int, default=0, help="--init/--init_onnx has this mk (< --mk): "
                    "its weights fill the first keys, the new keys start small (nearly the same function)")
    ap.add_argument("--kd", type=float, default=0.0, help="weight of KL(base reading the fact's window || "
                    "adapted base, closed-book) on the answer tokens; 1 - kd stays on the gold answer")
    ap.add_argument("--retr", type=float, default=0.0, help="weight of the auxiliary retrieval loss "
                    "(retrieval_loss: the state's read at a question points at the answer's tokens)")
    ap.add_argument("--retr_at", default="1,2,3:q_proj,k_proj,v_proj", help="layers:modules the retrieval "
                    "loss reads (the shipped adapters answer from layer 0's MLP: '0:gate_proj,up_proj,down_proj')")
    ap.add_argument("--retr2", action="store_true", help="the retrieval loss also at the second step of "
                    "two-token answers (pointing at the surname after the first name)")
    ap.add_argument("--recon", type=float, default=0.5, help="weight of a window-reconstruction LM loss")
    ap.add_argument("--boost", default="", help="'ceo,mayor=4': questions about these attributes are drawn "
                    "4x as often from a document's facts (the two-word person-name values the adapter misses)")
    ap.add_argument("--ents", default="1,1,2,3,0", help="max entities of a one-window training document, "
                    "drawn from this list (0: as many as fit)")
    ap.add_argument("--same_kind_p", type=float, default=0.4, help="share of documents whose entities are "
                    "all of one kind (distractors: two entities state the same attribute)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=2, help="torch threads (1 when two trainers share the 2 cores)")
    ap.add_argument("--eval_every", type=int, default=400)
    ap.add_argument("--snap_every", type=int, default=0, help="also save the state every N steps as "
                    "<out>.step<N> (the best-validation checkpoint follows a 4-document 4-window score)")
    ap.add_argument("--out", default=os.path.join(common.CKPT, "ga.pt"))
    ap.add_argument("--init", default="", help="continue from this generator checkpoint")
    ap.add_argument("--init_onnx", default="", help="start from a shipped generator.onnx of the same shapes "
                    "(e.g. v1's: the same function, since its 1/T scale is cancelled by the Frobenius norm)")
    ap.add_argument("--warmup", type=int, default=100)
    ap.add_argument("--base", default="", help="base checkpoint (default ckpt/base.pt)")
    args = ap.parse_args()
    common.setup(threads=args.threads, seed=args.seed)
    t = common.get_tok()
    cnt = evalsets.counter(t)
    pools = data.splits()
    forbidden = data.heldout_names(pools)
    base = common.load_base(args.base or None)
    gen = hyper.GAGenerator(base, GROUPS, r=args.r, mk=args.mk, norm=args.norm, gate=args.gate,
                            prenorm=args.prenorm, topk=args.topk, shift=args.shift,
                            ctx=args.ctx, zkeys=args.zkeys, vnext=args.vnext, ls=args.ls, ls_lam=args.ls_lam, off=args.off, ctxb=args.ctxb)
    src_gen = gen if not args.widen_from else hyper.GAGenerator(base, GROUPS, r=args.from_r, mk=args.widen_from,
                                                                norm=args.norm, gate=args.from_gate)
    if args.init:
        src_gen.load_state_dict(torch.load(args.init)["state"], strict=False)
        print("initialised from", args.init, flush=True)
    if args.init_onnx:
        init_from_onnx(src_gen, args.init_onnx)
    if args.widen_from:
        widen(gen, src_gen)
    if args.ls_freeze:
        for p in gen.loglam.values():
            p.requires_grad_(False)
    if args.gate_db:   # a uniform gate scale cancels in the state's normalisation; its slope does not
        with torch.no_grad():
            for g in gen.groups:
                gen.gate_b[g] += args.gate_db
    if args.norm == "growth" and not args.init:
        wins, widx, _, _ = make_batch(t, random.Random(args.seed + 7), data.entity_source(
            random.Random(args.seed + 7), pools["ga_train"], forbidden), cnt, args.docs, "1,0,0,0", args.q_per_doc)
        ids, mask = common.pad(wins)
        with torch.no_grad():
            gen.set_reference(gen.states(ids, mask))
        print("growth reference norms", {g: [round(x, 1) for x in gen.ref[g].flatten().tolist()] for g in gen.groups}, flush=True)
    named = [(n, p) for n, p in gen.named_parameters() if not n.startswith("base.") and p.requires_grad]
    params = [p for _, p in named]
    print("generator params", sum(p.numel() for p in params), "state size", gen.state_size(), flush=True)
    head = torch.nn.Linear(base.c.d, base.c.vocab) if args.efacts else None   # training-only
    # The zero-initialised additions (A2s, A2c/A3c, A2z, A3n; --ls's loglam, --ctxb's U/bgain) may learn faster than the trained rest.
    is_added = lambda n: n.split(".")[0] in ("A2s", "A2c", "A3c", "A2z", "A3n", "loglam", "U", "bgain")
    added = [p for n, p in named if is_added(n)]
    rest = [p for n, p in named if not is_added(n)]
    groups = [{"params": rest + (list(head.parameters()) if head else [])}]
    if added:
        groups.append({"params": added, "lr": args.lr * args.new_lr})
    opt = torch.optim.AdamW(groups, lr=args.lr, betas=(0.9, 0.98), weight_decay=0.0)
    t0 = time.time()
    prog = lambda s: max(s / args.steps, (time.time() - t0) / 60 / args.max_minutes if args.max_minutes else 0)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: min(1.0, (s + 1) / args.warmup) * (
        0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * min(1.0, prog(s))))))
    val1 = evalsets.ga_docs("ga_val", pools, t, 15, 1, seed=99, styles=data.TRAIN_STYLES,
                            q_styles=data.TRAIN_STYLES)
    val4 = evalsets.ga_docs("ga_val", pools, t, 4, 4, seed=99, styles=data.TRAIN_STYLES,
                            q_styles=data.TRAIN_STYLES, max_q=24)
    rng = random.Random(args.seed + 1)
    src = data.entity_source(rng, pools["ga_train"], forbidden)
    boost = parse_boost(args.boost)
    retr_at = ([int(x) for x in args.retr_at.split(":")[0].split(",")], args.retr_at.split(":")[1].split(","))
    ents = [int(x) or None for x in args.ents.split(",")]
    run, rrun, erun, best = 0.0, 0.0, 0.0, -1.0
    scaling = common.LORA_ALPHA / common.LORA_R
    if args.init or args.init_onnx:   # where the initialisation starts, on this base
        print(f"eval 0 val_em_1win {evaluate(gen, t, val1):.3f} val_em_4win {evaluate(gen, t, val4):.3f}", flush=True)
    for step in range(1, args.steps + 1):
        meta = [] if args.efacts else None
        wins, widx, rows, recon = make_batch(t, rng, src, cnt, args.docs, args.mix, args.q_per_doc,
                                              teacher=args.kd > 0, boost=boost, ents=ents,
                                              same_kind_p=args.same_kind_p, meta=meta)
        ids, mask = common.pad(wins)
        hs = None
        if args.retr > 0:   # the windows' base pass, shared by the states and the retrieval loss
            with torch.no_grad():
                _, hs = base(ids, mask, return_hidden=True)
        S = gen.sum_windows(gen.states(ids, mask, hs), widx, args.docs)
        lora = gen.from_states(S)
        if args.drop0 and random.random() < args.drop0:
            keep = torch.ones(1, base.c.n_layers, 1, 1)
            keep[:, 0] = 0
            lora = {g: (A * keep, B) for g, (A, B) in lora.items()}
        idx = torch.tensor([i for i, _, _ in rows])
        stud = [r for _, r, _ in rows]
        qi, qm, ql, qw = common.lm_batch(stud)
        logits = base(qi, qm, lora=expand(lora, idx), scaling=scaling, return_hidden=bool(args.efacts))
        if args.efacts:
            logits, qh = logits
        loss = common.weighted_ce(logits, ql, qw)
        if args.efacts:
            el = entity_facts_loss(head, qh[0], [p for p, _, _ in stud], meta)
            loss = loss + args.efacts * el
            erun = 0.98 * erun + 0.02 * float(el) if step > 1 else float(el)
        if args.kd > 0:   # distil the base reading the fact's window (as IAG does with its document)
            teach = [r for _, _, r in rows]
            with torch.no_grad():
                ti, tm, _, _ = common.lm_batch(teach)
                tp = common.answer_positions(teach)
                tlog = F.log_softmax(base(ti, tm)[tp[:, 0], tp[:, 1]], -1)
            sp = common.answer_positions(stud)
            slog = F.log_softmax(logits[sp[:, 0], sp[:, 1]], -1)
            loss = (1 - args.kd) * loss + args.kd * F.kl_div(slog, tlog, log_target=True, reduction="batchmean")
        if args.retr > 0:
            rl = retrieval_loss(gen, hs, ids, mask, widx, args.docs, rows, *retr_at, second=args.retr2)
            loss = loss + args.retr * rl
            rrun = 0.98 * rrun + 0.02 * float(rl) if step > 1 else float(rl)
        if args.recon > 0:
            di, dm, dl, dw = common.lm_batch([(d, [], 1.0) for d in recon])
            loss = loss + args.recon * common.weighted_ce(
                base(di, dm, lora=lora, scaling=scaling), dl, dw)
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step(); sched.step()
        run = 0.98 * run + 0.02 * loss.item() if step > 1 else loss.item()
        if step % 50 == 0:
            print(f"step {step} loss {run:.3f}" + (f" retr {rrun:.3f}" if args.retr > 0 else "") +
                  (f" efacts {erun:.3f}" if args.efacts else "") +
                  f" {time.time() - t0:.0f}s", flush=True)
        last = step == args.steps or prog(step) >= 1.0
        if step % args.eval_every == 0 or last:
            v1, v4 = evaluate(gen, t, val1), evaluate(gen, t, val4)
            v = 0.5 * (v1 + v4)
            print(f"eval {step} val_em_1win {v1:.3f} val_em_4win {v4:.3f}" + (" loglam " + str(
                {g: [round(x, 2) for x in p.flatten().tolist()] for g, p in gen.loglam.items()}) if gen.ls_at else ""), flush=True)
            if v >= best:
                best = v
                torch.save({"args": vars(args), "groups": GROUPS, "step": step, "val_em": v,
                            "val_em_1": v1, "val_em_4": v4,
                            "state": {k: p.detach().clone() for k, p in gen.named_parameters()
                                      if not k.startswith("base.")}}, args.out)
        if args.snap_every and (step % args.snap_every == 0 or last):
            torch.save({"args": vars(args), "groups": GROUPS, "step": step,
                        "state": {k: p.detach().clone() for k, p in gen.named_parameters()
                                  if not k.startswith("base.")}}, f"{args.out}.step{step}")
        if last:
            break
    print("done", time.time() - t0, "best val", best, flush=True)


if __name__ == "__main__":
    main()
