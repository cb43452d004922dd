"""The replication table and its words: one row per claim, our figure and verdict beside the seed's.

`replication_table` builds the JSON-ready rows (with the recipe and budget behind our figures and the
seed-method run quoted beside them), `table_frame` shows them for display, and the sentences around the
table (the method, the shared recipe, the tally of verdicts) and the landing page's section
(`section_html`) are written from those rows.
"""

from __future__ import annotations

import html
from collections import Counter
from collections.abc import Sequence
from typing import Any

import pandas as pd

from fashion_lib.analysis.replication.claims import (
    CLAIMS,
    CONSISTENT,
    DIFFERENT,
    HIGHER,
    LOWER,
    MISSTATEMENT,
    NOT_COMPARABLE,
    VERDICTS,
    judge,
)

RECIPES = {"seed": "seed method", "extended": "extended", "whitened": "whitened CNN"}


def recipe(subject: str, spaces: dict[str, str | None], schedules: dict[str, str | None] | None = None) -> str:
    """Which method produced our figure: the seed's (its search space) or the extended one, per model, and
    ", cosine recipe" where the final training used fashion_lib.training.recipe's warm-up + cosine schedule."""
    if subject == "data":
        return "the data"
    names = ("mlp", "cnn") if subject == "both" else (subject,)
    labels = {
        name: RECIPES.get(spaces.get(name) or "", "unknown")
        + (", cosine recipe" if (schedules or {}).get(name) == "cosine" else "")
        for name in names
    }
    if len(set(labels.values())) == 1:
        return next(iter(labels.values()))
    return ", ".join(f"{name.upper()} {label}" for name, label in labels.items())


def budget(model_name: str, summary: dict[str, Any]) -> str:
    """The budget that produced a model's figures, in words, from its `models.<name>` metrics: the search's
    trials, their epochs and images, and the final trainings' seeds and epochs."""
    trials = summary.get("trials")
    epochs = summary.get("epochs_per_trial")
    images = summary.get("search_images")
    search = (
        f"{trials} search trial{'s' if trials != 1 else ''}"
        + (f" of {epochs} epoch{'s' if epochs != 1 else ''}" if epochs else " of an unrecorded length")
        + (f" on {images:,} images" if images else "")
    )
    trained = [int(run["epochs_trained"]) for run in summary.get("seed_runs", [])]
    final = (
        f"{len(trained)} final training{'s' if len(trained) != 1 else ''} of "
        + (f"{trained[0]}" if len(set(trained)) == 1 else f"{min(trained)}–{max(trained)}")
        + " epochs"
        if trained
        else "final training unrecorded"
    )
    return f"{model_name.upper()} budget: {search}; {final}."


def replication_table(
    findings: dict[str, dict[str, Any]],
    *,
    spaces: dict[str, str | None],
    across_seeds: dict[str, dict[str, Any]] | None = None,
    replicate_rows: Sequence[dict[str, Any]] | None = None,
    schedules: dict[str, str | None] | None = None,
    budgets: dict[str, str] | None = None,
) -> list[dict[str, Any]]:
    """One JSON-ready row per claim of `CLAIMS`, in order: the seed's figure, ours, the recipe and the verdict.

    Args:
        findings: our finding for every claim key (from the *_findings functions here).
        spaces: {"mlp": search space, "cnn": search space} of this run.
        across_seeds: `seed_verdicts`' result, for the claims it covers.
        replicate_rows: the rows of the seed-method run (profile replicate), quoted beside ours by key, with
            that run's budget and spread over training seeds where it recorded them.
        schedules: {"mlp": final-training schedule, "cnn": ...} of this run (fashion_lib.config.SCHEDULES).
        budgets: {"mlp": `budget(...)`, "cnn": ...}: each single-model row records its model's as "budget".
    """
    missing = [claim.key for claim in CLAIMS if claim.key not in findings]
    if missing:
        raise ValueError(f"No finding for the claims {missing}: compute every claim before building the table.")
    quoted = {row["key"]: row for row in replicate_rows or []}
    rows = []
    for claim in CLAIMS:
        found = findings[claim.key]
        row = {
            "key": claim.key,
            "claim": claim.claim,
            "seed_figure": claim.seed_figure,
            "subject": claim.subject,
            "seed_range": list(claim.seed_range) if claim.seed_range is not None else None,
            "seed_statement": claim.seed_statement,
            "rule": claim.rule,
            "corrected_range": list(claim.corrected_range) if claim.corrected_range is not None else None,
            "ours": found,
            "recipe": recipe(claim.subject, spaces, schedules),
            "verdict": judge(claim, found),
            "note": claim.note,
        }
        if budgets and claim.subject in budgets:
            row["budget"] = budgets[claim.subject]
        if across_seeds and claim.key in across_seeds:
            row["across_seeds"] = across_seeds[claim.key]
        if claim.key in quoted:
            source = quoted[claim.key]
            row["replicate_run"] = {"ours": source["ours"]["text"], "verdict": source["verdict"]}
            if "across_seeds" in source:
                row["replicate_run"]["across_seeds"] = source["across_seeds"]["summary"]
            if "budget" in source:
                row["replicate_run"]["budget"] = source["budget"]
        rows.append(row)
    return rows


def shared_recipe(rows: Sequence[dict[str, Any]]) -> str | None:
    """The recipe of every row about a model when they all share one (the table then says it once), else None."""
    recipes = {row["recipe"] for row in rows if row["subject"] != "data"}
    return next(iter(recipes)) if len(recipes) == 1 else None


def recipe_sentence(rows: Sequence[dict[str, Any]]) -> str:
    """The sentence that says a recipe shared by every model row once ("" when the rows differ)."""
    shared = shared_recipe(rows)
    if shared is None:
        return ""
    data_rows = sum(row["subject"] == "data" for row in rows)
    exception = f", except the {data_rows} rows on the data, which count images" if data_rows else ""
    return f"Our figure in every row comes from the same recipe, “{shared}” (the method above){exception}."


def _quoted_text(quoted: dict[str, Any]) -> str:
    """A quoted seed-method row: its figure, verdict, spread over training seeds and budget where recorded."""
    details = [quoted["verdict"]] + [quoted[key] for key in ("across_seeds", "budget") if quoted.get(key)]
    return f"{quoted['ours']} ({'; '.join(details)})"


def table_frame(rows: Sequence[dict[str, Any]], *, replicate_label: str = "") -> pd.DataFrame:
    """The rows as a DataFrame for display: claim, seed, ours, recipe, rule, verdict, training seeds, note.

    The "recipe" column appears only when the model rows differ in it (`recipe_sentence` says a shared one),
    the "training seeds" column only when some claim was judged on more than one training seed, and the
    `replicate_label` column (the seed-method run's figures) only when a label is given. A row's note ends
    with the budget that produced its model's figures, where the row records one.
    """
    several_seeds = any(len(row.get("across_seeds", {}).get("seeds", [])) > 1 for row in rows)
    per_row_recipe = shared_recipe(rows) is None
    records = []
    for row in rows:
        record = {"claim": row["claim"], "seed report": row["seed_figure"], "ours": row["ours"]["text"]}
        if per_row_recipe:
            record["recipe"] = row["recipe"]
        record |= {"rule": row["rule"], "verdict": row["verdict"]}
        if several_seeds:
            record["training seeds"] = row.get("across_seeds", {}).get("summary", "—")
        if replicate_label:
            quoted = row.get("replicate_run")
            record[replicate_label] = _quoted_text(quoted) if quoted else "—"
        record["note"] = " ".join(part for part in (row["note"], row.get("budget", "")) if part)
        records.append(record)
    return pd.DataFrame(records)


SPACE_WORDS = {
    "seed": "searched in the seed report's own space",
    "extended": "searched in the extended space (more optimisers, wider ranges)",
    "whitened": "a whitened CNN (a frozen patch-whitening first layer, then blocks of two convolutions), searched "
    "for its width and learning rate",
}
SCHEDULE_WORDS = {
    "seed": "trained with the seed's schedule (a constant rate, then exponential decay) and early stopping",
    "cosine": "trained with a warm-up and a cosine to zero over a fixed number of epochs, without early stopping",
}


def method_sentence(spaces: dict[str, str | None], schedules: dict[str, str | None] | None = None) -> str:
    """How this run searched and trained each model, in words, the models that share a method named together."""
    by_method: dict[str, list[str]] = {}
    for name, space in spaces.items():
        schedule = (schedules or {}).get(name)
        method = SPACE_WORDS.get(space or "", "searched in an unrecorded space")
        method += " and " + SCHEDULE_WORDS.get(schedule or "", "trained with an unrecorded schedule")
        by_method.setdefault(method, []).append(name.upper())
    return " ".join(
        f"The {' and the '.join(names)} {'was' if len(names) == 1 else 'were'} {method}."
        for method, names in by_method.items()
    )


VERDICT_PHRASES = {
    CONSISTENT: ("is consistent with this run", "are consistent with this run"),
    HIGHER: ("is higher here", "are higher here"),
    LOWER: ("is lower here", "are lower here"),
    DIFFERENT: ("is different here", "are different here"),
    MISSTATEMENT: ("is the seed's own misstatement", "are the seed's own misstatements"),
    NOT_COMPARABLE: ("is not comparable", "are not comparable"),
}


def tally(rows: Sequence[dict[str, Any]]) -> str:
    """The verdicts counted in a sentence: "Of the 28 claims, 15 are consistent with this run, 1 is higher here…"."""
    counts = Counter(row["verdict"] for row in rows)
    parts = [f"{counts[v]} {VERDICT_PHRASES[v][counts[v] != 1]}" for v in VERDICTS if counts[v]]
    listed = ", ".join(parts[:-1]) + " and " + parts[-1] if len(parts) > 1 else parts[0]
    return f"Of the seed report's {len(rows)} claim{'' if len(rows) == 1 else 's'}, {listed}."


def section_html(metrics: dict[str, Any]) -> str:
    """The landing page's replication section from a run's metrics ("" when the run recorded no table)."""
    replication = metrics.get("replication")
    if not replication:
        return ""
    quoted = replication.get("replicate_run")
    replicate_label = f"Seed-method run ({quoted['date']})" if quoted else ""
    frame = table_frame(replication["claims"], replicate_label=replicate_label)
    header = "".join(f'<th scope="col">{html.escape(str(column))}</th>' for column in frame.columns)
    body = "\n".join(
        f'<tr data-claim="{html.escape(row["key"])}" data-verdict="{html.escape(row["verdict"])}">'
        + "".join(f"<td>{html.escape(str(value))}</td>" for value in record)
        + "</tr>"
        for row, record in zip(replication["claims"], frame.itertuples(index=False), strict=True)
    )
    legend = "\n".join(
        f"<li><strong>{html.escape(kind)}</strong>: {html.escape(text)}</li>"
        for kind, text in replication["rules"].items()
    )
    source = (
        f"<p>The column “{html.escape(replicate_label)}” quotes the run of profile "
        f"<code>{html.escape(quoted['profile'])}</code> (the seed's own method), read from "
        f"<code>{html.escape(quoted['source'])}</code>.</p>"
        if quoted
        else ""
    )
    shared = recipe_sentence(replication["claims"])
    return f"""<h2 id="replication">Does the seed report hold up?</h2>
<p>{html.escape(replication["method"])}</p>
{f"<p>{html.escape(shared)}</p>" if shared else ""}
<p>{html.escape(tally(replication["claims"]))}</p>
{source}
<table id="replication-table">
<caption>The seed report's claims against this run</caption>
<thead><tr>{header}</tr></thead>
<tbody>
{body}
</tbody>
</table>
<p>How each verdict is reached, by the kind of claim in the column “rule”:</p>
<ul id="replication-rules">
{legend}
</ul>
"""
