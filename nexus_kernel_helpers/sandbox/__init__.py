"""The only door through which the workbook and the agent run SQL on someone's behalf.

    sandbox.run_readonly(db, "select ...")            one read, rolled back, rows capped
    sandbox.explain(db, "delete ...")                 EXPLAIN ANALYZE JSON; DML rolled back
    with sandbox.what_if(db, "create index ...") as trial:
        trial.explain("select ...")                   measured as if the index existed
    sandbox.apply(db, "create index ...", confirmed=True)   the one permanent change

Refusals raise `SandboxRefusal` naming the statement type and the rule; see `_rules`.
"""

from ..errors import SandboxRefusal
from ._roles import AGENT_ROLE
from ._rules import MAX_SQL_BYTES, Mode, Statement, check
from ._run import (
    DEFAULT_MAX_ROWS,
    DEFAULT_TIMEOUT_MS,
    ExplainResult,
    WhatIf,
    apply,
    explain,
    explain_options,
    run_readonly,
    what_if,
)

__all__ = [
    "AGENT_ROLE",
    "DEFAULT_MAX_ROWS",
    "DEFAULT_TIMEOUT_MS",
    "MAX_SQL_BYTES",
    "ExplainResult",
    "Mode",
    "SandboxRefusal",
    "Statement",
    "WhatIf",
    "apply",
    "check",
    "explain",
    "explain_options",
    "run_readonly",
    "what_if",
]
