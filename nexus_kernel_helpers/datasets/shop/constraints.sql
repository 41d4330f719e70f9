-- shop: keys, foreign keys and the few indexes a team starts with, built over the loaded rows.
--
-- Deliberately missing, for the tuning exercises to find: indexes on order_items(order_id),
-- order_items(product_id), orders(user_id), orders(created_at), payments(order_id),
-- events(occurred_at), events(user_id), a trigram index on products(name), a GIN index on
-- products(attributes).
--
-- One statement per table wherever possible, so that the loader's sessions can share them out.

-- Index builds sort in memory (foreign key checks hash in generate.sql's work_mem), without
-- parallel workers: the loader's sessions already keep the cores busy (workers cost about a
-- second more at scale 1 on 2 cores).
SET maintenance_work_mem = '256MB';
SET max_parallel_maintenance_workers = 0;

-- Each table's primary key and statistics as soon as it is loaded, while other tables still
-- load; for the copied tables also the last visibility-map bits (their rows arrived frozen, but
-- COPY leaves a few pages unmarked).
ALTER TABLE events ADD CONSTRAINT events_pkey PRIMARY KEY (id);
ALTER TABLE orders ADD CONSTRAINT orders_pkey PRIMARY KEY (id);
ALTER TABLE payments ADD CONSTRAINT payments_pkey PRIMARY KEY (id);
ALTER TABLE order_items ADD CONSTRAINT order_items_pkey PRIMARY KEY (id);
ALTER TABLE users ADD CONSTRAINT users_pkey PRIMARY KEY (id);
ALTER TABLE products ADD CONSTRAINT products_pkey PRIMARY KEY (id);
ALTER TABLE tenants ADD CONSTRAINT tenants_pkey PRIMARY KEY (id);
VACUUM (ANALYZE) events;
VACUUM (ANALYZE) orders;
VACUUM (ANALYZE) payments;
VACUUM (ANALYZE) order_items;
ANALYZE users;
ANALYZE products;
ANALYZE tenants;

ALTER TABLE tenants ADD CONSTRAINT tenants_slug_key UNIQUE (slug);
ALTER TABLE products ADD CONSTRAINT products_tenant_id_sku_key UNIQUE (tenant_id, sku);
CREATE INDEX orders_tenant_id_idx ON orders (tenant_id);
ALTER TABLE users ADD CONSTRAINT users_tenant_id_email_key UNIQUE (tenant_id, email);

-- Foreign keys are declared NOT VALID (a moment's lock on both tables), then validated: a
-- validation locks the referenced table only against writes, so several run at once.
ALTER TABLE users ADD CONSTRAINT users_tenant_id_fkey
    FOREIGN KEY (tenant_id) REFERENCES tenants (id) NOT VALID;
ALTER TABLE products ADD CONSTRAINT products_tenant_id_fkey
    FOREIGN KEY (tenant_id) REFERENCES tenants (id) NOT VALID;
ALTER TABLE orders ADD CONSTRAINT orders_tenant_id_fkey
    FOREIGN KEY (tenant_id) REFERENCES tenants (id) NOT VALID;
ALTER TABLE orders ADD CONSTRAINT orders_user_id_fkey
    FOREIGN KEY (user_id) REFERENCES users (id) NOT VALID;
ALTER TABLE order_items ADD CONSTRAINT order_items_order_id_fkey
    FOREIGN KEY (order_id) REFERENCES orders (id) ON DELETE CASCADE NOT VALID;
ALTER TABLE order_items ADD CONSTRAINT order_items_product_id_fkey
    FOREIGN KEY (product_id) REFERENCES products (id) NOT VALID;
ALTER TABLE payments ADD CONSTRAINT payments_tenant_id_fkey
    FOREIGN KEY (tenant_id) REFERENCES tenants (id) NOT VALID;
ALTER TABLE payments ADD CONSTRAINT payments_order_id_fkey
    FOREIGN KEY (order_id) REFERENCES orders (id) NOT VALID;
ALTER TABLE events ADD CONSTRAINT events_tenant_id_fkey
    FOREIGN KEY (tenant_id) REFERENCES tenants (id) NOT VALID;
ALTER TABLE events ADD CONSTRAINT events_user_id_fkey
    FOREIGN KEY (user_id) REFERENCES users (id) NOT VALID;

ALTER TABLE order_items VALIDATE CONSTRAINT order_items_order_id_fkey;
ALTER TABLE events VALIDATE CONSTRAINT events_user_id_fkey;
ALTER TABLE payments VALIDATE CONSTRAINT payments_order_id_fkey;
ALTER TABLE order_items VALIDATE CONSTRAINT order_items_product_id_fkey;
ALTER TABLE orders VALIDATE CONSTRAINT orders_user_id_fkey;
ALTER TABLE events VALIDATE CONSTRAINT events_tenant_id_fkey;
ALTER TABLE orders VALIDATE CONSTRAINT orders_tenant_id_fkey;
ALTER TABLE payments VALIDATE CONSTRAINT payments_tenant_id_fkey;
ALTER TABLE users VALIDATE CONSTRAINT users_tenant_id_fkey;
ALTER TABLE products VALIDATE CONSTRAINT products_tenant_id_fkey;

-- The ids were set by the generator: new rows continue after them.
SELECT
    setval(pg_get_serial_sequence('tenants', 'id'), (SELECT max(id) FROM tenants)),
    setval(pg_get_serial_sequence('users', 'id'), (SELECT max(id) FROM users)),
    setval(pg_get_serial_sequence('products', 'id'), (SELECT max(id) FROM products)),
    setval(pg_get_serial_sequence('orders', 'id'), (SELECT max(id) FROM orders)),
    setval(pg_get_serial_sequence('order_items', 'id'), (SELECT max(id) FROM order_items)),
    setval(pg_get_serial_sequence('payments', 'id'), (SELECT max(id) FROM payments)),
    setval(pg_get_serial_sequence('events', 'id'), (SELECT max(id) FROM events));

-- Last, the tables filled by INSERT are frozen, once no other statement runs (a row committed
-- while an older statement still runs elsewhere cannot be frozen yet): the clones learners
-- query then find all-visible pages with nothing left to set or write back.
VACUUM (FREEZE) users;
VACUUM (FREEZE) products;
VACUUM (FREEZE) tenants;
