"""The exercises of the query tuning lab (notebook 02), on the `shop` dataset.

Each starting query is slow for one reason that a plan shows. The values in the queries hold
at every scale: user 1 is among the busiest customers (a few hundred orders), user 42 is
harper.chen42@mail.example, tenant 2 is a European shop with no US customers, and ids are
dense, so order 5,000 ends page 250 of a 20-row listing.
"""

from __future__ import annotations

from ._checks import (
    buffers_at_most,
    estimate_within,
    index_only_scan,
    no_seq_scan,
    no_sort,
    no_temp_files,
    reads_through_index,
    scan_reads_at_most,
    shared_buffers_within_table_pages,
    statistics_cover,
)
from ._spec import ExerciseSpec, Solution

__all__ = ["CATALOG"]

MISSING_INDEX = ExerciseSpec(
    id="02.1",
    title="A missing index",
    dataset="shop",
    task=(
        "The order page loads the items of one order. `order_items` has no index on "
        "`order_id` (foreign keys do not get one automatically), so every page view reads "
        "the whole table. Make the lookup read only the rows it needs."
    ),
    query="SELECT product_id, quantity, unit_price\nFROM order_items\nWHERE order_id = 1234",
    hints=(
        "Look at the plan: which node reads `order_items`, and how many rows does it throw "
        "away (Rows Removed by Filter)?",
        "An index whose first column is the one in the WHERE clause lets PostgreSQL jump "
        "to the matching rows.",
        "`CREATE INDEX ON order_items (order_id);` then run the check again.",
    ),
    criteria=(
        no_seq_scan("order_items"),
        reads_through_index("order_items", leading=("order_id",)),
    ),
    solution=Solution(
        statements=("CREATE INDEX order_items_order_id_idx ON order_items (order_id)",),
        explanation=(
            "A B-tree on order_id finds the order's few rows in a handful of page reads "
            "instead of scanning every item. Index the referencing side of a foreign key "
            "whenever you look rows up (or delete parents) through it."
        ),
    ),
)

COLUMN_ORDER = ExerciseSpec(
    id="02.2",
    title="Composite index: column order",
    dataset="shop",
    task=(
        "The account page shows a customer's 20 most recent orders. Build one index that "
        "both finds the customer's orders and returns them newest first, so that PostgreSQL "
        "reads 20 rows and sorts nothing. The order of the columns in the index decides it."
    ),
    query=(
        "SELECT id, status, total_amount, created_at\nFROM orders\nWHERE user_id = 1\n"
        "ORDER BY created_at DESC\nLIMIT 20"
    ),
    hints=(
        "An index on `user_id` alone finds the rows but leaves a Sort; an index that starts "
        "with `created_at` walks every recent order looking for this customer.",
        "Put the column compared with `=` first, then the column you sort (or range) on.",
        "`CREATE INDEX ON orders (user_id, created_at);` (a B-tree can be read backwards, "
        "so DESC needs no special index).",
    ),
    criteria=(
        reads_through_index("orders", leading=("user_id", "created_at")),
        no_sort(),
        scan_reads_at_most("orders", 40),
    ),
    solution=Solution(
        statements=("CREATE INDEX orders_user_id_created_at_idx ON orders (user_id, created_at)",),
        explanation=(
            "With (user_id, created_at) the customer's orders sit next to each other in the "
            "index, already sorted by time: the scan starts at the newest one, reads 20 "
            "entries backwards and stops. With (created_at, user_id) the equality column comes "
            "second, so the scan walks every recent order of every customer."
        ),
    ),
)

COVERING = ExerciseSpec(
    id="02.3",
    title="Covering index (INCLUDE)",
    dataset="shop",
    task=(
        "The spending summary groups a customer's orders by status. Make PostgreSQL answer "
        "it from an index alone (an Index Only Scan with no heap fetches), so that it never "
        "visits the table's pages."
    ),
    query=(
        "SELECT status, count(*) AS orders, sum(total_amount) AS spent\nFROM orders\n"
        "WHERE user_id = 1\nGROUP BY status"
    ),
    hints=(
        "An index on `user_id` finds the rows, but `status` and `total_amount` still come "
        "from the table: a Bitmap Heap Scan visits a page per order.",
        "`INCLUDE (...)` stores extra columns in the index leaf pages without making them "
        "part of the key.",
        "An index-only scan also needs an up-to-date visibility map: after creating the "
        "index, run `VACUUM (ANALYZE) orders`.",
    ),
    criteria=(
        reads_through_index("orders", leading=("user_id",)),
        index_only_scan("orders"),
    ),
    solution=Solution(
        statements=(
            "CREATE INDEX orders_user_id_covering_idx ON orders (user_id)"
            " INCLUDE (status, total_amount)",
            "VACUUM (ANALYZE) orders",
        ),
        explanation=(
            "The index holds every column the query reads, so the answer comes from the index "
            "pages alone. INCLUDE keeps status and total_amount out of the key: the key stays "
            "small and the columns cannot be used for searching, which is not needed here. "
            "VACUUM marks the table's pages all-visible; without that PostgreSQL must check "
            "each row in the table (heap fetches)."
        ),
    ),
)

PARTIAL = ExerciseSpec(
    id="02.4",
    title="Partial index",
    dataset="shop",
    task=(
        "The support dashboard lists the 50 oldest pending orders. Pending orders are a tiny "
        "share of all orders, and the dashboard never looks at the others. Build an index "
        "that holds only the rows this query can return, and returns them in order."
    ),
    query=(
        "SELECT id, user_id, total_amount, created_at\nFROM orders\n"
        "WHERE status = 'pending'\nORDER BY created_at\nLIMIT 50"
    ),
    hints=(
        "An index on `created_at` alone makes PostgreSQL walk the oldest orders, almost none "
        "of them pending (look at Rows Removed by Filter).",
        "A partial index has a WHERE clause: only the rows that satisfy it are stored.",
        "`CREATE INDEX ON orders (created_at) WHERE status = 'pending';`",
    ),
    criteria=(
        reads_through_index("orders", partial=True),
        no_sort(),
        scan_reads_at_most("orders", 100),
    ),
    solution=Solution(
        statements=(
            "CREATE INDEX orders_pending_created_at_idx ON orders (created_at)"
            " WHERE status = 'pending'",
        ),
        explanation=(
            "The index stores only pending orders, sorted by created_at: it is a fraction of "
            "the size of a full index, stays small as orders pile up, and the query reads "
            "exactly the 50 rows it returns. The planner uses it because the query's WHERE "
            "clause implies the index's."
        ),
    ),
)

EXPRESSION = ExerciseSpec(
    id="02.5",
    title="Expression index",
    dataset="shop",
    task=(
        "Login looks customers up by e-mail without regard to case. The unique index on "
        "(tenant_id, email) cannot serve `lower(email) = ...`, so every login scans all "
        "users. Make this exact query use an index."
    ),
    query=(
        "SELECT id, tenant_id, full_name\nFROM users\n"
        "WHERE lower(email) = 'harper.chen42@mail.example'"
    ),
    hints=(
        "An index on `email` stores the e-mails as written; the query compares `lower(email)`.",
        "PostgreSQL can index the result of an expression, as long as the query uses the "
        "same expression.",
        "`CREATE INDEX ON users (lower(email));` (a function call needs no extra "
        "parentheses; another expression does: `((a + b))`).",
    ),
    criteria=(
        no_seq_scan("users"),
        reads_through_index("users", expression="lower(email)"),
    ),
    solution=Solution(
        statements=("CREATE INDEX users_lower_email_idx ON users (lower(email))",),
        explanation=(
            "The index stores lower(email) for every row, so the WHERE clause matches index "
            "entries directly. ANALYZE (autovacuum does it later) also gathers statistics on "
            "the expression, which sharpens estimates."
        ),
    ),
)

TRIGRAM = ExerciseSpec(
    id="02.6",
    title="Substring search with pg_trgm",
    dataset="shop",
    task=(
        "Support agents search customers by any fragment of their e-mail. A B-tree cannot "
        "help `ILIKE '%...%'`: the pattern does not start with a fixed prefix. Make this "
        "search use an index."
    ),
    query="SELECT id, email, full_name\nFROM users\nWHERE email ILIKE '%chen42@%'",
    hints=(
        "The pg_trgm extension splits text into three-letter pieces (trigrams) and can index them.",
        "`CREATE EXTENSION IF NOT EXISTS pg_trgm;` then a GIN (or GiST) index with the "
        "operator class `gin_trgm_ops`.",
        "`CREATE INDEX ON users USING gin (email gin_trgm_ops);`",
    ),
    criteria=(
        no_seq_scan("users"),
        reads_through_index("users", methods=("gin", "gist"), condition="~~*"),
    ),
    solution=Solution(
        statements=(
            "CREATE EXTENSION IF NOT EXISTS pg_trgm",
            "CREATE INDEX users_email_trgm_idx ON users USING gin (email gin_trgm_ops)",
        ),
        explanation=(
            "The GIN index maps each trigram to the rows containing it; the search intersects "
            "the rows of the pattern's trigrams and rechecks only those. It serves LIKE, "
            "ILIKE and regular expressions; patterns shorter than three characters still "
            "scan."
        ),
    ),
    # Below about 0.02 the users table is so small that a sequential scan is cheaper; 0.04
    # leaves the planner a margin.
    min_scale=0.04,
)

KEYSET = ExerciseSpec(
    id="02.7",
    title="OFFSET vs keyset pagination",
    dataset="shop",
    task=(
        "The order export pages through all orders 20 at a time with OFFSET. Page 251 "
        "reads and throws away 5,000 rows before returning 20, and each later page costs "
        "more. The previous page ended at order id 5000. Rewrite the query so that it "
        "starts right after that row, and pass it to the check: `check(answer=...)`."
    ),
    query=(
        "SELECT id, user_id, created_at, total_amount\nFROM orders\nORDER BY id\n"
        "LIMIT 20 OFFSET 5000"
    ),
    hints=(
        "OFFSET cannot skip rows without producing them: look at how many rows the index "
        "scan returns.",
        "Remember where the previous page ended and continue from there with a WHERE "
        "clause on the sort key (keyset or seek pagination).",
        "`... WHERE id > 5000 ORDER BY id LIMIT 20`",
    ),
    criteria=(
        scan_reads_at_most("orders", 40),
        buffers_at_most(20),
    ),
    solution=Solution(
        answer=(
            "SELECT id, user_id, created_at, total_amount\nFROM orders\nWHERE id > 5000\n"
            "ORDER BY id\nLIMIT 20"
        ),
        explanation=(
            "The index on id jumps to the first id after 5000 and reads 20 entries, whatever "
            "the page number. Keyset pagination needs a unique sort key (add id to the ORDER "
            "BY when sorting by a column with ties) and gives 'next page' links rather than "
            "page numbers."
        ),
    ),
    rewrite=True,
    ordered=True,
)

EXTENDED_STATISTICS = ExerciseSpec(
    id="02.8",
    title="A misestimate fixed by extended statistics",
    dataset="shop",
    task=(
        "Customers live where their shop sells: tenant 2 is a European shop and has no US "
        "customers. The planner does not know that the two columns are related: it "
        "multiplies their selectivities and expects hundreds of rows where there are none. "
        "Such misestimates pick wrong join orders and methods in bigger queries. Teach the "
        "planner how tenant_id and country go together."
    ),
    query="SELECT id, email\nFROM users\nWHERE tenant_id = 2 AND country = 'US'",
    hints=(
        "Compare the estimated and the actual rows of the scan on users.",
        "`CREATE STATISTICS` collects statistics over several columns; the `mcv` kind "
        "records the most common combinations of values.",
        "`CREATE STATISTICS users_tenant_country (mcv) ON tenant_id, country FROM users;` "
        "then `ANALYZE users;`",
    ),
    criteria=(
        statistics_cover("users", ("tenant_id", "country")),
        estimate_within("users", 10),
    ),
    solution=Solution(
        statements=(
            "CREATE STATISTICS users_tenant_country (mcv) ON tenant_id, country FROM users",
            "ANALYZE users",
        ),
        explanation=(
            "The multi-column MCV list holds the combinations that occur, with their "
            "frequencies: (2, 'US') is not among them, so the estimate drops to about one row. "
            "Functional dependencies (the `dependencies` kind) would not help here: a tenant "
            "has customers in several countries."
        ),
    ),
)

SORT_SPILL = ExerciseSpec(
    id="02.9",
    title="A sort spilling to disk",
    dataset="shop",
    task=(
        "The merchandising report shows, for every product, its biggest order line. The "
        "window function sorts all order items by product and revenue, and with the default "
        "work_mem (4MB) that sort does not fit in memory: it writes temporary files "
        "(external merge). Make the sort happen in memory for this report only, without "
        "changing the server's settings for everyone: pass the setting to the check as "
        "`setup=` (it runs as a rolled-back what-if, like `-- setup` in `%%compare`)."
    ),
    query=(
        "SELECT product_id, order_id, quantity, unit_price, revenue\n"
        "FROM (\n"
        "    SELECT product_id, order_id, quantity, unit_price,\n"
        "           quantity * unit_price AS revenue,\n"
        "           row_number() OVER (PARTITION BY product_id\n"
        "                              ORDER BY quantity * unit_price DESC, id) AS place\n"
        "    FROM order_items\n"
        ") AS ranked\n"
        "WHERE place = 1"
    ),
    hints=(
        "Look at the Sort node under the WindowAgg: Sort Method and Sort Space Type say "
        "where it sorted, and how much it needed.",
        "`SET LOCAL work_mem = ...` raises the memory of one transaction only. An index "
        "that returns the rows in order would avoid the sort but visit the table in random "
        "order: compare the buffers.",
        "`check(setup=\"SET LOCAL work_mem = '64MB'\")`",
    ),
    criteria=(
        no_temp_files(),
        shared_buffers_within_table_pages("order_items", 2),
    ),
    solution=Solution(
        setup=("SET LOCAL work_mem = '64MB'",),
        explanation=(
            "With 64MB the sort runs as an in-memory quicksort. Raise work_mem per transaction "
            "(SET LOCAL) or per role for reporting jobs, not globally: every sort and hash of "
            "every connection may use that much. An index on (product_id, revenue) would "
            "avoid the sort but fetch the rows in random order, touching a hundred times more "
            "pages."
        ),
    ),
    # Below about 0.015 the sort fits in the default 4MB and nothing spills.
    min_scale=0.02,
)

CATALOG: tuple[ExerciseSpec, ...] = (
    MISSING_INDEX,
    COLUMN_ORDER,
    COVERING,
    PARTIAL,
    EXPRESSION,
    TRIGRAM,
    KEYSET,
    EXTENDED_STATISTICS,
    SORT_SPILL,
)
