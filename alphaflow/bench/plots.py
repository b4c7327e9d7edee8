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


# pass@k is a percentage; the margins keep a point at 0% or 100% (and its marker) fully visible.
PERCENT_LIMITS = (-5.0, 105.0)
PERCENT_TICKS = [0, 20, 40, 60, 80, 100]


def _below_legend(axes: Any, entries: int) -> None:
    """A legend under the axes, so it never hides a point."""
    if entries:
        axes.legend(
            fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.22), ncol=min(entries, 2), frameon=False
        )


def pass_at_k_figure(runs: list[tuple[str, dict[str, Any]]]) -> Any:
    """The pass@k figure (a matplotlib Figure) of ``runs`` = [(label, summary from ``summarize``)].

    Points are pass@k in percent at integer k; whiskers are the bootstrap interval, drawn only where
    it has a width. With a single k for every run the figure is a bar per run instead of a line.
    Each point is labelled ``problems with n >= k / problems judged``.
    """
    plt = _pyplot()
    figure, axes = plt.subplots(figsize=(6.4, 3.8))
    all_ks = sorted({int(k) for _, summary in runs for k in summary["pass_at_k"]})
    single = len(all_ks) <= 1
    for position, (label, summary) in enumerate(runs):
        table = summary["pass_at_k"]
        ks = sorted(int(k) for k in table)
        rows = [table[str(k)] for k in ks]
        values = [row["value"] * 100 for row in rows]
        if not rows:  # no judged sample: nothing to draw (the table says so)
            axes.plot([], [], marker="o", label=f"{label} (no judged sample)")
            continue
        if single:  # one bar per run, side by side
            xs = [position]
            bar = axes.bar(xs, values, width=0.6, alpha=0.8, label=label)
            # a dot on top of the bar, so a 0% run is still seen
            axes.plot(xs, values, marker="o", linestyle="none", color=bar.patches[0].get_facecolor()[:3])
        else:
            shift = (position - (len(runs) - 1) / 2) * 0.06  # keep overlapping whiskers apart
            xs = [k + shift for k in ks]
            axes.plot(xs, values, marker="o", label=label)
        colour = "#333333" if single else axes.get_lines()[-1].get_color()
        with_width = [i for i, row in enumerate(rows) if row["ci_high"] - row["ci_low"] > 1e-12]
        if with_width:
            axes.errorbar(
                [xs[i] for i in with_width],
                [values[i] for i in with_width],
                yerr=[
                    [max(0.0, (rows[i]["value"] - rows[i]["ci_low"]) * 100) for i in with_width],
                    [max(0.0, (rows[i]["ci_high"] - rows[i]["value"]) * 100) for i in with_width],
                ],
                fmt="none",
                ecolor=colour,
                capsize=4,
            )
        for x, value, row in zip(xs, values, rows, strict=True):  # over how many problems (n >= k)
            axes.annotate(
                f"{value:.0f}% ({row['problems']}/{row.get('of', row['problems'])})"
                if single
                else f"{row['problems']}/{row.get('of', row['problems'])}",
                (x, value),
                textcoords="offset points",
                # stacked per run, above a point (below one near 100%), so two runs' labels never overlap
                xytext=((0, 6) if value <= 85 else (0, -14))  # inside the bar near 100%
                if single
                else (6, (-12 if value > 80 else 5) - 9 * position * (value > 80 or -1)),
                ha="center" if single else "left",
                fontsize=7,
            )
    if single:
        k = all_ks[0] if all_ks else 1
        axes.set_xticks(range(len(runs)), [label.split(":")[0][:24] for label, _ in runs])
        axes.set_xlim(-0.75, len(runs) - 0.25)
        axes.set_xlabel(f"pass@{k} (only k = {k}); labels: problems with n >= k / problems judged")
    else:
        axes.set_xticks(all_ks)
        axes.set_xlim(all_ks[0] - 0.5, all_ks[-1] + 0.5)
        axes.set_xlabel("k (samples); labels: problems with n >= k / problems judged")
    axes.set_ylabel("pass@k (%)")
    axes.set_ylim(*PERCENT_LIMITS)
    axes.set_yticks(PERCENT_TICKS)
    confidence = int(runs[0][1]["confidence"] * 100) if runs else 95
    axes.set_title(f"pass@k with {confidence}% bootstrap intervals")
    axes.grid(alpha=0.3)
    _below_legend(axes, len(runs))
    return figure


def pass_at_k_plot(runs: list[tuple[str, dict[str, Any]]]) -> bytes:
    """:func:`pass_at_k_figure` as PNG bytes."""
    return _png(pass_at_k_figure(runs))


def cost_axis(runs: list[tuple[str, list[dict[str, Any]]]]) -> str:
    """``"cost"`` when every model call has a known price and something was spent, else ``"tokens"``
    (all-zero costs, free or unpriced models, would draw a flat, degenerate plot)."""
    records = [record for _, rows in runs for record in rows]
    known = all(r.get("cost_usd") is not None or not r.get("model_calls") for r in records)
    spent = sum(r.get("cost_usd") or 0.0 for r in records)
    return "cost" if known and spent > 0 else "tokens"


def cost_vs_solved_figure(runs: list[tuple[str, list[dict[str, Any]]]]) -> Any:
    """Problems solved so far against money spent so far (tokens when the cost is unknown or zero).

    ``runs`` holds, per run, its unit records in the order they finished. Returns a Figure.
    """
    plt = _pyplot()
    figure, axes = plt.subplots(figsize=(6.4, 3.8))
    axis = cost_axis(runs)
    most = 1
    for label, records in runs:
        spent, solved, xs, ys = 0.0, set(), [0.0], [0]
        for record in records:
            if axis == "cost":
                spent += record.get("cost_usd") or 0.0
            else:
                spent += (record.get("prompt_tokens") or 0) + (record.get("completion_tokens") or 0)
            if record.get("solved"):
                solved.add(record["problem"])
            xs.append(spent)
            ys.append(len(solved))
        axes.step(xs, ys, where="post", label=label)
        most = max(most, *ys)
    if axis == "cost":
        axes.set_xlabel("cost so far (USD)")
    else:
        axes.set_xlabel("tokens so far (cost unknown or $0 for every run)")
    axes.set_xlim(left=0)
    axes.set_ylim(-0.05 * most, most * 1.05 + 0.05)  # a run that solved nothing stays visible at 0
    from matplotlib.ticker import MaxNLocator

    axes.yaxis.set_major_locator(MaxNLocator(integer=True))
    axes.set_ylabel("problems solved")
    axes.set_title(f"{axis} against problems solved")
    axes.grid(alpha=0.3)
    _below_legend(axes, len(runs))
    return figure


def cost_vs_solved_plot(runs: list[tuple[str, list[dict[str, Any]]]]) -> bytes:
    """:func:`cost_vs_solved_figure` as PNG bytes."""
    return _png(cost_vs_solved_figure(runs))


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
