-- Portable SQL: this one file runs on SQLite and PostgreSQL alike.
-- Ids are made by the app (TEXT); times are BIGINT unix milliseconds, UTC.

CREATE TABLE shops (
    id TEXT PRIMARY KEY,
    domain TEXT NOT NULL UNIQUE,
    -- installed | uninstalled
    status TEXT NOT NULL,
    -- a shop is "partially installed" until its settings have been saved once
    settings_saved BOOLEAN NOT NULL DEFAULT FALSE,
    scopes TEXT,
    access_token_enc TEXT,
    access_token_expires_at BIGINT,
    refresh_token_enc TEXT,
    refresh_token_expires_at BIGINT,
    -- one process at a time refreshes a shop's token: it holds this lease while it does
    token_refresh_lease_until BIGINT,
    -- secret path segment of the Exotel callback URLs; rotatable
    exotel_key TEXT NOT NULL UNIQUE,
    settings TEXT NOT NULL DEFAULT '{}',
    exotel_api_token_enc TEXT,
    exotel_status TEXT NOT NULL DEFAULT 'unchecked',
    installed_at BIGINT,
    uninstalled_at BIGINT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);

CREATE TABLE oauth_states (
    state_hash TEXT PRIMARY KEY,
    shop_domain TEXT NOT NULL,
    expires_at BIGINT NOT NULL
);

CREATE TABLE webhooks (
    id TEXT PRIMARY KEY,
    webhook_id TEXT NOT NULL UNIQUE,
    topic TEXT NOT NULL,
    shop_domain TEXT NOT NULL,
    api_version TEXT,
    triggered_at TEXT,
    -- emptied once processed: it holds customer data
    body TEXT NOT NULL,
    received_at BIGINT NOT NULL,
    processed_at BIGINT,
    outcome TEXT
);
CREATE INDEX webhooks_shop ON webhooks (shop_domain);

CREATE TABLE orders (
    id TEXT PRIMARY KEY,
    shop_id TEXT NOT NULL REFERENCES shops (id) ON DELETE CASCADE,
    shopify_order_id BIGINT NOT NULL,
    admin_graphql_id TEXT NOT NULL,
    name TEXT NOT NULL,
    order_number BIGINT,
    total_price TEXT NOT NULL,
    currency TEXT NOT NULL,
    gateways TEXT NOT NULL,
    is_cod BOOLEAN NOT NULL,
    customer_id BIGINT,
    customer_name TEXT,
    customer_email TEXT,
    phone TEXT,
    phone_source TEXT,
    -- pending | confirmed | cancelled | callback_requested | no_response | skipped
    status TEXT NOT NULL,
    status_reason TEXT,
    order_created_at TEXT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    resolved_at BIGINT,
    UNIQUE (shop_id, shopify_order_id)
);
CREATE INDEX orders_shop_status ON orders (shop_id, status, created_at);
CREATE INDEX orders_shop_phone ON orders (shop_id, phone);
CREATE INDEX orders_shop_customer ON orders (shop_id, customer_id);

CREATE TABLE order_events (
    id TEXT PRIMARY KEY,
    shop_id TEXT NOT NULL REFERENCES shops (id) ON DELETE CASCADE,
    order_id TEXT NOT NULL REFERENCES orders (id) ON DELETE CASCADE,
    kind TEXT NOT NULL,
    detail TEXT NOT NULL DEFAULT '',
    at BIGINT NOT NULL
);
CREATE INDEX order_events_order ON order_events (order_id, at);

-- Jobs waiting for a time on the app clock; see src/jobs.rs.
CREATE TABLE timers (
    id TEXT PRIMARY KEY,
    shop_id TEXT NOT NULL,
    order_id TEXT,
    job TEXT NOT NULL,
    due_at BIGINT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX timers_due ON timers (due_at);
CREATE INDEX timers_shop ON timers (shop_id, order_id);

CREATE TABLE data_requests (
    id TEXT PRIMARY KEY,
    shop_id TEXT NOT NULL REFERENCES shops (id) ON DELETE CASCADE,
    shopify_request_id BIGINT,
    customer_id BIGINT,
    customer_email TEXT,
    customer_phone TEXT,
    -- JSON: what this app holds about the customer, for the merchant to hand over
    report TEXT NOT NULL,
    received_at BIGINT NOT NULL
);
