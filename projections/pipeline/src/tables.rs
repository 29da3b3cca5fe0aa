//! The tables of one generation, with the indexes the reports read through: the per-stage
//! report sums the summary rows of `open_totals` ([`crate::totals`]), takes each stage's
//! oldest deal from the front of an index and counts the deals of the stalled cutoff's own day
//! through another; the forecast and the win figures scan by date.
//!
//! Every logged activity rewrites its deal's row. No index covers the time of the deal's last
//! activity, only its day, and a fifth of each page is left free, so most of those rewrites are
//! in place (HOT) and touch no index.

use crate::sql::qualified;

/// The DDL of every table of the generation in `schema`.
pub(crate) fn create_tables(schema: &str) -> String {
    let pipelines = qualified(schema, "pipelines");
    let deals = qualified(schema, "deals");
    let stays = qualified(schema, "stage_stays");
    let leads = qualified(schema, "leads");
    let activities = qualified(schema, "activities");
    let totals = qualified(schema, "open_totals");
    format!(
        "CREATE TABLE {pipelines} (
    id          uuid        PRIMARY KEY,
    version     bigint      NOT NULL CHECK (version > 0),
    position    bigint      NOT NULL CHECK (position > 0),
    -- The domain's pipeline (name, stages in order with key, name and probability).
    body        jsonb       NOT NULL
);
CREATE TABLE {deals} (
    id                  uuid        PRIMARY KEY,
    version             bigint      NOT NULL CHECK (version > 0),
    position            bigint      NOT NULL CHECK (position > 0),
    pipeline_id         uuid        NOT NULL,
    stage               text        NOT NULL,
    -- The probability of its stage when it entered it, in percent.
    probability         smallint    NOT NULL CHECK (probability BETWEEN 0 AND 100),
    amount_minor        bigint      NOT NULL,
    currency            text        NOT NULL,
    expected_close_on   date,
    owner_id            uuid        NOT NULL,
    team                text,
    status              text        NOT NULL CHECK (status IN ('open', 'won', 'lost')),
    opened_at           timestamptz NOT NULL,
    stage_entered_at    timestamptz NOT NULL,
    closed_at           timestamptz,
    -- Its owner and their team when it closed (a win is credited to them).
    closed_by           uuid,
    closed_by_team      text,
    last_activity_at    timestamptz,
    -- How many stays in a stage it has had; the last is current while it is open.
    stays               integer     NOT NULL CHECK (stays > 0),
    -- The day (UTC) it was last touched: the stalled count looks deals up by it, so that an
    -- activity on a day the deal was already touched changes no indexed column.
    touched_on          date        NOT NULL GENERATED ALWAYS AS
        ((coalesce(last_activity_at, opened_at) AT TIME ZONE 'UTC')::date) STORED
) WITH (fillfactor = 80);
CREATE TABLE {stays} (
    deal_id     uuid        NOT NULL,
    -- The stay's number among the deal's stays, from 1.
    seq         integer     NOT NULL CHECK (seq > 0),
    pipeline_id uuid        NOT NULL,
    stage       text        NOT NULL,
    entered_at  timestamptz NOT NULL,
    left_at     timestamptz,
    -- The stage it moved on to, or how it closed ('won', 'lost').
    left_to     text,
    closed_as   text        CHECK (closed_as IN ('won', 'lost')),
    PRIMARY KEY (deal_id, seq)
);
CREATE TABLE {leads} (
    id              uuid        PRIMARY KEY,
    version         bigint      NOT NULL CHECK (version > 0),
    position        bigint      NOT NULL CHECK (position > 0),
    source          text        NOT NULL,
    campaign_id     uuid,
    owner_id        uuid,
    team            text,
    captured_at     timestamptz NOT NULL,
    qualified_at    timestamptz,
    disqualified_at timestamptz,
    converted_at    timestamptz,
    contact_id      uuid,
    deal_id         uuid
);
-- The open deals summed per group (crate::totals): the pipeline report reads these rows.
CREATE TABLE {totals} (
    pipeline_id             uuid    NOT NULL,
    stage                   text    NOT NULL,
    currency                text    NOT NULL,
    owner_id                uuid    NOT NULL,
    -- The deals' team, '' for none.
    team                    text    NOT NULL,
    -- The day (UTC) the deals were last touched: their last activity, else their opening.
    touched_on              date    NOT NULL,
    deals                   bigint  NOT NULL CHECK (deals > 0),
    total_minor             bigint  NOT NULL,
    -- Each amount times its probability in percent, added up.
    weighted_percent_minor  bigint  NOT NULL,
    -- When each deal entered its stage, in milliseconds since the Unix epoch, added up.
    entered_ms              bigint  NOT NULL,
    PRIMARY KEY (pipeline_id, stage, currency, owner_id, team, touched_on)
);
-- Scheduled activities on a deal, so that their completion finds the deal.
CREATE TABLE {activities} (
    id      uuid    PRIMARY KEY,
    deal_id uuid    NOT NULL
);
"
    )
}

/// The indexes the reports read through, made once the generation has caught up.
pub(crate) fn create_indexes(schema: &str) -> String {
    let deals = qualified(schema, "deals");
    let stays = qualified(schema, "stage_stays");
    let leads = qualified(schema, "leads");
    format!(
        "CREATE INDEX deals_open_by_stage ON {deals} (pipeline_id, stage, currency, stage_entered_at)
    INCLUDE (owner_id, team) WHERE status = 'open';
CREATE INDEX deals_open_by_touch ON {deals} (pipeline_id, touched_on)
    INCLUDE (stage, currency, owner_id, team) WHERE status = 'open';
CREATE INDEX deals_open_by_close ON {deals} (pipeline_id, expected_close_on)
    WHERE status = 'open';
CREATE INDEX deals_closed_by_pipeline ON {deals} (pipeline_id, closed_at)
    WHERE status <> 'open';
CREATE INDEX deals_won_by_time ON {deals} (closed_at) WHERE status = 'won';
CREATE INDEX stage_stays_entered ON {stays} (pipeline_id, entered_at);
CREATE INDEX stage_stays_left ON {stays} (pipeline_id, left_at) WHERE left_at IS NOT NULL;
CREATE INDEX leads_captured ON {leads} (captured_at);
CREATE INDEX leads_by_deal ON {leads} (deal_id) WHERE deal_id IS NOT NULL;
"
    )
}

/// The tables of a generation, for comparing two of them.
pub const TABLES: [&str; 6] = [
    "pipelines",
    "deals",
    "stage_stays",
    "leads",
    "activities",
    "open_totals",
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_table_is_created_in_the_generation_schema() {
        let ddl = create_tables("pipeline_g3");
        for table in TABLES {
            assert!(
                ddl.contains(&format!("CREATE TABLE \"pipeline_g3\".{table} (")),
                "{table}"
            );
        }
    }
}
