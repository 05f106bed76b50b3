"""WordPiece tokenizer in Hugging Face `tokenizers` JSON format + an exact Python encoder.

normalizer Lowercase, pre_tokenizer Whitespace (regex \\w+|[^\\w\\s]+ as in tokenizers.js),
model WordPiece (whole words of the lexicon, single characters and ##characters as fallback),
no post_processor (nothing is added around the text), decoder WordPiece.
"""
import json, re, string
import data

SPECIALS = ["[PAD]", "[UNK]", "[BOS]", "[EOS]"]
PAD, UNK, BOS, EOS = 0, 1, 2, 3

# JS regex semantics (no `u` flag): \w = [A-Za-z0-9_], \s = ECMAScript WhiteSpace+LineTerminator
_JS_WS = "\t\n\v\f\r \u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\ufeff"
_PRE = re.compile(r"[A-Za-z0-9_]+|[^A-Za-z0-9_" + _JS_WS + r"]+")


def build_vocab():
    vocab = list(SPECIALS)
    seen = set(vocab)
    def add(t):
        if t not in seen:
            seen.add(t); vocab.append(t)
    for w in data.lexicon_text():
        for piece in _PRE.findall(w):
            add(piece)
    chars = [c for c in string.printable if not c.isspace() and not c.isupper()]
    for c in chars:
        add(c)
    for c in chars:
        add("##" + c)
    return vocab


def tokenizer_json(vocab):
    return {
        "version": "1.0",
        "truncation": None,
        "padding": None,
        "added_tokens": [
            {"id": i, "content": t, "single_word": False, "lstrip": False, "rstrip": False,
             "normalized": False, "special": True} for i, t in enumerate(SPECIALS)],
        "normalizer": {"type": "Lowercase"},
        "pre_tokenizer": {"type": "Whitespace"},
        "post_processor": None,
        "decoder": {"type": "WordPiece", "prefix": "##", "cleanup": True},
        "model": {"type": "WordPiece", "unk_token": "[UNK]", "continuing_subword_prefix": "##",
                  "max_input_chars_per_word": 100,
                  "vocab": {t: i for i, t in enumerate(vocab)}},
    }


class Tokenizer:
    def __init__(self, path):
        j = json.load(open(path))
        self.vocab = j["model"]["vocab"]
        self.inv = {i: t for t, i in self.vocab.items()}
        self.specials = {t["content"]: t["id"] for t in j["added_tokens"]}
        self.size = len(self.vocab)

    def _wordpiece(self, word):
        chars = list(word)
        if len(chars) > 100:
            return [UNK]
        out, start = [], 0
        while start < len(chars):
            end, cur = len(chars), None
            while start < end:
                sub = "".join(chars[start:end])
                if start > 0:
                    sub = "##" + sub
                if sub in self.vocab:
                    cur = sub; break
                end -= 1
            if cur is None:
                return [UNK]
            out.append(self.vocab[cur]); start = end
        return out

    def encode(self, text):
        # special tokens are matched literally in the raw text (as tokenizers.js does)
        ids = []
        parts = re.split("(" + "|".join(re.escape(s) for s in self.specials) + ")", text)
        for p in parts:
            if not p:
                continue
            if p in self.specials:
                ids.append(self.specials[p]); continue
            for w in _PRE.findall(p.lower()):
                ids.extend(self._wordpiece(w))
        return ids

    def decode(self, ids):
        """= tokenizers.js decode(ids, {skip_special_tokens: true})"""
        toks = [self.inv.get(int(i), "[UNK]") for i in ids]
        toks = [t for t in toks if t not in self.specials]
        out = []
        for i, t in enumerate(toks):
            if i != 0:
                t = t.replace("##", "", 1) if t.startswith("##") else " " + t
            out.append(_cleanup(t))
        return _cleanup("".join(out))


def _cleanup(t):
    for a, b in ((" .", "."), (" ?", "?"), (" !", "!"), (" ,", ","), (" ' ", "'"), (" n't", "n't"),
                 (" 'm", "'m"), (" 's", "'s"), (" 've", "'ve"), (" 're", "'re")):
        t = t.replace(a, b)
    return t


def normalize_answer(s):
    """EM/F1 normalisation (the TypeScript eval must do the same): lowercase, every
    non-alphanumeric character becomes a space, split on whitespace."""
    return re.sub(r"[^a-z0-9]+", " ", s.lower()).split()


if __name__ == "__main__":
    import sys
    out = sys.argv[1] if len(sys.argv) > 1 else "tokenizer.json"
    v = build_vocab()
    json.dump(tokenizer_json(v), open(out, "w"), ensure_ascii=False, indent=1)
    print("vocab", len(v), "->", out)
