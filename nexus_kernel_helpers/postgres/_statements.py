"""What a statement is, from the real PostgreSQL parser (pglast), for choosing how to run it."""

from __future__ import annotations

from pglast import ast, parse_sql
from pglast.parser import ParseError

_ROW_SOURCES = (ast.SelectStmt, ast.VariableShowStmt, ast.ExplainStmt)
_DML = (ast.InsertStmt, ast.UpdateStmt, ast.DeleteStmt, ast.MergeStmt)


def returns_rows(server_text: str) -> bool:
    """Whether the text is one statement that returns rows (so its rows can be streamed).

    Unparsable text is left to the server, which explains the error better.
    """
    try:
        statements = parse_sql(server_text)
    except ParseError:
        return False
    if len(statements) != 1:
        return False
    node = statements[0].stmt
    if isinstance(node, ast.SelectStmt):
        return node.intoClause is None
    if isinstance(node, _DML):
        return bool(node.returningClause)
    return isinstance(node, _ROW_SOURCES)
