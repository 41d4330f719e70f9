"""The shop's four big tables, generated with numpy and streamed as binary COPY.

orders, order_items, payments and events hold 97 % of the rows. Computing their values in SQL
costs two to three times what the server spends storing them; here numpy computes them a
chunk of rows at a time and the server only parses binary COPY, as fast as any load can go.
generate.sql holds a `COPY <table> ... FROM STDIN` statement for each; the loader feeds it
with the function of the same name in FEEDS.

The rows depend only on the scale and the seed, never on the server (this runs in the client):
every random choice is a draw, a 64-bit hash (splitmix64's finalizer) of the row's number
mixed with a key made from the seed and a stream number per column; values come from integer
and IEEE float arithmetic (no libm). The shape is the one generate.sql describes at its top:
Zipf-like tenants and customers, seasonal recent-heavy days, statuses that follow age.

Each table's function recomputes what it needs from the others (order_items and payments
recompute the orders they belong to), so the four load side by side; only the product prices
come from the products table, which generate.sql fills first.
"""

from __future__ import annotations

import datetime
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from functools import cache, cached_property
from math import gcd

import numpy as np
import numpy.typing as npt

from .. import _copy_binary as cb
from .._feeds import Feed, FeedContext

__all__ = ["FEEDS", "Shop"]

Ints = npt.NDArray[np.int64]
Floats = npt.NDArray[np.float64]

# Orders a chunk: about 3 items, 1 payment and 2 events each; a few MB of COPY data.
CHUNK_ORDERS = 20_000
CHUNK_EVENTS = 40_000
# 2024-01-01 and 2026-01-01 (the anchor) 00:00 UTC in epoch seconds.
START = 1_704_067_200
ANCHOR = 1_767_225_600

_MASK = (1 << 64) - 1
_GOLDEN = 0x9E3779B97F4A7C15


def _splitmix(value: int) -> int:
    """splitmix64's finalizer on a Python int (for the stream keys)."""
    value = (value + _GOLDEN) & _MASK
    value = ((value ^ (value >> 30)) * 0xBF58476D1CE4E5B9) & _MASK
    value = ((value ^ (value >> 27)) * 0x94D049BB133111EB) & _MASK
    return value ^ (value >> 31)


def hash64(keys: Ints, seed: int, stream: int) -> npt.NDArray[np.uint64]:
    """A 64-bit hash of each key, different for every (seed, stream)."""
    z = keys.astype(np.uint64) * np.uint64(_GOLDEN) + np.uint64(
        _splitmix((seed & _MASK) ^ _splitmix(stream))
    )
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


def draw(keys: Ints, seed: int, stream: int) -> Floats:
    """A uniform draw in [0, 1) per key: the top 53 bits of its hash."""
    return (hash64(keys, seed, stream) >> np.uint64(11)).astype(np.float64) * 2.0**-53


def _rounded(value: Decimal) -> int:
    """PostgreSQL's round() of a numeric: half away from zero."""
    return int(value.quantize(Decimal(1), rounding=ROUND_HALF_UP))


def tenant_starts(total: int, tenants: int) -> Ints:
    """The first id of each tenant's range of `total` ids, then total + 1 (as in SQL)."""
    weights = [1_000_000 // (tenant + 2) for tenant in range(1, tenants + 1)]
    whole = sum(weights)
    starts, before = [], 0
    for weight in weights:
        starts.append(total * before // whole + 1)
        before += weight
    return np.array([*starts, total + 1], dtype=np.int64)


def day_weight(day: int) -> int:
    """How busy day `day` (0 is 2024-01-01) is: growth, the holidays, weekends."""
    date = datetime.date(2024, 1, 1) + datetime.timedelta(days=day)
    if date.isoformat() in ("2024-11-29", "2024-12-02", "2025-11-28", "2025-12-01"):
        factor = 35
    elif (date.month == 11 and date.day >= 20) or (date.month == 12 and date.day <= 24):
        factor = 18
    elif date.month == 1:
        factor = 8
    elif date.isoweekday() >= 6:
        factor = 12
    else:
        factor = 10
    return (1000 + 2 * day) * factor


@cache
def day_starts(total: int, first_day: int, last_day: int) -> Ints:
    """The first id of each day's `total` rows from first_day to last_day, then total + 1."""
    weights = [day_weight(day) for day in range(first_day, last_day + 1)]
    whole = sum(weights)
    starts, before = [], 0
    for weight in weights:
        starts.append(total * before // whole + 1)
        before += weight
    days = np.array([*starts, total + 1], dtype=np.int64)
    days.setflags(write=False)
    return days


# A day's rows are spread over its hours, busier in the evening: hour h holds the per mille of
# the day from HOUR_STARTS[h] for HOUR_WIDTHS[h]; within an hour time runs linearly.
HOUR_STARTS = np.array(
    [0, 15, 25, 32, 37, 42, 50, 65, 90, 125, 170, 220, 275, 335, 395, 450, 505, 560, 615, 675,
     745, 825, 905, 965],
    dtype=np.float64,
)  # fmt: skip
HOUR_WIDTHS = np.diff(np.append(HOUR_STARTS, 1000.0))


def second_of_day(share: Floats) -> Ints:
    """Seconds into the day of a row `share` per mille (0 to 1000) through its day's rows."""
    hour = np.searchsorted(HOUR_STARTS, share, side="right") - 1
    seconds = 3600 * hour + np.floor(3600 * (share - HOUR_STARTS[hour]) / HOUR_WIDTHS[hour])
    return np.minimum(seconds.astype(np.int64), 86_399)


def _pick(vocabulary: list[str], r: Floats) -> Ints:
    """Codes into `vocabulary` for draws r (each word equally likely)."""
    return np.floor(r * len(vocabulary)).astype(np.int64)


def _bucket(starts: Ints, values: Ints) -> Ints:
    """Which range (1-based) of `starts` each value falls in, like width_bucket()."""
    return np.searchsorted(starts, values, side="right").astype(np.int64)


@dataclass(frozen=True)
class Shop:
    """The sizes and the tenants' id ranges at a scale, and the seed."""

    scale: Decimal
    seed: int

    @cached_property
    def tenants(self) -> int:  # noqa: D102 - the sizes are described at the top of generate.sql
        return max(3, _rounded(50 * self.scale))

    @cached_property
    def users(self) -> int:  # noqa: D102
        return max(100, _rounded(100_000 * self.scale))

    @cached_property
    def products(self) -> int:  # noqa: D102
        return max(20, _rounded(20_000 * self.scale))

    @cached_property
    def orders(self) -> int:  # noqa: D102
        return _rounded(1_000_000 * self.scale)

    @cached_property
    def events(self) -> int:  # noqa: D102
        return _rounded(2_000_000 * self.scale)

    @cached_property
    def first_user(self) -> Ints:
        """The first user id of each tenant, then users + 1."""
        return tenant_starts(self.users, self.tenants)

    @cached_property
    def first_product(self) -> Ints:
        """The first product id of each tenant, then products + 1."""
        return tenant_starts(self.products, self.tenants)

    @cached_property
    def spread(self) -> int:
        """The golden-ratio stride that spreads activity ranks over the users."""
        start = self.users * 6_180_339_887 // 10**10
        return next(m for m in range(start, start + 101) if gcd(m, self.users) == 1)

    def active_user(self, r: Floats) -> Ints:
        """The user behind an order or event drawn as r: by activity rank."""
        rank = np.floor(self.users * r / (33 - 32 * r)).astype(np.int64)
        return rank * self.spread % self.users + 1

    def tenant_of_user(self, user: Ints) -> Ints:
        """The tenant owning each user id."""
        return _bucket(self.first_user, user)

    def popular_product(self, tenant: Ints, r: Floats) -> Ints:
        """A product of each tenant: popular ones (the lowest numbers) come up most."""
        first = self.first_product[tenant - 1]
        count = self.first_product[tenant] - first
        return first + np.floor(count * r * r * r).astype(np.int64)


# -- orders and their lines ---------------------------------------------------------------------

CURRENCIES = ["USD", "EUR", "USD", "GBP", "EUR", "CAD", "USD", "AUD"]
STATUSES = ["pending", "paid", "shipped", "delivered", "cancelled", "refunded"]
PENDING, PAID, SHIPPED, DELIVERED, CANCELLED, REFUNDED = range(6)
CHANNELS = ["web", "mobile_app", "marketplace", "phone"]
DISCOUNT_CODES = ["WELCOME10", "SPRING15", "SUMMER20", "BLACKFRIDAY", "VIP20", "FREESHIP"]
NOTES = [
    "Leave at the front door",
    "Please gift wrap",
    "Call on arrival",
    "Deliver after 5pm",
    "No plastic packaging please",
    "This is a gift: no invoice in the box",
]
# Status by age in days (0 is the last day) and a draw: for each age band, the draw's upper
# bounds and the statuses they lead to.
STATUS_BANDS = (
    (0, [0.40, 0.85, 0.95, 1.0], [PENDING, PAID, SHIPPED, CANCELLED]),
    (2, [0.08, 0.38, 0.93, 0.95, 1.0], [PENDING, PAID, SHIPPED, DELIVERED, CANCELLED]),
    (9, [0.02, 0.37, 0.94, 0.99, 1.0], [PAID, SHIPPED, DELIVERED, CANCELLED, REFUNDED]),
    (10_000, [0.003, 0.05, 0.08, 1.0], [PENDING, CANCELLED, REFUNDED, DELIVERED]),
)


def _by_thresholds(r: Floats, bounds: list[float], values: list[int]) -> Ints:
    """values[i] where r falls below bounds[i] (and above the bounds before it)."""
    return np.array(values, dtype=np.int64)[np.searchsorted(bounds, r, side="right")]


@dataclass(frozen=True)
class Orders:
    """A chunk of orders, with what their lines, payments and the orders table need."""

    ids: Ints
    tenant: Ints
    user: Ints
    status: Ints
    created: Ints
    shipped: Ints  # -1: not shipped
    delivered: Ints  # -1: not delivered
    lines: Ints
    draws: dict[str, Floats]

    @classmethod
    def make(cls, shop: Shop, first: int, last: int) -> Orders:
        """Orders first to last (ids), as generate.sql's top describes them."""
        ids = np.arange(first, last + 1, dtype=np.int64)
        names = ("user", "time", "status", "lines", "channel", "discount", "code", "note",
                 "note_text", "ship", "deliver")  # fmt: skip
        draws = {name: draw(ids, shop.seed, 301 + n) for n, name in enumerate(names)}
        starts = day_starts(shop.orders, 0, 730)
        day = _bucket(starts, ids) - 1
        share = 1000 * (ids - starts[day] + draws["time"]) / (starts[day + 1] - starts[day])
        created = START + 86_400 * day + second_of_day(share)
        age = 730 - day
        status = np.empty(ids.size, dtype=np.int64)
        lower = -1
        for upper, bounds, values in STATUS_BANDS:
            band = (age > lower) & (age <= upper)
            status[band] = _by_thresholds(draws["status"][band], bounds, values)
            lower = upper
        # Shipped 2 to 72 hours after the order, delivered 1 to 7 days later, never after the
        # anchor.
        shipped = np.minimum(created + 7200 + np.floor(252_000 * draws["ship"]), ANCHOR - 1)
        delivered = np.minimum(shipped + 86_400 + np.floor(518_400 * draws["deliver"]), ANCHOR - 1)
        is_shipped = np.isin(status, [SHIPPED, DELIVERED, REFUNDED])
        is_delivered = np.isin(status, [DELIVERED, REFUNDED])
        user = shop.active_user(draws["user"])
        return cls(
            ids=ids,
            tenant=shop.tenant_of_user(user),
            user=user,
            status=status,
            created=created,
            shipped=np.where(is_shipped, shipped, -1).astype(np.int64),
            delivered=np.where(is_delivered, delivered, -1).astype(np.int64),
            lines=_line_counts(draws["lines"]),
            draws=draws,
        )


def _line_counts(r: Floats) -> Ints:
    """How many lines an order has: 1 to 10, about 3 on average."""
    many = np.minimum(10, 6 + np.floor((r - 0.88) * 41.67)).astype(np.int64)
    return np.where(r < 0.88, _by_thresholds(r, [0.32, 0.56, 0.71, 0.81], [1, 2, 3, 4, 5]), many)


@dataclass(frozen=True)
class Lines:
    """The lines of a chunk of orders: one hash of (order, line) decides each."""

    order: Ints
    product: Ints
    quantity: Ints
    unit_cents: Ints

    @classmethod
    def make(cls, shop: Shop, orders: Orders, prices: Ints) -> Lines:
        """Popular products sell most (the cube of a draw); most at list price."""
        order = np.repeat(orders.ids, orders.lines)
        number = np.arange(order.size, dtype=np.int64) - np.repeat(
            np.cumsum(orders.lines) - orders.lines, orders.lines
        )
        h = hash64(16 * order + number + 1, shop.seed, 400)
        tenant = np.repeat(orders.tenant, orders.lines)
        first = shop.first_product[tenant - 1]
        count = shop.first_product[tenant] - first
        x = (h & np.uint64(2_097_151)).astype(np.int64)
        product = first + ((count * ((x * x * x) >> 42)) >> 21)
        q = ((h >> np.uint64(21)) & np.uint64(1023)).astype(np.int64)
        quantity = np.select(
            [q < 799, q < 942, q < 994], [1, 2, 3], np.minimum(10, 4 + (q - 994) // 4)
        )
        d = ((h >> np.uint64(41)) & np.uint64(1023)).astype(np.int64)
        discount = np.select([d < 840, d < 963, d < 1014], [100, 90, 75], 50)
        return cls(order, product, quantity, prices[product - 1] * discount // 100)

    def totals(self, orders: Orders) -> Ints:
        """Each order's total in cents: the sum of its lines."""
        starts = np.cumsum(orders.lines) - orders.lines
        return np.add.reduceat(self.quantity * self.unit_cents, starts)


def _prices(context: FeedContext, shop: Shop) -> Ints:
    rows = context.query("SELECT (price * 100)::integer FROM products ORDER BY id")
    prices = np.array([row[0] for row in rows], dtype=np.int64)
    if prices.size != shop.products:
        msg = f"expected {shop.products} products, found {prices.size}"
        raise RuntimeError(msg)
    return prices


def _chunks(total: int, size: int) -> Iterator[tuple[int, int]]:
    for first in range(1, total + 1, size):
        yield first, min(first + size - 1, total)


def _timestamps(seconds: Ints) -> cb.Column:
    return cb.with_nulls(cb.timestamptz(np.maximum(seconds, 0)), seconds < 0)


def orders(context: FeedContext) -> Iterator[bytes | memoryview]:
    """The orders table in binary COPY (the columns of generate.sql's COPY orders)."""
    shop = Shop(context.scale, context.seed)
    prices = _prices(context, shop)
    yield cb.HEADER
    for first, last in _chunks(shop.orders, CHUNK_ORDERS):
        chunk = Orders.make(shop, first, last)
        draws = chunk.draws
        totals = Lines.make(shop, chunk, prices).totals(chunk)
        yield cb.copy_rows([
            cb.bigint(chunk.ids),
            cb.bigint(chunk.tenant),
            cb.bigint(chunk.user),
            cb.choice(chunk.status, STATUSES),
            cb.choice(
                _by_thresholds(draws["channel"], [0.58, 0.92, 0.98], [0, 1, 2, 3]), CHANNELS
            ),
            cb.choice((chunk.tenant - 1) % 8, CURRENCIES),
            cb.numeric_cents(totals),
            cb.with_nulls(
                cb.choice(_pick(DISCOUNT_CODES, draws["code"]), DISCOUNT_CODES),
                draws["discount"] >= 0.12,
            ),
            cb.with_nulls(
                cb.choice(_pick(NOTES, draws["note_text"]), NOTES), draws["note"] >= 0.04
            ),
            cb.timestamptz(chunk.created),
            _timestamps(chunk.shipped),
            _timestamps(chunk.delivered),
        ])  # fmt: skip
    yield cb.TRAILER


def order_items(context: FeedContext) -> Iterator[bytes | memoryview]:
    """The order_items table: id, order_id, product_id, quantity, unit_price."""
    shop = Shop(context.scale, context.seed)
    prices = _prices(context, shop)
    yield cb.HEADER
    items = 0
    for first, last in _chunks(shop.orders, CHUNK_ORDERS):
        lines = Lines.make(shop, Orders.make(shop, first, last), prices)
        ids = np.arange(items + 1, items + lines.order.size + 1, dtype=np.int64)
        items += lines.order.size
        yield cb.copy_rows([
            cb.bigint(ids),
            cb.bigint(lines.order),
            cb.bigint(lines.product),
            cb.integer(lines.quantity),
            cb.numeric_cents(lines.unit_cents),
        ])  # fmt: skip
    yield cb.TRAILER


METHODS = ["card", "paypal", "apple_pay", "bank_transfer", "gift_card"]
PAYMENT_STATUSES = ["succeeded", "failed", "refunded"]
FAILURES = [
    "card_declined",
    "card_declined",
    "insufficient_funds",
    "expired_card",
    "authentication_failed",
]


def payments(context: FeedContext) -> Iterator[bytes | memoryview]:
    """The payments table in binary COPY.

    A failed attempt sometimes comes first; pending orders have none that succeeded, cancelled
    ones were refunded half the time.
    """
    shop = Shop(context.scale, context.seed)
    prices = _prices(context, shop)
    yield cb.HEADER
    made = 0
    for first, last in _chunks(shop.orders, CHUNK_ORDERS):
        chunk = Orders.make(shop, first, last)
        totals = Lines.make(shop, chunk, prices).totals(chunk)
        names = ("kept", "failed", "method", "retry", "reason", "ref", "delay", "refund_delay")
        r = {name: draw(chunk.ids, shop.seed, 501 + n) for n, name in enumerate(names)}
        status = chunk.status
        # 0 succeeded, 2 refunded, -1 none.
        outcome = np.select(
            [status == PENDING, status == CANCELLED, status == REFUNDED],
            [-1, np.where(r["kept"] < 0.5, 2, -1), 2],
            0,
        )
        failed_first = r["failed"] < np.where(status == PENDING, 0.15, 0.04)
        attempts = failed_first.astype(np.int64) + (outcome >= 0)
        row = np.repeat(np.arange(chunk.ids.size), attempts)
        attempt = (
            np.arange(row.size, dtype=np.int64)
            - np.repeat(np.cumsum(attempts) - attempts, attempts)
            + 1
        )
        failed = (attempt == 1) & failed_first[row]
        method = np.where(
            attempt == 1,
            _by_thresholds(r["method"][row], [0.68, 0.83, 0.93, 0.98], [0, 1, 2, 3, 4]),
            np.where(r["retry"][row] < 0.6, 0, 1),
        )
        created = (
            chunk.created[row] + 30 * attempt + np.floor(600 * r["delay"][row]).astype(np.int64)
        )
        # Refunds come after delivery (returns) or soon after a cancellation.
        refund_delay = r["refund_delay"][row]
        refunded = np.minimum(
            np.where(
                status[row] == REFUNDED,
                chunk.delivered[row] + 86_400 + np.floor(20 * 86_400 * refund_delay),
                chunk.created[row] + 3600 + np.floor(2 * 86_400 * refund_delay),
            ),
            ANCHOR - 1,
        ).astype(np.int64)
        is_refund = (attempt == attempts[row]) & (outcome[row] == 2)
        ids = np.arange(made + 1, made + row.size + 1, dtype=np.int64)
        made += row.size
        references = np.floor(2.0**52 * r["ref"][row]).astype(np.int64)
        yield cb.copy_rows([
            cb.bigint(ids),
            cb.bigint(chunk.tenant[row]),
            cb.bigint(chunk.ids[row]),
            cb.choice(method, METHODS),
            cb.choice(np.where(failed, 1, outcome[row]), PAYMENT_STATUSES),
            cb.numeric_cents(totals[row]),
            cb.choice((chunk.tenant[row] - 1) % 8, CURRENCIES),
            cb.concat(
                cb.constant("pay_", row.size),
                cb.hexadecimal(references, 13),
                cb.constant("_", row.size),
                cb.digits(attempt),
            ),
            cb.with_nulls(cb.choice(_pick(FAILURES, r["reason"][row]), FAILURES), ~failed),
            cb.timestamptz(created),
            _timestamps(np.where(is_refund, refunded, -1)),
        ])  # fmt: skip
    yield cb.TRAILER


# -- events ----------------------------------------------------------------------------------

EVENT_TYPES = ["page_view", "product_view", "search", "add_to_cart", "login",
               "checkout_started", "order_placed", "logout"]  # fmt: skip
DEVICES = ["desktop", "desktop", "mobile", "mobile", "mobile", "tablet"]
PATHS = ["/", "/", "/products", "/cart", "/account", "/search", "/deals", "/help", "/orders",
         "/wishlist"]  # fmt: skip
REFERRERS = ["google", "google", "instagram", "newsletter", "tiktok", "bing"]
SOURCES = ["search", "category", "category", "recommendation", "email", "ad"]
QUERIES = ["gift", "black", "sale", "wireless", "organic", "kids", "cotton", "coffee", "yoga",
           "lamp", "new", "jacket"]  # fmt: skip


def events(context: FeedContext) -> Iterator[bytes | memoryview]:
    """One year of an append-only activity log, numbered in time order.

    The busiest customers are the busiest browsers (the same ranks as the orders); a third of
    the page views, product views and searches come from visitors who are not logged in.
    """
    shop = Shop(context.scale, context.seed)
    starts = day_starts(shop.events, 366, 730)
    yield cb.HEADER
    for first, last in _chunks(shop.events, CHUNK_EVENTS):
        ids = np.arange(first, last + 1, dtype=np.int64)
        names = ("type", "anonymous", "user", "time", "source", "pick", "product", "device")
        r = {name: draw(ids, shop.seed, 701 + n) for n, name in enumerate(names)}
        day = _bucket(starts, ids) - 1
        share = 1000 * (ids - starts[day] + r["time"]) / (starts[day + 1] - starts[day])
        kind = _by_thresholds(
            r["type"], [0.42, 0.66, 0.75, 0.84, 0.90, 0.95, 0.98], [0, 1, 2, 3, 4, 5, 6, 7]
        )
        anonymous = (r["type"] < 0.75) & (r["anonymous"] < 0.35)
        user = shop.active_user(r["user"])
        visitor = 1 + np.floor(shop.users * r["user"]).astype(np.int64)
        tenant = shop.tenant_of_user(np.where(anonymous, visitor, user))
        yield cb.copy_rows([
            cb.bigint(ids),
            cb.bigint(tenant),
            cb.with_nulls(cb.bigint(user), anonymous),
            cb.choice(kind, EVENT_TYPES),
            cb.timestamptz(START + 86_400 * (366 + day) + second_of_day(share)),
            cb.jsonb(_payloads(shop, kind, tenant, r)),
        ])  # fmt: skip
    yield cb.TRAILER


def _json_strings(words: list[str], after: str = "") -> list[str]:
    return [f'"{word}"{after}' for word in words]


def _payloads(shop: Shop, kind: Ints, tenant: Ints, r: dict[str, Floats]) -> cb.Column:
    """Each event's JSON: its keys depend on the event type; every value is a known word.

    Values are padded with spaces (insignificant in JSON, and gone from the stored jsonb) so
    that each part of a payload starts at the same place in every row.
    """
    parts: list[tuple[npt.NDArray[np.intp], cb.Column]] = []

    def add(
        where: npt.NDArray[np.bool_], build: Callable[[npt.NDArray[np.intp]], cb.Column]
    ) -> None:
        rows = np.flatnonzero(where)
        if rows.size:
            parts.append((rows, build(rows)))

    def device(rows: npt.NDArray[np.intp], after: str = "") -> cb.Column:
        column = cb.choice(_pick(DEVICES, r["device"][rows]), _json_strings(DEVICES, after))
        return column if after else cb.padded(column)

    def product(rows: npt.NDArray[np.intp]) -> cb.Column:
        return cb.padded(cb.digits(shop.popular_product(tenant[rows], r["product"][rows])))

    def page_view(rows: npt.NDArray[np.intp]) -> cb.Column:
        n = rows.size
        referrers = ["}", *(f', "referrer": "{name}"}}' for name in REFERRERS)]
        referrer = np.where(r["source"][rows] < 0.45, 0, 1 + _pick(REFERRERS, r["pick"][rows]))
        return cb.concat(
            cb.constant('{"path": ', n),
            cb.padded(cb.choice(_pick(PATHS, r["pick"][rows]), _json_strings(PATHS))),
            cb.constant(', "device": ', n),
            device(rows),
            cb.choice(referrer, referrers),
        )

    def product_view(rows: npt.NDArray[np.intp]) -> cb.Column:
        n = rows.size
        return cb.concat(
            cb.constant('{"product_id": ', n),
            product(rows),
            cb.constant(', "device": ', n),
            device(rows),
            cb.constant(', "source": ', n),
            cb.choice(_pick(SOURCES, r["source"][rows]), _json_strings(SOURCES, "}")),
        )

    def search(rows: npt.NDArray[np.intp]) -> cb.Column:
        n = rows.size
        results = np.floor(200 * r["source"][rows] * r["source"][rows]).astype(np.int64)
        return cb.concat(
            cb.constant('{"query": ', n),
            cb.padded(cb.choice(_pick(QUERIES, r["pick"][rows]), _json_strings(QUERIES))),
            cb.constant(', "results": ', n),
            cb.padded(cb.digits(results)),
            cb.constant("}", n),
        )

    def add_to_cart(rows: npt.NDArray[np.intp]) -> cb.Column:
        n = rows.size
        quantity = np.where(
            r["source"][rows] < 0.85, 1, 2 + np.floor(r["pick"][rows] * 3).astype(np.int64)
        )
        return cb.concat(
            cb.constant('{"product_id": ', n),
            product(rows),
            cb.constant(', "quantity": ', n),
            cb.padded(cb.digits(quantity)),
            cb.constant("}", n),
        )

    def login(rows: npt.NDArray[np.intp]) -> cb.Column:
        n = rows.size
        method = _by_thresholds(r["source"][rows], [0.7, 0.9], [0, 1, 2])
        return cb.concat(
            cb.constant('{"method": ', n),
            cb.padded(cb.choice(method, _json_strings(["password", "google", "magic_link"]))),
            cb.constant(', "device": ', n),
            device(rows, after="}"),
        )

    def checkout(rows: npt.NDArray[np.intp]) -> cb.Column:
        n = rows.size
        pick = r["pick"][rows]
        return cb.concat(
            cb.constant('{"cart_items": ', n),
            cb.padded(cb.digits(1 + np.floor(5 * pick * pick).astype(np.int64))),
            cb.constant(', "device": ', n),
            device(rows, after="}"),
        )

    def logout(rows: npt.NDArray[np.intp]) -> cb.Column:
        return cb.concat(cb.constant('{"device": ', rows.size), device(rows, after="}"))

    add(kind == 0, page_view)
    add(kind == 1, product_view)
    add(kind == 2, search)
    add(kind == 3, add_to_cart)
    add(kind == 4, login)
    add((kind == 5) | (kind == 6), checkout)
    add(kind == 7, logout)
    return cb.merge(parts, kind.size)


FEEDS = {
    "orders": Feed(orders, reads=("products",)),
    "order_items": Feed(order_items, reads=("products",)),
    "payments": Feed(payments, reads=("products",)),
    "events": Feed(events),
}
