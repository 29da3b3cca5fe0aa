-- The event store: one append-only, hash-chained log of domain events and record accesses.
-- Released migrations are never edited; add a new V<n>__*.sql instead.

CREATE TABLE events (
    position        bigint      PRIMARY KEY CHECK (position > 0),
    event_id        uuid        NOT NULL UNIQUE,
    category        text        NOT NULL CHECK (category IN ('events', 'access')),
    stream_type     text        NOT NULL,
    stream_id       uuid        NOT NULL,
    stream_version  bigint      CHECK (stream_version > 0),
    event_type      text        NOT NULL,
    schema_version  integer     NOT NULL CHECK (schema_version > 0),
    occurred_at     timestamptz NOT NULL,
    recorded_at     timestamptz NOT NULL,
    actor           text        NOT NULL,
    correlation_id  uuid,
    causation_id    uuid,
    payload         jsonb       NOT NULL,
    hash            bytea       NOT NULL CHECK (length(hash) = 32),
    CHECK ((category = 'events') = (stream_version IS NOT NULL))
);

-- Loading an aggregate, and the per-stream version check, are index scans on this.
CREATE UNIQUE INDEX events_stream_version ON events (stream_type, stream_id, stream_version)
    WHERE category = 'events';
CREATE INDEX events_access_record ON events (stream_type, stream_id, position)
    WHERE category = 'access';

-- The single row every append transaction locks: it hands out the next position (returned on
-- rollback, so positions are gapless) and holds the hash the next event chains to.
CREATE TABLE log_head (
    singleton boolean     PRIMARY KEY DEFAULT true CHECK (singleton),
    position  bigint      NOT NULL,
    hash      bytea       NOT NULL CHECK (length(hash) = 32)
);
INSERT INTO log_head (position, hash) VALUES (0, decode(repeat('00', 32), 'hex'));

CREATE TABLE idempotency_keys (
    key           text        PRIMARY KEY,
    request_hash  bytea       NOT NULL,
    result        jsonb       NOT NULL,
    recorded_at   timestamptz NOT NULL
);

-- Ed25519 public keys that signed checkpoints, and the signed checkpoints themselves.
CREATE TABLE signing_keys (
    key_id      text        PRIMARY KEY,
    public_key  bytea       NOT NULL CHECK (length(public_key) = 32),
    created_at  timestamptz NOT NULL
);

CREATE TABLE checkpoints (
    position    bigint      PRIMARY KEY,
    hash        bytea       NOT NULL CHECK (length(hash) = 32),
    signed_at   timestamptz NOT NULL,
    key_id      text        NOT NULL REFERENCES signing_keys (key_id),
    signature   bytea       NOT NULL CHECK (length(signature) = 64)
);

-- Append-only, enforced by the database. ENABLE ALWAYS: the triggers fire even with
-- session_replication_role = replica, which would skip ordinary triggers.
CREATE FUNCTION refuse_change_to_append_only_table() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% on % refused: the table is append-only', TG_OP, TG_TABLE_NAME
        USING ERRCODE = 'insufficient_privilege';
END
$$;

DO $$
DECLARE
    name text;
BEGIN
    FOREACH name IN ARRAY ARRAY['events', 'checkpoints', 'signing_keys', 'idempotency_keys'] LOOP
        EXECUTE format('CREATE TRIGGER %I BEFORE UPDATE OR DELETE ON %I
                        FOR EACH STATEMENT EXECUTE FUNCTION refuse_change_to_append_only_table()',
                       name || '_append_only', name);
        EXECUTE format('CREATE TRIGGER %I BEFORE TRUNCATE ON %I
                        FOR EACH STATEMENT EXECUTE FUNCTION refuse_change_to_append_only_table()',
                       name || '_no_truncate', name);
        EXECUTE format('ALTER TABLE %I ENABLE ALWAYS TRIGGER %I', name, name || '_append_only');
        EXECUTE format('ALTER TABLE %I ENABLE ALWAYS TRIGGER %I', name, name || '_no_truncate');
    END LOOP;
END
$$;

-- The application's role: it may read and append, never change or remove. Roles are shared by
-- every database of the cluster, so creating it tolerates another database having done so.
DO $$
BEGIN
    CREATE ROLE crm_app NOLOGIN;
EXCEPTION
    WHEN duplicate_object OR unique_violation THEN NULL;
END
$$;

DO $$
BEGIN
    EXECUTE format('GRANT crm_app TO %I', current_user);
EXCEPTION
    -- Superusers need no membership; a plain owner without CREATEROLE must be granted it by an admin.
    WHEN OTHERS THEN RAISE NOTICE 'could not grant crm_app to %: %', current_user, SQLERRM;
END
$$;

GRANT USAGE ON SCHEMA public TO crm_app;
GRANT SELECT, INSERT ON events, idempotency_keys, signing_keys, checkpoints TO crm_app;
GRANT SELECT, UPDATE ON log_head TO crm_app;
