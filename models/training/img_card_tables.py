"""Prints hyper-personalize-tiny's CARD.md tables (markdown) from eval_personalize.py's JSON
outputs in ckpt/, so the card shows exactly what the runs measured:

    card-eval.json                 (eval_personalize.py --n 12 --lrs 3e-3)
    card-eval-no-ft-coloured.json  (eval_personalize.py --n 12 --no-ft --bg coloured)
    images-ablation.json           (eval_personalize.py --n 12 --images-ablation)
    guidance-sweep.json            (eval_personalize.py --n 8 --guidance-sweep ...)

    /usr/bin/python3 models/training/img_card_tables.py
"""
import json, os

CKPT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "ckpt")


def load(name):
    p = os.path.join(CKPT, name)
    return json.load(open(p)) if os.path.exists(p) else None


def pct(r, k):
    v = r[k]
    return f"{100 * v['mean']:.1f} [{100 * v['lo']:.1f}, {100 * v['hi']:.1f}]" if isinstance(v, dict) else f"{100 * v:.1f}"


def pct0(r, k):
    v = r[k]
    return f"{100 * (v['mean'] if isinstance(v, dict) else v):.1f}"


def seconds(r):
    s = r.get("seconds_per_adapter")
    if s is None:
        return ""
    return f"{1000 * s:.1f} ms" if s < 1 else f"{s:.2f} s"


def main_table(res, title):
    print(f"### {title}\n")
    print("| condition | attribute match % | subject match % | shape % | colour % | pattern % | judge sure of shape % | judge sure of a pattern % | similarity | time per adapter |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for name, r in res["rows"].items():
        bold = name == "generated adapter"
        am = pct(r, "attributes")
        print(f"| {'**' + name + '**' if bold else name} | {'**' + am + '**' if bold else am} | {pct(r, 'match')} | {pct0(r, 'shape')} | "
              f"{pct0(r, 'colour')} | {pct0(r, 'pattern')} | {pct0(r, 'clear_shape')} | {pct0(r, 'clear_pattern')} | "
              f"{r['similarity']['mean']:.3f} | {seconds(r)} |")
    for k in ("generated_vs_ft_k2_attributes", "generated_vs_ft_k2_pattern", "speedup_vs_ft_k1", "speedup_vs_ft_k2"):
        if k in res:
            print(f"\n{k}: {res[k]:.3f}", end="")
    print("\n")


def main():
    card = load("card-eval.json")
    if card:
        main_table(card, f"PyTorch, first {card['n_subjects']} test subjects, guidance {card['guidance']} (`eval_personalize.py --n {card['n_subjects']} --lrs {card['lrs'][next(iter(card['lrs']))]}`)")
    col = load("card-eval-no-ft-coloured.json")
    if col:
        main_table(col, f"Conditioning images on strongly coloured backgrounds, same {col['n_subjects']} subjects (`--no-ft --bg coloured`)")
        if card:
            a, b = card["rows"]["generated adapter"], col["rows"]["generated adapter"]
            print(f"coloured - usual, generated adapter: attribute match {100 * (b['attributes']['mean'] - a['attributes']['mean']):+.1f} points, "
                  f"colour {100 * (b['colour']['mean'] - a['colour']['mean']):+.1f}\n")
    abl = load("images-ablation.json")
    if abl:
        print("### Number of conditioning images (`--images-ablation`)\n")
        print("| images given (rest masked) | attribute match % | subject match % | shape % | colour % | pattern % | similarity |")
        print("|---|---|---|---|---|---|---|")
        for k, r in abl.items():
            print(f"| {k} | {pct(r, 'attributes')} | {pct(r, 'match')} | {pct0(r, 'shape')} | {pct0(r, 'colour')} | {pct0(r, 'pattern')} | {r['similarity']['mean']:.3f} |")
        print()
    sweep = load("guidance-sweep.json")
    if sweep:
        print("### Guidance, on validation subjects (`--guidance-sweep`)\n")
        print("| guidance | base attribute match % | base shape % | base: judge sure of shape % | base: judge sure of a pattern % | adapter attribute match % | adapter pattern % |")
        print("|---|---|---|---|---|---|---|")
        for gs, r in sweep.items():
            b, g = r["base"], r["generated adapter"]
            print(f"| {gs} | {pct0(b, 'attributes')} | {pct0(b, 'shape')} | {pct0(b, 'clear_shape')} | {pct0(b, 'clear_pattern')} | {pct0(g, 'attributes')} | {pct0(g, 'pattern')} |")
        print()


if __name__ == "__main__":
    main()
