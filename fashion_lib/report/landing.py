"""The landing page of a report run (index.html): its findings and links first, then the results, the
accuracy-against-compute figure, the replication table and how the run went, every number from metrics.json."""

from __future__ import annotations

import html
import io
from typing import Any

from fashion_lib.analysis import replication
from fashion_lib.report import findings
from fashion_lib.report.rendering import REPORT_TITLE, subtitle


def _results_rows(metrics: dict[str, Any]) -> list[tuple[str, str, str]]:
    """(label, metrics key, shown value) of each model's and ensemble's test accuracy, with its interval."""
    intervals = metrics.get("uncertainty", {}).get("models", {})
    rows = []
    for name, model in metrics.get("models", {}).items():
        interval = intervals.get(name, {}).get("test_accuracy")
        shown = f"{model['test_accuracy']:.2%}" + (
            f" ({interval['lower']:.2%}–{interval['upper']:.2%})" if interval else ""
        )
        rows.append((f"{model.get('label', name)} test accuracy", f"models.{name}.test_accuracy", shown))
    for name, ensemble in metrics.get("ensembles", {}).items():
        interval = ensemble.get("test_accuracy_interval")
        shown = f"{ensemble['test_accuracy']:.2%}" + (
            f" ({interval['lower']:.2%}–{interval['upper']:.2%})" if interval else ""
        )
        rows.append((f"{ensemble.get('label', name)} test accuracy", f"ensembles.{name}.test_accuracy", shown))
    if "comparison" in metrics:
        # A correlation, not a share: three decimals rather than a percentage.
        rows.append(
            (
                "Kendall's τ of the two models' predictions",
                "comparison.kendall_tau",
                f"{metrics['comparison']['kendall_tau']:.3f}",
            )
        )
    return rows


def _details_rows(metrics: dict[str, Any]) -> list[tuple[str, str, str]]:
    """(label, metrics key, shown value) of how this run went: its profile, time, reuse, memory, machine."""
    statuses = metrics.get("cache", {}).get("notebooks", {})
    ran = [name for name, status in statuses.items() if status["status"] != "reused"]
    reused = [name for name, status in statuses.items() if status["status"] == "reused"]
    machine = metrics.get("machine", {})
    rows = [
        ("Profile", "profile", f"{metrics['profile']}: {metrics.get('description', '')}".rstrip(": ")),
        ("Seed", "seed", str(metrics["seed"])),
        ("Started", "run.started", metrics.get("run", {}).get("started", "")),
        ("This run's duration", "timings.total_s", f"{metrics['timings']['total_s']:,.0f} s"),
        (
            "Notebooks executed / reused",
            "cache.notebooks",
            f"{', '.join(ran) or 'none'} / {', '.join(reused) or 'none'}",
        ),
        ("Peak memory of a notebook kernel", "peak_memory_mib", f"{metrics['peak_memory_mib']:,.0f} MiB"),
    ]
    if machine:
        rows.append(
            ("Machine", "machine", f"{machine.get('cpu_model', '?')}, {machine.get('usable_cpus', '?')} usable CPUs")
        )
    return [(label, key, value) for label, key, value in rows if value]


def _compute_html(metrics: dict[str, Any]) -> str:
    """The accuracy-against-compute figure of the run's `compute` record as inline SVG, with its description."""
    record = metrics.get("compute")
    if not record:
        return ""
    from fashion_lib.analysis import compute

    fig = compute.figure_of_record(record)
    buffer = io.StringIO()
    fig.savefig(buffer, format="svg", bbox_inches="tight")
    svg = buffer.getvalue()
    svg = svg[svg.index("<svg") :].replace("<svg", f'<svg role="img" aria-label="{html.escape(fig.description)}"', 1)
    return (
        '<section aria-labelledby="compute-heading">\n<h2 id="compute-heading">What the accuracy cost</h2>\n'
        f'<figure class="compute">{svg}<figcaption>{html.escape(fig.description)} Points: each final model\'s '
        "training (one seed); the search is counted apart (04_compare).</figcaption></figure>\n</section>"
    )


def _table(identifier: str, caption: str, rows: list[tuple[str, str, str]]) -> str:
    cells = "\n".join(
        f'<tr><th scope="row">{html.escape(label)}</th><td data-metric="{key}">{html.escape(value)}</td></tr>'
        for label, key, value in rows
    )
    return f'<table id="{identifier}">\n<caption>{html.escape(caption)}</caption>\n{cells}\n</table>'


def index_html(metrics: dict[str, Any], pages: dict[str, str], *, pdf_name: str | None, pdf_note: str = "") -> str:
    """The landing page: the findings and the links to the pages first, then results, claims and run details."""
    versions = ", ".join(f"{html.escape(k)} {html.escape(v)}" for k, v in sorted(metrics.get("versions", {}).items()))
    links = "\n".join(
        f'<li><a href="{html.escape(href)}">{html.escape(title)}</a></li>' for title, href in pages.items()
    )
    if pdf_name:
        links += f'\n<li><a href="{html.escape(pdf_name)}">The whole report as one PDF</a></li>'
    note = f'<p class="note">{html.escape(pdf_note)}</p>' if pdf_note else ""
    confidence = metrics.get("uncertainty", {}).get("confidence")
    intervals = f" Intervals in parentheses are {confidence:.0%} bootstrap intervals." if confidence else ""
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>Fashion-MNIST report ({html.escape(str(metrics["profile"]))})</title>
<style>
body {{ font-family: system-ui, sans-serif; max-width: 76rem; margin: 1.2rem auto; padding: 0 1rem; color: #222;
  line-height: 1.4; }}
h1 {{ font-size: 1.7rem; margin: 0 0 0.3rem; }}
.subtitle {{ margin: 0 0 0.8rem; color: #444; }}
.front {{ display: grid; grid-template-columns: minmax(0, 3fr) minmax(14rem, 1fr); gap: 0 2rem; }}
.front h2 {{ font-size: 1.15rem; margin: 0.2rem 0 0.4rem; }}
.findings {{ margin: 0; padding-left: 1.3rem; }}
.findings li {{ margin-bottom: 0.45rem; }}
.pages ol {{ padding-left: 1.3rem; margin: 0; }}
.pages li {{ margin-bottom: 0.4rem; }}
table {{ border-collapse: collapse; margin: 1rem 0; }}
caption {{ text-align: left; font-weight: bold; padding-bottom: 0.3rem; }}
th, td {{ border-bottom: 1px solid #ddd; padding: 0.3rem 0.7rem; text-align: left; vertical-align: top; }}
td {{ font-variant-numeric: tabular-nums; }}
.note {{ color: #8a4b00; }}
.versions {{ color: #555; font-size: 0.9rem; }}
#replication-table {{ font-size: 0.85rem; }}
.compute svg {{ max-width: 100%; height: auto; }}
.compute figcaption {{ color: #444; font-size: 0.9rem; }}
@media (max-width: 50rem) {{ .front {{ grid-template-columns: 1fr; }} }}
</style>
</head>
<body>
<h1>{html.escape(REPORT_TITLE)}</h1>
<p class="subtitle">{html.escape(subtitle(metrics))} Every number below comes from this run's
<code>metrics.json</code>.{intervals}</p>
<div class="front">
<section aria-labelledby="findings-heading">
<h2 id="findings-heading">What this run found</h2>
{findings.findings_html(findings.compute(metrics))}
</section>
<nav class="pages" aria-labelledby="pages-heading">
<h2 id="pages-heading">The report</h2>
<ol>
{links}
</ol>
{note}
</nav>
</div>
{_table("results", "Test accuracy of each model and ensemble (95% bootstrap interval)", _results_rows(metrics))}
{_compute_html(metrics)}
{replication.section_html(metrics)}
<h2 id="run">This run</h2>
<p>Regenerate it with <code>python -m fashion_lib report --profile {html.escape(str(metrics["profile"]))}</code>.</p>
{_table("run-details", "How this run went", _details_rows(metrics))}
<p class="versions">Library versions: {versions}</p>
</body>
</html>
"""
