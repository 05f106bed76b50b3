"""Training batches (documents of 1..16 windows and questions about them) and the auxiliary
losses that train_ga.py's experiments add (--boost, --retr, --efacts).
Kept apart from the training loop; with their defaults off, train_ga.py draws exactly the
batches it drew before they existed."""
import torch
import torch.nn.functional as F
import common, data, lm


def pick_facts(rng, facts, k, boost):
    """k of a document's facts without replacement; a fact whose attribute is in `boost`
    {attr: weight} is that many times as likely to be drawn (weight 1 elsewhere)."""
    if not boost:
        rng.shuffle(facts)
        return facts[:k]
    pool, out = list(facts), []
    while pool and len(out) < k:
        w = [boost.get(f[2][1], 1.0) for f in pool]
        out.append(pool.pop(rng.choices(range(len(pool)), weights=w)[0]))
    return out


def parse_boost(spec):
    """'ceo,mayor=4' -> {'ceo': 4.0, 'mayor': 4.0}; '' -> {}."""
    if not spec:
        return {}
    names, w = spec.split("=")
    return {a: float(w) for a in names.split(",")}


def sample_windows(rng, mix):
    """mix: 'p1,p2-4,p5-8,p9-16' probabilities of the window-count buckets."""
    p = [float(x) for x in mix.split(",")]
    u, acc = rng.random(), 0.0
    for (lo, hi), pi in zip(((1, 1), (2, 4), (5, 8), (9, 16)), p):
        acc += pi
        if u < acc:
            return rng.randint(lo, hi)
    return 16


def make_batch(t, rng, src, cnt, n_docs, mix, q_per_doc, teacher=False, boost=None,
               ents=(1, 1, 2, 3, None), same_kind_p=0.4, meta=None):
    """teacher: also each question's --kd teacher row (the base with the fact's window in its
    prompt); None in its place otherwise. boost: see pick_facts. ents: the max-entities choices
    of a one-window document (None: as many as fit); same_kind_p: share of documents whose
    entities are all of one kind (where two entities state the same attribute). meta: a list that
    gets, per question, (the entity's name ids, the first ids of all its values in the document)."""
    wins, widx, rows, recon = [], [], [], []
    for i in range(n_docs):
        src.reset()
        nw = sample_windows(rng, mix)
        if nw == 1:
            doc = data.build_document(rng, src, 1, cnt, max_entities=rng.choice(ents),
                                      fill=rng.random() < 0.3, same_kind_p=same_kind_p)
        else:
            doc = data.build_document(rng, src, nw, cnt, fill=True, same_kind_p=same_kind_p)
        ws = [t.encode(data.window_text(doc, k)) for k in range(len(doc["windows"]))]
        wins += ws
        widx += [i] * len(ws)
        recon.append(rng.choice(ws))
        facts = data.doc_facts(doc)
        if meta is not None:   # per entity, the first ids of its values in this document
            values = {}
            for _, _, (fn, _, fv) in facts:
                values.setdefault(fn, set()).add(t.encode(fv)[0])
        for wi, _, (n, a, v) in pick_facts(rng, facts, q_per_doc, boost):
            q = data.question_text(doc["entities"][n], a, rng.choice(data.TRAIN_STYLES), rng)
            p, tg = common.qa_ids(t, common.closed_prompt(q), v)
            teach = None
            if teacher:
                tp, _ = common.qa_ids(t, common.context_prompt(data.window_text(doc, wi), q), v)
                teach = (tp, tg, 0.0)
            rows.append((i, (p, tg, 0.0), teach))
            if meta is not None:
                meta.append((t.encode(n), sorted(values[n])))
    return wins, torch.tensor(widx), rows, recon


_MODULE = {"q_proj": "self_attn.q_proj", "k_proj": "self_attn.k_proj", "v_proj": "self_attn.v_proj",
           "o_proj": "self_attn.o_proj", "gate_proj": "mlp.gate_proj", "up_proj": "mlp.up_proj",
           "down_proj": "mlp.down_proj"}


def module_inputs(base, qi, qm, layers, groups, last):
    """Each (layer, group) module's input at each question's last prompt token: {(l, g): [nq, in]}
    (forward pre-hooks on the frozen base's linear layers; lm.lin calls them as modules)."""
    got, handles = {}, []
    rows = torch.arange(len(last))
    for l in layers:
        for g in groups:
            mod = base.model.layers[l].get_submodule(_MODULE[g])
            handles.append(mod.register_forward_pre_hook(
                lambda m, a, key=(l, g): got.__setitem__(key, a[0][rows, last].detach())))
    try:
        with torch.no_grad():
            base(qi, qm)
    finally:
        for h in handles:
            h.remove()
    return got


def retrieval_loss(gen, hs, ids, mask, widx, n_docs, rows, layers=(1, 2, 3), groups=("q_proj", "k_proj", "v_proj"),
                   tau=10.0, second=False):
    """Auxiliary binding loss for the generator (--retr W): the LoRA reads its state with
    z = A1 x at a question's last prompt token (x = the module's input there) and each document
    token t contributes in proportion to k_t . z, so ask that read to point at the tokens of the
    answer: a softmax over the document's tokens of cos(k_t, z) * tau, cross-entropy towards the
    positions holding the answer's first token (a distractor's value is a negative, unless it is
    the same word). Keys and queries of any `groups` at any `layers` (the query's input is the
    module's own input, read by module_inputs; the keys include the generator's contextual keys,
    --ctx). hs: the frozen base's hidden states of the windows (the ones GAGenerator.states read).
    second: also the second answer step of two-token answers (the prompt plus the answer's first
    token, pointing at the positions of its second: a surname after the first name)."""
    assert not gen.shift, "token-shift keys are not supported here"
    base = gen.base
    with torch.no_grad():
        # the document tokens, per document, padded: (row, pos) of every real token
        per = [[] for _ in range(n_docs)]
        for r in range(ids.shape[0]):
            d = int(widx[r])
            per[d] += [(r, p) for p in range(int(mask[r].sum()))]
        nmax = max(len(x) for x in per)
        ri = torch.zeros(n_docs, nmax, dtype=torch.long)
        pi = torch.zeros(n_docs, nmax, dtype=torch.long)
        dm = torch.zeros(n_docs, nmax, dtype=torch.bool)
        for d, x in enumerate(per):
            if x:
                ri[d, :len(x)] = torch.tensor([a for a, _ in x])
                pi[d, :len(x)] = torch.tensor([b for _, b in x])
                dm[d, :len(x)] = True
        dtok = ids[ri, pi]                                                # [docs, nmax]
        items = [(i, p, tg[0]) for i, (p, tg, _), _ in rows]
        if second:   # targets are the answer's tokens and EOS
            items += [(i, p + tg[:1], tg[1]) for i, (p, tg, _), _ in rows if len(tg) >= 3]
        qi, qm, _, _ = common.lm_batch([(p, [], 0.0) for _, p, _ in items])
        last = torch.tensor([len(p) - 1 for _, p, _ in items])
        xin = module_inputs(base, qi, qm, layers, groups, last)
        qdoc = torch.tensor([i for i, _, _ in items])
        first = torch.tensor([tok for _, _, tok in items])
        pos = (dtok[qdoc] == first[:, None]) & dm[qdoc]                   # [nq, nmax]
        has = pos.any(1)
        if not has.any():
            return torch.zeros(())
    total, n = 0.0, 0
    for l in layers:
        H = lm.rms(hs[l])[ri, pi]                                         # [docs, nmax, d]
        Kc = torch.matmul(lm.rms(hs[gen.ctx])[ri, pi], gen.A2c[l]) if gen.ctx >= 0 else 0.0
        for g in groups:
            K = F.normalize(torch.matmul(H, gen.A2[g][l]) + Kc, dim=-1)   # [docs, nmax, mk]
            z = F.normalize(torch.matmul(xin[(l, g)], gen.A1[g][l].t()), dim=-1)  # [nq, mk]
            # every question against every document's tokens, then each its own document's row
            # (a gather of K per question would copy the document's keys once per question)
            sc = torch.einsum("qm,dnm->qdn", z, K)[torch.arange(len(qdoc)), qdoc] * tau
            sc = sc.masked_fill(~dm[qdoc], -1e9)
            lse_all = torch.logsumexp(sc, 1)
            lse_pos = torch.logsumexp(sc.masked_fill(~pos, -1e9), 1)
            total = total + ((lse_all - lse_pos)[has]).mean()
            n += 1
    return total / n


def entity_facts_loss(head, hidden, prompts, meta):
    """Auxiliary loss (--efacts W): at the last token of the entity's name in each question
    prompt, a training-only linear head on the adapted base's layer-0 output predicts the first
    token of each of that entity's values in the document (cross-entropy averaged over them).
    Closed-book nothing there knows those values, so only the adapter can put them there — where
    the base's own attention, which reads "the asked attribute of this entity" from a document in
    its prompt, can find them. hidden [nq, T, d]; prompts: the questions' prompt ids; meta:
    make_batch's (name ids, value ids) per question."""
    pos, rows, targets = [], [], []
    for qi, (p, (name, values)) in enumerate(zip(prompts, meta)):
        end = next((j + len(name) - 1 for j in range(len(p) - len(name), -1, -1) if p[j:j + len(name)] == name), None)
        if end is None or not values:
            continue
        for v in values:
            rows.append(qi); pos.append(end); targets.append(v)
    if not rows:
        return torch.zeros(())
    logp = F.log_softmax(head(hidden[torch.tensor(rows), torch.tensor(pos)]), -1)
    return -logp[torch.arange(len(targets)), torch.tensor(targets)].mean()
