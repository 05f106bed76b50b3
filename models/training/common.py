"""Shared helpers: paths, sequence building, batching, greedy decoding, metrics."""
import os, json, random, time
import torch
import torch.nn.functional as F
import data, tok, lm

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)                       # models/
CKPT = os.path.join(HERE, "ckpt")
TOKENIZER = os.path.join(CKPT, "tokenizer.json")
MAX_CONTEXT = 96          # context tokens the generator is trained for (docs are <= ~90)
MAX_QUESTION = 32
MAX_NEW = 8
LORA_R, LORA_ALPHA = 8, 16


def setup(threads=2, seed=0):
    torch.set_num_threads(threads)
    torch.manual_seed(seed)
    random.seed(seed)


def get_tok():
    if not os.path.exists(TOKENIZER):
        os.makedirs(CKPT, exist_ok=True)
        json.dump(tok.tokenizer_json(tok.build_vocab()), open(TOKENIZER, "w"), indent=1)
    return tok.Tokenizer(TOKENIZER)


def closed_prompt(q):
    return data.PROMPT_CLOSED.format(question=q)


def context_prompt(doc, q):
    return data.PROMPT_CONTEXT.format(context=doc, question=q)


def qa_ids(t, prompt, answer=None):
    """prompt ids, and (if answer) the target ids = answer + EOS."""
    p = t.encode(prompt)
    if answer is None:
        return p
    return p, t.encode(answer) + [tok.EOS]


def pad(seqs, value=tok.PAD):
    T = max(len(s) for s in seqs)
    ids = torch.full((len(seqs), T), value, dtype=torch.long)
    mask = torch.zeros((len(seqs), T), dtype=torch.long)
    for i, s in enumerate(seqs):
        ids[i, :len(s)] = torch.tensor(s, dtype=torch.long)
        mask[i, :len(s)] = 1
    return ids, mask


def lm_batch(items):
    """items: list of (prompt_ids, target_ids, prompt_weight). Returns ids, mask, labels, weights
    where labels[t] is the token at t+1 (next-token), weight 0 on padding."""
    seqs = [p + tg for p, tg, _ in items]
    ids, mask = pad(seqs)
    labels = torch.full_like(ids, -100)
    w = torch.zeros(ids.shape, dtype=torch.float)
    for i, (p, tg, pw) in enumerate(items):
        n = len(p) + len(tg)
        labels[i, :n - 1] = ids[i, 1:n]
        w[i, :len(p) - 1] = pw
        w[i, len(p) - 1:n - 1] = 1.0
    return ids, mask, labels, w


def answer_positions(items):
    """For lm_batch rows (prompt, target, 0): positions whose next-token is a target token."""
    pos = []
    for i, (p, tg, _) in enumerate(items):
        pos += [(i, len(p) - 1 + j) for j in range(len(tg))]
    return torch.tensor(pos)


def weighted_ce(logits, labels, w):
    l = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), labels.reshape(-1).clamp(min=0),
                        reduction="none").view(labels.shape)
    w = w * (labels >= 0).float()
    return (l * w).sum() / w.sum().clamp(min=1e-6)


@torch.no_grad()
def greedy(model, prompts, lora=None, max_new=MAX_NEW, scaling=LORA_ALPHA / LORA_R):
    """Greedy decoding for a batch of prompt id lists (right padding, no cache). Stops at EOS.
    `lora` is a {group: (A, B)} dict with batch dimension = len(prompts)."""
    seqs = [list(p) for p in prompts]
    done = [False] * len(seqs)
    outs = [[] for _ in seqs]
    for _ in range(max_new):
        ids, mask = pad(seqs)
        logits = model(ids, mask, lora=lora, scaling=scaling)
        lens = mask.sum(1)
        nxt = logits[torch.arange(len(seqs)), lens - 1].argmax(-1).tolist()
        for i, n in enumerate(nxt):
            if done[i]:
                continue
            if n == tok.EOS:
                done[i] = True
            else:
                outs[i].append(n); seqs[i].append(n)
        if all(done):
            break
    return outs


def f1(pred, gold):
    p, g = tok.normalize_answer(pred), tok.normalize_answer(gold)
    if not p or not g:
        return float(p == g)
    common = {}
    for w in p:
        if w in g:
            common[w] = min(p.count(w), g.count(w))
    n = sum(common.values())
    if n == 0:
        return 0.0
    pr, rc = n / len(p), n / len(g)
    return 2 * pr * rc / (pr + rc)


def em(pred, gold):
    return float(tok.normalize_answer(pred) == tok.normalize_answer(gold))


def bootstrap(vals, n=2000, seed=0):
    rng = random.Random(seed)
    m = len(vals)
    means = sorted(sum(vals[rng.randrange(m)] for _ in range(m)) / m for _ in range(n))
    return sum(vals) / m, means[int(0.025 * n)], means[int(0.975 * n) - 1]


def eval_set(pool_name, pools, seed):
    """Fixed evaluation items: one rendered document per entity (deterministic), and ALL its
    attribute questions (one template each)."""
    rng = random.Random(seed)
    out = []
    for e in pools[pool_name]:
        doc = data.render_doc(e, rng)
        qs = data.questions(e, rng)
        out.append({"name": e["name"], "kind": e["kind"], "context": doc,
                    "qas": [{"question": q, "answer": a, "attr": at} for q, a, at in qs]})
    return out


def load_base(path=None):
    path = path or os.path.join(CKPT, "base.pt")
    sd = torch.load(path)
    m = lm.TinyLM(lm.Cfg(**sd["cfg"]))
    m.load_state_dict(sd["state"])
    m.eval()
    for p in m.parameters():
        p.requires_grad_(False)
    return m


def onnx_initializers(path):
    """{name: tensor} of an exported graph's initializers (to start training from a shipped model)."""
    import onnx
    from onnx import numpy_helper
    m = onnx.load(path)
    return m, {i.name: torch.from_numpy(numpy_helper.to_array(i).copy()) for i in m.graph.initializer}


def copy_params(module, state, what):
    """Copies `state` into the module's parameters of the same names and shapes; every trainable
    (non-base) parameter must be covered."""
    own = dict(module.named_parameters())
    for k, v in state.items():
        assert own[k].shape == v.shape, (k, own[k].shape, v.shape)
        own[k].data.copy_(v)
    want = [k for k in own if not k.startswith("base.")]
    assert sorted(want) == sorted(state), set(want) ^ set(state)
    print(f"initialised the {what} ({len(state)} tensors)", flush=True)
