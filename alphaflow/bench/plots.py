"""The report's plots as PNG bytes (matplotlib, Agg backend): pass@k with intervals, cost against
problems solved, and the verdict mix. Each function takes the runs' summaries and draws them together."""

from __future__ import annotations

import io
from typing import Any

# Verdicts in a fixed order and colour, so two reports read the same way.
VERDICT_COLOURS = {
    "AC": "#2e7d32",
    "WA": "#c62828",
    "TLE": "#ef6c00",
    "MLE": "#6a1b9a",
    "RE": "#ad1457",
    "CE": "#4e342e",
    "OLE": "#00838f",
    "SE": "#616161",
    "unsupported": "#9e9e9e",
    "error": "#212121",
    "none": "#bdbdbd",
}


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _png(figure: Any) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=110, bbox_inches="tight")
    _pyplot().close(figure)
    return buffer.getvalue()


def pass_at_k_plot(runs: list[tuple[str, dict[str, Any]]]) -> bytes:
    plt = _pyplot()
    figure, axes = plt.subplots(figsize=(6.4, 3.8))
    from matplotlib.ticker import MaxNLocator

    for position, (label, summary) in enumerate(runs):
        table = summary["pass_at_k"]
        ks = sorted(int(k) for k in table)
        shift = (position - (len(runs) - 1) / 2) * 0.04  # keep overlapping error bars apart
        values = [table[str(k)]["value"] * 100 for k in ks]
        lower = [max(0.0, (table[str(k)]["value"] - table[str(k)]["ci_low"]) * 100) for k in ks]
        upper = [max(0.0, (table[str(k)]["ci_high"] - table[str(k)]["value"]) * 100) for k in ks]
        axes.errorbar(
            [k + shift for k in ks], values, yerr=[lower, upper], marker="o", capsize=4, label=label
        )
        for k, value in zip(ks, values, strict=True):  # over how many problems (those with n >= k)
            row = table[str(k)]
            axes.annotate(
                f"{row['problems']}/{row.get('of', row['problems'])}",
                (k + shift, value),
                textcoords="offset points",
                xytext=(6, -10),
                fontsize=7,
            )
    axes.xaxis.set_major_locator(MaxNLocator(integer=True))
    axes.set_xlabel("k (samples); labels: problems with n >= k / problems judged")
    axes.set_ylabel("pass@k (%)")
    axes.set_ylim(0, 100)
    axes.set_title(f"pass@k with {int(runs[0][1]['confidence'] * 100) if runs else 95}% bootstrap intervals")
    axes.grid(alpha=0.3)
    axes.legend(fontsize=8)
    return _png(figure)


def cost_vs_solved_plot(runs: list[tuple[str, list[dict[str, Any]]]]) -> bytes:
    """Problems solved so far against money spent so far (tokens when a price is unknown).

    ``runs`` holds, per run, its unit records in the order they finished.
    """
    plt = _pyplot()
    figure, axes = plt.subplots(figsize=(6.4, 3.8))
    use_cost = all(
        record.get("cost_usd") is not None or not record.get("model_calls")
        for _, records in runs
        for record in records
    )
    for label, records in runs:
        spent, solved, xs, ys = 0.0, set(), [0.0], [0]
        for record in records:
            if use_cost:
                spent += record.get("cost_usd") or 0.0
            else:
                spent += (record.get("prompt_tokens") or 0) + (record.get("completion_tokens") or 0)
            if record.get("solved"):
                solved.add(record["problem"])
            xs.append(spent)
            ys.append(len(solved))
        axes.step(xs, ys, where="post", label=label)
    axes.set_xlabel("cost so far (USD)" if use_cost else "tokens so far (a price is unknown)")
    axes.set_ylabel("problems solved")
    axes.set_title("cost against problems solved")
    axes.grid(alpha=0.3)
    axes.legend(fontsize=8)
    return _png(figure)


def verdict_mix_plot(runs: list[tuple[str, dict[str, Any]]]) -> bytes:
    plt = _pyplot()
    figure, axes = plt.subplots(figsize=(6.4, 0.9 + 0.6 * len(runs)))
    names = [label for label, _ in runs]
    present = [v for v in VERDICT_COLOURS if any(summary["verdicts"].get(v) for _, summary in runs)]
    present += sorted({v for _, s in runs for v in s["verdicts"] if v not in VERDICT_COLOURS})
    left = [0.0] * len(runs)
    for verdict in present:
        shares = []
        for _, summary in runs:
            total = sum(summary["verdicts"].values()) or 1
            shares.append(summary["verdicts"].get(verdict, 0) / total * 100)
        axes.barh(names, shares, left=left, color=VERDICT_COLOURS.get(verdict, "#90a4ae"), label=verdict)
        left = [a + b for a, b in zip(left, shares, strict=True)]
    axes.set_xlim(0, 100)
    axes.set_xlabel("share of units (%), verdict on the evaluation tests")
    axes.set_title("verdict mix")
    axes.legend(
        fontsize=7, ncol=max(1, min(len(present), 6)), loc="upper center", bbox_to_anchor=(0.5, -0.35)
    )
    return _png(figure)
