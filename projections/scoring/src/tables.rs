//! The tables of one generation: the facts (touchpoints, won deals, cases), the link state the
//! fold needs (deals, scheduled activities, a contact's company on its customer row), and per
//! customer the summaries the ranked list orders by (no score is stored).

use crate::facts::Component;

pub(crate) use projector::qualified;

/// The decayed-sum column of each component, in [`Component::ALL`] order.
pub(crate) fn decayed_columns() -> Vec<String> {
    Component::ALL
        .iter()
        .map(|component| format!("decayed_{}", component.as_str()))
        .collect()
}

/// Every table the tests compare between generations.
pub const TABLES: [&str; 7] = [
    "customers",
    "touchpoints",
    "won_deals",
    "deals",
    "cases",
    "scheduled",
    "monthly",
];

/// The DDL of every table of the generation in `schema`.
pub(crate) fn create_tables(schema: &str) -> String {
    let table = |name: &str| qualified(schema, name);
    let decayed: String = decayed_columns()
        .iter()
        .map(|column| format!("    {column} double precision,\n"))
        .collect();
    format!(
        "CREATE TABLE {customers} (
    kind             text        NOT NULL CHECK (kind IN ('contact', 'company')),
    id               uuid        NOT NULL,
    -- A created event was seen; a customer only referred to is not listed.
    created          boolean     NOT NULL,
    owner_id         uuid,
    team             text,
    -- A contact's company now.
    company_id       uuid,
    manual_class     text,
    touch_count      bigint      NOT NULL,
    first_touch_at   timestamptz,
    last_touch_at    timestamptz,
    -- Per component, log2 of the sum over its touchpoints of 2^(t / half-life), t in seconds
    -- since the epoch: engagement at now is the sum of weight * 2^(decayed - now / half-life).
{decayed}    activity_minutes bigint      NOT NULL,
    cases_opened     bigint      NOT NULL,
    open_cases       bigint      NOT NULL,
    won_count        bigint      NOT NULL,
    first_won_at     timestamptz,
    last_won_at      timestamptz,
    -- Won totals per currency code, in minor units.
    won_minor        jsonb       NOT NULL,
    PRIMARY KEY (kind, id)
) WITH (fillfactor = 70);
CREATE TABLE {touchpoints} (
    kind         text        NOT NULL,
    customer_id  uuid        NOT NULL,
    position     bigint      NOT NULL,
    component    text        NOT NULL,
    occurred_at  timestamptz NOT NULL,
    minutes      integer     NOT NULL,
    event_type   text        NOT NULL,
    PRIMARY KEY (kind, customer_id, position)
);
CREATE TABLE {won_deals} (
    kind          text        NOT NULL,
    customer_id   uuid        NOT NULL,
    deal_id       uuid        NOT NULL,
    closed_at     timestamptz NOT NULL,
    amount_minor  bigint      NOT NULL,
    currency      text        NOT NULL,
    position      bigint      NOT NULL,
    event_type    text        NOT NULL,
    PRIMARY KEY (kind, customer_id, deal_id)
);
CREATE TABLE {deals} (
    id            uuid   PRIMARY KEY,
    company_id    uuid,
    contact_id    uuid,
    amount_minor  bigint NOT NULL,
    currency      text   NOT NULL
);
CREATE TABLE {cases} (
    id          uuid        PRIMARY KEY,
    contact_id  uuid        NOT NULL,
    company_id  uuid,
    opened_at   timestamptz NOT NULL,
    closed_at   timestamptz,
    position    bigint      NOT NULL,
    event_type  text        NOT NULL
);
CREATE TABLE {scheduled} (
    id           uuid        PRIMARY KEY,
    component    text        NOT NULL,
    occurred_at  timestamptz NOT NULL,
    minutes      integer     NOT NULL,
    contact_id   uuid,
    company_id   uuid,
    deal_id      uuid
);
CREATE TABLE {monthly} (
    kind              text   NOT NULL,
    customer_id       uuid   NOT NULL,
    month             date   NOT NULL,
    activity_minutes  bigint NOT NULL,
    cases_opened      bigint NOT NULL,
    PRIMARY KEY (kind, customer_id, month)
) WITH (fillfactor = 70);
",
        customers = table("customers"),
        touchpoints = table("touchpoints"),
        won_deals = table("won_deals"),
        deals = table("deals"),
        cases = table("cases"),
        scheduled = table("scheduled"),
        monthly = table("monthly"),
    )
}

/// The indexes the rankings and a customer's cases are read through, made once the generation
/// has caught up.
pub(crate) fn create_indexes(schema: &str) -> String {
    format!(
        "CREATE INDEX customers_by_owner ON {customers} (owner_id);
CREATE INDEX customers_by_team ON {customers} (team);
CREATE INDEX customers_by_company ON {customers} (company_id);
CREATE INDEX cases_by_contact ON {cases} (contact_id);
CREATE INDEX cases_by_company ON {cases} (company_id);
CREATE INDEX monthly_by_month ON {monthly} (month, kind);
",
        customers = qualified(schema, "customers"),
        cases = qualified(schema, "cases"),
        monthly = qualified(schema, "monthly"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_table_is_created_in_the_generation_schema() {
        let ddl = create_tables("scoring_g3");
        for table in TABLES {
            assert!(ddl.contains(&format!("CREATE TABLE \"scoring_g3\".{table} (")));
        }
        assert_eq!(ddl.matches("double precision").count(), 8);
    }
}
