"""`reid report`: thesis Tables 5.10/5.11 and Figs 5.21/5.26 from the `aug` experiments, with seed spread.

The thesis trained each row once, so its 1% gain at 280 persons may be seed
noise. Here a row is every experiment with the same params but reid.seed;
it shows the mean and 95% t-interval over seeds, and its difference to the
baseline is paired by seed, so the report can say in words which changes
exceed the seed-to-seed spread and which do not.
"""

from __future__ import annotations

import textwrap
from dataclasses import dataclass
from pathlib import Path

from reid.errors import ReidError
from reid.experiments import (AUG_EVAL, AUG_TRAIN_LOG, BASELINE_TRAIN_LOG, SEED, Row, baseline_of,
                              read_training_log)
from reid.io import atomic_path, atomic_write_text
from reid.metrics.spread import Interval, PairedDifference, mean_interval, paired_difference
from reid.viz.curves import PANELS, save_training_curves
from reid.viz.thesis_tables import (CITATION, TABLE_5_10, TABLE_5_11, THESIS_BASELINE, ThesisRow,
                                    thesis_row_for_images_per_person, thesis_row_for_persons)

REPORT_FILE = "README.md"
FIG_PERSONS = "fig_5_21_persons.png"
FIG_IMAGES = "fig_5_26_images_per_person.png"
CURVES_PERSONS = "curves_persons.png"
CURVES_IMAGES = "curves_images_per_person.png"
FIGURES = (FIG_PERSONS, FIG_IMAGES, CURVES_PERSONS, CURVES_IMAGES)

COLUMNS = (("rank1", "Rank@1"), ("rank5", "Rank@5"), ("rank10", "Rank@10"),
           ("mAP_trapezoid", "mAP (thesis, trapezoid)"), ("mAP", "mAP (standard)"), ("mINP", "mINP"))
COMPARED = (("rank1", "Rank@1"), ("mAP_trapezoid", "mAP (thesis)"), ("mAP", "mAP (standard)"))
VERDICT_METRICS = COMPARED[:2]  # what the sentences talk about: the thesis's two numbers
LOG_COLUMNS = {"epoch", *(key for _, *keys in PANELS for key in keys)}


@dataclass(frozen=True)
class Comparison:
    """A row against its baseline over the seeds both have (none: no baseline to pair with)."""

    row: Row
    baseline: Row | None
    seeds: list
    differences: dict  # metric -> PairedDifference


@dataclass(frozen=True)
class Report:
    path: Path
    figures: list[Path]
    sentences: list[str]
    notes: list[str]  # what was skipped or could not be drawn


def describe(row: Row) -> str:
    """'baseline', '+20 persons', '+5 images per person', with what else sets the row apart."""
    if row.is_baseline:
        name = "baseline"
    else:
        parts = [f"+{row.persons} persons"] if row.persons else []
        parts += [f"+{row.images_per_person} images per person"] if row.images_per_person else []
        name = " and ".join(parts)
    return f"{name} ({row.label})" if row.label else name


def compare(row: Row, rows: list[Row]) -> Comparison:
    baseline = baseline_of(row, rows)
    seeds = sorted(set(row.seeds) & set(baseline.seeds)) if baseline else []
    differences = {metric: paired_difference(row.values(metric, seeds), baseline.values(metric, seeds))
                   for metric, _ in COMPARED} if seeds else {}
    return Comparison(row, baseline, seeds, differences)


def parse_curve_selection(text: str) -> list[tuple[int, int]]:
    """'0,100,320' or '0:35' -> [(persons, images per person), ...]."""
    selection = []
    for token in filter(None, (t.strip() for t in text.split(","))):
        persons, _, images = token.partition(":")
        try:
            selection.append((int(persons), int(images or 0)))
        except ValueError:
            raise ReidError(f"--curves: expected PERSONS or PERSONS:IMAGES_PER_PERSON, got {token!r}") from None
    if not selection:
        raise ReidError("--curves: name at least one row, e.g. 0,100,320")
    return selection


def default_curve_selection(rows: list[Row]) -> list[tuple[int, int]]:
    """The baseline, a middle and the largest row of each table (thesis Figs 5.17-5.20 and 5.23-5.25)."""
    selection = [(0, 0)]
    persons = sorted({r.persons for r in rows if not r.is_baseline and r.images_per_person == 0})
    images = sorted({r.images_per_person for r in rows if r.images_per_person > 0})
    for values, make in ((persons, lambda v: (v, 0)), (images, lambda v: (0, v))):
        if values:
            selection += [make(values[(len(values) - 1) // 2]), make(values[-1])]
    return list(dict.fromkeys(selection))


def _number(value: float) -> str:
    return f"{value:.4f}"


def _mean(interval: Interval) -> str:
    if interval.half_width is None:
        return _number(interval.mean)
    return f"{_number(interval.mean)} ± {_number(interval.half_width)}"


def _signed_interval(difference: PairedDifference) -> str:
    interval = difference.difference
    if interval.half_width is None:
        return f"{interval.mean:+.4f} (one seed)"
    return f"{interval.mean:+.4f} [{interval.low:+.4f}, {interval.high:+.4f}]"


def _p(difference: PairedDifference) -> str:
    return "–" if difference.p_value is None else f"{difference.p_value:.3g}"


def _values_of(row: Row, key: str) -> str:
    """One assemble.json number of a row; a range when seeds disagree, – when unknown."""
    values = sorted({int(a[key]) for a in row.assemble.values() if key in a})
    if not values:
        return "–"
    return str(values[0]) if len(values) == 1 else f"{values[0]}–{values[-1]}"


def _thesis_cells(thesis: ThesisRow | None) -> list[str]:
    return [_number(thesis.rank1), _number(thesis.mAP)] if thesis else ["–", "–"]


def _markdown_table(header: list[str], lines: list[list[str]]) -> str:
    rule = ["---" if i == 0 else "---:" for i in range(len(header))]
    return "\n".join("| " + " | ".join(cells) + " |" for cells in [header, rule, *lines])


def _results_table(rows: list[Row], cells, thesis_of) -> str:
    """Pers., Img. (from `cells`), the metrics as mean ± 95% half-width, seeds, the thesis's matching row."""
    labelled = any(r.label for r in rows)
    header = [*(["Row"] if labelled else []), "Pers.", "Img.", *(name for _, name in COLUMNS), "n seeds",
              "thesis Rank@1", "thesis mAP"]
    lines = []
    for row in rows:
        metrics = [_mean(mean_interval(row.values(metric))) for metric, _ in COLUMNS]
        lines.append([*([describe(row)] if labelled else []), *cells(row), *metrics, str(len(row.seeds)),
                      *_thesis_cells(thesis_of(row))])
    return _markdown_table(header, lines)


def _table_rows(rows: list[Row], images: bool) -> list[Row]:
    """Baselines first, then the rows of that table by label and size."""
    chosen = [r for r in rows if not r.is_baseline and (r.images_per_person > 0) == images]
    baselines = [r for r in rows if r.is_baseline and any(baseline_of(c, rows) is r for c in chosen)]
    return baselines + sorted(chosen, key=lambda r: (r.label, r.images_per_person, r.persons))


def table_5_10(rows: list[Row]) -> str:
    def cells(row):
        return [str(row.persons), "0" if row.is_baseline else _values_of(row, "person_images_added")]
    return _results_table(_table_rows(rows, images=False), cells,
                          lambda r: thesis_row_for_persons(r.persons))


def table_5_11(rows: list[Row]) -> str:
    def cells(row):
        return ["0" if row.is_baseline else _values_of(row, "variant_persons"), str(row.images_per_person)]
    return _results_table(_table_rows(rows, images=True), cells,
                          lambda r: thesis_row_for_images_per_person(r.images_per_person))


def _thesis_difference(row: Row) -> list[str]:
    if row.images_per_person == 0:
        thesis = thesis_row_for_persons(row.persons)
    elif row.persons == 0:
        thesis = thesis_row_for_images_per_person(row.images_per_person)
    else:
        thesis = None
    if thesis is None:
        return ["–", "–"]
    return [f"{thesis.rank1 - THESIS_BASELINE.rank1:+.4f}", f"{thesis.mAP - THESIS_BASELINE.mAP:+.4f}"]


def difference_table(comparisons: list[Comparison]) -> str:
    header = ["Row", f"{SEED} paired"]
    for _, name in COMPARED:
        header += [f"Δ{name} [95% CI]", "p"]
    header += ["thesis ΔRank@1", "thesis ΔmAP"]
    lines = []
    for c in comparisons:
        cells = [cell for metric, _ in COMPARED for cell in
                 ((_signed_interval(c.differences[metric]), _p(c.differences[metric])) if c.seeds else ("–", "–"))]
        lines.append([describe(c.row), ", ".join(map(str, c.seeds)) or "none", *cells, *_thesis_difference(c.row)])
    return _markdown_table(header, lines)


def sentence(c: Comparison) -> str:
    """In words: does this row's change exceed the seed-to-seed spread?"""
    name = describe(c.row)
    if not c.seeds:
        return (f"{name}: no baseline run with the same {SEED} ({', '.join(map(str, c.row.seeds))}) "
                f"and other params, so it is not compared.")
    changes = {label: c.differences[metric] for metric, label in VERDICT_METRICS}
    if len(c.seeds) == 1:
        said = " and ".join(f"{label} {d.difference.mean:+.4f}" for label, d in changes.items())
        return (f"{name}: {said} from one seed ({c.seeds[0]}) only; with no interval this cannot be "
                f"told from seed-to-seed noise.")
    said = "; ".join(f"{label} {d.difference.mean:+.4f} (95% CI {d.difference.low:+.4f} to "
                     f"{d.difference.high:+.4f}, p = {d.p_value:.3g})" for label, d in changes.items())
    beyond = [label for label, d in changes.items() if d.exceeds_noise]
    if len(beyond) == len(changes):
        verdict = "both exceed the seed-to-seed spread (the intervals exclude 0)"
    elif beyond:
        within = [label for label in changes if label not in beyond]
        verdict = (f"{', '.join(beyond)} exceeds the seed-to-seed spread, {', '.join(within)} does not "
                   f"(its interval contains 0)")
    else:
        verdict = "neither exceeds the seed-to-seed spread (both intervals contain 0)"
    return f"{name}, {len(c.seeds)} seeds paired: {said}: {verdict}."


def _axis_figure(comparisons: list[Comparison], axis: str, path: Path) -> None:
    """Fig 5.21 (axis persons) or 5.26 (images per person): absolute values above, paired change below."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    x_of = (lambda r: r.persons) if axis == "persons" else (lambda r: r.images_per_person)
    thesis = TABLE_5_10 if axis == "persons" else TABLE_5_11
    thesis_x = (lambda t: t.persons) if axis == "persons" else (lambda t: t.images)
    series: dict[str, list[Comparison]] = {}
    for c in sorted(comparisons, key=lambda c: x_of(c.row)):
        persons = f"+{c.row.persons} persons" if axis == "images" and c.row.persons else ""  # not on the x axis
        series.setdefault(", ".join(filter(None, (c.row.label, persons))) or "this project", []).append(c)
    largest = max(x_of(c.row) for c in comparisons)
    # Series with the same x are shifted a little apart, so their error bars stay readable.
    shift = {label: (i - (len(series) - 1) / 2) * 0.01 * largest for i, label in enumerate(series)}
    figure, axes = plt.subplots(2, len(VERDICT_METRICS), figsize=(10, 7), squeeze=False)
    for column, (metric, name) in enumerate(VERDICT_METRICS):
        top, bottom = axes[0][column], axes[1][column]
        for label, members in series.items():
            points = [(0, members[0].baseline)] if members[0].baseline else []
            points += [(x_of(c.row), c.row) for c in members]
            means = [mean_interval(r.values(metric)) for _, r in points]
            top.errorbar([x + shift[label] for x, _ in points], [m.mean for m in means],
                         yerr=[m.half_width or 0.0 for m in means], marker="o", capsize=3, label=label)
            paired = [(0, 0.0, 0.0)] if members[0].baseline else []
            paired += [(x_of(c.row), c.differences[metric].difference.mean, c.differences[metric].difference.half_width
                        or 0.0) for c in members if c.seeds]
            bottom.errorbar([p[0] + shift[label] for p in paired], [p[1] for p in paired], yerr=[p[2] for p in paired],
                            marker="o", capsize=3, label=label)
        shown = [t for t in thesis if thesis_x(t) <= largest]
        thesis_key = "rank1" if metric == "rank1" else "mAP"
        bottom.plot([thesis_x(t) for t in shown],
                    [getattr(t, thesis_key) - getattr(THESIS_BASELINE, thesis_key) for t in shown],
                    linestyle="--", color="grey", label="thesis (one run each)")
        bottom.axhline(0.0, color="black", linewidth=0.6)
        top.set_title(f"{name}: mean over seeds, 95% interval", fontsize=10)
        bottom.set_title(f"{name}: change vs the baseline, paired by {SEED}", fontsize=10)
        for ax in (top, bottom):
            ax.set_xlabel("artificial persons added" if axis == "persons" else "images added per real person")
            ax.grid(alpha=0.3)
            ax.legend(fontsize=8)
    figure.suptitle(f"Thesis Fig {'5.21' if axis == 'persons' else '5.26'} analogue", fontsize=11)
    figure.tight_layout()
    with atomic_path(path) as tmp:
        figure.savefig(tmp, format="png", dpi=80)
    plt.close(figure)


def _curves(rows: list[Row], selection: list[tuple[int, int]], images: bool, path: Path, repo: Path,
            notes: list[str]) -> bool:
    """Training curves of the selected rows of one table, lowest seed each; False when none could be read."""
    chosen = [r for r in _table_rows(rows, images) if (r.persons, r.images_per_person) in selection]
    histories = {}
    for row in chosen:
        seed = row.seeds[0]
        log, why = read_training_log(row.sources[seed], BASELINE_TRAIN_LOG if row.is_baseline else AUG_TRAIN_LOG,
                                     repo)
        if log is not None and not LOG_COLUMNS <= set(log.columns):
            log, why = None, f"its log lacks {sorted(LOG_COLUMNS - set(log.columns))}"
        if log is None:
            notes.append(f"no training curves for {describe(row)}: {why}")
            continue
        histories[textwrap.fill(f"{describe(row)}, seed {seed}", 48)] = log  # long labels: side-by-side titles
    if not histories:
        return False
    save_training_curves(histories, path)
    return True


def _published_tables() -> str:
    header = ["Pers.", "Img.", "Rank@1", "Rank@5", "Rank@10", "mAP (trapezoid)"]

    def lines(table):
        return [[str(t.persons), str(t.images), *map(_number, (t.rank1, t.rank5, t.rank10, t.mAP))] for t in table]
    return (f"<details><summary>The thesis's Tables 5.10 and 5.11 as published</summary>\n\n"
            f"Table 5.10 (artificial persons; Img. = images added):\n\n{_markdown_table(header, lines(TABLE_5_10))}\n\n"
            f"Table 5.11 (variants of the 751 real persons; Img. = images per person):\n\n"
            f"{_markdown_table(header, lines(TABLE_5_11))}\n\n</details>")


def _figures_section(comparisons: list[Comparison], rows: list[Row], selection, output: Path, repo: Path,
                     notes: list[str]) -> tuple[list[str], list[Path]]:
    """Figs 5.21 and 5.26 and the training curves: Markdown lines and the PNGs written."""
    lines, written = ["## Figures"], []
    tables = ((False, FIG_PERSONS, "persons", "Fig 5.21 analogue: Rank@1 and mAP vs artificial persons added",
               CURVES_PERSONS, "5.17-5.20"),
              (True, FIG_IMAGES, "images", "Fig 5.26 analogue: Rank@1 and mAP vs images per person",
               CURVES_IMAGES, "5.23-5.25"))
    for images, figure, axis, alt, curves, thesis_figures in tables:
        members = [c for c in comparisons if (c.row.images_per_person > 0) == images]
        if not members:
            lines.append(f"{alt.split(':')[0]} is skipped: no experiment has "
                         f"`aug.{'images_per_person' if images else 'persons'}` above 0 here.")
            continue
        _axis_figure(members, axis, output / figure)
        written.append(output / figure)
        lines.append(f"![{alt}]({figure})")
        if _curves(rows, selection, images, output / curves, repo, notes):
            written.append(output / curves)
            lines.append(f"Training curves (thesis Figs {thesis_figures}), lowest seed of each row:\n\n"
                         f"![training curves, thesis Figs {thesis_figures}]({curves})")
        else:
            lines.append(f"No training curves like thesis Figs {thesis_figures}: none of the chosen rows "
                         f"has a readable log (see the notes).")
    return lines, written


def write_report(rows: list[Row], notes: list[str], output: Path, repo: Path, source: str,
                 curves: list[tuple[int, int]] | None = None) -> Report:
    """Write OUTPUT/README.md and its figures; figures of an earlier report that no longer apply are removed."""
    augmented = [r for r in rows if not r.is_baseline]
    if not augmented:
        raise ReidError(f"{source}: no finished experiment has {AUG_EVAL} with aug.persons or "
                        f"aug.images_per_person above 0; run one, e.g. `dvc exp run -S aug.persons=20`")
    comparisons = [compare(r, rows) for r in sorted(augmented, key=lambda r: (r.images_per_person > 0, r.label,
                                                                               r.images_per_person, r.persons))]
    sections = [
        "# Augmentation experiments (thesis §5.2)",
        f"Generated by `reid report` from {source}. A row is every finished experiment with the same params "
        f"except `{SEED}`; values are the mean ± the half-width of the 95% t-interval over its seeds (a plain "
        f"number: one seed). The thesis columns are its single runs on Market-1501 with ResNet-50, so compare "
        f"changes, not absolute values. {sum(len(r.seeds) for r in rows)} results (one seed of one row each) "
        f"in {len(rows)} rows.",
    ]
    if any(c.row.images_per_person == 0 for c in comparisons):
        sections += ["## Table 5.10: artificial persons added as new classes",
                     "Pers. = artificial persons (`aug.persons`), Img. = the images they add.", table_5_10(rows)]
    if any(c.row.images_per_person > 0 for c in comparisons):
        sections += ["## Table 5.11: generated variants of the real persons",
                     "Pers. = real persons given variants, Img. = images added per person "
                     "(`aug.images_per_person`).", table_5_11(rows)]
    sections += [
        "## Change against the baseline",
        f"Each row minus the real-only baseline trained with the same `{SEED}` and other params "
        f"(`metrics/eval.json` of the same experiments), mean over the paired seeds with its 95% t-interval "
        f"and the paired t-test p-value; the thesis change is its row minus its baseline.",
        difference_table(comparisons),
        "\n".join(f"- {sentence(c)}" for c in comparisons),
        "A change exceeds the seed-to-seed spread when the 95% interval of its paired difference excludes 0 "
        f"(p < 0.05). Each row is tested on its own: among {len(comparisons)} rows, about one in twenty "
        "can cross by chance.",
    ]
    output.mkdir(parents=True, exist_ok=True)
    notes = list(notes)
    lines, written = _figures_section(comparisons, rows, curves or default_curve_selection(rows), output, repo, notes)
    sections += lines
    notes = list(dict.fromkeys(notes))  # both tables' curves try the baseline's log
    if notes:
        sections += ["## Notes", "\n".join(f"- {note}" for note in notes)]
    sections += [f"Thesis numbers: {CITATION}.", _published_tables()]
    report = output / REPORT_FILE
    atomic_write_text(report, "\n\n".join(sections) + "\n")
    for stale in FIGURES:
        if output / stale not in written:
            (output / stale).unlink(missing_ok=True)
    return Report(report, written, [sentence(c) for c in comparisons], notes)
