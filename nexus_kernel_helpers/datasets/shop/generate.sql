-- shop: rows generated on the server, parameterized only by :scale (0.001 to 10) and :seed.
--
-- Deterministic, and byte-identical on PostgreSQL 15 and later, because:
-- * each table's INSERT starts from its own setseed(), derived from :seed, so no table depends
--   on another's row count; random() is the same xoshiro generator since PostgreSQL 15;
-- * random() is only called in the select list of a subquery over generate_series (or a
--   nested loop over one), whose row order is fixed, never above a join, sort or hash; a
--   subquery with a volatile select list is never flattened, so each draw happens once;
-- * values come from integers, float multiplication and division, floor() and width_bucket()
--   (IEEE exact, the same on every build), never exp/ln/power (libm differs), now(), time
--   zones (timestamps are epoch seconds through to_timestamp), lower()/upper() (locale
--   dependent: translate() instead), collations or hash order;
-- * ids are set here, not drawn from sequences; constraints.sql moves the sequences past them.
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

-- For this load only (SET LOCAL ends with the caller's transaction): JIT compiles for longer
-- than it saves here, and 256MB keeps the orders' working set in memory up to scale 1.
SET LOCAL jit = off;
SET LOCAL work_mem = '256MB';
SET LOCAL max_parallel_workers_per_gather = 0;

-- tenants -----------------------------------------------------------------------------------

SELECT setseed(hashint8extended(:seed::bigint, 1) / 9223372036854775808.0);

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
    (ARRAY['USD', 'EUR', 'USD', 'GBP', 'EUR', 'CAD', 'USD', 'AUD'])[1 + (k - 1) % 8],
    (ARRAY['us', 'eu', 'us', 'uk', 'eu', 'ca', 'us', 'apac'])[1 + (k - 1) % 8],
    -- From 2019-01-01 to 2023-06-30, the big tenants first (products.created_at relies on it).
    to_timestamp(1546300800 + 141868800::bigint * (k - 1) / tenants + 32400)
FROM (
    SELECT
        k,
        tenants,
        (ARRAY[
            'Acme', 'Birch', 'Bright', 'Cedar', 'Copper', 'Delta', 'Evergreen', 'Fox', 'Golden',
            'Harbor', 'Iron', 'Juniper', 'Kite', 'Lumen', 'Maple', 'Nimbus', 'Oak', 'Pine',
            'Quartz', 'River', 'Summit', 'Tidal', 'Urban', 'Vivid', 'Willow', 'Zephyr'
        ])[1 + floor(random() * 26)::int] AS brand,
        (ARRAY[
            'Goods', 'Supply', 'Outfitters', 'Market', 'Labs', 'Trading', 'Home', 'Gear',
            'Studio', 'Collective', 'Works', 'Provisions'
        ])[1 + floor(random() * 12)::int] AS kind,
        random() AS r_plan
    FROM
        (SELECT greatest(3, round(50 * :scale::numeric))::int AS tenants) AS size,
        generate_series(1, size.tenants) AS k
) AS drawn;

-- products ----------------------------------------------------------------------------------

SELECT setseed(hashint8extended(:seed::bigint, 2) / 9223372036854775808.0);

INSERT INTO products (
    id, tenant_id, sku, name, description, category, price, attributes, is_active, created_at
)
WITH size AS (
    SELECT
        greatest(3, round(50 * :scale::numeric))::int AS tenants,
        greatest(20, round(20000 * :scale::numeric))::int AS products
),
blocks AS (
    SELECT
        array_agg(products::bigint * (cum - w) / total + 1 ORDER BY k) AS first_product,
        array_agg(products::bigint * cum / total - products::bigint * (cum - w) / total ORDER BY k)
            AS product_count
    FROM (
        SELECT k, products, w, sum(w) OVER (ORDER BY k) AS cum, sum(w) OVER () AS total
        FROM size, generate_series(1, size.tenants) AS k,
            LATERAL (SELECT 1000000 / (k + 2) AS w) AS zipf
    ) AS tenant
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
        ])[1 + floor(r_phrase * 8)::int]
    END,
    category,
    -- Mostly cheap, with a long tail of expensive ones; prices end in .99.
    ((199 + floor(9800 * r_price * r_price)::int
        + CASE WHEN r_premium < 0.08 AND category IN ('apparel', 'home', 'electronics', 'sports')
            THEN floor(150000 * r_price2 * r_price2)::int ELSE 0 END)
        / 100 * 100 + 99) * 0.01,
    -- Keys vary by category, as attributes do when each team adds its own.
    jsonb_strip_nulls(jsonb_build_object(
        'brand', brand,
        'color', CASE WHEN category NOT IN ('books', 'grocery') THEN color END,
        'size', CASE WHEN category = 'apparel'
            THEN (ARRAY['XS', 'S', 'M', 'M', 'L', 'L', 'XL', 'XXL'])[1 + floor(r_detail * 8)::int]
            END,
        'material', CASE WHEN category IN ('apparel', 'home') THEN material END,
        'weight_g', CASE WHEN category NOT IN ('apparel', 'books')
            THEN 50 + floor(5000 * r_detail * r_detail)::int END,
        'warranty_months', CASE WHEN category = 'electronics'
            THEN (ARRAY[6, 12, 12, 24, 24, 36])[1 + floor(r_detail * 6)::int] END,
        'wireless', CASE WHEN category = 'electronics'
            THEN qualifier = 'Wireless' OR r_flag < 0.4 END,
        'pages', CASE WHEN category = 'books' THEN 60 + floor(700 * r_detail)::int END,
        'format', CASE WHEN category = 'books' THEN
            (ARRAY['paperback', 'paperback', 'hardcover', 'ebook'])[1 + floor(r_flag * 4)::int] END,
        'organic', CASE WHEN category IN ('grocery', 'beauty') THEN r_flag < 0.35 END,
        'tags', CASE WHEN r_tags < 0.3 THEN ((ARRAY[
            '["new"]', '["sale"]', '["bestseller"]', '["eco", "new"]', '["gift", "sale"]',
            '["limited"]', '["bestseller", "gift"]'
        ])::jsonb[])[1 + floor(r_tag_set * 7)::int] END,
        -- Ratings lean high (3.0 to 5.0); unrated products have neither key.
        'rating', CASE WHEN r_rating < 0.85
            THEN round((50 - floor(21 * r_stars * r_stars)::int) / 10.0, 1) END,
        'reviews', CASE WHEN r_rating < 0.85
            THEN 1 + floor(2000 * r_reviews * r_reviews * r_reviews)::int END
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
        ])[category_index][1 + floor(r_noun * 8)::int] AS noun,
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
        ])[category_index][1 + floor(r_qualifier * 8)::int] AS qualifier,
        1546300800 + 141868800::bigint * (tenant_id - 1) / tenants + 32400 AS tenant_created,
        product_count[tenant_id] AS number_count
    FROM (
        SELECT
            tenant_id,
            p - first_product[tenant_id] + 1 AS number,
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
            END AS category_index,
            draws.*
        FROM
            (
                SELECT
                    p,
                    (ARRAY[
                        'Cotton', 'Linen', 'Wool', 'Leather', 'Bamboo', 'Oak', 'Walnut', 'Ceramic',
                        'Glass', 'Canvas', 'Denim', 'Cashmere'
                    ])[1 + floor(random() * 12)::int] AS material,
                    (ARRAY[
                        'Black', 'White', 'Navy', 'Olive', 'Sand', 'Charcoal', 'Red', 'Sky Blue',
                        'Forest Green', 'Mustard'
                    ])[1 + floor(random() * 10)::int] AS color,
                    (ARRAY[
                        'Northwind', 'Alder & Co', 'Kestrel', 'Mono', 'Trailhead', 'Lumo',
                        'Basecamp', 'Fable', 'Oakridge', 'Solstice', 'Pebble', 'Arcadia'
                    ])[1 + floor(random() * 12)::int] AS brand,
                    random() AS r_category, random() AS r_noun, random() AS r_qualifier,
                    random() AS r_variant, random() AS r_description, random() AS r_phrase,
                    random() AS r_price, random() AS r_premium, random() AS r_price2,
                    random() AS r_detail, random() AS r_flag, random() AS r_tags,
                    random() AS r_tag_set, random() AS r_rating, random() AS r_stars,
                    random() AS r_reviews, random() AS r_active, random() AS r_created
                FROM size, generate_series(1, size.products) AS p
            ) AS draws,
            blocks,
            LATERAL (SELECT width_bucket(p::bigint, first_product) AS tenant_id) AS owner
    ) AS drawn, size, blocks
) AS described;

-- orders, order_items, payments ---------------------------------------------------------------
-- One statement: the items decide an order's total and the payments copy it, so all three come
-- from one pass over the drawn orders (a second pass would need a join or an UPDATE).

SELECT setseed(hashint8extended(:seed::bigint, 3) / 9223372036854775808.0);

WITH size AS (
    SELECT
        counts.*,
        (SELECT m FROM generate_series(floor(users * 0.6180339887)::int,
            floor(users * 0.6180339887)::int + 100) AS m WHERE gcd(m, users) = 1
         ORDER BY m LIMIT 1) AS spread
    FROM (
        SELECT
            greatest(3, round(50 * :scale::numeric))::int AS tenants,
            greatest(100, round(100000 * :scale::numeric))::int AS users,
            greatest(20, round(20000 * :scale::numeric))::int AS products,
            round(1000000 * :scale::numeric)::int AS orders
    ) AS counts
),
blocks AS (
    SELECT
        array_agg(users::bigint * (cum - w) / total + 1 ORDER BY k) AS first_user,
        array_agg(products::bigint * (cum - w) / total + 1 ORDER BY k) AS first_product,
        array_agg(products::bigint * cum / total - products::bigint * (cum - w) / total ORDER BY k)
            AS product_count
    FROM (
        SELECT k, users, products, w, sum(w) OVER (ORDER BY k) AS cum, sum(w) OVER () AS total
        FROM size, generate_series(1, size.tenants) AS k,
            LATERAL (SELECT 1000000 / (k + 2) AS w) AS zipf
    ) AS tenant
),
calendar AS (
    SELECT
        array_agg(orders::bigint * (cum - w) / total + 1 ORDER BY d) AS first_order,
        array_agg(orders::bigint * cum / total - orders::bigint * (cum - w) / total ORDER BY d)
            AS day_orders,
        ARRAY[0, 15, 25, 32, 37, 42, 50, 65, 90, 125, 170, 220, 275, 335, 395, 450, 505, 560, 615,
              675, 745, 825, 905, 965]::float8[] AS hour_starts,
        ARRAY[15, 10, 7, 5, 5, 8, 15, 25, 35, 45, 50, 55, 60, 60, 55, 55, 55, 55, 60, 70, 80, 80,
              60, 35]::float8[] AS hour_widths
    FROM (
        SELECT d, orders, w, sum(w) OVER (ORDER BY d) AS cum, sum(w) OVER () AS total
        FROM size, generate_series(0, 730) AS d, LATERAL (
            -- Two years of growth, a holiday season, Black Friday and Cyber Monday, a quiet
            -- January, busier weekends.
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
),
catalog AS (
    SELECT array_agg((price * 100)::int ORDER BY id) AS price_cents FROM products
),
-- Each level below computes its columns once: OFFSET 0 keeps the planner from flattening
-- it into the next one, which would copy (and re-evaluate) its expressions at every use.
drawn AS MATERIALIZED (
    SELECT
        o, tenant_id, user_id, status, created_s,
        r_channel, r_discount, r_code, r_note, r_note_text,
        r_method, r_method_retry, r_reason, r_ref, r_pay_delay, r_refund_delay,
        (ARRAY['USD', 'EUR', 'USD', 'GBP', 'EUR', 'CAD', 'USD', 'AUD'])[1 + (tenant_id - 1) % 8]
            AS currency,
        total_cents,
        product_ids,
        quantities,
        unit_cents,
        shipped_s,
        delivered_s,
        -- Payments: a failed attempt sometimes comes first; pending orders have none that
        -- succeeded, cancelled ones were refunded half the time.
        payment_status,
        payment_failed_first,
        payment_failed_first::int + (payment_status IS NOT NULL)::int AS payments
    FROM
        (
            SELECT
                timed.*,
                CASE
                    WHEN age = 0 THEN CASE
                        WHEN r_status < 0.40 THEN 'pending' WHEN r_status < 0.85 THEN 'paid'
                        WHEN r_status < 0.95 THEN 'shipped' ELSE 'cancelled' END
                    WHEN age <= 2 THEN CASE
                        WHEN r_status < 0.08 THEN 'pending' WHEN r_status < 0.38 THEN 'paid'
                        WHEN r_status < 0.93 THEN 'shipped' WHEN r_status < 0.95 THEN 'delivered'
                        ELSE 'cancelled' END
                    WHEN age <= 9 THEN CASE
                        WHEN r_status < 0.02 THEN 'paid' WHEN r_status < 0.37 THEN 'shipped'
                        WHEN r_status < 0.94 THEN 'delivered' WHEN r_status < 0.99 THEN 'cancelled'
                        ELSE 'refunded' END
                    ELSE CASE
                        WHEN r_status < 0.003 THEN 'pending' WHEN r_status < 0.05 THEN 'cancelled'
                        WHEN r_status < 0.08 THEN 'refunded' ELSE 'delivered' END
                END AS status
            FROM (
                SELECT
                    located.*,
                    width_bucket(user_id, first_user) AS tenant_id,
                    731 - day AS age,
                    -- A day's orders are spread over its hours (busier in the evening), in id
                    -- order: hour_starts and hour_widths are per mille of a day's orders.
                    1704067200 + 86400 * (day - 1) + 3600 * (hour - 1)
                        + floor(3600 * (share - hour_starts[hour]) / hour_widths[hour])::int
                        AS created_s
                FROM
                    (
                        SELECT
                            draws.*,
                            day,
                            share,
                            width_bucket(share, hour_starts) AS hour,
                            -- By activity rank, spread over the users (see the top of the file).
                            floor(users * r_user / (33 - 32 * r_user))::bigint * spread % users + 1
                                AS user_id,
                            CASE
                                WHEN r_items < 0.32 THEN 1 WHEN r_items < 0.56 THEN 2
                                WHEN r_items < 0.71 THEN 3 WHEN r_items < 0.81 THEN 4
                                WHEN r_items < 0.88 THEN 5
                                ELSE least(10, 6 + floor((r_items - 0.88) * 41.67)::int)
                            END AS items
                        FROM
                            (
                                SELECT
                                    o,
                                    random() AS r_user, random() AS r_time, random() AS r_status,
                                    random() AS r_items, random() AS r_channel,
                                    random() AS r_discount, random() AS r_code, random() AS r_note,
                                    random() AS r_note_text, random() AS r_ship,
                                    random() AS r_deliver, random() AS r_pay_failed,
                                    random() AS r_pay_kept, random() AS r_method,
                                    random() AS r_method_retry, random() AS r_reason,
                                    random() AS r_ref, random() AS r_pay_delay,
                                    random() AS r_refund_delay
                                FROM size, generate_series(1, size.orders) AS o
                            ) AS draws,
                            size,
                            calendar,
                            LATERAL (SELECT width_bucket(o::bigint, first_order) AS day) AS on_day,
                            LATERAL (SELECT 1000 * (o - first_order[day] + r_time) / day_orders[day]
                                AS share) AS in_day
                        OFFSET 0
                    ) AS located,
                    blocks,
                    calendar
                OFFSET 0
            ) AS timed
            OFFSET 0
        ) AS placed,
        blocks,
        catalog,
        LATERAL (
            -- The items: popular products (low numbers in the tenant's range) sell most.
            SELECT
                sum(quantity * unit_cent)::bigint AS total_cents,
                array_agg(product_id) AS product_ids,
                array_agg(quantity) AS quantities,
                array_agg(unit_cent) AS unit_cents
            FROM (
                SELECT
                    product_id,
                    CASE WHEN r_quantity < 0.78 THEN 1 WHEN r_quantity < 0.92 THEN 2
                         WHEN r_quantity < 0.97 THEN 3
                         ELSE least(10, 4 + floor((r_quantity - 0.97) * 233.4)::int)
                    END AS quantity,
                    price_cents[product_id] * CASE WHEN r_discount_line < 0.82 THEN 100
                        WHEN r_discount_line < 0.94 THEN 90 WHEN r_discount_line < 0.99 THEN 75
                        ELSE 50 END / 100 AS unit_cent
                FROM (
                    SELECT
                        first_product[tenant_id] + floor(product_count[tenant_id]
                            * r_product * r_product * r_product)::bigint AS product_id,
                        r_quantity,
                        r_discount_line
                    FROM (
                        SELECT
                            random() AS r_product, random() AS r_quantity,
                            random() AS r_discount_line
                        FROM generate_series(1, items)
                    ) AS line_draws
                    OFFSET 0
                ) AS line
            ) AS priced
        ) AS basket,
        LATERAL (SELECT
            CASE
                WHEN status = 'pending' THEN NULL
                WHEN status = 'cancelled' THEN CASE WHEN r_pay_kept < 0.5 THEN 'refunded' END
                WHEN status = 'refunded' THEN 'refunded'
                ELSE 'succeeded'
            END AS payment_status,
            r_pay_failed < CASE WHEN status = 'pending' THEN 0.15 ELSE 0.04 END
                AS payment_failed_first) AS payment,
        -- Shipped 2 to 72 hours after the order, delivered 1 to 7 days later, never after the
        -- anchor.
        LATERAL (SELECT CASE WHEN status IN ('shipped', 'delivered', 'refunded')
            THEN least(created_s + 7200 + floor(252000 * r_ship)::int, 1767225599) END
            AS shipped_s) AS shipping,
        LATERAL (SELECT CASE WHEN status IN ('delivered', 'refunded')
            THEN least(shipped_s + 86400 + floor(518400 * r_deliver)::int, 1767225599) END
            AS delivered_s) AS delivery
),
order_rows AS (
    INSERT INTO orders (
        id, tenant_id, user_id, status, channel, currency, total_amount, discount_code, note,
        created_at, shipped_at, delivered_at
    )
    SELECT
        o,
        tenant_id,
        user_id,
        status,
        CASE WHEN r_channel < 0.58 THEN 'web' WHEN r_channel < 0.92 THEN 'mobile_app'
             WHEN r_channel < 0.98 THEN 'marketplace' ELSE 'phone' END,
        currency,
        total_cents * 0.01,
        CASE WHEN r_discount < 0.12 THEN (ARRAY['WELCOME10', 'SPRING15', 'SUMMER20',
            'BLACKFRIDAY', 'VIP20', 'FREESHIP'])[1 + floor(r_code * 6)::int] END,
        CASE WHEN r_note < 0.04 THEN (ARRAY['Leave at the front door', 'Please gift wrap',
            'Call on arrival', 'Deliver after 5pm', 'No plastic packaging please',
            'This is a gift: no invoice in the box'])[1 + floor(r_note_text * 6)::int] END,
        to_timestamp(created_s),
        to_timestamp(shipped_s),
        to_timestamp(delivered_s)
    FROM drawn
),
item_rows AS (
    INSERT INTO order_items (id, order_id, product_id, quantity, unit_price)
    -- row_number() over no ORDER BY numbers the rows as they come: in order.
    SELECT row_number() OVER (), o, product_id, quantity, unit_cent * 0.01
    FROM (
        SELECT o, unnest(product_ids) AS product_id, unnest(quantities) AS quantity,
            unnest(unit_cents) AS unit_cent
        FROM drawn
    ) AS item
)
INSERT INTO payments (
    id, tenant_id, order_id, method, status, amount, currency, provider_ref, failure_reason,
    created_at, refunded_at
)
SELECT
    row_number() OVER (),
    tenant_id,
    o,
    CASE WHEN attempt = 1 THEN method ELSE retry_method END,
    CASE WHEN attempt = 1 AND payment_failed_first THEN 'failed' ELSE payment_status END,
    total_cents * 0.01,
    currency,
    provider_ref || attempt,
    CASE WHEN attempt = 1 AND payment_failed_first THEN failure_reason END,
    to_timestamp(created_s + 30 * attempt + pay_delay),
    CASE WHEN attempt = payments AND payment_status = 'refunded' THEN to_timestamp(refunded_s) END
FROM (
    SELECT
        tenant_id, o, total_cents, currency, payment_status, payment_failed_first, payments,
        created_s,
        generate_series(1, payments) AS attempt,
        CASE WHEN r_method < 0.68 THEN 'card' WHEN r_method < 0.83 THEN 'paypal'
            WHEN r_method < 0.93 THEN 'apple_pay' WHEN r_method < 0.98 THEN 'bank_transfer'
            ELSE 'gift_card' END AS method,
        CASE WHEN r_method_retry < 0.6 THEN 'card' ELSE 'paypal' END AS retry_method,
        'pay_' || lpad(to_hex(floor(4503599627370496 * r_ref)::bigint), 13, '0') || '_'
            AS provider_ref,
        (ARRAY['card_declined', 'card_declined', 'insufficient_funds', 'expired_card',
            'authentication_failed'])[1 + floor(r_reason * 5)::int] AS failure_reason,
        floor(600 * r_pay_delay)::int AS pay_delay,
        -- Refunds come after delivery (returns) or soon after a cancellation.
        least(CASE WHEN status = 'refunded'
                THEN delivered_s + 86400 + floor(20 * 86400 * r_refund_delay)::int
                ELSE created_s + 3600 + floor(2 * 86400 * r_refund_delay)::int END,
            1767225599) AS refunded_s
    FROM drawn
    WHERE payments > 0
) AS attempts;

-- users -------------------------------------------------------------------------------------
-- After the orders: a customer signed up before their first order and logged in after their
-- last one.

SELECT setseed(hashint8extended(:seed::bigint, 4) / 9223372036854775808.0);

INSERT INTO users (
    id, tenant_id, email, full_name, phone, country, marketing_opt_in, is_active, created_at,
    last_login_at
)
WITH size AS (
    SELECT
        greatest(3, round(50 * :scale::numeric))::int AS tenants,
        greatest(100, round(100000 * :scale::numeric))::int AS users
),
blocks AS (
    SELECT array_agg(users::bigint * (cum - w) / total + 1 ORDER BY k) AS first_user
    FROM (
        SELECT k, users, w, sum(w) OVER (ORDER BY k) AS cum, sum(w) OVER () AS total
        FROM size, generate_series(1, size.tenants) AS k,
            LATERAL (SELECT 1000000 / (k + 2) AS w) AS zipf
    ) AS tenant
),
activity AS (
    SELECT
        user_id,
        extract(epoch FROM min(created_at))::bigint AS first_order_s,
        extract(epoch FROM max(created_at))::bigint AS last_order_s
    FROM orders
    GROUP BY user_id
),
drawn AS MATERIALIZED (
    SELECT draws.*, width_bucket(u::bigint, first_user) AS tenant_id
    FROM
        (
            SELECT
                u,
                1 + floor(random() * 40)::int AS first_index,
                1 + floor(random() * 40)::int AS last_index,
                (ARRAY['example.com', 'example.com', 'example.org', 'example.net',
                    'mail.example', 'inbox.test'])[1 + floor(random() * 6)::int] AS domain,
                random() AS r_phone, random() AS r_phone_number, random() AS r_country,
                random() AS r_opt_in, random() AS r_active, random() AS r_signup,
                random() AS r_login, random() AS r_never
            FROM size, generate_series(1, size.users) AS u
        ) AS draws,
        blocks
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
        country,
        CASE country WHEN 'US' THEN '1' WHEN 'CA' THEN '1' WHEN 'MX' THEN '52' WHEN 'GB' THEN '44'
            WHEN 'IE' THEN '353' WHEN 'DE' THEN '49' WHEN 'FR' THEN '33' WHEN 'NL' THEN '31'
            WHEN 'ES' THEN '34' WHEN 'IT' THEN '39' WHEN 'BE' THEN '32' WHEN 'AT' THEN '43'
            WHEN 'AU' THEN '61' WHEN 'NZ' THEN '64' WHEN 'SG' THEN '65' ELSE '81' END
            AS calling_code
    FROM
        drawn
        LEFT JOIN activity ON activity.user_id = drawn.u,
        size,
        LATERAL (SELECT 1546300800 + 141868800::bigint * (tenant_id - 1) / tenants + 32400
            AS tenant_created) AS tenant,
        -- Customers live where their shop sells (the tenant's region, as in tenants).
        LATERAL (SELECT CASE (ARRAY['us', 'eu', 'us', 'uk', 'eu', 'ca', 'us', 'apac'])
                [1 + (tenant_id - 1) % 8]
            WHEN 'us' THEN CASE WHEN r_country < 0.92 THEN 'US' WHEN r_country < 0.96 THEN 'CA'
                WHEN r_country < 0.98 THEN 'MX' ELSE 'GB' END
            WHEN 'eu' THEN CASE WHEN r_country < 0.35 THEN 'DE' WHEN r_country < 0.60 THEN 'FR'
                WHEN r_country < 0.72 THEN 'NL' WHEN r_country < 0.82 THEN 'ES'
                WHEN r_country < 0.92 THEN 'IT' WHEN r_country < 0.97 THEN 'BE' ELSE 'AT' END
            WHEN 'uk' THEN CASE WHEN r_country < 0.88 THEN 'GB' WHEN r_country < 0.96 THEN 'IE'
                ELSE 'US' END
            WHEN 'ca' THEN CASE WHEN r_country < 0.85 THEN 'CA' ELSE 'US' END
            ELSE CASE WHEN r_country < 0.70 THEN 'AU' WHEN r_country < 0.85 THEN 'NZ'
                WHEN r_country < 0.95 THEN 'SG' ELSE 'JP' END
        END AS country) AS home
) AS described;

-- events ------------------------------------------------------------------------------------
-- One year of an append-only activity log, numbered in time order. The busiest customers are
-- the busiest browsers (the same ranks as the orders); a third of the page views, product
-- views and searches come from visitors who are not logged in.

SELECT setseed(hashint8extended(:seed::bigint, 5) / 9223372036854775808.0);

INSERT INTO events (id, tenant_id, user_id, event_type, occurred_at, payload)
WITH size AS (
    SELECT
        counts.*,
        (SELECT m FROM generate_series(floor(users * 0.6180339887)::int,
            floor(users * 0.6180339887)::int + 100) AS m WHERE gcd(m, users) = 1
         ORDER BY m LIMIT 1) AS spread
    FROM (
        SELECT
            greatest(3, round(50 * :scale::numeric))::int AS tenants,
            greatest(100, round(100000 * :scale::numeric))::int AS users,
            greatest(20, round(20000 * :scale::numeric))::int AS products,
            round(2000000 * :scale::numeric)::int AS events
    ) AS counts
),
blocks AS (
    SELECT
        array_agg(users::bigint * (cum - w) / total + 1 ORDER BY k) AS first_user,
        array_agg(products::bigint * (cum - w) / total + 1 ORDER BY k) AS first_product,
        array_agg(products::bigint * cum / total - products::bigint * (cum - w) / total ORDER BY k)
            AS product_count
    FROM (
        SELECT k, users, products, w, sum(w) OVER (ORDER BY k) AS cum, sum(w) OVER () AS total
        FROM size, generate_series(1, size.tenants) AS k,
            LATERAL (SELECT 1000000 / (k + 2) AS w) AS zipf
    ) AS tenant
),
calendar AS (
    SELECT
        array_agg(events::bigint * (cum - w) / total + 1 ORDER BY d) AS first_event,
        array_agg(events::bigint * cum / total - events::bigint * (cum - w) / total ORDER BY d)
            AS day_events,
        ARRAY[0, 15, 25, 32, 37, 42, 50, 65, 90, 125, 170, 220, 275, 335, 395, 450, 505, 560, 615,
              675, 745, 825, 905, 965]::float8[] AS hour_starts,
        ARRAY[15, 10, 7, 5, 5, 8, 15, 25, 35, 45, 50, 55, 60, 60, 55, 55, 55, 55, 60, 70, 80, 80,
              60, 35]::float8[] AS hour_widths
    FROM (
        SELECT d, events, w, sum(w) OVER (ORDER BY d) AS cum, sum(w) OVER () AS total
        FROM size, generate_series(366, 730) AS d, LATERAL (
            -- The orders' calendar (growth, holidays, weekends), from 2025-01-01.
            SELECT (1000 + 2 * d) * CASE
                WHEN day IN ('2025-11-28', '2025-12-01') THEN 35
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
)
SELECT
    e,
    tenant_id,
    CASE WHEN NOT anonymous THEN user_id END,
    event_type,
    to_timestamp(1704067200 + 86400 * (365 + day) + 3600 * (hour - 1)
        + floor(3600 * (share - hour_starts[hour]) / hour_widths[hour])::int),
    -- JSON text parsed once is cheaper than jsonb_build_object; every value is a known word.
    (CASE event_type
        WHEN 'page_view' THEN '{"path": "' || path || '", "device": "' || device || '"'
            || CASE WHEN r_source < 0.45 THEN '' ELSE ', "referrer": "'
                || (ARRAY['google', 'google', 'instagram', 'newsletter', 'tiktok', 'bing'])
                    [1 + floor(r_pick * 6)::int] || '"' END
        WHEN 'product_view' THEN '{"product_id": ' || product_id || ', "device": "' || device
            || '", "source": "' || (ARRAY['search', 'category', 'category', 'recommendation',
                'email', 'ad'])[1 + floor(r_source * 6)::int] || '"'
        WHEN 'add_to_cart' THEN '{"product_id": ' || product_id || ', "quantity": '
            || CASE WHEN r_source < 0.85 THEN 1 ELSE 2 + floor(r_pick * 3)::int END
        WHEN 'search' THEN '{"query": "' || (ARRAY['gift', 'black', 'sale', 'wireless', 'organic',
            'kids', 'cotton', 'coffee', 'yoga', 'lamp', 'new', 'jacket'])
                [1 + floor(r_pick * 12)::int]
            || '", "results": ' || floor(200 * r_source * r_source)::int
        WHEN 'login' THEN '{"method": "' || CASE WHEN r_source < 0.7 THEN 'password'
            WHEN r_source < 0.9 THEN 'google' ELSE 'magic_link' END || '", "device": "' || device
            || '"'
        WHEN 'logout' THEN '{"device": "' || device || '"'
        ELSE '{"cart_items": ' || 1 + floor(5 * r_pick * r_pick)::int || ', "device": "' || device
            || '"'
    END || '}')::jsonb
FROM
    (
        SELECT
            located.*,
            width_bucket(share, hour_starts) AS hour,
            width_bucket(CASE WHEN anonymous THEN visitor_slot ELSE user_id END, first_user)
                AS tenant_id
        FROM
            (
                SELECT
                    draws.*,
                    day,
                    1000 * (e - first_event[day] + r_time) / day_events[day] AS share,
                    CASE
                        WHEN r_type < 0.42 THEN 'page_view' WHEN r_type < 0.66 THEN 'product_view'
                        WHEN r_type < 0.75 THEN 'search' WHEN r_type < 0.84 THEN 'add_to_cart'
                        WHEN r_type < 0.90 THEN 'login' WHEN r_type < 0.95 THEN 'checkout_started'
                        WHEN r_type < 0.98 THEN 'order_placed' ELSE 'logout'
                    END AS event_type,
                    r_type < 0.75 AND r_anonymous < 0.35 AS anonymous,
                    floor(users * r_user / (33 - 32 * r_user))::bigint * spread % users + 1
                        AS user_id,
                    1 + floor(users * r_user)::bigint AS visitor_slot,
                    (ARRAY['desktop', 'desktop', 'mobile', 'mobile', 'mobile', 'tablet'])
                        [1 + floor(r_device * 6)::int] AS device,
                    (ARRAY['/', '/', '/products', '/cart', '/account', '/search', '/deals', '/help',
                        '/orders', '/wishlist'])[1 + floor(r_pick * 10)::int] AS path
                FROM
                    (
                        SELECT
                            e,
                            random() AS r_type, random() AS r_anonymous, random() AS r_user,
                            random() AS r_time, random() AS r_source, random() AS r_pick,
                            random() AS r_product, random() AS r_device
                        FROM size, generate_series(1, size.events) AS e
                    ) AS draws,
                    size,
                    calendar,
                    LATERAL (SELECT width_bucket(e::bigint, first_event) AS day) AS on_day
                OFFSET 0
            ) AS located,
            blocks,
            calendar
        OFFSET 0
    ) AS seen,
    calendar,
    blocks,
    LATERAL (SELECT first_product[tenant_id]
        + floor(product_count[tenant_id] * r_product * r_product * r_product)::bigint AS product_id)
        AS viewed;
