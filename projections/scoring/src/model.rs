//! What the scoring queries answer, as the API serialises it (and documents it in OpenAPI):
//! each score with the components that explain it and the events that moved it.

use chrono::NaiveDate;
use domain::values::ValueClass;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::facts::{Component, CustomerKind, EventRef};

/// Which score a ranked list orders by, highest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ScoreOrder {
    /// The value class in force (A first), then R+F+M.
    Value,
    Engagement,
    /// Minutes this month.
    TouchCost,
    ChurnRisk,
}

/// The scores of one contact or company, at the `now` they were computed for.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct CustomerScore {
    /// Whether the customer is a contact or a company.
    pub kind: CustomerKind,
    /// The contact's or company's id.
    pub id: Uuid,
    /// Who the customer belongs to.
    pub owner_id: Option<Uuid>,
    /// The team the customer belongs to.
    pub team: Option<String>,
    /// The value class (ABCD) from RFM over won deals.
    pub value: ValueScore,
    /// Touchpoints weighted by kind and decayed by age.
    pub engagement: EngagementScore,
    /// Minutes spent on the customer per month.
    pub touch_cost: TouchCost,
    /// How likely the customer is to leave, 0 to 100, with the reasons.
    pub churn_risk: ChurnRisk,
}

impl CustomerScore {
    /// The scores without what only deals tell (won amounts, how many, how recently, which
    /// deals), for a caller who may read no deal. The classes and the scores stay: the
    /// business ranks its customers by them, and they show no deal.
    pub fn without_deals(&mut self) {
        let value = &mut self.value;
        value.recency_days = None;
        value.frequency = None;
        value.monetary.clear();
        value.events.clear();
        value.explanation = format!(
            "R {} + F {} + M {} = {} over won deals, which this caller may not read",
            value.recency_score, value.frequency_score, value.monetary_score, value.score
        );
        let churn = &mut self.churn_risk;
        churn
            .events
            .retain(|event| !event.event_type.starts_with("crm.deal."));
        for reason in &mut churn.reasons {
            if reason.reason == FALLING_PURCHASES {
                reason.detail = "deals are won less often than they were".to_owned();
            }
        }
    }
}

/// RFM (recency, frequency, monetary) over won deals, and the ABCD class.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct ValueScore {
    /// The class in force: the manual one if set, else the computed one.
    pub class: ValueClass,
    /// The class computed from RFM and the touch cost.
    pub computed_class: ValueClass,
    /// The class set on the company by hand, if any.
    pub manual_class: Option<ValueClass>,
    /// R + F + M, 0 to 15.
    pub score: u32,
    /// Days since the last won deal (`null`: none won, or withheld from a caller who may read
    /// no deal).
    pub recency_days: Option<i64>,
    /// Won deals (`null`: withheld from a caller who may read no deal).
    pub frequency: Option<u32>,
    /// The won total per currency (never summed across currencies; empty when withheld).
    pub monetary: Vec<MonetaryTotal>,
    /// 0 (nothing won) to 5.
    pub recency_score: u32,
    /// 0 to 5.
    pub frequency_score: u32,
    /// The best score of the currencies with thresholds, 0 to 5.
    pub monetary_score: u32,
    /// How the class came about, in words.
    pub explanation: String,
    /// The won deals that weigh most (latest first, at most 5).
    pub events: Vec<EventRef>,
}

/// The won total in one currency.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct MonetaryTotal {
    /// ISO 4217 code.
    pub currency: String,
    /// The sum of the won amounts, in the currency's minor unit.
    pub amount_minor: i64,
    /// The currency's monetary score, 1 to 5; `null` when no thresholds are configured for it.
    pub score: Option<u32>,
}

/// Engagement: the sum over touchpoints of weight × 2^(−age / half-life).
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct EngagementScore {
    /// The sum of the components.
    pub score: f64,
    /// One entry per kind of touchpoint the customer had.
    pub components: Vec<EngagementComponent>,
    /// The touchpoints that contribute most now (at most 5).
    pub events: Vec<EventRef>,
    /// The half-life used, in days.
    pub half_life_days: f64,
}

/// The share of one kind of touchpoint in the engagement.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct EngagementComponent {
    /// The kind of touchpoint.
    pub component: Component,
    /// Its configured weight (of a touchpoint happening now).
    pub weight: f64,
    /// How many touchpoints of this kind.
    pub count: u32,
    /// Their decayed, weighted sum.
    pub score: f64,
}

/// Minutes spent on the customer.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct TouchCost {
    /// Activity minutes plus case minutes in the current month (UTC).
    pub minutes_this_month: u32,
    /// The recent months, the current one first.
    pub months: Vec<MonthMinutes>,
    /// More minutes this month than the configured threshold.
    pub high_touch: bool,
    /// How the minutes are counted, in words.
    pub explanation: String,
    /// The activities and cases that took most minutes this month (at most 5).
    pub events: Vec<EventRef>,
}

/// The minutes of one month.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct MonthMinutes {
    /// The first day of the month.
    pub month: NaiveDate,
    /// Minutes of the activities that took place that month.
    pub activity_minutes: u32,
    /// Cases opened that month.
    pub cases_opened: u32,
    /// The configured minutes per case, times the cases opened.
    pub case_minutes: u32,
    /// Activity and case minutes.
    pub minutes: u32,
}

/// The churn risk and why.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct ChurnRisk {
    /// 0 (safe) to 100.
    pub risk: u32,
    /// Every reason that adds to the risk (weight above 0).
    pub reasons: Vec<ChurnReason>,
    /// The events the reasons rest on (the last touchpoint, open cases, the last won deal).
    pub events: Vec<EventRef>,
}

/// One reason of the churn risk.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct ChurnReason {
    /// `silence`, `open_cases` or `falling_purchases`.
    pub reason: String,
    /// The points it adds to the risk.
    pub weight: f64,
    /// What it measured, in words.
    pub detail: String,
}

/// The churn reason a customer's falling purchases give.
pub const FALLING_PURCHASES: &str = "falling_purchases";

/// A page of customers ranked by one score.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct RankedScores {
    /// The score they are ordered by, highest first.
    pub order: ScoreOrder,
    /// The customers, each with every score.
    pub items: Vec<CustomerScore>,
}
