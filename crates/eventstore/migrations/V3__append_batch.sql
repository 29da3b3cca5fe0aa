-- One batch of appends, already judged and hash-chained by the appender, written in ONE statement.
--
-- The head moves only from the position and hash the batch was chained onto. The appender may
-- chain a batch onto the head its own last batch will leave, before that batch has committed,
-- and send it without first locking the head: if anything else moved the head meanwhile (another
-- process appended, or the batch it was chained onto rolled back), this refuses the whole batch
-- with SQLSTATE CR001 and writes nothing, and the appender judges it again under the head lock.
-- Positions are derived here from the head, so they stay gapless whatever the caller sends.
CREATE FUNCTION append_batch(
    head_position    bigint,
    head_hash        bytea,
    next_hash        bytea,
    notify_channel   text,
    recorded         timestamptz,
    ids              uuid[],
    categories       text[],
    types            text[],
    streams          uuid[],
    versions         bigint[],
    event_types      text[],
    schemas          integer[],
    occurred         timestamptz[],
    actors           text[],
    correlations     uuid[],
    causations       uuid[],
    payloads         jsonb[],
    hashes           bytea[],
    keys             text[],
    key_fingerprints bytea[],
    key_results      jsonb[]
) RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
    last_position bigint := head_position + cardinality(ids);
BEGIN
    UPDATE log_head SET position = last_position, hash = next_hash
        WHERE position = head_position AND hash = head_hash;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'the log head is no longer at position %', head_position
            USING ERRCODE = 'CR001';
    END IF;

    INSERT INTO events (position, event_id, category, stream_type, stream_id, stream_version,
                        event_type, schema_version, occurred_at, recorded_at, actor,
                        correlation_id, causation_id, payload, hash)
    SELECT head_position + e.n, e.id, e.category, e.type, e.stream, e.version, e.event_type,
           e.schema, e.occurred, recorded, e.actor, e.correlation, e.causation, e.payload, e.hash
    FROM unnest(ids, categories, types, streams, versions, event_types, schemas, occurred,
                actors, correlations, causations, payloads, hashes)
         WITH ORDINALITY AS e(id, category, type, stream, version, event_type, schema, occurred,
                              actor, correlation, causation, payload, hash, n);

    IF cardinality(keys) > 0 THEN
        INSERT INTO idempotency_keys (key, request_hash, result, recorded_at)
        SELECT k.key, k.fingerprint, k.result, recorded
        FROM unnest(keys, key_fingerprints, key_results) AS k(key, fingerprint, result);
    END IF;

    PERFORM pg_notify(notify_channel, last_position::text);
    RETURN last_position;
END
$$;
