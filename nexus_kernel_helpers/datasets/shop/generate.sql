-- shop: the rows, parameterized only by :scale (0.001 to 10) and :seed. The small tables
-- (tenants, products, users) are computed here on the server; the four big ones come from
-- rows.py in the loader through COPY ... FROM STDIN (see its top).
--
-- The loader runs these statements in several sessions at once (see _generate.py): a
-- statement waits only for the earlier ones that write the tables it reads (users reads
-- orders; the COPY feeds read the product prices). The rows are byte-identical on PostgreSQL
-- 15 and later, whichever session runs what, because:
-- * every random choice is a draw, pg_temp.draw(row, :seed, stream) here and draw() in
--   rows.py: a seeded hash of the row's number (here hashint8extended, which hash partitioning
--   relies on, so it gives the same bits on every platform and release). No random(), no
--   setseed(): a value depends on its row and stream only, never on what ran before it;
-- * values come from integers, float multiplication and division, floor() and width_bucket()
--   (IEEE exact, the same on every build), never exp/ln/power (libm differs), now(), time
--   zones (timestamps are epoch seconds through to_timestamp), lower()/upper() (locale
--   dependent: translate() instead), collations or hash order;
-- * ids are set here, not drawn from sequences (constraints.sql moves the sequences past
--   them), and each table is filled by one statement, so its rows lie in id order.
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
-- loader runs statements in parallel itself; and VACUUM marks a page all-visible only once the
-- commit of its rows is flushed, which an asynchronous commit (the embedded server's default)
-- may not be yet.

SET jit = off;
SET work_mem = '256MB';
SET max_parallel_workers_per_gather = 0;
SET synchronous_commit = on;

-- The vocabulary of the statements below: temporary functions, gone with the session. The
-- planner inlines the one-expression ones and folds calls on constants (the sizes, the
-- tenants' ranges) into constants, so none is called per row. rows.py computes the same sizes
-- and ranges.

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

-- events, orders, payments, order_items ------------------------------------------------------
-- 97 % of the rows: computed by rows.py in the loader (see its top) and copied in binary,
-- frozen as they arrive. They recompute what they need from one another (an order's total is
-- the sum of its lines; a payment copies its order's), so all four load at once; only the
-- product prices are read back from the table above. In this order two sessions finish them
-- together: events in one; orders, payments, then order_items in the other.

COPY events (id, tenant_id, user_id, event_type, occurred_at, payload)
FROM STDIN (FORMAT binary, FREEZE);

COPY orders (
    id, tenant_id, user_id, status, channel, currency, total_amount, discount_code, note,
    created_at, shipped_at, delivered_at
) FROM STDIN (FORMAT binary, FREEZE);

COPY payments (
    id, tenant_id, order_id, method, status, amount, currency, provider_ref, failure_reason,
    created_at, refunded_at
) FROM STDIN (FORMAT binary, FREEZE);

COPY order_items (id, order_id, product_id, quantity, unit_price)
FROM STDIN (FORMAT binary, FREEZE);

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
