"""Check that tokenizers.js (node) encodes exactly like tok.Tokenizer on ~400 strings."""
import json, random, subprocess, sys, os
import data, tok

def cases(n_docs=200, seed=7):
    rng = random.Random(seed)
    pools = data.splits()
    out = []
    for i in range(n_docs):
        e = data.fresh_entity(rng, pools["ga_train"]) if i % 2 else rng.choice(pools["ga_test"])
        doc = data.render_doc(e, rng)
        q, a, _ = rng.choice(data.questions(e, rng))
        out.append(data.PROMPT_CONTEXT.format(context=doc, question=q) + " " + a)
        out.append(data.PROMPT_CLOSED.format(question=q))
    odd = ["Hello, World!!", "UPPER lower MiXeD", "tabs\tand\nnewlines  ", "unknownword zzqx",
           "émigré café naïve", "numbers 12345 and 3.14", "a--b__c", "  ", "", "what?!...",
           "ümlaut İstanbul", "x[PAD]y [EOS] z", "semi;colon:'quote\"", "emoji 😀 here",
           "über-long " + "a" * 120, "mixed123abc ##hash"]
    out += odd
    for _ in range(100):
        out.append("".join(rng.choice("abcxyz ,.?'-019Q") for _ in range(rng.randint(1, 30))))
    return out

if __name__ == "__main__":
    tokpath = sys.argv[1]
    t = tok.Tokenizer(tokpath)
    cs = [{"text": s, "ids": t.encode(s)} for s in cases()]
    for c in cs[:400]:
        if c["ids"] and 1 not in c["ids"]:
            c["decoded"] = t.decode(c["ids"])
    json.dump(cs, open("/tmp/tok_cases.json", "w"))
    here = os.path.dirname(os.path.abspath(__file__))
    r = subprocess.run(["node", os.path.join(here, "tok_check.mjs"), tokpath, "/tmp/tok_cases.json"])
    sys.exit(r.returncode)
