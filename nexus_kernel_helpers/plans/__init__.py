"""Plans: EXPLAIN JSON parsed into typed trees, rendered, compared and advised on.

`parse_plan` gives typed nodes with exclusive times and buffers (`_model`); `Plan.to_text()` and
its rich display draw the tree (`_render`); `compare` measures two sides with interleaved runs,
a bootstrap verdict, result equivalence and a plan diff in words (`_compare`); `advise` applies
offline rules to a plan and proves index ideas in what-if transactions (`_advise`).
"""

from ._advise import Advice, Finding, IndexSuggestion, advise, advise_plan
from ._compare import Comparison, Side, compare
from ._model import Buffers, Jit, Plan, PlanNode, Trigger, parse_plan

__all__ = [
    "Advice",
    "Buffers",
    "Comparison",
    "Finding",
    "IndexSuggestion",
    "Jit",
    "Plan",
    "PlanNode",
    "Side",
    "Trigger",
    "advise",
    "advise_plan",
    "compare",
    "parse_plan",
]
