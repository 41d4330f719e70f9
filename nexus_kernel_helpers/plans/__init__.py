"""Plans: EXPLAIN JSON parsed into typed trees, rendered, compared and advised on.

plan = parse_plan(explain_json)          typed nodes with exclusive times and buffers
plan.to_text(), plan._repr_html_()        text and HTML trees (`_render`)
"""

from ._model import Buffers, Jit, Plan, PlanNode, Trigger, parse_plan

__all__ = ["Buffers", "Jit", "Plan", "PlanNode", "Trigger", "parse_plan"]
