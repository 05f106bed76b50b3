"""The closed world: word lists and sentence shapes (facts, questions, fillers).

Each attribute has three sets of fact shapes and three sets of question shapes:
  facts / questions        -- "template": the original, template-shaped sentences
  re_facts / re_questions  -- "reworded": value first, appositions, passive, possessive, ...
                              (used in training)
  ho_facts / ho_questions  -- "heldout": further reworded shapes NEVER used in any training;
                              only the evaluation uses them (robustness beyond trained shapes)
PAIRS state two facts of one entity in one sentence (reworded; the last of each kind is held out).
Every word here is in the tokenizer lexicon (data.lexicon_text).
"""

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


# ----- reworded shapes ("re_": trained, "ho_": held out from all training) ---------------
REWORDED = {
    "person": {
        "city": dict(
            re_facts=["{v} is home to {n} .", "{n} now calls {v} home .",
                      "a resident of {v} , {n} rarely travels .", "{n}'s home is in {v} ."],
            ho_facts=["{n} has lived in {v} for years ."],
            re_questions=["which city is home to {n} ?", "where is {n} based ?",
                          "where is {n}'s home ?"],
            ho_questions=["in what city does {n} reside ?"]),
        "profession": dict(
            re_facts=["{a} {v} by trade , {n} enjoys the work .", "{n} has worked as {a} {v} for years .",
                      "{n} is known as a skilled {v} .", "{n}'s job is {v} ."],
            ho_facts=["{n} trained to become {a} {v} ."],
            re_questions=["what is {n}'s job ?", "what kind of work does {n} do ?"],
            ho_questions=["what is {n} by trade ?"]),
        "employer": dict(
            re_facts=["{v} employs {n} .", "{n} has a job at {v} .", "{n}'s employer is {v} .",
                      "at {v} , {n} is a valued worker ."],
            ho_facts=["{n} is on the staff of {v} ."],
            re_questions=["what company employs {n} ?", "who is {n}'s employer ?"],
            ho_questions=["for which company does {n} work ?"]),
        "colour": dict(
            re_facts=["{n}'s favourite colour is {v} .", "{v} is the favourite colour of {n} .",
                      "asked about colours , {n} always picks {v} ."],
            ho_facts=["{n} always wears something {v} ."],
            re_questions=["what is {n}'s favourite colour ?", "which colour does {n} love ?"],
            ho_questions=["what colour is {n}'s favourite ?"]),
        "year": dict(
            re_facts=["{n} was born in the year {v} .", "the year {v} saw the birth of {n} .",
                      "{n}'s birth year is {v} .", "born in {v} , {n} grew up quickly ."],
            ho_facts=["{n} was born back in {v} ."],
            re_questions=["what year was {n} born in ?", "in which year was {n} born ?"],
            ho_questions=["what is {n}'s year of birth ?"]),
        "pet": dict(
            re_facts=["{n}'s pet is {a} {v} .", "{a} {v} lives with {n} .",
                      "{n} is the proud owner of {a} {v} ."],
            ho_facts=["{n} takes care of {a} {v} ."],
            re_questions=["what is {n}'s pet ?", "which animal lives with {n} ?"],
            ho_questions=["what animal does {n} own ?"]),
    },
    "company": {
        "city": dict(
            re_facts=["{v} is home to the head office of {n} .", "{n} is based in {v} .",
                      "{n}'s headquarters are in {v} ."],
            ho_facts=["{n} runs its business from {v} ."],
            re_questions=["where is {n} based ?", "in which city is {n} based ?"],
            ho_questions=["what city is home to {n} ?"]),
        "year": dict(
            re_facts=["{n} was founded in the year {v} .", "{n} has been in business since {v} .",
                      "founded in {v} , {n} grew quickly ."],
            ho_facts=["the founding year of {n} is {v} ."],
            re_questions=["what year was {n} founded in ?", "when did {n} open its doors ?"],
            ho_questions=["since when has {n} been in business ?"]),
        "product": dict(
            re_facts=["{v} is the main product of {n} .", "{n} is a maker of {v} .",
                      "{n}'s main product is {v} ."],
            ho_facts=["{n} sells {v} to shops ."],
            re_questions=["what does {n} sell ?", "what is {n} a maker of ?"],
            ho_questions=["what products does {n} make ?"]),
        "ceo": dict(
            re_facts=["{n}'s chief executive is {v} .", "{v} is the chief executive of {n} .",
                      "{v} heads {n} .", "{v} , the chief executive of {n} , works hard ."],
            ho_facts=["{n} is run by {v} ."],
            re_questions=["who is {n}'s chief executive ?", "who heads {n} ?"],
            ho_questions=["who is in charge of {n} ?"]),
        "colour": dict(
            re_facts=["{n}'s logo is {v} .", "the {n} logo is {v} .", "{v} is the colour of the logo of {n} ."],
            ho_facts=["{n} paints its logo {v} ."],
            re_questions=["what colour is {n}'s logo ?", "what is the colour of the logo of {n} ?"],
            ho_questions=["which colour is the {n} logo ?"]),
    },
    "place": {
        "region": dict(
            re_facts=["{n} is in the {v} region .", "the {v} region is home to {n} .",
                      "{n}'s region is the {v} region ."],
            ho_facts=["{n} is a town of the {v} region ."],
            re_questions=["what region is {n} in ?", "in what region does {n} lie ?"],
            ho_questions=["where is {n} located ?"]),
        "river": dict(
            re_facts=["{n}'s river is the {v} .", "the {v} river runs past {n} .",
                      "the {v} , a river , flows through {n} ."],
            ho_facts=["{n} lies on the banks of the {v} river ."],
            re_questions=["what is the river of {n} ?", "which river runs past {n} ?"],
            ho_questions=["on which river does {n} lie ?"]),
        "known": dict(
            re_facts=["{n}'s {v} are famous .", "people love {n} for its {v} .",
                      "{v} made {n} famous ."],
            ho_facts=["{n} is best known for its {v} ."],
            re_questions=["what is {n} best known for ?", "why do visitors come to {n} ?"],
            ho_questions=["what makes {n} famous ?"]),
        "year": dict(
            re_facts=["{n} was settled in the year {v} .", "{n} has stood since {v} .",
                      "settled in {v} , {n} grew slowly ."],
            ho_facts=["the first settlers reached {n} in {v} ."],
            re_questions=["what year was {n} settled in ?", "when did settlers arrive in {n} ?"],
            ho_questions=["when were the first houses of {n} built ?"]),
        "mayor": dict(
            re_facts=["{n}'s mayor is {v} .", "{n} is led by mayor {v} .",
                      "{v} , the mayor of {n} , works hard ."],
            ho_facts=["{v} was elected mayor of {n} ."],
            re_questions=["who is {n}'s mayor ?", "who leads {n} as mayor ?"],
            ho_questions=["who serves as mayor of {n} ?"]),
    },
}
# two facts in one sentence: (attr1, attr2, shape with {v1} {a1} {v2} {a2}); last one held out
PAIRS = {
    "person": [("profession", "city", "{a1} {v1} by trade , {n} lives in {v2} ."),
               ("employer", "year", "{n} , who works for {v1} , was born in {v2} ."),
               ("city", "pet", "{n} lives in {v1} with {a2} {v2} ."),
               ("year", "city", "born in {v1} , {n} now lives in {v2} .")],
    "company": [("ceo", "product", "{n} , led by {v1} , makes {v2} ."),
                ("year", "city", "founded in {v1} , {n} is headquartered in {v2} ."),
                ("product", "ceo", "{n} , the maker of {v1} , is run by {v2} .")],
    "place": [("mayor", "river", "{n} , whose mayor is {v1} , sits on the {v2} river ."),
              ("region", "known", "in the {v1} region , {n} is known for its {v2} ."),
              ("year", "mayor", "settled in {v1} , {n} is governed by mayor {v2} .")],
}
for _k, _attrs in ATTRS.items():
    for _a, _d in _attrs.items():
        _d.update(REWORDED[_k][_a])
# sentences about nobody in particular, used to fill windows
NEUTRAL = ["the weather was mild that year .", "the local paper printed the story .",
           "many people read about it .", "the market was busy on sunday .",
           "the roads were quiet in winter .", "a new bridge opened in {c} .",
           "a festival took place in {c} .", "the trains to {c} were late ."]
