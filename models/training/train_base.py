"""Train the tiny base LM: reading comprehension with a document window in the prompt (v2
documents: 1-3 entities, template + reworded shapes, fillers, later windows of long documents;
ga_train names with fresh attributes) + plain LM on documents of the memorised pools (mem_*),
whose QUESTIONS the base never sees. Writes ckpt/base.pt.

/usr/bin/python3 models/training/train_base.py --steps 2000 --max_minutes 34
(the cosine schedule follows max(step/steps, minutes/max_minutes), so a time limit still ends
at the low learning rate)
"""
import argparse, math, os, random, time, json
import torch
import data, tok, lm, common, evalsets


def rc_item(t, rng, src, cnt, other_w=0.2, max_q=8, single_p=0.0, ents=(1, 1, 2, 3, None),
            same_kind_p=0.4):
    """'{window} question: q1 answer: a1 [EOS] question: q2 answer: a2 [EOS] ...' for up to
    max_q of the window's facts (random order, template or reworded question shapes).
    Weights: answers+EOS 1.0, everything else other_w."""
    src.reset()
    u = rng.random()
    if u < single_p:    # curriculum: one entity, all its facts
        doc = data.build_document(rng, src, 1, cnt, max_entities=1)
        wi = 0
    elif u < single_p + (1 - single_p) * 0.25:        # a later window of a longer document
        doc = data.build_document(rng, src, rng.randint(2, 3), cnt, fill=True, same_kind_p=same_kind_p)
        wi = len(doc["windows"]) - 1
    else:
        doc = data.build_document(rng, src, 1, cnt, max_entities=rng.choice(ents),
                                  fill=rng.random() < 0.3, same_kind_p=same_kind_p)
        wi = 0
    facts = [f for w, s, f in data.doc_facts(doc) if w == wi]
    rng.shuffle(facts)
    ids, aux = window_ids_with_binding(t, doc["windows"][wi])
    w = [other_w] * len(ids)
    for n, a, v in facts[:max_q]:
        q = data.question_text(doc["entities"][n], a, rng.choice(data.TRAIN_STYLES), rng)
        p = t.encode(data.PROMPT_CLOSED.format(question=q))
        tg = t.encode(v) + [tok.EOS]
        name = t.encode(n)
        at = find(p, name)
        if at >= 0 and len(name) == 2:  # from the question's name to "answer:": whose fact is asked
            aux += [(len(ids) + k, name[0], name[1], -100) for k in range(at + 1, len(p))]
        ids += p + tg
        w += [other_w] * len(p) + [1.0] * len(tg)
    return ids, w, aux


def find(seq, sub):
    """Index of the last token of the first occurrence of `sub` in `seq`, or -1."""
    for i in range(len(seq) - len(sub) + 1):
        if seq[i:i + len(sub)] == sub:
            return i + len(sub) - 1
    return -1


def window_ids_with_binding(t, sentences):
    """The window's ids (sentence by sentence: the same ids as encoding the joined text) and
    auxiliary binding labels: in each fact sentence, every token from the point where both the
    entity's name and the value have been read carries (name token 1, name token 2, value token
    1) — the features a later question must match. Pair sentences (two values) get no value label."""
    ids, aux = [], []
    for st in sentences:
        sid = t.encode(st["text"])
        if st["facts"]:
            name = t.encode(st["facts"][0][0])
            vals = {f[2] for f in st["facts"]}
            v = t.encode(next(iter(vals))) if len(vals) == 1 else None
            a, b = find(sid, name), (find(sid, v) if v else -1)
            start = max(a, b) if v else a
            if a >= 0 and len(name) == 2 and (not v or b >= 0):
                aux += [(len(ids) + k, name[0], name[1], v[0] if v else -100) for k in range(start, len(sid))]
        ids += sid
    return ids, aux


def mem_item(t, rng, mem):
    ids = t.encode(data.render_doc(rng.choice(mem), rng, styles=data.TRAIN_STYLES))
    return ids, [1.0] * len(ids), []


def batch(items):
    """items: (ids, weights-of-predicting-each-token, binding labels). Next-token labels; weight
    of label t+1; aux [b, T, 3] (name token 1, name token 2, value token; -100 = none)."""
    ids, mask = common.pad([i for i, _, _ in items])
    labels = torch.full_like(ids, -100)
    aux = torch.full(ids.shape + (3,), -100, dtype=torch.long)
    w = torch.zeros(ids.shape, dtype=torch.float)
    for r, (s, ws, ax) in enumerate(items):
        n = len(s)
        labels[r, :n - 1] = ids[r, 1:n]
        w[r, :n - 1] = torch.tensor(ws[1:])
        if ax:
            aux[r, [x[0] for x in ax]] = torch.tensor([x[1:] for x in ax])
    return ids, mask, labels, w, aux


@torch.no_grad()
def evaluate(model, t, val):
    model.eval()
    prompts, golds, ents, dis = [], [], [], []
    for it in val:
        for qa in it["qas"]:
            prompts.append(t.encode(common.context_prompt(it["windows"][qa["window"]], qa["question"])))
            golds.append(qa["answer"])
            ents.append(qa["n_ents"])
            dis.append(bool(qa.get("distractor")))
    ems = []
    for i in range(0, len(prompts), 64):
        outs = common.greedy(model, prompts[i:i + 64])
        ems += [common.em(t.decode(o), g) for o, g in zip(outs, golds[i:i + 64])]
    model.train()
    multi = [e for e, n in zip(ems, ents) if n > 1]
    # Questions whose attribute another entity of the window also has: the binding cases.
    bound = [e for e, d in zip(ems, dis) if d]
    return {"rc_em": sum(ems) / len(ems), "multi_em": sum(multi) / max(1, len(multi)),
            "distractor_em": sum(bound) / max(1, len(bound)), "n": len(ems)}


def init_from_hf(model, hf):
    """Every weight of an earlier base of the same architecture; embeddings remapped by token."""
    import hf_check
    old, _ = hf_check.load_hf(hf)
    old_vocab = json.load(open(os.path.join(hf, "tokenizer.json")))["model"]["vocab"]
    new_vocab = json.load(open(common.TOKENIZER))["model"]["vocab"]
    state = old.state_dict()
    emb_key = "model.embed_tokens.weight"
    emb = model.state_dict()[emb_key].clone()
    moved = 0
    for w, i in old_vocab.items():
        if w in new_vocab:
            emb[new_vocab[w]] = state[emb_key][i]
            moved += 1
    state[emb_key] = emb
    model.load_state_dict(state)
    print(f"initialised from {hf}: {moved} of {len(new_vocab)} token embeddings carried over", flush=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=2000)
    ap.add_argument("--max_minutes", type=float, default=0)
    ap.add_argument("--rc", type=int, default=16)
    ap.add_argument("--mem", type=int, default=8)
    ap.add_argument("--other_w", type=float, default=0.2, help="loss weight of non-answer tokens")
    ap.add_argument("--single_p", type=float, default=0.0, help="share of one-entity documents")
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=2, help="torch threads (1 when two trainers share the 2 cores)")
    ap.add_argument("--eval_every", type=int, default=250)
    ap.add_argument("--out", default=os.path.join(common.CKPT, "base.pt"))
    ap.add_argument("--init", default="", help="continue from this checkpoint")
    ap.add_argument("--init_hf", default="", help="start from a shipped base's hf/ directory (e.g. v1's), "
                    "its embedding rows moved to this vocabulary's ids by token string; new tokens start random")
    ap.add_argument("--warmup", type=int, default=100)
    ap.add_argument("--ents", default="1,1,2,3,0", help="max entities per one-window document, drawn "
                    "uniformly from this list (0: no limit); e.g. 2,3,0 for multi-entity reading only")
    ap.add_argument("--same_kind_p", type=float, default=0.4, help="share of multi-entity documents "
                    "whose entities are all of one kind (so they share attribute types: the cases "
                    "where the base must bind a value to the right entity)")
    ap.add_argument("--aux_w", type=float, default=0.0, help="weight of the auxiliary binding loss: "
                    "linear heads on layer --aux_layer's output predict, at each token of a fact "
                    "sentence (once name and value are read) and of a question, the entity's name "
                    "tokens (and the sentence's value) — one side each of the name-matching circuit")
    ap.add_argument("--aux_layer", type=int, default=1)
    ap.add_argument("--val_docs", type=int, default=24)
    ap.add_argument("--best", default="", help="also keep the checkpoint with the best multi-entity "
                    "validation EM here")
    args = ap.parse_args()
    ents = tuple(int(x) or None for x in args.ents.split(","))
    common.setup(threads=args.threads, seed=args.seed)
    t = common.get_tok()
    cnt = evalsets.counter(t)
    pools = data.splits()
    forbidden = data.heldout_names(pools)
    mem = pools["mem_train"] + pools["mem_val"] + pools["mem_test"]
    val = evalsets.ga_docs("ga_val", pools, t, args.val_docs, 1, seed=99, styles=data.TRAIN_STYLES,
                           q_styles=data.TRAIN_STYLES)
    cfg = lm.Cfg(vocab=t.size)
    model = lm.TinyLM(cfg)
    if args.init_hf:
        init_from_hf(model, args.init_hf)
    if args.init:
        model.load_state_dict(torch.load(args.init)["state"])
        print("initialised from", args.init, flush=True)
    print("params", sum(p.numel() for p in model.parameters()), flush=True)
    # The auxiliary heads are training-only (not in the checkpoint's state).
    heads = torch.nn.ModuleList([torch.nn.Linear(cfg.d, cfg.vocab) for _ in range(3)])
    params = list(model.parameters()) + (list(heads.parameters()) if args.aux_w else [])
    opt = torch.optim.AdamW(params, lr=args.lr, betas=(0.9, 0.98), weight_decay=0.0)
    rng = random.Random(args.seed)
    src = data.entity_source(rng, pools["ga_train"], forbidden)
    t0 = time.time()
    prog = lambda s: max(s / args.steps, (time.time() - t0) / 60 / args.max_minutes if args.max_minutes else 0)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: min(1.0, (s + 1) / args.warmup) * (
        0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * min(1.0, prog(s))))))
    run, best = 0.0, -1.0
    for step in range(1, args.steps + 1):
        items = [rc_item(t, rng, src, cnt, args.other_w, single_p=args.single_p, ents=ents,
                         same_kind_p=args.same_kind_p)
                 for _ in range(args.rc)] + \
                [mem_item(t, rng, mem) for _ in range(args.mem)]
        tot, wsum = 0.0, 0.0
        aux_loss = torch.zeros(())
        for pi, part in enumerate((items[:args.rc], items[args.rc:])):
            ids, mask, labels, w, aux = batch(part)
            logits, hid = model(ids, mask, return_hidden=True)
            ce = torch.nn.functional.cross_entropy(logits.reshape(-1, cfg.vocab),
                                                   labels.reshape(-1).clamp(min=0), reduction="none")
            w = w.reshape(-1) * (labels.reshape(-1) >= 0).float()
            tot = tot + (ce * w).sum()
            wsum += w.sum().item()
            if args.aux_w and pi == 0 and (aux >= 0).any():
                h = lm.rms(hid[args.aux_layer])
                for k in range(3):
                    lab = aux[..., k].reshape(-1)
                    if (lab >= 0).any():
                        aux_loss = aux_loss + torch.nn.functional.cross_entropy(
                            heads[k](h).reshape(-1, cfg.vocab), lab, ignore_index=-100) / 3
        loss = tot / wsum + args.aux_w * aux_loss
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step(); sched.step()
        run = 0.98 * run + 0.02 * loss.item() if step > 1 else loss.item()
        if step % 50 == 0:
            print(f"step {step} loss {run:.3f} aux {aux_loss.item():.3f} lr {sched.get_last_lr()[0]:.2e} "
                  f"{time.time() - t0:.0f}s", flush=True)
        last = step == args.steps or prog(step) >= 1.0
        if step % args.eval_every == 0 or last:
            ev = evaluate(model, t, val)
            print("eval", step, json.dumps(ev), flush=True)
            ck = {"cfg": cfg.to_dict(), "state": model.state_dict(), "step": step}
            torch.save(ck, args.out)
            if args.best and ev["multi_em"] > best:
                best = ev["multi_em"]
                torch.save(ck, args.best)
        if last:
            break
    print("done", time.time() - t0, flush=True)


if __name__ == "__main__":
    main()
