"""Probes of a GenerativeAdapter generator checkpoint: where its answers come from and which
kinds of fact it cannot store. Validation entities and made-up sentences only (never the test
set); greedy decoding, exact match.

  /usr/bin/python3 models/training/probe_ga.py --ckpt ckpt/ga.pt [--n 40] [--docs 20]

- layers: the adapter of 20 one-window `ga_val` documents with one layer's (or one layer-0
  module's) lora_A zeroed — which layer's LoRA the answers come from.
- gates: the mean write gate per layer and module over those documents' tokens.
- binding: one-sentence and two-sentence documents about made-up people ("X owns a dog ."), asked
  about X; with a second person owning another pet (a distractor) the answer is X's pet, the
  other's, or neither.
- second token: a company's employer name (root + suffix) and a ceo's name (first + surname) from
  a one-sentence document: is the second token of a two-token answer stored?
- surname rank: on 60 one-window `ga_val` documents, teacher-forced with the right first name,
  the rank of the right surname among all tokens.
- second step: on 30 one-sentence documents "C is led by F S .", teacher-forced, the mean rank of
  the first name's and the surname's weight |k_t . A1 x| in layer 0's MLP read (of the ~8 tokens)
  when the adapter predicts the first name and then the surname.
- --masks: EM with the write gates masked to each document's fact sentences / entity names and
  values / values only (1, 2 and 4 windows): whether long documents lose answers to filler.
- --val: EM on 60 one-window `ga_val` documents (all questions / with a distractor / without;
  ceo and mayor answers, their first names and surnames) and on 15 four-window ones.
"""
import argparse, os, random, statistics
import torch
import common, data, evalsets, lm, world
from export import load_generator
from ga_aux import module_inputs
from train_ga import doc_adapter, expand


def answer(base, t, lora, questions):
    prompts = [t.encode(common.closed_prompt(q)) for q in questions]
    outs = common.greedy(base, prompts, lora=expand(lora, torch.zeros(len(prompts), dtype=torch.long)))
    return [t.decode(o).strip() for o in outs]


def zeroed(lora, layers, groups=None):
    out = {}
    for g, (A, B) in lora.items():
        A = A.clone()
        if groups is None or g in groups:
            A[:, layers] = 0
        out[g] = (A, B)
    return out


@torch.no_grad()
def probe_layers(gen, t, docs):
    def em(edit):
        hits = []
        for it in docs:
            lora = edit(doc_adapter(gen, t, it["windows"]))
            outs = answer(gen.base, t, lora, [q["question"] for q in it["qas"]])
            hits += [common.em(o, q["answer"]) for o, q in zip(outs, it["qas"])]
        return f"{100 * sum(hits) / len(hits):.1f}"
    L = gen.base.c.n_layers
    print("layers: full", em(lambda l: l), "| without layer", {i: em(lambda l, i=i: zeroed(l, [i])) for i in range(L)},
          "| layer 0 only", em(lambda l: zeroed(l, list(range(1, L)))))
    print("layers: without layer 0's", {g: em(lambda l, g=g: zeroed(l, [0], [g])) for g in gen.groups})


@torch.no_grad()
def probe_gates(gen, t, docs):
    """Mean write gate per layer and module over the documents' real tokens."""
    if not gen.gate:
        return
    ids, mask = common.pad([t.encode(w) for it in docs for w in it["windows"]])
    _, hs = gen.base(ids, mask, return_hidden=True)
    m = mask.to(torch.float32)[:, None, :, None]
    H = torch.stack([lm.rms(h) for h in hs], dim=1)
    means = {g: [round(float(x), 2) for x in (gen.write_gate(H, g) * m).sum((0, 2, 3)) / m.sum((0, 2, 3))]
             for g in gen.groups}
    print("mean write gate per layer:", means)


@torch.no_grad()
def probe_binding(gen, t, n):
    rng = random.Random(11)
    res = {}
    for _ in range(n):
        n1, n2 = data.person_name(rng), data.person_name(rng)
        p1, p2 = rng.sample(world.ANIMALS, 2)
        c2 = rng.choice(world.CITIES)
        docs = {"one fact": f"{n1} owns a {p1} .", "two people": f"{n1} owns a {p1} . {n2} lives in {c2} .",
                "distractor after": f"{n1} owns a {p1} . {n2} owns a {p2} .",
                "distractor before": f"{n2} owns a {p2} . {n1} owns a {p1} ."}
        for name, doc in docs.items():
            out = answer(gen.base, t, doc_adapter(gen, t, [doc]), [f"what pet does {n1} have ?"])[0]
            r = res.setdefault(name, [0, 0])
            r[0] += out == p1
            r[1] += out == p2
    print("binding (right / the other person's, of %d):" % n, {k: tuple(v) for k, v in res.items()})


@torch.no_grad()
def probe_second_token(gen, t, n):
    rng = random.Random(5)
    res = {"employer (root suffix)": [0, 0], "ceo (first surname)": [0, 0]}
    for _ in range(n):
        fn, sn = rng.choice(world.FIRST), rng.choice(world.LAST)
        root, suf = rng.choice(world.COMPANY_ROOTS), rng.choice(world.COMPANY_SUFFIX)
        for key, doc, q, ans in (("employer (root suffix)", f"{fn} {sn} has a job at {root} {suf} .", f"where does {fn} {sn} work ?", [root, suf]),
                                 ("ceo (first surname)", f"{root} {suf} is led by {fn} {sn} .", f"who runs {root} {suf} ?", [fn, sn])):
            out = answer(gen.base, t, doc_adapter(gen, t, [doc]), [q])[0].split()
            res[key][0] += out[:1] == ans[:1]
            res[key][1] += out[1:2] == ans[1:2]
    print("two-token answers from a one-sentence document (first token / second token right, of %d):" % n,
          {k: tuple(v) for k, v in res.items()})


@torch.no_grad()
def probe_surname_rank(gen, t, docs):
    ranks, in_doc = [], []
    surnames = torch.tensor(sorted({t.encode(w)[0] for w in world.LAST}))
    for it in docs:
        lora = None
        for q in it["qas"]:
            if q["attr"] not in ("ceo", "mayor"):
                continue
            lora = lora or doc_adapter(gen, t, it["windows"])
            first, surname = q["answer"].split()
            ids = torch.tensor([t.encode(common.closed_prompt(q["question"])) + t.encode(first)])
            logits = gen.base(ids, torch.ones_like(ids), lora=expand(lora, torch.zeros(1, dtype=torch.long)),
                              scaling=common.LORA_ALPHA / common.LORA_R)[0, -1]
            ranks.append(int((logits > logits[t.encode(surname)[0]]).sum()))
            p = torch.softmax(logits, -1)[surnames]
            doc_ids = set(t.encode(" ".join(it["windows"])))
            in_doc.append(float(sum(pi for i, pi in zip(surnames.tolist(), p) if i in doc_ids) / p.sum()))
    print(f"surname rank after the right first name ({len(ranks)} ceo/mayor questions): median "
          f"{statistics.median(ranks)}, top-1 {sum(r == 0 for r in ranks)}, top-5 {sum(r < 5 for r in ranks)}; "
          f"share of the surnames' probability on surnames in the document {statistics.mean(in_doc):.3f}")


@torch.no_grad()
def probe_second_step(gen, t, n=30):
    # The keys as GAGenerator.states builds them for layer 0, token-shift included; contextual and
    # MLP-activation keys are not rebuilt here (as retrieval_loss does not rebuild shift keys).
    if gen.ctx >= 0 or gen.zkeys:
        print("second-step probe: skipped (contextual / MLP-activation keys are not supported here)")
        return
    rng = random.Random(5)
    ranks = {}
    for _ in range(n):
        fn, sn = rng.choice(world.FIRST), rng.choice(world.LAST)
        c = f"{rng.choice(world.COMPANY_ROOTS)} {rng.choice(world.COMPANY_SUFFIX)}"
        ids = t.encode(f"{c} is led by {fn} {sn} .")
        toks = [t.decode([i]) for i in ids]
        di, dm = common.pad([ids])
        _, hs = gen.base(di, dm, return_hidden=True)
        H = torch.stack([lm.rms(h) for h in hs], dim=1)
        Hp = torch.cat([torch.zeros_like(H[:, :, :1]), H[:, :, :-1]], dim=2)
        prompt = t.encode(common.closed_prompt(f"who runs {c} ?"))
        for step, p in (("first name", prompt), ("surname", prompt + t.encode(fn))):
            qi, qm = common.pad([p])
            x = module_inputs(gen.base, qi, qm, [0], ["gate_proj", "up_proj", "down_proj"], torch.tensor([len(p) - 1]))
            for (_, g), xv in x.items():
                K = H[0, 0] @ gen.A2[g][0] + (Hp[0, 0] @ gen.A2s[0] if gen.shift else 0)
                w = (K @ (gen.A1[g][0] @ xv[0])).abs() * (gen.write_gate(H, g)[0, 0, :, 0] if gen.gate else 1)
                order = w.argsort(descending=True).tolist()
                r = ranks.setdefault((step, g), [[], []])
                r[0].append(order.index(toks.index(fn)))
                r[1].append(order.index(toks.index(sn)))
    print("layer 0's read, mean rank of the first name's / the surname's weight, predicting:",
          {f"{s} {g}": (round(statistics.mean(a), 1), round(statistics.mean(b), 1)) for (s, g), (a, b) in ranks.items()})


@torch.no_grad()
def probe_masks(gen, t, pools):
    """The write gates masked to tokens of each document's facts (an oracle gate)."""
    def mask(it, mode):
        rows = []
        for wi, w in enumerate(it["windows"]):
            keep = set()
            for s in it["doc"]["windows"][wi]:
                for n, _, v in s["facts"]:
                    keep.update(t.encode(v) + (t.encode(n) if mode == "names+values" else []))
                if mode == "fact sentences" and s["facts"]:
                    keep.update(t.encode(s["text"]))
            rows.append([float(i in keep) for i in t.encode(w)])
        T = max(len(r) for r in rows)
        return torch.tensor([r + [0.0] * (T - len(r)) for r in rows])
    gate = gen.write_gate
    try:
        for windows, n in ((1, 30), (2, 15), (4, 15)):
            docs = val_docs(t, pools, windows, n, keep_doc=True)
            for mode in ("all", "fact sentences", "names+values", "values"):
                hits, share = [], []
                for it in docs:
                    m = None if mode == "all" else mask(it, mode)
                    gen.write_gate = gate if m is None else (lambda H, g, m=m: gate(H, g) * m[:, None, :H.shape[2], None])
                    if m is not None:
                        share.append(float(m.sum()) / sum(len(t.encode(w)) for w in it["windows"]))
                    outs = answer(gen.base, t, doc_adapter(gen, t, it["windows"]), [q["question"] for q in it["qas"]])
                    hits += [common.em(o, q["answer"]) for o, q in zip(outs, it["qas"])]
                print(f"write mask {mode}, {windows} window(s), {n} documents: EM {100 * sum(hits) / len(hits):.1f} "
                      f"(n={len(hits)}), tokens written {statistics.mean(share) if share else 1.0:.2f}", flush=True)
    finally:
        gen.__dict__.pop("write_gate", None)   # back to the class's method


@torch.no_grad()
def val_docs(t, pools, windows, n_docs, keep_doc=False):
    """The ga_val documents every probe reads (seed 7, training styles)."""
    return evalsets.ga_docs("ga_val", pools, t, n_docs, windows, seed=7, styles=data.TRAIN_STYLES,
                            q_styles=data.TRAIN_STYLES, max_q=24 if windows > 1 else None, keep_doc=keep_doc)


@torch.no_grad()
def probe_val(gen, t, docs, windows):
    rows = []
    for it in docs:
        outs = answer(gen.base, t, doc_adapter(gen, t, it["windows"]), [q["question"] for q in it["qas"]])
        rows += [(q, o, common.em(o, q["answer"])) for o, q in zip(outs, it["qas"])]
    pct = lambda sel: f"{100 * sum(e for _, _, e in sel) / max(1, len(sel)):.1f} (n={len(sel)})"
    names = [r for r in rows if r[0]["attr"] in ("ceo", "mayor")]
    first = sum(o.split()[:1] == q["answer"].split()[:1] for q, o, _ in names)
    surname = sum(o.split()[1:2] == q["answer"].split()[1:2] for q, o, _ in names)
    print(f"ga_val {windows} window(s), {len(docs)} documents: all {pct(rows)}, distractor "
          f"{pct([r for r in rows if r[0]['distractor']])}, no distractor {pct([r for r in rows if not r[0]['distractor']])}; "
          f"ceo/mayor {pct(names)}, first name {first}, surname {surname}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--ckpt", default=os.path.join(common.CKPT, "ga.pt"))
    ap.add_argument("--n", type=int, default=40, help="made-up documents per probe")
    ap.add_argument("--docs", type=int, default=20, help="ga_val documents for the layer probe")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--val", action="store_true", help="also the ga_val EM splits")
    ap.add_argument("--masks", action="store_true", help="also EM with the write gates masked to the facts")
    args = ap.parse_args()
    common.setup(threads=args.threads, seed=0)
    t = common.get_tok()
    pools = data.splits()
    _, gen, _ = load_generator("generative-adapter-tiny", ckpt_path=args.ckpt)
    one = val_docs(t, pools, 1, 60)   # ga_docs draws document by document: the first 20 are --docs' 20
    probe_layers(gen, t, one[:args.docs])
    probe_gates(gen, t, one[:args.docs])
    probe_binding(gen, t, args.n)
    probe_second_token(gen, t, args.n)
    probe_surname_rank(gen, t, one)
    probe_second_step(gen, t)
    if args.masks:
        probe_masks(gen, t, pools)
    if args.val:
        probe_val(gen, t, one, 1)
        probe_val(gen, t, val_docs(t, pools, 4, 15), 4)


if __name__ == "__main__":
    main()
