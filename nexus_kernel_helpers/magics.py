"""IPython magics: thin wrappers over the Python API.

`%nexus_db start|status|stop` wraps `start_database()` / `current_database()`; `%%sql` wraps
`Database.query()`, taking `:name` values from the notebook's variables as bound parameters.
"""

from __future__ import annotations

from typing import Any

from IPython.core.magic import Magics, cell_magic, line_magic, magics_class
from IPython.core.magic_arguments import argument, magic_arguments, parse_argstring
from IPython.display import display

from .config import BACKENDS
from .errors import ConfigurationError
from .postgres import QueryResult, current_database, start_database
from .postgres._placeholders import placeholder_names
from .postgres._result import DISPLAY_ROWS

__all__ = ["NexusMagics"]


@magics_class
class NexusMagics(Magics):
    """The workbook's magics; registered by `%load_ext nexus_kernel_helpers`."""

    @magic_arguments()
    @argument("action", choices=["start", "status", "reset", "stop"], help="what to do")
    @argument("--backend", choices=BACKENDS, help="where PostgreSQL comes from")
    @argument("--url", help="server URL for backend 'url' (better: NEXUS_DATABASE_URL)")
    @argument("--image", help="Docker image for backend 'docker'")
    @argument("--new", action="store_true", help="start a new database even if one runs")
    @argument("--dataset", help="load a built-in dataset, e.g. shop")
    @argument("--scale", type=float, default=0.01, help="dataset scale (1 = a million orders)")
    @argument("--seed", type=int, default=42, help="dataset seed")
    @line_magic
    def nexus_db(self, line: str) -> None:
        """Start, show or stop the kernel's database."""
        args = parse_argstring(self.nexus_db, line)
        if args.action == "start":
            db = start_database(
                args.backend,
                url=args.url,
                image=args.image,
                reuse=not args.new,
                dataset=args.dataset,
                scale=args.scale,
                seed=args.seed,
            )
            display(db)
        elif args.action == "status":
            display(current_database())
        elif args.action == "reset":
            db = current_database()
            db.reset()
            display(db)
        else:
            db = current_database()
            db.stop()
            display(db)

    @magic_arguments()
    @argument("--max-rows", type=int, default=10_000, help="fetch at most this many rows")
    @argument("--show", type=int, default=DISPLAY_ROWS, help="show at most this many rows")
    @argument("-o", "--out", help="also store the result in this variable")
    @cell_magic
    def sql(self, line: str, cell: str) -> QueryResult:
        """Run the cell's SQL on the kernel's database; `:name` binds the variable `name`."""
        args = parse_argstring(self.sql, line)
        namespace: dict[str, Any] = self.shell.user_ns if self.shell is not None else {}
        names = placeholder_names(cell)
        missing = [name for name in names if name not in namespace]
        if missing:
            raise ConfigurationError(
                f"no variable for {', '.join(':' + name for name in missing)}",
                fix="define it in an earlier cell; its value is sent as a bound parameter",
            )
        params = {name: namespace[name] for name in names} if names else None
        result = current_database().query(
            cell, params, max_rows=args.max_rows, display_rows=args.show
        )
        if args.out:
            namespace[args.out] = result
        return result
