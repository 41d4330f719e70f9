-- shop: rows generated on the server, parameterized only by :scale (0.001 to 10) and :seed.
--
-- The loader runs these statements in several sessions at once (see _generate.py): a
-- statement waits only for the earlier ones that write the tables it reads (payments and users
-- read orders; orders and order_items read products). The rows are byte-identical on
-- PostgreSQL 15 and later, whichever session runs what, because:
-- * every random choice is a draw, pg_temp.draw(row, :seed, stream): a seeded hash of the
--   row's number (hashint8extended, which hash partitioning relies on, so it gives the same
--   bits on every platform and release). No random(), no setseed(): a value depends on its
--   row and stream only, never on what ran before it or in which session;
-- * values come from integers, float multiplication and division, floor() and width_bucket()
--   (IEEE exact, the same on every build), never exp/ln/power (libm differs), now(), time
--   zones (timestamps are epoch seconds through to_timestamp, intervals are whole seconds),
--   lower()/upper() (locale dependent: translate() instead), collations or hash order;
-- * ids are set here, not drawn from sequences (constraints.sql moves the sequences past
--   them); order_items are numbered by a running count over the orders, payments by
--   row_number() over a sequential scan of orders, whose order is fixed with
--   synchronize_seqscans off (a scan that joins another session's scan of the same table
--   starts in the middle).
--
-- Shape. Ids follow time: orders and events are numbered in the order they happened, on days
-- weighted for growth, the holiday season, Black Friday and weekends. Each tenant owns one
-- contiguous range of user ids and one of product ids, sized by the Zipf-like weight
-- 1e6 / (tenant + 2), so finding a tenant's users or products is arithmetic on small arrays,
-- not a join. Activity is Zipf-like too: an order (or event) comes from the user at rank
-- floor(users * r / (33 - 32 r)), whose density falls like 1 / (1 + 32 x)^2: the top 1 % of
-- users place about 25 % of the orders, the busiest one a few hundred at any scale, and about
-- 30 % never order. Ranks are spread over all the users (and so over the tenants, in
-- proportion to their size) by rank * spread mod users, where spread is the first integer
-- from 0.618 * users (the golden ratio) that is coprime with users. Statuses follow age.
--
-- Sizes at scale s: tenants max(3, 50 s), users max(100, 100000 s), products max(20, 20000 s),
-- orders 1e6 s with about 3 items each, payments about one per order, events 2e6 s.
-- The anchor ("now" of the data) is 2026-01-01 00:00 UTC, epoch 1767225600; orders run from
-- 2024-01-01 (epoch 1704067200), events from 2025-01-01.

-- Every session of the load --------------------------------------------------------------------
-- JIT compiles for longer than it saves here; 256MB keeps the users' activity in memory; the
-- loader runs statements in parallel itself; scans start at the first page (see above); and
-- VACUUM marks a page all-visible only once the commit of its rows is flushed, which an
-- asynchronous commit (the embedded server's default) may not be yet.

SET jit = off;
SET work_mem = '256MB';
SET max_parallel_workers_per_gather = 0;
SET synchronize_seqscans = off;
SET synchronous_commit = on;

-- The vocabulary of the statements below: temporary functions, gone with the session. The
-- planner inlines the one-expression ones and folds calls on constants (the sizes, the
-- tenants' ranges, the calendar) into constants, so none is called per row.

-- A uniform draw in [0, 1): 53 bits of a hash of the row number, seeded by :seed and the
-- stream (a number per column of a table, so that columns are independent).
CREATE FUNCTION pg_temp.draw(key bigint, seed bigint, stream integer) RETURNS float8
    LANGUAGE sql IMMUTABLE
    RETURN (hashint8extended(key, hashint8extended(seed, stream)) & 9007199254740991)::float8
        * 1.1102230246251565e-16::float8;  -- 2^-53: exact, and cheaper than dividing

CREATE FUNCTION pg_temp.tenant_count(scale numeric) RETURNS integer
    LANGUAGE sql IMMUTABLE RETURN greatest(3, round(50 * scale))::integer;
CREATE FUNCTION pg_temp.user_count(scale numeric) RETURNS integer
    LANGUAGE sql IMMUTABLE RETURN greatest(100, round(100000 * scale))::integer;
CREATE FUNCTION pg_temp.product_count(scale numeric) RETURNS integer
    LANGUAGE sql IMMUTABLE RETURN greatest(20, round(20000 * scale))::integer;
CREATE FUNCTION pg_temp.order_count(scale numeric) RETURNS integer
    LANGUAGE sql IMMUTABLE RETURN round(1000000 * scale)::integer;
CREATE FUNCTION pg_temp.event_count(scale numeric) RETURNS integer
    LANGUAGE sql IMMUTABLE RETURN round(2000000 * scale)::integer;

-- The first id of each tenant's range of `total` (users or products), then total + 1: tenant
-- t owns starts[t] to starts[t + 1] - 1.
CREATE FUNCTION pg_temp.tenant_starts(total integer, tenants integer) RETURNS bigint[]
    LANGUAGE sql IMMUTABLE
    AS $$
        SELECT array_agg(total::bigint * (cum - w) / whole + 1 ORDER BY k) || (total + 1)::bigint
        FROM (
            SELECT k, w, sum(w) OVER (ORDER BY k) AS cum, sum(w) OVER () AS whole
            FROM generate_series(1, tenants) AS k, LATERAL (SELECT 1000000 / (k + 2) AS w) AS zipf
        ) AS tenant
    $$;

-- From 2019-01-01 to 2023-06-30, the big tenants (the lowest ids) first, in epoch seconds.
CREATE FUNCTION pg_temp.tenant_created(tenant bigint, tenants integer) RETURNS bigint
    LANGUAGE sql IMMUTABLE RETURN 1546300800 + 141868800::bigint * (tenant - 1) / tenants + 32400;

CREATE FUNCTION pg_temp.tenant_currency(tenant bigint) RETURNS text
    LANGUAGE sql IMMUTABLE
    RETURN (ARRAY['USD', 'EUR', 'USD', 'GBP', 'EUR', 'CAD', 'USD', 'AUD'])[1 + (tenant - 1) % 8];
CREATE FUNCTION pg_temp.tenant_region(tenant bigint) RETURNS text
    LANGUAGE sql IMMUTABLE
    RETURN (ARRAY['us', 'eu', 'us', 'uk', 'eu', 'ca', 'us', 'apac'])[1 + (tenant - 1) % 8];

-- The golden-ratio stride that spreads activity ranks over the users (see the top).
CREATE FUNCTION pg_temp.spread(users integer) RETURNS integer
    LANGUAGE sql IMMUTABLE
    AS $$
        SELECT m FROM generate_series(floor(users * 0.6180339887)::integer,
            floor(users * 0.6180339887)::integer + 100) AS m
        WHERE gcd(m, users) = 1 ORDER BY m LIMIT 1
    $$;

-- The user behind an order or event drawn as r: by activity rank (see the top).
CREATE FUNCTION pg_temp.active_user(r float8, users integer, spread integer) RETURNS bigint
    LANGUAGE sql IMMUTABLE
    RETURN floor(users * r / (33 - 32 * r))::bigint * spread % users + 1;

-- A product of `tenant` drawn as r: popular ones (the lowest numbers in the tenant's range)
-- come up most, as the cube of a uniform draw.
CREATE FUNCTION pg_temp.popular_product(first_product bigint[], tenant integer, r float8)
    RETURNS bigint
    LANGUAGE sql IMMUTABLE
    RETURN first_product[tenant] + floor((first_product[tenant + 1] - first_product[tenant])
        * r * r * r)::bigint;

-- The first id of each day's `total` rows from day first_day to last_day (day 0 is
-- 2024-01-01), then total + 1. Two years of growth, a holiday season, Black Friday and Cyber
-- Monday, a quiet January, busier weekends.
CREATE FUNCTION pg_temp.day_starts(total integer, first_day integer, last_day integer)
    RETURNS bigint[]
    LANGUAGE sql IMMUTABLE
    AS $$
        SELECT array_agg(total::bigint * (cum - w) / whole + 1 ORDER BY d) || (total + 1)::bigint
        FROM (
            SELECT d, w, sum(w) OVER (ORDER BY d) AS cum, sum(w) OVER () AS whole
            FROM generate_series(first_day, last_day) AS d, LATERAL (
                SELECT (1000 + 2 * d) * CASE
                    WHEN day IN ('2024-11-29', '2024-12-02', '2025-11-28', '2025-12-01') THEN 35
                    WHEN (month = 11 AND dom >= 20) OR (month = 12 AND dom <= 24) THEN 18
                    WHEN month = 1 THEN 8
                    WHEN isodow >= 6 THEN 12
                    ELSE 10
                END AS w
                FROM (
                    SELECT
                        date '2024-01-01' + d AS day,
                        extract(month FROM date '2024-01-01' + d) AS month,
                        extract(day FROM date '2024-01-01' + d) AS dom,
                        extract(isodow FROM date '2024-01-01' + d) AS isodow
                ) AS parts
            ) AS weight
        ) AS days
    $$;

-- Seconds into its day of a row whose day is `share` (0 to 1000) per mille done: a day's rows
-- are spread over its hours, busier in the evening. Hour h holds the per mille from
-- hour_starts[h] to hour_starts[h] + hour_widths[h]; inside it, time runs linearly. The two
-- arrays folded here give, for each whole per mille, the line's offset and slope, so a row
-- costs two look-ups.
CREATE FUNCTION pg_temp.day_clock() RETURNS float8[]
    LANGUAGE sql IMMUTABLE
    AS $$
        SELECT array_agg(CASE WHEN slope THEN 3600 / width
            ELSE 3600 * (hour - 1) - 3600 * hour_starts[hour] / width END ORDER BY slope, permille)
        FROM
            (SELECT ARRAY[0, 15, 25, 32, 37, 42, 50, 65, 90, 125, 170, 220, 275, 335, 395, 450,
                505, 560, 615, 675, 745, 825, 905, 965]::float8[] AS hour_starts,
                ARRAY[15, 10, 7, 5, 5, 8, 15, 25, 35, 45, 50, 55, 60, 60, 55, 55, 55, 55, 60, 70,
                80, 80, 60, 35]::float8[] AS hour_widths) AS hours,
            generate_series(0, 999) AS permille,
            LATERAL (SELECT width_bucket(permille::float8, hour_starts) AS hour) AS bucket,
            LATERAL (SELECT hour_widths[hour] AS width) AS span,
            (VALUES (false), (true)) AS part (slope)
    $$;
CREATE FUNCTION pg_temp.second_of_day(share float8, clock float8[]) RETURNS integer
    LANGUAGE sql IMMUTABLE
    RETURN least(86399, floor(clock[1 + floor(share)::integer]
        + share * clock[1001 + floor(share)::integer]))::integer;

-- How many lines an order has (1 to 10, about 3 on average), from its draw r.
CREATE FUNCTION pg_temp.line_count(r float8) RETURNS integer
    LANGUAGE sql IMMUTABLE
    RETURN CASE
        WHEN r < 0.32 THEN 1 WHEN r < 0.56 THEN 2 WHEN r < 0.71 THEN 3 WHEN r < 0.81 THEN 4
        WHEN r < 0.88 THEN 5 ELSE least(10, 6 + floor((r - 0.88) * 41.67)::integer)
    END;

-- An order line is one hash of (order, line); its bits choose the product (the low 21), the
-- quantity and the discount. orders adds the lines up with the same functions that
-- order_items lists them with.
CREATE FUNCTION pg_temp.line_hash(order_id bigint, line integer, seed bigint) RETURNS bigint
    LANGUAGE sql IMMUTABLE RETURN hashint8extended(16 * order_id + line, hashint8extended(seed, 400));

-- Popular products (the lowest numbers in the tenant's range) sell most: the offset in the
-- range is its size times the cube of a 21-bit draw, computed exactly in integers.
CREATE FUNCTION pg_temp.line_product(h bigint, first_product bigint, products bigint)
    RETURNS bigint
    LANGUAGE sql IMMUTABLE
    RETURN first_product
        + ((products * (((h & 2097151) * (h & 2097151) * (h & 2097151)) >> 42)) >> 21);

-- The quantity: 1 for 78 % of the lines, 2 for 14 %, 3 for 5 %, then up to 10 (bits 21 to 30,
-- 0 to 1023, compared with per-1024 thresholds).
CREATE FUNCTION pg_temp.line_quantity(h bigint) RETURNS integer
    LANGUAGE sql IMMUTABLE
    RETURN CASE
        WHEN ((h >> 21) & 1023) < 799 THEN 1
        WHEN ((h >> 21) & 1023) < 942 THEN 2
        WHEN ((h >> 21) & 1023) < 994 THEN 3
        ELSE least(10, 4 + (((h >> 21) & 1023)::integer - 994) / 4)
    END;

-- Most lines sell at the list price; 12 % at 10 % off, 5 % at 25 %, 1 % at half price (bits
-- 41 to 50).
CREATE FUNCTION pg_temp.line_unit_cents(h bigint, price_cents integer) RETURNS integer
    LANGUAGE sql IMMUTABLE
    RETURN price_cents * CASE
        WHEN ((h >> 41) & 1023) < 840 THEN 100
        WHEN ((h >> 41) & 1023) < 963 THEN 90
        WHEN ((h >> 41) & 1023) < 1014 THEN 75
        ELSE 50
    END / 100;

CREATE FUNCTION pg_temp.line_cents(h bigint, first_product bigint, products bigint,
    price_cents integer[]) RETURNS bigint
    LANGUAGE sql IMMUTABLE
    RETURN pg_temp.line_quantity(h)::bigint * pg_temp.line_unit_cents(h,
        price_cents[pg_temp.line_product(h, first_product, products)]);

-- tenants -----------------------------------------------------------------------------------

INSERT INTO tenants (id, name, slug, plan, currency, region, created_at)
SELECT
    k,
    brand || ' ' || kind,
    translate(brand || '-' || kind, 'ABCDEFGHIJKLMNOPQRSTUVWXYZ', 'abcdefghijklmnopqrstuvwxyz')
        || '-' || k,
    -- The biggest tenants (the lowest ids) pay the most.
    CASE
        WHEN k <= greatest(1, tenants / 10) THEN 'enterprise'
        WHEN r_plan < 0.30 THEN 'business'
        WHEN r_plan < 0.65 THEN 'starter'
        ELSE 'free'
    END,
    pg_temp.tenant_currency(k),
    pg_temp.tenant_region(k),
    to_timestamp(pg_temp.tenant_created(k, tenants))
FROM (
    SELECT
        k,
        tenants,
        (ARRAY[
            'Acme', 'Birch', 'Bright', 'Cedar', 'Copper', 'Delta', 'Evergreen', 'Fox', 'Golden',
            'Harbor', 'Iron', 'Juniper', 'Kite', 'Lumen', 'Maple', 'Nimbus', 'Oak', 'Pine',
            'Quartz', 'River', 'Summit', 'Tidal', 'Urban', 'Vivid', 'Willow', 'Zephyr'
        ])[1 + floor(26 * pg_temp.draw(k, :seed, 101))::integer] AS brand,
        (ARRAY[
            'Goods', 'Supply', 'Outfitters', 'Market', 'Labs', 'Trading', 'Home', 'Gear',
            'Studio', 'Collective', 'Works', 'Provisions'
        ])[1 + floor(12 * pg_temp.draw(k, :seed, 102))::integer] AS kind,
        pg_temp.draw(k, :seed, 103) AS r_plan
    FROM pg_temp.tenant_count(:scale) AS tenants, generate_series(1, tenants) AS k
    OFFSET 0
) AS drawn;

-- products ----------------------------------------------------------------------------------

INSERT INTO products (
    id, tenant_id, sku, name, description, category, price, attributes, is_active, created_at
)
SELECT
    p,
    tenant_id,
    'SKU-' || code || '-' || lpad(number::text, 6, '0'),
    CASE
        WHEN category = 'books' THEN 'The ' || qualifier || ' ' || noun
        WHEN category IN ('electronics', 'beauty', 'grocery')
            THEN brand || ' ' || qualifier || ' ' || noun
        WHEN category IN ('apparel', 'home') THEN qualifier || ' ' || material || ' ' || noun
        ELSE qualifier || ' ' || noun
    END || CASE
        WHEN r_variant < 0.3 AND category NOT IN ('books', 'grocery', 'beauty') THEN ' - ' || color
        ELSE ''
    END,
    CASE WHEN r_description >= 0.3 THEN
        CASE
            WHEN category IN ('apparel', 'home')
                THEN noun || ' in ' || material || ', by ' || brand || '. '
            ELSE qualifier || ' ' || noun || ' by ' || brand || '. '
        END || (ARRAY[
            'Ships in recyclable packaging.', 'A customer favourite.',
            'Limited edition while stocks last.', 'Backed by a two-year warranty.',
            'Designed in-house, made to last.', 'Pairs well with the rest of the range.',
            'Free returns within 30 days.', 'Restocked every week.'
        ])[1 + floor(r_phrase * 8)::integer]
    END,
    category,
    -- Mostly cheap, with a long tail of expensive ones; prices end in .99.
    ((199 + floor(9800 * r_price * r_price)::integer
        + CASE WHEN r_premium < 0.08 AND category IN ('apparel', 'home', 'electronics', 'sports')
            THEN floor(150000 * r_price2 * r_price2)::integer ELSE 0 END)
        / 100 * 100 + 99) * 0.01,
    -- Keys vary by category, as attributes do when each team adds its own.
    jsonb_strip_nulls(jsonb_build_object(
        'brand', brand,
        'color', CASE WHEN category NOT IN ('books', 'grocery') THEN color END,
        'size', CASE WHEN category = 'apparel'
            THEN (ARRAY['XS', 'S', 'M', 'M', 'L', 'L', 'XL', 'XXL'])[1 + floor(r_detail * 8)::integer]
            END,
        'material', CASE WHEN category IN ('apparel', 'home') THEN material END,
        'weight_g', CASE WHEN category NOT IN ('apparel', 'books')
            THEN 50 + floor(5000 * r_detail * r_detail)::integer END,
        'warranty_months', CASE WHEN category = 'electronics'
            THEN (ARRAY[6, 12, 12, 24, 24, 36])[1 + floor(r_detail * 6)::integer] END,
        'wireless', CASE WHEN category = 'electronics'
            THEN qualifier = 'Wireless' OR r_flag < 0.4 END,
        'pages', CASE WHEN category = 'books' THEN 60 + floor(700 * r_detail)::integer END,
        'format', CASE WHEN category = 'books' THEN
            (ARRAY['paperback', 'paperback', 'hardcover', 'ebook'])[1 + floor(r_flag * 4)::integer]
            END,
        'organic', CASE WHEN category IN ('grocery', 'beauty') THEN r_flag < 0.35 END,
        'tags', CASE WHEN r_tags < 0.3 THEN ((ARRAY[
            '["new"]', '["sale"]', '["bestseller"]', '["eco", "new"]', '["gift", "sale"]',
            '["limited"]', '["bestseller", "gift"]'
        ])::jsonb[])[1 + floor(r_tag_set * 7)::integer] END,
        -- Ratings lean high (3.0 to 5.0); unrated products have neither key.
        'rating', CASE WHEN r_rating < 0.85
            THEN round((50 - floor(21 * r_stars * r_stars)::integer) / 10.0, 1) END,
        'reviews', CASE WHEN r_rating < 0.85
            THEN 1 + floor(2000 * r_reviews * r_reviews * r_reviews)::integer END
    )),
    r_active >= 0.08,
    -- Between the tenant's creation and 2024-01-01, the lowest numbers (the best sellers) first.
    to_timestamp(tenant_created
        + floor((1704067200 - tenant_created) * (number - 1 + r_created) / number_count))
FROM (
    SELECT
        drawn.*,
        (ARRAY['APP', 'HOM', 'ELE', 'BEA', 'SPO', 'TOY', 'BOO', 'GRO', 'GAR'])[category_index]
            AS code,
        (ARRAY['apparel', 'home', 'electronics', 'beauty', 'sports', 'toys', 'books', 'grocery',
            'garden'])[category_index] AS category,
        (ARRAY[
            ARRAY['T-Shirt', 'Hoodie', 'Jacket', 'Sneakers', 'Scarf', 'Jeans', 'Cap', 'Socks'],
            ARRAY['Lamp', 'Chair', 'Mug', 'Blanket', 'Vase', 'Shelf', 'Rug', 'Pillow'],
            ARRAY['Headphones', 'Speaker', 'Charger', 'Keyboard', 'Mouse', 'Webcam', 'Monitor',
                'Power Bank'],
            ARRAY['Serum', 'Cream', 'Shampoo', 'Soap', 'Lip Balm', 'Perfume', 'Body Lotion',
                'Face Mask'],
            ARRAY['Yoga Mat', 'Water Bottle', 'Backpack', 'Dumbbell', 'Tent', 'Helmet', 'Racket',
                'Gloves'],
            ARRAY['Puzzle', 'Robot', 'Plush Bear', 'Kite', 'Building Blocks', 'Board Game',
                'Toy Car', 'Doll'],
            ARRAY['Cookbook', 'Novel', 'Notebook', 'Atlas', 'Journal', 'Field Guide', 'Sketchbook',
                'Planner'],
            ARRAY['Coffee', 'Tea', 'Honey', 'Olive Oil', 'Chocolate', 'Granola', 'Spice Mix',
                'Pasta'],
            ARRAY['Planter', 'Hose', 'Pruning Shears', 'Bird Feeder', 'Lantern', 'Trowel',
                'Seed Kit', 'Bench']
        ])[category_index][1 + floor(r_noun * 8)::integer] AS noun,
        (ARRAY[
            ARRAY['Classic', 'Relaxed', 'Slim', 'Vintage', 'Everyday', 'Oversized',
                'Lightweight', 'Waterproof'],
            ARRAY['Rustic', 'Modern', 'Handcrafted', 'Minimalist', 'Cozy', 'Scandinavian',
                'Vintage', 'Compact'],
            ARRAY['Wireless', 'Smart', 'Compact', 'Pro', 'Portable', 'Ultra', 'Noise-Cancelling',
                'Ergonomic'],
            ARRAY['Hydrating', 'Gentle', 'Organic', 'Soothing', 'Daily', 'Nourishing',
                'Fragrance-Free', 'Revitalizing'],
            ARRAY['Lightweight', 'Durable', 'Pro', 'Foldable', 'Insulated', 'Adjustable', 'Grip',
                'Trail'],
            ARRAY['Wooden', 'Musical', 'Giant', 'Mini', 'Magnetic', 'Educational',
                'Glow-in-the-Dark', 'Classic'],
            ARRAY['Complete', 'Little', 'Essential', 'Illustrated', 'Pocket', 'Ultimate', 'Modern',
                'Everyday'],
            ARRAY['Organic', 'Single-Origin', 'Wildflower', 'Extra Virgin', 'Dark', 'Crunchy',
                'Smoky', 'Artisan'],
            ARRAY['Self-Watering', 'Stainless', 'Solar', 'Heavy-Duty', 'Ceramic', 'Hanging',
                'Rustproof', 'Cedar']
        ])[category_index][1 + floor(r_qualifier * 8)::integer] AS qualifier
    FROM (
        SELECT
            draws.*,
            p - starts[tenant_id] + 1 AS number,
            starts[tenant_id + 1] - starts[tenant_id] AS number_count,
            pg_temp.tenant_created(tenant_id, tenants) AS tenant_created,
            CASE
                WHEN r_category < 0.25 THEN 1
                WHEN r_category < 0.45 THEN 2
                WHEN r_category < 0.60 THEN 3
                WHEN r_category < 0.70 THEN 4
                WHEN r_category < 0.80 THEN 5
                WHEN r_category < 0.87 THEN 6
                WHEN r_category < 0.93 THEN 7
                WHEN r_category < 0.98 THEN 8
                ELSE 9
            END AS category_index
        FROM (
            SELECT
                p,
                tenants,
                starts,
                width_bucket(p::bigint, starts) AS tenant_id,
                (ARRAY[
                    'Cotton', 'Linen', 'Wool', 'Leather', 'Bamboo', 'Oak', 'Walnut', 'Ceramic',
                    'Glass', 'Canvas', 'Denim', 'Cashmere'
                ])[1 + floor(12 * pg_temp.draw(p, :seed, 201))::integer] AS material,
                (ARRAY[
                    'Black', 'White', 'Navy', 'Olive', 'Sand', 'Charcoal', 'Red', 'Sky Blue',
                    'Forest Green', 'Mustard'
                ])[1 + floor(10 * pg_temp.draw(p, :seed, 202))::integer] AS color,
                (ARRAY[
                    'Northwind', 'Alder & Co', 'Kestrel', 'Mono', 'Trailhead', 'Lumo',
                    'Basecamp', 'Fable', 'Oakridge', 'Solstice', 'Pebble', 'Arcadia'
                ])[1 + floor(12 * pg_temp.draw(p, :seed, 203))::integer] AS brand,
                pg_temp.draw(p, :seed, 204) AS r_category,
                pg_temp.draw(p, :seed, 205) AS r_noun,
                pg_temp.draw(p, :seed, 206) AS r_qualifier,
                pg_temp.draw(p, :seed, 207) AS r_variant,
                pg_temp.draw(p, :seed, 208) AS r_description,
                pg_temp.draw(p, :seed, 209) AS r_phrase,
                pg_temp.draw(p, :seed, 210) AS r_price,
                pg_temp.draw(p, :seed, 211) AS r_premium,
                pg_temp.draw(p, :seed, 212) AS r_price2,
                pg_temp.draw(p, :seed, 213) AS r_detail,
                pg_temp.draw(p, :seed, 214) AS r_flag,
                pg_temp.draw(p, :seed, 215) AS r_tags,
                pg_temp.draw(p, :seed, 216) AS r_tag_set,
                pg_temp.draw(p, :seed, 217) AS r_rating,
                pg_temp.draw(p, :seed, 218) AS r_stars,
                pg_temp.draw(p, :seed, 219) AS r_reviews,
                pg_temp.draw(p, :seed, 220) AS r_active,
                pg_temp.draw(p, :seed, 221) AS r_created
            FROM
                (SELECT
                    pg_temp.tenant_count(:scale) AS tenants,
                    pg_temp.tenant_starts(pg_temp.product_count(:scale),
                        pg_temp.tenant_count(:scale)) AS starts,
                    pg_temp.product_count(:scale) AS products) AS size,
                generate_series(1, size.products) AS p
            OFFSET 0
        ) AS draws
        OFFSET 0
    ) AS drawn
    OFFSET 0
) AS described;

-- orders ------------------------------------------------------------------------------------
-- Each order's total is the sum of its lines, added up here with the functions order_items
-- lists them with: no join, so orders and order_items load at the same time.

INSERT INTO orders (
    id, tenant_id, user_id, status, channel, currency, total_amount, discount_code, note,
    created_at, shipped_at, delivered_at
)
WITH size AS NOT MATERIALIZED (
    SELECT
        pg_temp.user_count(:scale) AS users,
        pg_temp.spread(pg_temp.user_count(:scale)) AS spread,
        pg_temp.tenant_starts(pg_temp.user_count(:scale), pg_temp.tenant_count(:scale))
            AS first_user,
        pg_temp.tenant_starts(pg_temp.product_count(:scale), pg_temp.tenant_count(:scale))
            AS first_product,
        pg_temp.day_starts(pg_temp.order_count(:scale), 0, 730) AS first_order,
        pg_temp.day_clock() AS clock
)
SELECT
    o,
    tenant_id,
    user_id,
    status,
    CASE WHEN r_channel < 0.58 THEN 'web' WHEN r_channel < 0.92 THEN 'mobile_app'
         WHEN r_channel < 0.98 THEN 'marketplace' ELSE 'phone' END,
    pg_temp.tenant_currency(tenant_id),
    (pg_temp.line_cents(line_1, tenant_first, tenant_products, price_cents)
        + CASE WHEN lines >= 2 THEN pg_temp.line_cents(line_2, tenant_first, tenant_products,
            price_cents) ELSE 0 END
        + CASE WHEN lines >= 3 THEN pg_temp.line_cents(line_3, tenant_first, tenant_products,
            price_cents) ELSE 0 END
        + CASE WHEN lines >= 4 THEN pg_temp.line_cents(line_4, tenant_first, tenant_products,
            price_cents) ELSE 0 END
        + CASE WHEN lines >= 5 THEN pg_temp.line_cents(line_5, tenant_first, tenant_products,
            price_cents) ELSE 0 END
        + CASE WHEN lines >= 6 THEN pg_temp.line_cents(line_6, tenant_first, tenant_products,
            price_cents) ELSE 0 END
        + CASE WHEN lines >= 7 THEN pg_temp.line_cents(line_7, tenant_first, tenant_products,
            price_cents) ELSE 0 END
        + CASE WHEN lines >= 8 THEN pg_temp.line_cents(line_8, tenant_first, tenant_products,
            price_cents) ELSE 0 END
        + CASE WHEN lines >= 9 THEN pg_temp.line_cents(line_9, tenant_first, tenant_products,
            price_cents) ELSE 0 END
        + CASE WHEN lines >= 10 THEN pg_temp.line_cents(line_10, tenant_first, tenant_products,
            price_cents) ELSE 0 END)
        * 0.01,
    CASE WHEN r_discount < 0.12 THEN (ARRAY['WELCOME10', 'SPRING15', 'SUMMER20',
        'BLACKFRIDAY', 'VIP20', 'FREESHIP'])[1 + floor(r_code * 6)::integer] END,
    CASE WHEN r_note < 0.04 THEN (ARRAY['Leave at the front door', 'Please gift wrap',
        'Call on arrival', 'Deliver after 5pm', 'No plastic packaging please',
        'This is a gift: no invoice in the box'])[1 + floor(r_note_text * 6)::integer] END,
    to_timestamp(created_s),
    to_timestamp(shipped_s),
    to_timestamp(delivered_s)
FROM
    (
        SELECT
            timed.*,
            first_product[tenant_id] AS tenant_first,
            first_product[tenant_id + 1] - first_product[tenant_id] AS tenant_products,
            -- Shipped 2 to 72 hours after the order, delivered 1 to 7 days later, never after
            -- the anchor.
            CASE WHEN status IN ('shipped', 'delivered', 'refunded')
                THEN least(created_s + 7200 + floor(252000 * r_ship)::integer, 1767225599)
                END AS shipped_s,
            CASE WHEN status IN ('delivered', 'refunded')
                THEN least(least(created_s + 7200 + floor(252000 * r_ship)::integer, 1767225599)
                    + 86400 + floor(518400 * r_deliver)::integer, 1767225599)
                END AS delivered_s,
            pg_temp.line_hash(o, 1, :seed) AS line_1,
            pg_temp.line_hash(o, 2, :seed) AS line_2,
            pg_temp.line_hash(o, 3, :seed) AS line_3,
            pg_temp.line_hash(o, 4, :seed) AS line_4,
            pg_temp.line_hash(o, 5, :seed) AS line_5,
            pg_temp.line_hash(o, 6, :seed) AS line_6,
            pg_temp.line_hash(o, 7, :seed) AS line_7,
            pg_temp.line_hash(o, 8, :seed) AS line_8,
            pg_temp.line_hash(o, 9, :seed) AS line_9,
            CASE WHEN lines >= 10 THEN pg_temp.line_hash(o, 10, :seed) END AS line_10
        FROM
            (
                SELECT
                    located.*,
                    CASE
                        WHEN age = 0 THEN CASE
                            WHEN r_status < 0.40 THEN 'pending' WHEN r_status < 0.85 THEN 'paid'
                            WHEN r_status < 0.95 THEN 'shipped' ELSE 'cancelled' END
                        WHEN age <= 2 THEN CASE
                            WHEN r_status < 0.08 THEN 'pending' WHEN r_status < 0.38 THEN 'paid'
                            WHEN r_status < 0.93 THEN 'shipped'
                            WHEN r_status < 0.95 THEN 'delivered' ELSE 'cancelled' END
                        WHEN age <= 9 THEN CASE
                            WHEN r_status < 0.02 THEN 'paid' WHEN r_status < 0.37 THEN 'shipped'
                            WHEN r_status < 0.94 THEN 'delivered'
                            WHEN r_status < 0.99 THEN 'cancelled' ELSE 'refunded' END
                        ELSE CASE
                            WHEN r_status < 0.003 THEN 'pending'
                            WHEN r_status < 0.05 THEN 'cancelled'
                            WHEN r_status < 0.08 THEN 'refunded' ELSE 'delivered' END
                    END AS status,
                    -- A day's orders are spread over its hours, in id order.
                    1704067200 + 86400 * (day - 1) + pg_temp.second_of_day(share, clock)
                        AS created_s
                FROM (
                    SELECT
                        placed.*,
                        width_bucket(user_id, first_user) AS tenant_id,
                        731 - day AS age,
                        1000 * (o - first_order[day] + r_time)
                            / (first_order[day + 1] - first_order[day]) AS share
                    FROM
                        (
                            SELECT
                                drawn.*,
                                width_bucket(o::bigint, first_order) AS day,
                                pg_temp.active_user(r_user, users, spread) AS user_id,
                                pg_temp.line_count(r_lines) AS lines
                            FROM
                                (
                                    SELECT
                                        o,
                                        pg_temp.draw(o, :seed, 301) AS r_user,
                                        pg_temp.draw(o, :seed, 302) AS r_time,
                                        pg_temp.draw(o, :seed, 303) AS r_status,
                                        pg_temp.draw(o, :seed, 304) AS r_lines,
                                        pg_temp.draw(o, :seed, 305) AS r_channel,
                                        pg_temp.draw(o, :seed, 306) AS r_discount,
                                        pg_temp.draw(o, :seed, 307) AS r_code,
                                        pg_temp.draw(o, :seed, 308) AS r_note,
                                        pg_temp.draw(o, :seed, 309) AS r_note_text,
                                        pg_temp.draw(o, :seed, 310) AS r_ship,
                                        pg_temp.draw(o, :seed, 311) AS r_deliver
                                    FROM generate_series(1, pg_temp.order_count(:scale)) AS o
                                    OFFSET 0
                                ) AS drawn,
                                size
                            OFFSET 0
                        ) AS placed,
                        size
                    OFFSET 0
                ) AS located,
                size
                OFFSET 0
            ) AS timed,
            size
        OFFSET 0
    ) AS dated,
    (SELECT array_agg((price * 100)::integer ORDER BY id) AS price_cents FROM products) AS catalog;

-- order_items -------------------------------------------------------------------------------

INSERT INTO order_items (id, order_id, product_id, quantity, unit_price)
WITH size AS NOT MATERIALIZED (
    SELECT
        pg_temp.user_count(:scale) AS users,
        pg_temp.spread(pg_temp.user_count(:scale)) AS spread,
        pg_temp.tenant_starts(pg_temp.user_count(:scale), pg_temp.tenant_count(:scale))
            AS first_user,
        pg_temp.tenant_starts(pg_temp.product_count(:scale), pg_temp.tenant_count(:scale))
            AS first_product
)
SELECT
    items_before + line,
    o,
    product_id,
    pg_temp.line_quantity(h),
    pg_temp.line_unit_cents(h, price_cents[product_id]) * 0.01
FROM
    (
        SELECT
            o,
            line,
            items_before,
            h,
            pg_temp.line_product(h, tenant_first, tenant_products) AS product_id
        FROM (
            SELECT
                counted.*,
                -- Two set-returning functions of the same length run side by side.
                generate_series(1, lines) AS line,
                pg_temp.line_hash(o, generate_series(1, lines), :seed) AS h
            FROM (
                SELECT
                    placed.*,
                    -- A running count over the orders numbers their items: in order.
                    sum(lines) OVER (ROWS UNBOUNDED PRECEDING) - lines AS items_before
                FROM (
                    SELECT
                        o,
                        first_product[tenant_id] AS tenant_first,
                        first_product[tenant_id + 1] - first_product[tenant_id]
                            AS tenant_products,
                        pg_temp.line_count(r_lines) AS lines
                    FROM
                        (
                            SELECT
                                o,
                                width_bucket(pg_temp.active_user(pg_temp.draw(o, :seed, 301),
                                    users, spread), first_user) AS tenant_id,
                                pg_temp.draw(o, :seed, 304) AS r_lines
                            FROM generate_series(1, pg_temp.order_count(:scale)) AS o, size
                            OFFSET 0
                        ) AS drawn,
                        size
                    OFFSET 0
                ) AS placed
            ) AS counted
            OFFSET 0
        ) AS lines
        OFFSET 0
    ) AS items,
    (SELECT array_agg((price * 100)::integer ORDER BY id) AS price_cents FROM products) AS catalog;

-- payments ----------------------------------------------------------------------------------
-- From the orders as loaded: a failed attempt sometimes comes first; pending orders have none
-- that succeeded, cancelled ones were refunded half the time.

INSERT INTO payments (
    id, tenant_id, order_id, method, status, amount, currency, provider_ref, failure_reason,
    created_at, refunded_at
)
SELECT
    row_number() OVER (),
    tenant_id,
    id,
    CASE WHEN attempt = 1 THEN
        CASE WHEN r_method < 0.68 THEN 'card' WHEN r_method < 0.83 THEN 'paypal'
            WHEN r_method < 0.93 THEN 'apple_pay' WHEN r_method < 0.98 THEN 'bank_transfer'
            ELSE 'gift_card' END
        ELSE CASE WHEN r_method_retry < 0.6 THEN 'card' ELSE 'paypal' END
    END,
    CASE WHEN attempt = 1 AND failed_first THEN 'failed' ELSE payment_status END,
    total_amount,
    currency,
    'pay_' || lpad(to_hex(floor(4503599627370496 * r_ref)::bigint), 13, '0') || '_' || attempt,
    CASE WHEN attempt = 1 AND failed_first THEN (ARRAY['card_declined', 'card_declined',
        'insufficient_funds', 'expired_card', 'authentication_failed'])
        [1 + floor(r_reason * 5)::integer] END,
    created_at + (30 * attempt + floor(600 * r_pay_delay)::integer) * interval '1 second',
    -- Refunds come after delivery (returns) or soon after a cancellation.
    CASE WHEN attempt = attempts AND payment_status = 'refunded' THEN least(
        CASE WHEN status = 'refunded'
            THEN delivered_at + (86400 + floor(20 * 86400 * r_refund_delay)::integer)
                * interval '1 second'
            ELSE created_at + (3600 + floor(2 * 86400 * r_refund_delay)::integer)
                * interval '1 second'
        END, to_timestamp(1767225599)) END
FROM (
    SELECT
        drawn.*,
        failed_first::integer + (payment_status IS NOT NULL)::integer AS attempts,
        generate_series(1, failed_first::integer + (payment_status IS NOT NULL)::integer)
            AS attempt
    FROM (
        SELECT
            id, tenant_id, status, total_amount, currency, created_at, delivered_at,
            CASE
                WHEN status = 'pending' THEN NULL
                WHEN status = 'cancelled'
                    THEN CASE WHEN pg_temp.draw(id, :seed, 501) < 0.5 THEN 'refunded' END
                WHEN status = 'refunded' THEN 'refunded'
                ELSE 'succeeded'
            END AS payment_status,
            CASE WHEN status = 'pending' THEN pg_temp.draw(id, :seed, 502) < 0.15
                ELSE pg_temp.draw(id, :seed, 502) < 0.04 END AS failed_first,
            pg_temp.draw(id, :seed, 503) AS r_method,
            pg_temp.draw(id, :seed, 504) AS r_method_retry,
            pg_temp.draw(id, :seed, 505) AS r_reason,
            pg_temp.draw(id, :seed, 506) AS r_ref,
            pg_temp.draw(id, :seed, 507) AS r_pay_delay,
            pg_temp.draw(id, :seed, 508) AS r_refund_delay
        FROM orders
        OFFSET 0
    ) AS drawn
    OFFSET 0
) AS attempts;

-- users -------------------------------------------------------------------------------------
-- After the orders: a customer signed up before their first order and logged in after their
-- last one.

INSERT INTO users (
    id, tenant_id, email, full_name, phone, country, marketing_opt_in, is_active, created_at,
    last_login_at
)
SELECT
    u,
    tenant_id,
    translate(first_name || '.' || last_name, 'ABCDEFGHIJKLMNOPQRSTUVWXYZ',
        'abcdefghijklmnopqrstuvwxyz') || u || '@' || domain,
    first_name || ' ' || last_name,
    CASE WHEN r_phone >= 0.4 THEN '+' || calling_code || ' '
        || lpad(floor(1000000000 * r_phone_number)::bigint::text, 9, '0') END,
    country,
    r_opt_in < 0.35,
    r_active >= 0.03,
    to_timestamp(created_s),
    -- Never logged in again: a third of the sign-ups that never ordered.
    CASE WHEN last_order_s IS NOT NULL OR r_never >= 0.33 THEN to_timestamp(
        coalesce(last_order_s, created_s)
        + floor((1767225599 - coalesce(last_order_s, created_s)) * sqrt(r_login))::bigint) END
FROM (
    SELECT
        drawn.*,
        first_order_s,
        last_order_s,
        (ARRAY['Emma', 'Liam', 'Olivia', 'Noah', 'Ava', 'Elijah', 'Sophia', 'Lucas', 'Mia', 'Mateo',
            'Amelia', 'Leo', 'Harper', 'Ethan', 'Chloe', 'Omar', 'Aisha', 'Yuki', 'Hana', 'Wei',
            'Priya', 'Arjun', 'Fatima', 'Lars', 'Ingrid', 'Pierre', 'Camille', 'Giulia', 'Marco',
            'Sofia', 'Diego', 'Lucia', 'Kwame', 'Amara', 'Sean', 'Niamh', 'Jakub', 'Zofia', 'Ana',
            'Tom'])[first_index] AS first_name,
        (ARRAY['Smith', 'Johnson', 'Brown', 'Garcia', 'Miller', 'Davis', 'Martinez', 'Lopez',
            'Wilson', 'Anderson', 'Taylor', 'Thomas', 'Moore', 'Martin', 'Lee', 'Walker', 'Hall',
            'Young', 'King', 'Wright', 'Muller', 'Schmidt', 'Dubois', 'Rossi', 'Bianchi', 'Jansen',
            'Kowalski', 'Nowak', 'Tanaka', 'Suzuki', 'Chen', 'Wang', 'Patel', 'Khan', 'Singh',
            'Okafor', 'Mensah', 'Murphy', 'Kelly', 'Silva'])[last_index] AS last_name,
        coalesce(first_order_s - 60 - floor(120 * 86400 * r_signup * r_signup)::bigint,
            -- Sign-ups without orders grow over time: more of them recently.
            tenant_created + floor((1767225599 - tenant_created) * sqrt(r_signup))::bigint)
            AS created_s,
        CASE country WHEN 'US' THEN '1' WHEN 'CA' THEN '1' WHEN 'MX' THEN '52' WHEN 'GB' THEN '44'
            WHEN 'IE' THEN '353' WHEN 'DE' THEN '49' WHEN 'FR' THEN '33' WHEN 'NL' THEN '31'
            WHEN 'ES' THEN '34' WHEN 'IT' THEN '39' WHEN 'BE' THEN '32' WHEN 'AT' THEN '43'
            WHEN 'AU' THEN '61' WHEN 'NZ' THEN '64' WHEN 'SG' THEN '65' ELSE '81' END
            AS calling_code
    FROM
        (
            SELECT
                draws.*,
                pg_temp.tenant_created(tenant_id, tenants) AS tenant_created,
                -- Customers live where their shop sells (the tenant's region, as in tenants).
                CASE pg_temp.tenant_region(tenant_id)
                    WHEN 'us' THEN CASE WHEN r_country < 0.92 THEN 'US' WHEN r_country < 0.96
                        THEN 'CA' WHEN r_country < 0.98 THEN 'MX' ELSE 'GB' END
                    WHEN 'eu' THEN CASE WHEN r_country < 0.35 THEN 'DE' WHEN r_country < 0.60
                        THEN 'FR' WHEN r_country < 0.72 THEN 'NL' WHEN r_country < 0.82 THEN 'ES'
                        WHEN r_country < 0.92 THEN 'IT' WHEN r_country < 0.97 THEN 'BE' ELSE 'AT'
                        END
                    WHEN 'uk' THEN CASE WHEN r_country < 0.88 THEN 'GB' WHEN r_country < 0.96
                        THEN 'IE' ELSE 'US' END
                    WHEN 'ca' THEN CASE WHEN r_country < 0.85 THEN 'CA' ELSE 'US' END
                    ELSE CASE WHEN r_country < 0.70 THEN 'AU' WHEN r_country < 0.85 THEN 'NZ'
                        WHEN r_country < 0.95 THEN 'SG' ELSE 'JP' END
                END AS country
            FROM (
                SELECT
                    u,
                    tenants,
                    width_bucket(u::bigint, first_user) AS tenant_id,
                    1 + floor(40 * pg_temp.draw(u, :seed, 601))::integer AS first_index,
                    1 + floor(40 * pg_temp.draw(u, :seed, 602))::integer AS last_index,
                    (ARRAY['example.com', 'example.com', 'example.org', 'example.net',
                        'mail.example', 'inbox.test'])[1 + floor(6 * pg_temp.draw(u, :seed, 603))
                        ::integer] AS domain,
                    pg_temp.draw(u, :seed, 604) AS r_phone,
                    pg_temp.draw(u, :seed, 605) AS r_phone_number,
                    pg_temp.draw(u, :seed, 606) AS r_country,
                    pg_temp.draw(u, :seed, 607) AS r_opt_in,
                    pg_temp.draw(u, :seed, 608) AS r_active,
                    pg_temp.draw(u, :seed, 609) AS r_signup,
                    pg_temp.draw(u, :seed, 610) AS r_login,
                    pg_temp.draw(u, :seed, 611) AS r_never
                FROM
                    (SELECT
                        pg_temp.tenant_count(:scale) AS tenants,
                        pg_temp.user_count(:scale) AS users,
                        pg_temp.tenant_starts(pg_temp.user_count(:scale),
                            pg_temp.tenant_count(:scale)) AS first_user) AS size,
                    generate_series(1, size.users) AS u
                OFFSET 0
            ) AS draws
            OFFSET 0
        ) AS drawn
        LEFT JOIN (
            SELECT
                user_id,
                extract(epoch FROM min(created_at))::bigint AS first_order_s,
                extract(epoch FROM max(created_at))::bigint AS last_order_s
            FROM orders
            GROUP BY user_id
        ) AS activity ON activity.user_id = drawn.u
) AS described;

-- events ------------------------------------------------------------------------------------
-- One year of an append-only activity log, numbered in time order. The busiest customers are
-- the busiest browsers (the same ranks as the orders); a third of the page views, product
-- views and searches come from visitors who are not logged in.

INSERT INTO events (id, tenant_id, user_id, event_type, occurred_at, payload)
WITH size AS NOT MATERIALIZED (
    SELECT
        pg_temp.user_count(:scale) AS users,
        pg_temp.spread(pg_temp.user_count(:scale)) AS spread,
        pg_temp.tenant_starts(pg_temp.user_count(:scale), pg_temp.tenant_count(:scale))
            AS first_user,
        pg_temp.tenant_starts(pg_temp.product_count(:scale), pg_temp.tenant_count(:scale))
            AS first_product,
        -- The orders' calendar, from 2025-01-01.
        pg_temp.day_starts(pg_temp.event_count(:scale), 366, 730) AS first_event,
        pg_temp.day_clock() AS clock
)
SELECT
    e,
    tenant_id,
    CASE WHEN NOT anonymous THEN user_id END,
    (ARRAY['page_view', 'product_view', 'search', 'add_to_cart', 'login', 'checkout_started',
        'order_placed', 'logout'])[kind],
    to_timestamp(1704067200 + 86400 * (365 + day) + pg_temp.second_of_day(share, clock)),
    -- JSON text parsed once is cheaper than jsonb_build_object; every value is a known word.
    -- Popular products (the lowest numbers in the tenant's range) are viewed most.
    (CASE kind
        WHEN 1 THEN '{"path": "' || (ARRAY['/', '/', '/products', '/cart', '/account',
                '/search', '/deals', '/help', '/orders', '/wishlist'])[1 + floor(r_pick * 10)::integer]
            || '", "device": "' || device || '"'
            || CASE WHEN r_source < 0.45 THEN '' ELSE ', "referrer": "'
                || (ARRAY['google', 'google', 'instagram', 'newsletter', 'tiktok', 'bing'])
                    [1 + floor(r_pick * 6)::integer] || '"' END
        WHEN 2 THEN '{"product_id": '
            || pg_temp.popular_product(first_product, tenant_id, r_product) || ', "device": "'
            || device || '", "source": "' || (ARRAY['search', 'category', 'category',
                'recommendation', 'email', 'ad'])[1 + floor(r_source * 6)::integer] || '"'
        WHEN 3 THEN '{"query": "' || (ARRAY['gift', 'black', 'sale', 'wireless', 'organic',
            'kids', 'cotton', 'coffee', 'yoga', 'lamp', 'new', 'jacket'])
                [1 + floor(r_pick * 12)::integer]
            || '", "results": ' || floor(200 * r_source * r_source)::integer
        WHEN 4 THEN '{"product_id": '
            || pg_temp.popular_product(first_product, tenant_id, r_product) || ', "quantity": '
            || CASE WHEN r_source < 0.85 THEN 1 ELSE 2 + floor(r_pick * 3)::integer END
        WHEN 5 THEN '{"method": "' || CASE WHEN r_source < 0.7 THEN 'password'
            WHEN r_source < 0.9 THEN 'google' ELSE 'magic_link' END || '", "device": "' || device
            || '"'
        WHEN 8 THEN '{"device": "' || device || '"'
        ELSE '{"cart_items": ' || 1 + floor(5 * r_pick * r_pick)::integer || ', "device": "'
            || device || '"'
    END || '}')::jsonb
FROM
    (
        SELECT
            seen.*,
            width_bucket(CASE WHEN anonymous THEN visitor_slot ELSE user_id END, first_user)
                AS tenant_id,
            1000 * (e - first_event[day] + r_time) / (first_event[day + 1] - first_event[day])
                AS share
        FROM
            (
                SELECT
                    e,
                    width_bucket(e::bigint, first_event) AS day,
                    CASE
                        WHEN r_type < 0.42 THEN 1 WHEN r_type < 0.66 THEN 2
                        WHEN r_type < 0.75 THEN 3 WHEN r_type < 0.84 THEN 4
                        WHEN r_type < 0.90 THEN 5 WHEN r_type < 0.95 THEN 6
                        WHEN r_type < 0.98 THEN 7 ELSE 8
                    END AS kind,
                    r_type < 0.75 AND r_anonymous < 0.35 AS anonymous,
                    pg_temp.active_user(r_user, users, spread) AS user_id,
                    1 + floor(users * r_user)::bigint AS visitor_slot,
                    (ARRAY['desktop', 'desktop', 'mobile', 'mobile', 'mobile', 'tablet'])
                        [1 + floor(r_device * 6)::integer] AS device,
                    r_time, r_source, r_pick, r_product
                FROM
                    (
                        SELECT
                            e,
                            pg_temp.draw(e, :seed, 701) AS r_type,
                            pg_temp.draw(e, :seed, 702) AS r_anonymous,
                            pg_temp.draw(e, :seed, 703) AS r_user,
                            pg_temp.draw(e, :seed, 704) AS r_time,
                            pg_temp.draw(e, :seed, 705) AS r_source,
                            pg_temp.draw(e, :seed, 706) AS r_pick,
                            pg_temp.draw(e, :seed, 707) AS r_product,
                            pg_temp.draw(e, :seed, 708) AS r_device
                        FROM generate_series(1, pg_temp.event_count(:scale)) AS e
                        OFFSET 0
                    ) AS drawn,
                    size
                OFFSET 0
            ) AS seen,
            size
        OFFSET 0
    ) AS located,
    size;
