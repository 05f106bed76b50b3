"""Fixed evaluation / validation document sets (v2), shared by the trainers and the evals.

ga_docs: documents built from a FIXED entity pool (ga_val / ga_test) with data.build_document,
one question per stated fact (or a stratified subsample for long documents), each question
tagged with: window (index of the window stating the fact), fact_style (template / reworded /
heldout / sentence shape of the fact), q_style (shape of the question), n_ents (entities with a
fact in that window), distractor (another entity in the same window states the same attribute).
"""
import random
import data, tok

def counter(t):
    return lambda s: len(t.encode(s))


def end_ids(t):
    return {t.vocab[x] for x in data.SENT_END}


def tag_questions(doc, rng, q_styles, max_q=None):
    facts = data.doc_facts(doc)
    by_win = {}
    for wi, s, f in facts:
        by_win.setdefault(wi, set()).update((n, a) for n, a, _ in s["facts"])
    if max_q and len(facts) > max_q:
        # stratified over windows: round-robin through windows
        per = {}
        for x in facts:
            per.setdefault(x[0], []).append(x)
        for v in per.values():
            rng.shuffle(v)
        pick, k = [], 0
        while len(pick) < max_q:
            for wi in sorted(per):
                if k < len(per[wi]) and len(pick) < max_q:
                    pick.append(per[wi][k])
            k += 1
        facts = sorted(pick, key=lambda x: x[0])
    qas = []
    for wi, s, (n, a, v) in facts:
        ent = doc["entities"][n]
        st = rng.choice(q_styles)
        names = {m for m, _ in by_win[wi]}
        qas.append({"question": data.question_text(ent, a, st, rng), "answer": v, "attr": a,
                    "kind": ent["kind"], "entity": n, "window": wi, "fact_style": s["style"],
                    "q_style": st, "n_ents": len(names),
                    "distractor": any(m != n and b == a for m, b in by_win[wi])})
    return qas


def ga_docs(pool_name, pools, t, n_docs, n_windows, seed, styles=data.ALL_STYLES,
            q_styles=data.ALL_STYLES, max_q=None, keep_doc=False):
    rng = random.Random(seed * 1000 + n_windows)
    src = data.entity_source(rng, pool=pools[pool_name])
    cnt = counter(t)
    out = []
    for i in range(n_docs):
        src.reset()
        if n_windows == 1:
            me, fill = [1, 2, 3][i % 3], (i // 3) % 3 == 2
        else:
            me, fill = None, True
        doc = data.build_document(rng, src, n_windows, cnt, styles=styles, max_entities=me,
                                  fill=fill)
        wins = [data.window_text(doc, k) for k in range(len(doc["windows"]))]
        out.append({"context": doc["text"], "windows": wins, "n_windows": len(wins),
                    "filled": fill, "qas": tag_questions(doc, rng, q_styles, max_q)})
        if keep_doc:   # the sentences with their facts (probes)
            out[-1]["doc"] = doc
    return out


def mem_items(pool_name, pools, seed, q_styles=data.ALL_STYLES):
    """iag: one document per memorised entity (the teacher's context) and one question per
    attribute per question style."""
    rng = random.Random(seed)
    out = []
    for e in pools[pool_name]:
        doc = data.render_doc(e, rng, styles=data.TRAIN_STYLES)
        qas = []
        for st in q_styles:
            for a, v in e["attrs"].items():
                qas.append({"question": data.question_text(e, a, st, rng), "answer": v, "attr": a,
                            "kind": e["kind"], "entity": e["name"], "window": 0,
                            "fact_style": "-", "q_style": st, "n_ents": 1, "distractor": False})
        out.append({"context": doc, "windows": [doc], "n_windows": 1, "filled": False, "qas": qas})
    return out
