-- shop: keys, foreign keys and the few indexes a team starts with, built over the loaded rows.
--
-- Deliberately missing, for the tuning exercises to find: indexes on order_items(order_id),
-- order_items(product_id), orders(user_id), orders(created_at), payments(order_id),
-- events(occurred_at), events(user_id), a trigram index on products(name), a GIN index on
-- products(attributes).

SET LOCAL maintenance_work_mem = '256MB';

ALTER TABLE tenants ADD CONSTRAINT tenants_pkey PRIMARY KEY (id);
ALTER TABLE users ADD CONSTRAINT users_pkey PRIMARY KEY (id);
ALTER TABLE products ADD CONSTRAINT products_pkey PRIMARY KEY (id);
ALTER TABLE orders ADD CONSTRAINT orders_pkey PRIMARY KEY (id);
ALTER TABLE order_items ADD CONSTRAINT order_items_pkey PRIMARY KEY (id);
ALTER TABLE payments ADD CONSTRAINT payments_pkey PRIMARY KEY (id);
ALTER TABLE events ADD CONSTRAINT events_pkey PRIMARY KEY (id);

ALTER TABLE tenants ADD CONSTRAINT tenants_slug_key UNIQUE (slug);
ALTER TABLE users ADD CONSTRAINT users_tenant_id_email_key UNIQUE (tenant_id, email);
ALTER TABLE products ADD CONSTRAINT products_tenant_id_sku_key UNIQUE (tenant_id, sku);
CREATE INDEX orders_tenant_id_idx ON orders (tenant_id);

ALTER TABLE users ADD CONSTRAINT users_tenant_id_fkey
    FOREIGN KEY (tenant_id) REFERENCES tenants (id);
ALTER TABLE products ADD CONSTRAINT products_tenant_id_fkey
    FOREIGN KEY (tenant_id) REFERENCES tenants (id);
ALTER TABLE orders ADD CONSTRAINT orders_tenant_id_fkey
    FOREIGN KEY (tenant_id) REFERENCES tenants (id);
ALTER TABLE orders ADD CONSTRAINT orders_user_id_fkey
    FOREIGN KEY (user_id) REFERENCES users (id);
ALTER TABLE order_items ADD CONSTRAINT order_items_order_id_fkey
    FOREIGN KEY (order_id) REFERENCES orders (id) ON DELETE CASCADE;
ALTER TABLE order_items ADD CONSTRAINT order_items_product_id_fkey
    FOREIGN KEY (product_id) REFERENCES products (id);
ALTER TABLE payments ADD CONSTRAINT payments_tenant_id_fkey
    FOREIGN KEY (tenant_id) REFERENCES tenants (id);
ALTER TABLE payments ADD CONSTRAINT payments_order_id_fkey
    FOREIGN KEY (order_id) REFERENCES orders (id);
ALTER TABLE events ADD CONSTRAINT events_tenant_id_fkey
    FOREIGN KEY (tenant_id) REFERENCES tenants (id);
ALTER TABLE events ADD CONSTRAINT events_user_id_fkey
    FOREIGN KEY (user_id) REFERENCES users (id);

-- The ids were set by the generator: new rows continue after them.
SELECT
    setval(pg_get_serial_sequence('tenants', 'id'), (SELECT max(id) FROM tenants)),
    setval(pg_get_serial_sequence('users', 'id'), (SELECT max(id) FROM users)),
    setval(pg_get_serial_sequence('products', 'id'), (SELECT max(id) FROM products)),
    setval(pg_get_serial_sequence('orders', 'id'), (SELECT max(id) FROM orders)),
    setval(pg_get_serial_sequence('order_items', 'id'), (SELECT max(id) FROM order_items)),
    setval(pg_get_serial_sequence('payments', 'id'), (SELECT max(id) FROM payments)),
    setval(pg_get_serial_sequence('events', 'id'), (SELECT max(id) FROM events));

ANALYZE tenants, users, products, orders, order_items, payments, events;
