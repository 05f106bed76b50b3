"""Checks a text model's Hugging Face export (models/<id>/hf/, written by export_hf.py).

    /usr/bin/python3 models/training/hf_check.py --model generative-adapter-tiny [--n 24] [--cases DIR]

1. The hf/ weights loaded into lm.py (HF llama semantics) reproduce base.onnx's logits to 1e-4 on
   the model's eval-sample prompts (closed-book and document-in-prompt), compared by
   hf_check.mjs with onnxruntime-node — the runtime the service uses.
2. With --cases DIR (adapters downloaded from the service: DIR/cases.json lists
   {dir, prompt, output, base_output} per case, dir holding adapter_config.json and
   adapter_model.safetensors): the PEFT files applied to the hf/ weights (keys
   base_model.model.<module>.lora_{A,B}.weight, scaling lora_alpha / r) give the service's greedy
   answers, and the base alone gives its base answers.
3. Where transformers and peft are installed: AutoModelForCausalLM.from_pretrained(hf/) and
   PeftModel.from_pretrained(base, case dir) give the same greedy answers (else it says so).
Exit status 1 when any check fails. Tokenisation here reads hf/tokenizer.json (WordPiece), not tok.py.
"""
import argparse, json, os, re, shutil, struct, subprocess, sys, tempfile
import numpy as np
import torch
import lm

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
DT = {"F32": np.float32, "F16": np.float16, "BF16": None}


def read_safetensors(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        body = f.read()
    out = {}
    for k, v in header.items():
        if k == "__metadata__":
            continue
        a, b = v["data_offsets"]
        raw = body[a:b]
        if v["dtype"] == "BF16":  # bfloat16 = the high half of a float32
            arr = (np.frombuffer(raw, "<u2").astype(np.uint32) << 16).view(np.float32)
        else:
            arr = np.frombuffer(raw, np.dtype(DT[v["dtype"]]).newbyteorder("<")).astype(np.float32)
        out[k] = torch.from_numpy(arr.reshape(v["shape"]).copy())
    return out


class WordPiece:
    """hf/tokenizer.json's pipeline: Lowercase, Whitespace, WordPiece (## continuation), WordPiece decoder."""

    def __init__(self, path):
        t = json.load(open(path))
        self.vocab = t["model"]["vocab"]
        self.inv = {i: w for w, i in self.vocab.items()}
        self.unk = self.vocab[t["model"]["unk_token"]]
        self.special = {a["id"] for a in t["added_tokens"] if a.get("special")}

    def encode(self, text):
        ids = []
        for word in re.findall(r"\w+|[^\w\s]+", text.lower()):
            start, pieces = 0, []
            while start < len(word):
                end = len(word)
                while end > start and (("##" if start else "") + word[start:end]) not in self.vocab:
                    end -= 1
                if end == start:
                    pieces = [self.unk]
                    break
                pieces.append(self.vocab[("##" if start else "") + word[start:end]])
                start = end
            ids += pieces
        return ids

    def decode(self, ids):
        s = " ".join(self.inv[i] for i in ids if i not in self.special).replace(" ##", "")
        for a, b in ((" .", "."), (" ?", "?"), (" !", "!"), (" ,", ","), (" ' ", "'"), (" n't", "n't"),
                     (" 'm", "'m"), (" 's", "'s"), (" 've", "'ve"), (" 're", "'re")):
            s = s.replace(a, b)
        return s.strip()


def load_hf(hf):
    cfg = json.load(open(os.path.join(hf, "config.json")))
    c = lm.Cfg(vocab=cfg["vocab_size"], d=cfg["hidden_size"], n_layers=cfg["num_hidden_layers"], n_heads=cfg["num_attention_heads"],
               ffn=cfg["intermediate_size"], rope_theta=cfg["rope_theta"], eps=cfg["rms_norm_eps"])
    assert cfg["tie_word_embeddings"] and cfg["num_key_value_heads"] == cfg["num_attention_heads"]
    model = lm.TinyLM(c).eval()
    missing, unexpected = model.load_state_dict(read_safetensors(os.path.join(hf, "model.safetensors")), strict=False)
    assert not unexpected and not [k for k in missing if k != "inv_freq"], (missing, unexpected)
    return model, c


def peft_lora(case_dir, c):
    """adapter_model.safetensors → lm.py's {group: (A [1, L, r, in], B [1, L, out, r])} and the scaling."""
    conf = json.load(open(os.path.join(case_dir, "adapter_config.json")))
    t = read_safetensors(os.path.join(case_dir, "adapter_model.safetensors"))
    lora = {}
    for g in lm.ALL_GROUPS:
        kind = "self_attn" if g in lm.ATTN else "mlp"
        a = [t[f"base_model.model.model.layers.{i}.{kind}.{g}.lora_A.weight"] for i in range(c.n_layers)]
        b = [t[f"base_model.model.model.layers.{i}.{kind}.{g}.lora_B.weight"] for i in range(c.n_layers)]
        lora[g] = (torch.stack(a)[None], torch.stack(b)[None])
    return lora, conf["lora_alpha"] / conf["r"]


@torch.no_grad()
def greedy(model, ids, lora, scaling, max_new, eos):
    out = []
    for _ in range(max_new):
        x = torch.tensor([ids + out])
        nxt = int(model(x, torch.ones_like(x), lora=lora, scaling=scaling)[0, -1].argmax())
        if nxt == eos:
            break
        out.append(nxt)
    return out


def check_logits(model, tok, mdir, man, n):
    items = json.load(open(os.path.join(mdir, "eval-sample.json")))["items"][:n]
    prompts = man["base"]["prompts"]
    texts = []
    for it in items:
        texts.append(prompts["closed_book"].format(question=it["question"]))
        if "context" in it and "with_context" in prompts:
            # A long document's prompt holds the window that states the answer (as the card's eval).
            texts.append(prompts["with_context"].format(context=it.get("oracle_window", it["context"]), question=it["question"]))
    seqs = [tok.encode(t) for t in texts]
    T = max(map(len, seqs))
    ids = torch.zeros((len(seqs), T), dtype=torch.long)
    mask = torch.zeros_like(ids)
    for i, s in enumerate(seqs):
        ids[i, :len(s)] = torch.tensor(s)
        mask[i, :len(s)] = 1
    with torch.no_grad():
        logits = model(ids, mask).numpy().astype("<f4")
    tmp = tempfile.mkdtemp(prefix="hf-check-")
    json.dump({"texts": texts, "input_ids": ids.tolist(), "attention_mask": mask.tolist()}, open(os.path.join(tmp, "ids.json"), "w"))
    logits.tofile(os.path.join(tmp, "logits.f32"))
    sys.stdout.flush()
    r = subprocess.run(["node", os.path.join(HERE, "hf_check.mjs"), mdir, os.path.join(tmp, "ids.json")])
    shutil.rmtree(tmp, ignore_errors=True)
    return r.returncode == 0


def check_cases(model, c, tok, man, cases_dir):
    cases = json.load(open(os.path.join(cases_dir, "cases.json")))
    eos, max_new = man["base"]["eos_token_id"], man["base"].get("max_new_tokens", 8)
    ok = True
    for case in cases:
        lora, scaling = peft_lora(os.path.join(cases_dir, case["dir"]), c)
        ids = tok.encode(case["prompt"])
        got = tok.decode(greedy(model, ids, lora, scaling, max_new, eos))
        base = tok.decode(greedy(model, ids, None, scaling, max_new, eos))
        good = got == case["output"] and base == case["base_output"]
        ok &= good
        print(f"{'ok  ' if good else 'FAIL'} hf/ + PEFT files (lm.py) {case['dir']}: {got!r} (service {case['output']!r}); base {base!r} (service {case['base_output']!r})")
    return ok


def check_transformers(hf, cases_dir, man):
    try:
        from transformers import AutoModelForCausalLM, AutoTokenizer
        from peft import PeftModel
    except ImportError:
        print("skip transformers + peft: not installed here (run this script where they are)")
        return True
    tok = AutoTokenizer.from_pretrained(hf)
    ok = True
    for case in json.load(open(os.path.join(cases_dir, "cases.json"))):
        base = AutoModelForCausalLM.from_pretrained(hf, torch_dtype=torch.float32).eval()
        enc = tok(case["prompt"], return_tensors="pt", add_special_tokens=False)
        gen = dict(max_new_tokens=man["base"].get("max_new_tokens", 8), do_sample=False, eos_token_id=man["base"]["eos_token_id"], pad_token_id=0)
        b = tok.decode(base.generate(**enc, **gen)[0, enc.input_ids.shape[1]:], skip_special_tokens=True).strip()
        model = PeftModel.from_pretrained(base, os.path.join(cases_dir, case["dir"])).eval()
        a = tok.decode(model.generate(**enc, **gen)[0, enc.input_ids.shape[1]:], skip_special_tokens=True).strip()
        good = a == case["output"] and b == case["base_output"]
        ok &= good
        print(f"{'ok  ' if good else 'FAIL'} transformers + peft {case['dir']}: {a!r} (service {case['output']!r}); base {b!r} (service {case['base_output']!r})")
    return ok


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", required=True)
    ap.add_argument("--n", type=int, default=24, help="eval-sample items for the logits check")
    ap.add_argument("--cases", help="adapters downloaded from the service, with its answers (see above)")
    a = ap.parse_args()
    torch.set_num_threads(2)
    mdir = os.path.join(ROOT, a.model)
    man = json.load(open(os.path.join(mdir, "manifest.json")))
    hf = os.path.join(mdir, "hf")
    model, c = load_hf(hf)
    tok = WordPiece(os.path.join(hf, "tokenizer.json"))
    ok = check_logits(model, tok, mdir, man, a.n)
    if a.cases:
        ok &= check_cases(model, c, tok, man, a.cases)
        ok &= check_transformers(hf, a.cases, man)
    print("hf check:", "passed" if ok else "FAILED")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
