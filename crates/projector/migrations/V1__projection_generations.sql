-- The registry of read-model generations. Each generation of a projection lives in its own
-- schema <projection>_g<N> and is fed by its own durable consumer; its position advances in the
-- same transaction as its tables. Released migrations are never edited; add V<n>__*.sql instead.

CREATE TABLE projection_generations (
    projection       text        NOT NULL CHECK (projection ~ '^[a-z][a-z0-9_]*$'),
    generation       integer     NOT NULL CHECK (generation > 0),
    schema_name      text        NOT NULL UNIQUE,
    state            text        NOT NULL CHECK (state IN ('building', 'live', 'retired')),
    -- The last position applied to this generation's tables.
    position         bigint      NOT NULL DEFAULT 0 CHECK (position >= 0),
    -- The stream position up to which every event of the projection's feed has been applied
    -- (events of other feeds do not move `position`). Readers compare with the larger of the two.
    watermark        bigint      NOT NULL DEFAULT 0 CHECK (watermark >= 0),
    -- The event apply refused, and why; cleared once that event is applied.
    failed_position  bigint,
    failure          text,
    created_at       timestamptz NOT NULL DEFAULT now(),
    live_since       timestamptz,
    retired_at       timestamptz,
    PRIMARY KEY (projection, generation),
    CHECK ((failed_position IS NULL) = (failure IS NULL)),
    CHECK ((state = 'building') = (live_since IS NULL)),
    CHECK ((state = 'retired') = (retired_at IS NOT NULL))
);

-- At most one generation serves readers, and at most one is being built beside it.
CREATE UNIQUE INDEX projection_generations_one_live
    ON projection_generations (projection) WHERE state = 'live';
CREATE UNIQUE INDEX projection_generations_one_building
    ON projection_generations (projection) WHERE state = 'building';
