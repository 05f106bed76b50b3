"""Scoring helpers for eval_adapters.py: EM / F1 with bootstrap CIs, overall and by tag."""
import common

BREAKDOWNS = ("kind_attr", "fact_style", "q_style", "n_ents", "distractor", "filled", "later")


def tags(it, qa):
    return {"kind_attr": f"{qa['kind']}.{qa['attr']}", "fact_style": qa["fact_style"],
            "q_style": qa["q_style"], "n_ents": "1 entity" if qa["n_ents"] == 1 else "2-3 entities",
            "distractor": "distractor" if qa["distractor"] else "no distractor",
            "filled": "filled window" if it.get("filled") else "-",
            "later": "window 1" if qa["window"] == 0 else "later windows"}


def score(preds, flat, boot=1000):
    """preds aligned with flat [(item, qa)] -> {em, f1 (mean, lo, hi), n, by: {tag: {value: (em, lo, hi, n)}}}"""
    ems = [common.em(p, qa["answer"]) for p, (_, qa) in zip(preds, flat)]
    f1s = [common.f1(p, qa["answer"]) for p, (_, qa) in zip(preds, flat)]
    by = {}
    for e, (it, qa) in zip(ems, flat):
        for k, v in tags(it, qa).items():
            by.setdefault(k, {}).setdefault(v, []).append(e)
    return {"em": common.bootstrap(ems, boot), "f1": common.bootstrap(f1s, boot), "n": len(ems),
            "by": {k: {v: (common.bootstrap(x, boot) + (len(x),)) for v, x in sorted(d.items())}
                   for k, d in by.items()}}


def pct(x):
    return f"{100 * x[0]:.1f} [{100 * x[1]:.1f}, {100 * x[2]:.1f}]"


def table(rows):
    """rows: {name: score dict (+ 'secs')} -> markdown lines"""
    out = ["| condition | questions | EM % [95% CI] | token F1 % [95% CI] | time per adapter |",
           "|---|---|---|---|---|"]
    for name, r in rows.items():
        s = r.get("secs")
        tm = "" if s is None else (f"{s * 1000:.1f} ms" if s < 1 else f"{s:.2f} s")
        out.append(f"| {name} | {r['n']} | {pct(r['em'])} | {pct(r['f1'])} | {tm} |")
    return out


def breakdown(rows, key, names):
    vals = sorted({v for n in names if n in rows for v in rows[n]["by"].get(key, {})})
    out = [f"| {key} | " + " | ".join(names) + " |", "|---|" + "---|" * len(names)]
    for v in vals:
        cells = []
        for n in names:
            x = rows.get(n, {}).get("by", {}).get(key, {}).get(v)
            cells.append("" if x is None else f"{100 * x[0]:.1f} [{100 * x[1]:.0f}, {100 * x[2]:.0f}] (n={x[3]})")
        out.append(f"| {v} | " + " | ".join(cells) + " |")
    return out
