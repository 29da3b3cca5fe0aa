//! The ranked list as one SQL statement: the score formulas of [`crate::score`], written over
//! the customers' stored summaries, so PostgreSQL orders and cuts the page without sending
//! every customer. The page's exact scores are then computed by the pure function; a test holds
//! the two to the same order.
//!
//! Every value (settings, the visibility's owners and teams, `now`) travels as a parameter.

use chrono::{DateTime, Utc};
use domain::values::ValueClass;
use tokio_postgres::types::ToSql;
use uuid::Uuid;

use crate::config::ScoringConfig;
use crate::facts::{Component, CustomerKind, class_text};
use crate::model::ScoreOrder;
use crate::score::{exponent, month_of, weight};
use crate::tables::qualified;

/// A statement and the values of its `$1`, `$2`, ...
pub(crate) struct Statement {
    pub sql: String,
    pub parameters: Vec<Box<dyn ToSql + Sync + Send>>,
}

impl Statement {
    fn bind(&mut self, value: impl ToSql + Sync + Send + 'static) -> String {
        self.parameters.push(Box::new(value));
        format!("${}", self.parameters.len())
    }

    pub(crate) fn parameters(&self) -> Vec<&(dyn ToSql + Sync)> {
        self.parameters
            .iter()
            .map(|value| value.as_ref() as &(dyn ToSql + Sync))
            .collect()
    }
}

/// Who may be listed: owners and teams of the customer (or of a contact's company); `None`
/// lists everyone.
pub(crate) struct Narrowing<'a> {
    pub owner_ids: Option<(&'a [Uuid], &'a [String])>,
    pub class: Option<ValueClass>,
}

/// `SELECT c.id` of the top `limit` customers of `kind` by `order`, highest first.
pub(crate) fn ranked_statement(
    schema: &str,
    kind: CustomerKind,
    order: ScoreOrder,
    narrowing: &Narrowing<'_>,
    limit: u32,
    config: &ScoringConfig,
    now: DateTime<Utc>,
) -> Statement {
    let mut statement = Statement {
        sql: String::new(),
        parameters: Vec::new(),
    };
    let customers = qualified(schema, "customers");
    let kind_parameter = statement.bind(kind.as_str());
    let mut conditions = vec![format!("c.kind = {kind_parameter}"), "c.created".to_owned()];
    if let Some((owner_ids, teams)) = narrowing.owner_ids {
        let owners = statement.bind(owner_ids.to_vec());
        let teams = statement.bind(teams.to_vec());
        conditions.push(format!(
            "(c.owner_id = ANY({owners}::uuid[]) OR c.team = ANY({teams}::text[]) \
             OR c.company_id IN (SELECT l.id FROM {customers} l WHERE l.kind = 'company' \
                 AND (l.owner_id = ANY({owners}::uuid[]) OR l.team = ANY({teams}::text[]))))"
        ));
    }
    let uses_now =
        narrowing.class.is_some() || matches!(order, ScoreOrder::Value | ScoreOrder::ChurnRisk);
    let now_parameter = if uses_now {
        format!("{}::timestamptz", statement.bind(now))
    } else {
        String::new()
    };
    let mut join = String::new();
    if narrowing.class.is_some() || order == ScoreOrder::Value {
        // Named once; PostgreSQL inlines the laterals.
        let amounts = won_amounts(&mut statement, config);
        let score = value_score(&mut statement, config, &now_parameter);
        let class = class_expression(&mut statement, config);
        join = format!(
            "CROSS JOIN LATERAL (SELECT {amounts}) a \
             CROSS JOIN LATERAL (SELECT {score} AS score) v \
             CROSS JOIN LATERAL (SELECT {class} AS class) k"
        );
    }
    if let Some(wanted) = narrowing.class {
        let wanted = statement.bind(class_text(wanted));
        conditions.push(format!("k.class = {wanted}::text"));
    }
    let order_by = match order {
        ScoreOrder::Value => "k.class ASC, v.score DESC".to_owned(),
        ScoreOrder::Engagement => {
            let now_exponent = statement.bind(exponent(now, config.engagement.half_life_seconds()));
            let terms: Vec<String> = Component::ALL
                .iter()
                .map(|component| {
                    let weight = statement.bind(weight(&config.engagement, *component));
                    let column = format!("c.decayed_{}", component.as_str());
                    format!(
                        "coalesce(CASE WHEN {column} - {now_exponent}::float8 > -1000 \
                         THEN {weight}::float8 * power(2::float8, \
                             least({column} - {now_exponent}::float8, 1000)) \
                         ELSE 0 END, 0)"
                    )
                })
                .collect();
            format!("({}) DESC", terms.join(" + "))
        }
        ScoreOrder::TouchCost => {
            let month = statement.bind(month_of(now));
            let case_minutes = statement.bind(i64::from(config.touch.case_minutes));
            join = format!(
                "{join} LEFT JOIN {} m ON m.kind = c.kind AND m.customer_id = c.id AND m.month = {month}",
                qualified(schema, "monthly")
            );
            format!(
                "(coalesce(m.activity_minutes, 0) + coalesce(m.cases_opened, 0) * \
                 {case_minutes}::bigint) DESC"
            )
        }
        ScoreOrder::ChurnRisk => format!(
            "{} DESC",
            churn_expression(&mut statement, config, &now_parameter)
        ),
    };
    let limit = statement.bind(i64::from(limit));
    statement.sql = format!(
        "SELECT c.id FROM {customers} c {join} WHERE {} ORDER BY {order_by}, c.id LIMIT {limit}",
        conditions.join(" AND ")
    );
    statement
}

fn days_since(now: &str, column: &str) -> String {
    format!("(extract(epoch FROM ({now} - {column}))::float8 / 86400)")
}

/// R + F + M, as [`crate::score`] computes them.
fn value_score(statement: &mut Statement, config: &ScoringConfig, now: &str) -> String {
    let value = &config.value;
    let days = format!("floor({})", days_since(now, "c.last_won_at"));
    let mut recency = "CASE WHEN c.last_won_at IS NULL THEN 0".to_owned();
    for (index, limit) in value.recency_days.iter().enumerate() {
        let limit = statement.bind(i64::from(*limit));
        recency.push_str(&format!(
            " WHEN {days} <= {limit}::bigint THEN {}",
            5 - index
        ));
    }
    recency.push_str(" ELSE 1 END");
    let mut frequency = "CASE WHEN c.won_count = 0 THEN 0".to_owned();
    for (index, least) in value.frequency_counts.iter().enumerate() {
        let least = statement.bind(i64::from(*least));
        frequency.push_str(&format!(
            " WHEN c.won_count >= {least}::bigint THEN {}",
            5 - index
        ));
    }
    frequency.push_str(" ELSE 1 END");
    let mut monetary = vec!["0".to_owned()];
    for (index, thresholds) in value.monetary_minor.values().enumerate() {
        let amount = format!("a.won_{index}");
        let mut score = format!("CASE WHEN {amount} IS NULL THEN 0");
        for (rank, least) in thresholds.iter().enumerate() {
            let least = statement.bind(*least);
            score.push_str(&format!(
                " WHEN {amount} >= {least}::bigint THEN {}",
                5 - rank
            ));
        }
        score.push_str(" ELSE 1 END");
        monetary.push(score);
    }
    format!(
        "(({recency}) + ({frequency}) + GREATEST({}))",
        monetary.join(", ")
    )
}

/// The lateral `a`: the won totals read from the JSON once per row, `won_<i>` for each
/// currency with thresholds and `earned` in the cost currency.
fn won_amounts(statement: &mut Statement, config: &ScoringConfig) -> String {
    let mut columns = Vec::new();
    for (index, currency) in config.value.monetary_minor.keys().enumerate() {
        let currency = statement.bind(currency.clone());
        columns.push(format!(
            "(c.won_minor ->> {currency}::text)::bigint AS won_{index}"
        ));
    }
    let currency = statement.bind(config.value.cost_currency.clone());
    columns.push(format!(
        "coalesce((c.won_minor ->> {currency}::text)::numeric, 0) AS earned"
    ));
    columns.push(format!(
        "(c.won_minor - {currency}::text) <> '{{}}'::jsonb AS won_elsewhere"
    ));
    columns.join(", ")
}

/// The class in force: the manual one, else D when the touch cost exceeds the won value, else
/// A, B or C by R + F + M (the laterals `v.score` and `a.earned`).
fn class_expression(statement: &mut Statement, config: &ScoringConfig) -> String {
    let score = "v.score";
    let value = &config.value;
    let case_minutes = statement.bind(i64::from(config.touch.case_minutes));
    let per_minute = statement.bind(value.cost_per_minute_minor.max(0));
    let class_a = statement.bind(i64::from(value.class_a_min));
    let class_b = statement.bind(i64::from(value.class_b_min));
    format!(
        "coalesce(c.manual_class, CASE \
         WHEN (c.activity_minutes + c.cases_opened * {case_minutes}::bigint)::numeric \
              * {per_minute}::bigint > a.earned AND NOT a.won_elsewhere \
             THEN 'D' \
         WHEN {score} >= {class_a}::bigint THEN 'A' \
         WHEN {score} >= {class_b}::bigint THEN 'B' ELSE 'C' END)"
    )
}

/// The churn risk before rounding, as [`crate::score`] computes it.
fn churn_expression(statement: &mut Statement, config: &ScoringConfig, now: &str) -> String {
    let churn = &config.churn;
    let positive = |weight: f64| {
        if weight.is_finite() {
            weight.max(0.0)
        } else {
            0.0
        }
    };
    let silence_weight = statement.bind(positive(churn.silence));
    let cases_weight = statement.bind(positive(churn.open_cases));
    let purchases_weight = statement.bind(positive(churn.falling_purchases));
    let default_rhythm = statement.bind(churn.default_rhythm_days);
    let cases_full = statement.bind(f64::from(churn.open_cases_full.max(1)));
    let overdue = |gap: String, usual: String| {
        format!("least(1, greatest(0, ({gap} / greatest({usual}, 1) - 1) / 3))")
    };
    let rhythm = format!(
        "CASE WHEN c.touch_count >= 2 THEN \
         extract(epoch FROM (c.last_touch_at - c.first_touch_at))::float8 / 86400 \
             / (c.touch_count - 1) \
         ELSE {default_rhythm}::float8 END"
    );
    let silence = format!(
        "CASE WHEN c.touch_count = 0 THEN 1 ELSE {} END",
        overdue(days_since(now, "c.last_touch_at"), rhythm)
    );
    let interval = "extract(epoch FROM (c.last_won_at - c.first_won_at))::float8 / 86400 \
         / (c.won_count - 1)"
        .to_owned();
    let purchases = format!(
        "CASE WHEN c.won_count >= 2 THEN {} ELSE 0 END",
        overdue(days_since(now, "c.last_won_at"), interval)
    );
    format!(
        "least(100, greatest(0, {silence_weight}::float8 * ({silence}) \
         + {cases_weight}::float8 * least(1, c.open_cases / {cases_full}::float8) \
         + {purchases_weight}::float8 * ({purchases})))"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_value_travels_as_a_parameter() {
        let teams = vec!["'; DROP TABLE x; --".to_owned()];
        let owners = vec![Uuid::nil()];
        for order in [
            ScoreOrder::Value,
            ScoreOrder::Engagement,
            ScoreOrder::TouchCost,
            ScoreOrder::ChurnRisk,
        ] {
            let statement = ranked_statement(
                "scoring_g1",
                CustomerKind::Company,
                order,
                &Narrowing {
                    owner_ids: Some((&owners, &teams)),
                    class: Some(ValueClass::A),
                },
                50,
                &ScoringConfig::default(),
                Utc::now(),
            );
            assert!(!statement.sql.contains("DROP"));
            assert!(!statement.sql.contains("EUR"));
            let highest = (1..=statement.parameters.len())
                .rev()
                .find(|n| statement.sql.contains(&format!("${n}")));
            assert_eq!(highest, Some(statement.parameters.len()), "{order:?}");
        }
    }
}
