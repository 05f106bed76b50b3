"""Seeded synthetic corpus: documents about invented entities + questions.

Every word that can appear comes from the closed lists below, so the tokenizer's
whole-word vocabulary covers all of it. Entities are unique by name and split BY ENTITY
into disjoint pools (see `splits()`):

  ga_train / ga_val / ga_test   -- reading comprehension + generative-adapter pools.
                                   ga_val/ga_test documents are never seen by any training.
  mem_train / mem_val / mem_test -- "memorised" entities: their documents are part of the
                                   base LM's plain-LM pre-training corpus (all three), but
                                   their QUESTIONS are only used for iag training (mem_train),
                                   tuning (mem_val) and the final test (mem_test).
"""
import random

SEED = 1234

FIRST = """ada alba alder amos anika arlo asha aurel basil bela bram brisa calla cato cora
dario dela doran edda elio elsa emrys enzo fara felix freya galen gemma greta hale hana
ines ivo jana jarek kaia kasimir lena leof lior luca mara milo mina niko nora odile olek
orla pavel perrin quill rafa rhea rosa sabin sela soren talia tamsin teo ula ursa vala
vesna wren xara yara yuri zara zeno""".split()
LAST = """abernath amsel ardent barrow bellweather brandt calder corrow dahl delacorte
drummond ellery falk fenwick garrow halloran hartwell ingram jessop kestrel lindqvist
lockhart marrow merriweather norland oakhurst orsini pemberton quarrel radcliffe rook
selwyn stroud tarrant thorne umber vantreight varga wexley whitlock yarrow zabrisk
aldane bexley carrow dunmore everly fairbanks grell holloway""".split()
CITIES = """aldoria belmora caravel dunhaven eskerport farrowby galtor halvick istren
jorvale kelmouth lunaris marrowick nethermoor orbridge pellinor quenwick rivenhall
saltmere tamberlin ulmstead varnholt wexmoor yarrowdale zephyrine ashcombe brindlemere
cobaltine drystan emberfell""".split()
PROFESSIONS = ["baker", "carpenter", "pilot", "nurse", "teacher", "chemist", "lawyer",
               "painter", "sailor", "farmer", "librarian", "tailor", "surgeon", "architect",
               "jeweler", "potter", "dentist", "brewer", "locksmith", "gardener",
               "mail carrier", "bus driver", "chess coach", "glass blower", "tax advisor",
               "sound engineer", "radio host", "bridge inspector"]
COLOURS = """red blue green yellow purple orange teal crimson amber violet indigo silver
gold maroon turquoise lavender beige coral""".split()
ANIMALS = """dog cat parrot rabbit tortoise ferret hamster goldfish iguana owl canary
hedgehog lizard pony goat""".split()
COMPANY_ROOTS = """vantor zentrix quorra brightwell halcyon meridian novacore pyraxis
solvane tidemark umbral veridian wavecrest xylo yellowpine zemora arcline bluefen
corvane dulcet everpine fluxa gildan harrowgate ironvale jadeport kinsail lumora
mossgrove nimbra""".split()
COMPANY_SUFFIX = """labs industries systems works foods motors textiles holdings
robotics dynamics""".split()
PRODUCTS = ["bicycles", "solar panels", "toys", "umbrellas", "glassware", "pianos",
            "running shoes", "telescopes", "tea", "cheese", "batteries", "kites",
            "wooden boats", "paper lanterns", "ceramic tiles", "hearing aids", "maps",
            "chocolate", "candles", "fishing nets"]
PLACE_ROOTS = """ambry brackle cindle dorrow elmsy fennick gorse hollin ivel juniper
kettle larch millbeck nettle oriel pebble quillan rushy sedge thistle undle vell
willow yarrow zinnia""".split()
PLACE_TYPES = """falls harbor springs ridge haven crossing hollow point valley bay""".split()
REGIONS = """northern southern eastern western central coastal highland lowland""".split()
RIVERS = """tessel marrow orne cale brisk dunnet elva fenny garron holm isk""".split()
KNOWN_FOR = ["apples", "lighthouses", "festivals", "bridges", "pottery", "horses",
             "wine", "waterfalls", "wool", "clocks", "oysters", "libraries", "mills",
             "gardens", "copper mines"]
PERSON_YEARS = list(range(1940, 2006))
FOUND_YEARS = list(range(1850, 2021))

def article(w):
    return "an" if w[0] in "aeiou" else "a"

# ----- templates: {n} = entity name, {v} = value ---------------------------------------
PERSON_ATTRS = {
    "city": dict(
        facts=["{n} lives in {v} .", "{n} resides in {v} .", "{n} has a home in {v} .",
               "{n} is based in the city of {v} .", "the home of {n} is in {v} .",
               "these days {n} lives in {v} ."],
        questions=["where does {n} live ?", "in which city does {n} live ?",
                   "what city is {n} based in ?", "where is the home of {n} ?"]),
    "profession": dict(
        facts=["{n} works as {a} {v} .", "{n} is {a} {v} by trade .",
               "by profession , {n} is {a} {v} .", "{n} earns a living as {a} {v} .",
               "the job of {n} is {v} ."],
        questions=["what does {n} do for a living ?", "what is the profession of {n} ?",
                   "what is the job of {n} ?", "what does {n} work as ?"]),
    "employer": dict(
        facts=["{n} is employed by {v} .", "{n} works for {v} .",
               "the employer of {n} is {v} .", "{n} draws a salary from {v} ."],
        questions=["who employs {n} ?", "which company does {n} work for ?",
                   "who is the employer of {n} ?"]),
    "colour": dict(
        facts=["the favourite colour of {n} is {v} .", "{n} likes the colour {v} most .",
               "{n} loves anything {v} .", "of all colours , {n} prefers {v} ."],
        questions=["what is the favourite colour of {n} ?", "which colour does {n} like most ?",
                   "what colour does {n} prefer ?"]),
    "year": dict(
        facts=["{n} was born in {v} .", "{n} came into the world in {v} .",
               "the birth year of {n} is {v} .", "in {v} , {n} was born ."],
        questions=["when was {n} born ?", "in what year was {n} born ?",
                   "what is the birth year of {n} ?"]),
    "pet": dict(
        facts=["{n} owns {a} {v} .", "{n} has a pet {v} .", "{n} keeps {a} {v} at home .",
               "the pet of {n} is {a} {v} ."],
        questions=["what pet does {n} have ?", "what animal does {n} keep ?",
                   "what kind of pet does {n} own ?"]),
}
COMPANY_ATTRS = {
    "city": dict(
        facts=["{n} is headquartered in {v} .", "{n} has its head office in {v} .",
               "the headquarters of {n} are in {v} ."],
        questions=["where is {n} headquartered ?", "in which city is the head office of {n} ?",
                   "where are the headquarters of {n} ?"]),
    "year": dict(
        facts=["{n} was founded in {v} .", "{n} opened its doors in {v} .",
               "in {v} , {n} was founded ."],
        questions=["when was {n} founded ?", "in what year was {n} founded ?"]),
    "product": dict(
        facts=["{n} makes {v} .", "{n} is known for making {v} .",
               "the main product of {n} is {v} .", "{n} produces {v} ."],
        questions=["what does {n} make ?", "what is the main product of {n} ?",
                   "what does {n} produce ?"]),
    "ceo": dict(
        facts=["{n} is led by {v} .", "the chief executive of {n} is {v} .",
               "{v} runs {n} ."],
        questions=["who leads {n} ?", "who is the chief executive of {n} ?", "who runs {n} ?"]),
    "colour": dict(
        facts=["the logo of {n} is {v} .", "{n} uses a {v} logo ."],
        questions=["what colour is the logo of {n} ?", "which colour does the logo of {n} use ?"]),
}
PLACE_ATTRS = {
    "region": dict(
        facts=["{n} lies in the {v} region .", "{n} is a town in the {v} region .",
               "you can find {n} in the {v} region ."],
        questions=["in which region is {n} ?", "where does {n} lie ?",
                   "which region is {n} in ?"]),
    "river": dict(
        facts=["the {v} river flows through {n} .", "{n} sits on the {v} river .",
               "{n} was built along the {v} river ."],
        questions=["which river flows through {n} ?", "what river does {n} sit on ?"]),
    "known": dict(
        facts=["{n} is known for its {v} .", "{n} is famous for its {v} .",
               "visitors come to {n} for its {v} ."],
        questions=["what is {n} known for ?", "what is {n} famous for ?"]),
    "year": dict(
        facts=["{n} was settled in {v} .", "the first houses of {n} were built in {v} .",
               "settlers arrived in {n} in {v} ."],
        questions=["when was {n} settled ?", "in what year was {n} settled ?"]),
    "mayor": dict(
        facts=["the mayor of {n} is {v} .", "{v} serves as the mayor of {n} .",
               "{n} is governed by mayor {v} ."],
        questions=["who is the mayor of {n} ?", "who governs {n} ?"]),
}
ATTRS = {"person": PERSON_ATTRS, "company": COMPANY_ATTRS, "place": PLACE_ATTRS}

FILLERS = {
    "person": ["{n} once visited {c} .", "{n} has a cousin in {c} .",
               "{n} enjoys long walks .", "friends say {n} is very kind .",
               "{n} travelled to {c} last summer ."],
    "company": ["{n} opened a small office in {c} .", "{n} sells to customers in {c} .",
                "{n} has many loyal customers .", "{n} grew quickly ."],
    "place": ["{n} is twinned with {c} .", "many people from {c} visit {n} .",
              "{n} is quiet in winter .", "{n} has a busy market ."],
}

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

def render_doc(ent, rng, fillers=True):
    """Document: all attributes stated once, random templates, random order,
    optionally 0-2 filler/distractor sentences."""
    kind, n = ent["kind"], ent["name"]
    sents = []
    for attr, v in ent["attrs"].items():
        t = rng.choice(ATTRS[kind][attr]["facts"])
        sents.append(t.format(n=n, v=v, a=article(v)))
    if fillers:
        for _ in range(rng.choice([0, 1, 1, 2, 2, 3, 4])):
            c = rng.choice(CITIES) if kind != "place" else \
                f"{rng.choice(PLACE_ROOTS)} {rng.choice(PLACE_TYPES)}"
            sents.append(rng.choice(FILLERS[kind]).format(n=n, c=c))
    rng.shuffle(sents)
    return " ".join(sents)

def questions(ent, rng, all_templates=False):
    """One (question, answer, attr) per attribute (random template), or all templates."""
    kind, n = ent["kind"], ent["name"]
    out = []
    for attr, v in ent["attrs"].items():
        qs = ATTRS[kind][attr]["questions"]
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
    for kind, attrs in ATTRS.items():
        for a in attrs.values():
            for t in a["facts"] + a["questions"]:
                words.update(t.replace("{n}", " ").replace("{v}", " ").replace("{a}", " ").split())
        for t in FILLERS[kind]:
            words.update(t.replace("{n}", " ").replace("{c}", " ").split())
    return sorted(words)

if __name__ == "__main__":
    pools = splits()
    rng = random.Random(0)
    for k, v in pools.items():
        print(k, len(v))
    e = fresh_entity(rng, pools["ga_train"])
    print(render_doc(e, rng)); print(questions(e, rng))
    e = fresh_entity(rng, pools["ga_train"])
    print(render_doc(e, rng)); print(questions(e, rng))
    print(len(lexicon_text()))
