"""eval-sample.json for a staged v2 model (read by the service's `npm run eval`).

Format as in v1 (model, split, condition_field, metric, items with context / question /
answer / python_predictions) plus, per item: n_windows (windows of the context, packed by
data.pack_ids into <= 96 tokens), window (index of the window stating the answer),
oracle_window (its text: the with_context prediction puts only this window in the prompt),
fact_style / q_style (template, reworded, heldout; pairs and fillers as their style),
n_ents (entities with a fact in that window), distractor, and for multi-window documents
python_predictions.first_window_only (the adapter of window 1 alone).
"""
import json, os, random
import common

METRIC = ("exact match / token F1 after normalisation: lowercase, every non [a-z0-9] character "
          "-> space, split on whitespace")


def spread(pairs):
    """Indices of (document, question) pairs taken round-robin over the documents, so that the
    first n (the sample, and its --quick head) cover as many documents as possible; within a
    document in a fixed shuffled order, so that every window is asked about (the questions are
    stored window by window, and the first window alone is what truncation keeps)."""
    by_doc = {}
    for i, (it, _) in enumerate(pairs):
        by_doc.setdefault(id(it), []).append(i)
    rng = random.Random(7)
    queues, order = [rng.sample(q, len(q)) for q in by_doc.values()], []
    while any(queues):
        for q in queues:
            if q:
                order.append(q.pop(0))
    return order


def write(mid, spec, sets, preds, counts):
    out = os.path.join(common.ROOT, ".staging", mid, "eval-sample.json")
    os.makedirs(os.path.dirname(out), exist_ok=True)
    items = []
    if mid == "iag-tiny":
        n = int(counts.split(",")[0])
        for i, (it, qa) in enumerate(sets["mem"][:n]):
            items.append(dict(entity=qa["entity"], kind=qa["kind"], attr=qa["attr"],
                              context=it["context"], question=qa["question"], answer=qa["answer"],
                              q_style=qa["q_style"], python_predictions={
                                  "closed_book": preds["base, closed-book"][i],
                                  "with_context": preds["base, document in prompt"][i],
                                  "adapter": preds["base + generated adapter (closed-book)"][i]}))
        field = "question"
    else:
        field = "context"
        for nw, n in zip((1, 4, 16), [int(x) for x in counts.split(",")]):
            tag = f"{nw} window" + ("s" if nw > 1 else "")
            ctx_name = f"base, document in prompt ({tag}{'' if nw == 1 else ', oracle window'})"
            for i, (it, qa) in [(i, sets[nw][i]) for i in spread(sets[nw])[:n]]:
                pp = {"closed_book": preds[f"base, closed-book ({tag})"][i],
                      "with_context": preds[ctx_name][i],
                      "adapter": preds[f"base + generated adapter ({tag})"][i]}
                if nw > 1:
                    pp["first_window_only"] = preds[f"first-window-only adapter ({tag}, all)"][i]
                items.append(dict(entity=qa["entity"], kind=qa["kind"], attr=qa["attr"],
                                  context=it["context"], question=qa["question"], answer=qa["answer"],
                                  n_windows=it["n_windows"], window=qa["window"],
                                  oracle_window=it["windows"][qa["window"]],
                                  fact_style=qa["fact_style"], q_style=qa["q_style"],
                                  n_ents=qa["n_ents"], distractor=qa["distractor"],
                                  python_predictions=pp))
    json.dump({"model": mid, "split": spec["test_pool"], "condition_field": field, "metric": METRIC,
               "window_tokens": common.MAX_CONTEXT, "items": items}, open(out, "w"), indent=1)
    print("wrote", out, len(items))
