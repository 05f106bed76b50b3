"""Seeded synthetic corpus: documents about invented entities + questions.

Every word that can appear comes from the closed lists in world.py, so the tokenizer's
whole-word vocabulary covers all of it. Entities are unique by name and split BY ENTITY
into disjoint pools (see `splits()`, unchanged since v1):

  ga_train / ga_val / ga_test   -- reading comprehension + generative-adapter pools.
                                   ga_val/ga_test documents are never seen by any training.
  mem_train / mem_val / mem_test -- "memorised" entities: their documents are part of the
                                   base LM's plain-LM pre-training corpus (all three), but
                                   their QUESTIONS are only used for iag training (mem_train),
                                   tuning (mem_val) and the final test (mem_test).

v2 documents (`build_document`): 1..many entities, facts in template / reworded / held-out
sentence shapes (world.py), entity streams interleaved so that one entity's facts spread
over windows, neutral and filler sentences, and windows formed by `pack_ids` (whole
sentences packed greedily into <= 96 tokens; the service splits exactly the same way).
"""
import random
from world import *  # noqa: F401,F403  (word lists, ATTRS, PAIRS, FILLERS, NEUTRAL, article)

SEED = 1234
TRAIN_STYLES = ("template", "reworded")
ALL_STYLES = ("template", "reworded", "heldout")
_FACT_KEY = {"template": "facts", "reworded": "re_facts", "heldout": "ho_facts"}
_Q_KEY = {"template": "questions", "reworded": "re_questions", "heldout": "ho_questions"}

def person_name(rng):
    return f"{rng.choice(FIRST)} {rng.choice(LAST)}"

def company_name(rng):
    return f"{rng.choice(COMPANY_ROOTS)} {rng.choice(COMPANY_SUFFIX)}"

def make_entity(rng, kind, name):
    if kind == "person":
        a = dict(city=rng.choice(CITIES), profession=rng.choice(PROFESSIONS),
                 employer=company_name(rng), colour=rng.choice(COLOURS),
                 year=str(rng.choice(PERSON_YEARS)), pet=rng.choice(ANIMALS))
    elif kind == "company":
        a = dict(city=rng.choice(CITIES), year=str(rng.choice(FOUND_YEARS)),
                 product=rng.choice(PRODUCTS), ceo=person_name(rng),
                 colour=rng.choice(COLOURS))
    else:
        a = dict(region=rng.choice(REGIONS), river=rng.choice(RIVERS),
                 known=rng.choice(KNOWN_FOR), year=str(rng.choice(FOUND_YEARS)),
                 mayor=person_name(rng))
    return {"kind": kind, "name": name, "attrs": a}

def all_names():
    people = [f"{f} {l}" for f in FIRST for l in LAST]
    comps = [f"{r} {s}" for r in COMPANY_ROOTS for s in COMPANY_SUFFIX]
    places = [f"{r} {t}" for r in PLACE_ROOTS for t in PLACE_TYPES]
    return people, comps, places

SPLIT_SIZES = {  # fixed entities per pool (mixed kinds, ~ 60% people, 20% companies, 20% places)
    "ga_val": 150, "ga_test": 200, "mem_train": 240, "mem_val": 40, "mem_test": 120,
}

def splits(seed=SEED):
    """Disjoint entity pools, deterministic in `seed`.

    ga_val, ga_test and mem_* are fixed entities (name + attributes).
    ga_train is a pool of NAMES only (every name left over): training samples pair such a
    name with freshly drawn attributes (`fresh_entity`), so training text is unlimited while
    no evaluated name ever occurs in training text."""
    rng = random.Random(seed)
    people, comps, places = all_names()
    for l in (people, comps, places):
        rng.shuffle(l)
    pools = {}
    it = {"person": iter(people), "company": iter(comps), "place": iter(places)}
    for name in ["ga_test", "ga_val", "mem_test", "mem_val", "mem_train"]:
        ents = []
        for i in range(SPLIT_SIZES[name]):
            u = rng.random()
            kind = "person" if u < 0.6 else ("company" if u < 0.8 else "place")
            ents.append(make_entity(rng, kind, next(it[kind])))
        pools[name] = ents
    pools["ga_train"] = [(k, n) for k in ("person", "company", "place") for n in it[k]]
    names = [e["name"] for k, p in pools.items() if k != "ga_train" for e in p] + \
        [n for _, n in pools["ga_train"]]
    assert len(names) == len(set(names)), "entity names must be unique across pools"
    return pools

def fresh_entity(rng, train_names, forbidden=frozenset()):
    """A training entity: a ga_train name with freshly drawn attributes. `forbidden`
    (held-out entity names) never appear as attribute values (employer / ceo / mayor)."""
    kind, name = rng.choice(train_names)
    while True:
        e = make_entity(rng, kind, name)
        if not any(v in forbidden for v in e["attrs"].values()):
            return e

def heldout_names(pools):
    return frozenset(e["name"] for k in ("ga_val", "ga_test") for e in pools[k])

# ----- sentences, documents, windows -----------------------------------------------------
def pair_shapes(kind, style):
    p = PAIRS[kind]
    return p[-1:] if style == "heldout" else p[:-1]


def fact_sentence(kind, n, attr, v, style, rng):
    t = rng.choice(ATTRS[kind][attr][_FACT_KEY[style]])
    return t.format(n=n, v=v, a=article(v))


def question_text(ent, attr, style, rng):
    return rng.choice(ATTRS[ent["kind"]][attr][_Q_KEY[style]]).format(n=ent["name"])


def other_city(rng, kind):
    return rng.choice(CITIES) if kind != "place" else \
        f"{rng.choice(PLACE_ROOTS)} {rng.choice(PLACE_TYPES)}"


def entity_sentences(ent, rng, styles, attrs=None, n_fillers=None, pair_p=0.25):
    """[{text, facts: [(name, attr, value)], style}] for the given attributes (default all),
    each stated once; sometimes two facts in one sentence (PAIRS); 0-2 filler sentences."""
    kind, n, av = ent["kind"], ent["name"], ent["attrs"]
    attrs = list(av) if attrs is None else list(attrs)
    out = []
    for a1, a2, shape in PAIRS[kind]:
        st = rng.choice(styles)
        if st == "template" or (a1, a2, shape) not in pair_shapes(kind, st):
            continue
        if a1 in attrs and a2 in attrs and rng.random() < pair_p:
            v1, v2 = av[a1], av[a2]
            out.append(dict(text=shape.format(n=n, v1=v1, v2=v2, a1=article(v1), a2=article(v2)),
                            facts=[(n, a1, v1), (n, a2, v2)], style=st))
            attrs.remove(a1); attrs.remove(a2)
    for a in attrs:
        st = rng.choice(styles)
        out.append(dict(text=fact_sentence(kind, n, a, av[a], st, rng), facts=[(n, a, av[a])],
                        style=st))
    k = rng.choice([0, 0, 1, 1, 2]) if n_fillers is None else n_fillers
    for _ in range(k):
        out.append(dict(text=rng.choice(FILLERS[kind]).format(n=n, c=other_city(rng, kind)),
                        facts=[], style="filler"))
    rng.shuffle(out)
    return out


def render_doc(ent, rng, styles=("template",), fillers=True):
    """Single-entity document: all attributes stated once (used for the mem_* pre-training
    corpus and as IAG's teacher document)."""
    return " ".join(s["text"] for s in entity_sentences(ent, rng, styles, pair_p=0.0,
                                                        n_fillers=None if fillers else 0))


SENT_END = (".", "?", "!")


def pack_ids(ids, max_tokens, end_ids):
    """Split a token-id sequence into windows of <= max_tokens, cutting after a sentence end
    (a token in end_ids) whenever possible: greedy, whole sentences; a sentence longer than
    a window is cut at the window boundary. The service does exactly this."""
    sents, cur = [], []
    for i in ids:
        cur.append(i)
        if i in end_ids:
            sents.append(cur); cur = []
    if cur:
        sents.append(cur)
    wins, w = [], []
    for s in sents:
        while len(s) > max_tokens:          # overlong sentence: hard cut
            if w:
                wins.append(w); w = []
            wins.append(s[:max_tokens]); s = s[max_tokens:]
        if len(w) + len(s) > max_tokens:
            wins.append(w); w = []
        w = w + s
    if w:
        wins.append(w)
    return wins


def build_document(rng, next_entity, n_windows, count, max_tokens=96, styles=TRAIN_STYLES,
                   max_entities=None, interleave=None, fill=False, same_kind_p=0.4):
    """A document of exactly n_windows windows (or fewer when max_entities runs out and not
    fill). next_entity(kind or None) -> a new entity (name unique in the document).
    Returns {windows: [[sentence]], entities: {name: ent}, text}; every sentence has 'facts'."""
    interleave = interleave or rng.choice([1, 2, 2, 3])
    kind0 = rng.choice(["person", "company", "place"]) if rng.random() < same_kind_p else None
    ents, streams, started = {}, [], 0
    wins, cur, cur_len = [], [], 0

    def new_stream():
        nonlocal started
        e = next_entity(kind0)
        ents[e["name"]] = e
        started += 1
        few = max_entities is None or max_entities > 1
        attrs = list(e["attrs"])
        if few and rng.random() < 0.6:
            attrs = rng.sample(attrs, rng.randint(2, len(attrs)))
        streams.append(entity_sentences(e, rng, styles, attrs))

    while True:
        while len(streams) < interleave and (max_entities is None or started < max_entities):
            new_stream()
        if streams:
            if rng.random() < 0.06:
                s = dict(text=rng.choice(NEUTRAL).format(c=rng.choice(CITIES)), facts=[], style="neutral")
            else:
                st = rng.choice(streams)
                s = st.pop()
                if not st:
                    streams.remove(st)
        elif fill:
            s = dict(text=rng.choice(NEUTRAL).format(c=rng.choice(CITIES)), facts=[], style="neutral")
        else:
            break
        n = count(s["text"])
        if cur_len + n > max_tokens:
            wins.append(cur); cur, cur_len = [], 0
            if len(wins) == n_windows:
                break
        cur.append(s); cur_len += n
    if cur and len(wins) < n_windows:
        wins.append(cur)
    text = " ".join(s["text"] for w in wins for s in w)
    return {"windows": wins, "entities": ents, "text": text}


def doc_facts(doc):
    """[(window index, sentence, (name, attr, value))] of every fact stated in the document."""
    return [(wi, s, f) for wi, w in enumerate(doc["windows"]) for s in w for f in s["facts"]]


def window_text(doc, wi):
    return " ".join(s["text"] for s in doc["windows"][wi])


def entity_source(rng, train_names=None, forbidden=frozenset(), pool=None):
    """next_entity(kind) for build_document: fresh ga_train entities, or entities of a fixed pool
    (drawn without repetition inside one document: call .reset() per document)."""
    used = set()

    def nxt(kind=None):
        for _ in range(1000):
            if pool is not None:
                cands = pool if kind is None else [e for e in pool if e["kind"] == kind]
                e = rng.choice(cands)
            else:
                names = train_names if kind is None else [x for x in train_names if x[0] == kind]
                e = fresh_entity(rng, names, forbidden)
            if e["name"] not in used:
                used.add(e["name"]); return e
        raise RuntimeError("entity source exhausted")
    nxt.reset = used.clear
    return nxt


def questions(ent, rng, all_templates=False, styles=("template",)):
    """One (question, answer, attr) per attribute (random shape of `styles`), or all shapes."""
    kind, n = ent["kind"], ent["name"]
    out = []
    for attr, v in ent["attrs"].items():
        qs = [q for st in styles for q in ATTRS[kind][attr][_Q_KEY[st]]]
        for q in (qs if all_templates else [rng.choice(qs)]):
            out.append((q.format(n=n), v, attr))
    return out

PROMPT_CLOSED = "question: {question} answer:"
PROMPT_CONTEXT = "{context} question: {question} answer:"

def lexicon_text():
    """Every word the generator can emit (used to build the vocabulary)."""
    words = set()
    pieces = FIRST + LAST + CITIES + PROFESSIONS + COLOURS + ANIMALS + COMPANY_ROOTS + \
        COMPANY_SUFFIX + PRODUCTS + PLACE_ROOTS + PLACE_TYPES + REGIONS + RIVERS + KNOWN_FOR + \
        [str(y) for y in PERSON_YEARS + FOUND_YEARS] + ["a", "an"] + \
        PROMPT_CONTEXT.replace("{", " ").replace("}", " ").split()
    for p in pieces:
        words.update(p.split())
    strip = lambda t: "".join(" " if c in "{}" else c for c in t)
    for kind, attrs in ATTRS.items():
        for a in attrs.values():
            for key in ("facts", "questions", "re_facts", "re_questions", "ho_facts", "ho_questions"):
                for t in a[key]:
                    for w in t.split():
                        if not w.startswith("{"):
                            words.add(w.split("}")[-1] if "}" in w else w)
        for t in FILLERS[kind] + NEUTRAL + [p[2] for p in PAIRS[kind]]:
            for w in t.split():
                if "{" not in w:
                    words.add(w)
                elif "}" in w and w.split("}")[-1]:
                    words.add(w.split("}")[-1])
    return sorted(words)


if __name__ == "__main__":
    import tok, common
    t = common.get_tok()
    count = lambda s: len(t.encode(s))
    pools = splits()
    rng = random.Random(0)
    for k, v in pools.items():
        print(k, len(v))
    src = entity_source(rng, pools["ga_train"], heldout_names(pools))
    for nw, me in ((1, 1), (1, 3), (4, None)):
        src.reset()
        d = build_document(rng, src, nw, count, max_entities=me)
        print(len(d["windows"]), [sum(count(s["text"]) for s in w) for w in d["windows"]])
        print(d["text"][:400]); print(len(doc_facts(d)), "facts")
    print(len(lexicon_text()))
