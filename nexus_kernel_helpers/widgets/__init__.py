"""ipywidgets front ends over the workbook's Python functions; they hold no logic of their own.

compare_widget(db)        before/after editors, Run and Cancel, the comparison's verdict
"""

from .compare import CompareFunction, CompareWidget, ComparisonLike, compare_widget

__all__ = ["CompareFunction", "CompareWidget", "ComparisonLike", "compare_widget"]
