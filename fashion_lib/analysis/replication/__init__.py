"""The replication table: every quantitative claim of the seed report, our figure beside it, and a verdict.

`claims` holds the claims and the rules they are judged by, `evidence` gathers our figures from a run, and
`table` builds the table and its words. Every function takes plain arrays and tables and returns JSON-ready
dicts, so that the table in 04_compare, the one on the landing page and metrics.json come from one computation.
"""

from fashion_lib.analysis.replication.claims import (
    CLAIMS,
    CLAIMS_BY_KEY,
    CONSISTENT,
    PERIOD_EPOCHS,
    Claim,
    finding,
    judge,
    not_comparable,
    rules,
    verdict_of_row,
)
from fashion_lib.analysis.replication.evidence import (
    class_comparison,
    curve_findings,
    data_findings,
    learning_rate_finding,
    prediction_findings,
    seed_spread,
    seed_verdicts,
    summarise_verdicts,
    units_finding,
)
from fashion_lib.analysis.replication.table import (
    VERDICT_PHRASES,
    budget,
    method_sentence,
    recipe,
    recipe_sentence,
    replication_table,
    section_html,
    table_frame,
    tally,
)

__all__ = [
    "CLAIMS",
    "CLAIMS_BY_KEY",
    "CONSISTENT",
    "PERIOD_EPOCHS",
    "VERDICT_PHRASES",
    "Claim",
    "budget",
    "class_comparison",
    "curve_findings",
    "data_findings",
    "finding",
    "judge",
    "learning_rate_finding",
    "method_sentence",
    "not_comparable",
    "prediction_findings",
    "recipe",
    "recipe_sentence",
    "replication_table",
    "rules",
    "section_html",
    "seed_spread",
    "seed_verdicts",
    "summarise_verdicts",
    "table_frame",
    "tally",
    "units_finding",
    "verdict_of_row",
]
