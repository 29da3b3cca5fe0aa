//! The forecast (`GET /v1/reports/forecast`): per expected close month, the weighted and the
//! best-case value of a pipeline's open deals, beside the value won that month (forecast against
//! actuals), plus the open deals already overdue and those without a date. SQL adds up each
//! (month, currency) group; this module, without I/O, lays the groups out on the months asked.

use std::collections::BTreeMap;

use chrono::{DateTime, Datelike, Months, NaiveDate, Utc};
use domain::values::Currency;
use schemars::JsonSchema;
use serde::Serialize;
use uuid::Uuid;

use crate::{MAX_MONTHS, PipelineError, WonTotal};

/// A pipeline's open deals by expected close month, against what was won.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct ForecastReport {
    /// The pipeline reported on.
    pub pipeline_id: Uuid,
    /// The pipeline's name.
    pub pipeline_name: String,
    /// Every month asked for, from the first, each with its figures (UTC months).
    pub months: Vec<ForecastMonth>,
    /// Open deals expected to close before the first month, per currency.
    pub overdue: Vec<ForecastTotal>,
    /// Open deals without an expected close date, per currency.
    pub without_date: Vec<ForecastTotal>,
}

/// One month of the forecast.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct ForecastMonth {
    /// The month's first day.
    pub month: NaiveDate,
    /// The open deals expected to close in the month, per currency.
    pub expected: Vec<ForecastTotal>,
    /// The deals of the pipeline won in the month (by their close time), per currency.
    pub won: Vec<WonTotal>,
}

/// Open deals in one currency.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, JsonSchema)]
pub struct ForecastTotal {
    /// The ISO 4217 currency of the amounts.
    pub currency: Currency,
    /// How many open deals.
    pub deals: u64,
    /// Each amount times the probability its deal's stage has now, added up and rounded, in
    /// minor units.
    pub weighted_minor: i64,
    /// The amounts added up, as if every deal were won, in minor units.
    pub best_case_minor: i64,
}

/// One row of the forecast's export: a bucket (a month, `overdue` or `without_date`) and one
/// currency of it (or the bucket alone when it holds nothing).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ForecastRow {
    pub bucket: &'static str,
    pub month: Option<NaiveDate>,
    pub currency: Option<String>,
    pub open_deals: u64,
    pub weighted_minor: i64,
    pub best_case_minor: i64,
    pub won_deals: u64,
    pub won_minor: i64,
}

impl ForecastReport {
    /// One row per month and currency, then the overdue and the undated deals per currency.
    pub fn rows(&self) -> Vec<ForecastRow> {
        let mut rows = Vec::new();
        for month in &self.months {
            let mut currencies: Vec<Currency> = month
                .expected
                .iter()
                .map(|total| total.currency)
                .chain(month.won.iter().map(|won| won.currency))
                .collect();
            currencies.sort();
            currencies.dedup();
            if currencies.is_empty() {
                rows.push(row("month", Some(month.month), None, None, None));
            }
            for currency in currencies {
                let expected = month.expected.iter().find(|t| t.currency == currency);
                let won = month.won.iter().find(|w| w.currency == currency);
                rows.push(row(
                    "month",
                    Some(month.month),
                    Some(currency),
                    expected,
                    won,
                ));
            }
        }
        for (bucket, totals) in [
            ("overdue", &self.overdue),
            ("without_date", &self.without_date),
        ] {
            for total in totals {
                rows.push(row(bucket, None, Some(total.currency), Some(total), None));
            }
        }
        rows
    }
}

fn row(
    bucket: &'static str,
    month: Option<NaiveDate>,
    currency: Option<Currency>,
    expected: Option<&ForecastTotal>,
    won: Option<&WonTotal>,
) -> ForecastRow {
    ForecastRow {
        bucket,
        month,
        currency: currency.map(|currency| currency.to_string()),
        open_deals: expected.map_or(0, |total| total.deals),
        weighted_minor: expected.map_or(0, |total| total.weighted_minor),
        best_case_minor: expected.map_or(0, |total| total.best_case_minor),
        won_deals: won.map_or(0, |won| won.deals),
        won_minor: won.map_or(0, |won| won.won_minor),
    }
}

/// Where an open deal's expected close puts it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Bucket {
    Month(NaiveDate),
    Overdue,
    WithoutDate,
}

/// Open deals of one bucket and currency, as SQL adds them up.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ExpectedGroup {
    pub bucket: Bucket,
    pub total: ForecastTotal,
}

/// Deals won in one month and currency.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct WonGroup {
    pub month: NaiveDate,
    pub won: WonTotal,
}

/// The first days of `count` months from `first`; refuses a first day that is not the first of
/// a month and a count outside 1 to [`MAX_MONTHS`].
pub(crate) fn month_starts(first: NaiveDate, count: u32) -> Result<Vec<NaiveDate>, PipelineError> {
    if first.day() != 1 {
        return Err(PipelineError::invalid(
            "from_month",
            "the first month is given by its first day",
        ));
    }
    if !(1..=MAX_MONTHS).contains(&count) {
        return Err(PipelineError::invalid(
            "months",
            format!("months must be 1 to {MAX_MONTHS}"),
        ));
    }
    (0..count)
        .map(|offset| {
            first
                .checked_add_months(Months::new(offset))
                .ok_or_else(|| PipelineError::invalid("from_month", "the months are out of range"))
        })
        .collect()
}

/// The day after the last of `months` (which is never empty).
pub(crate) fn end_of(months: &[NaiveDate]) -> Result<NaiveDate, PipelineError> {
    months
        .last()
        .and_then(|last| last.checked_add_months(Months::new(1)))
        .ok_or_else(|| PipelineError::invalid("months", "the months are out of range"))
}

/// Midnight UTC at the start of `day`.
pub(crate) fn start_of(day: NaiveDate) -> DateTime<Utc> {
    day.and_time(chrono::NaiveTime::MIN).and_utc()
}

/// The forecast laid out on `months`; groups outside them are left out.
pub(crate) fn assemble(
    pipeline_id: Uuid,
    pipeline_name: &str,
    months: &[NaiveDate],
    expected: &[ExpectedGroup],
    won: &[WonGroup],
) -> ForecastReport {
    let mut by_month: BTreeMap<NaiveDate, ForecastMonth> = months
        .iter()
        .map(|month| {
            let empty = ForecastMonth {
                month: *month,
                expected: Vec::new(),
                won: Vec::new(),
            };
            (*month, empty)
        })
        .collect();
    let mut overdue = Vec::new();
    let mut without_date = Vec::new();
    for group in expected {
        match group.bucket {
            Bucket::Month(month) => {
                if let Some(entry) = by_month.get_mut(&month) {
                    entry.expected.push(group.total.clone());
                }
            }
            Bucket::Overdue => overdue.push(group.total.clone()),
            Bucket::WithoutDate => without_date.push(group.total.clone()),
        }
    }
    for group in won {
        if let Some(entry) = by_month.get_mut(&group.month) {
            entry.won.push(group.won.clone());
        }
    }
    let mut months: Vec<ForecastMonth> = by_month.into_values().collect();
    for month in &mut months {
        month.expected.sort_by_key(|total| total.currency);
        month.won.sort_by_key(|won| won.currency);
    }
    overdue.sort_by_key(|total: &ForecastTotal| total.currency);
    without_date.sort_by_key(|total: &ForecastTotal| total.currency);
    ForecastReport {
        pipeline_id,
        pipeline_name: pipeline_name.to_owned(),
        months,
        overdue,
        without_date,
    }
}

#[cfg(test)]
mod tests;
