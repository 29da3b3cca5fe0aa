//! The organisation's scoring settings (`[scoring]` in the settings file): thresholds, weights
//! and cut-offs, every field with a default. Scores are computed from stored facts at query
//! time, so a change applies at once; only `engagement.half_life_days` is also read by the
//! projection (the ranked list orders by decayed sums stored with it) and needs a rebuild.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Every setting of the scores.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ScoringConfig {
    pub value: ValueConfig,
    pub engagement: EngagementConfig,
    pub touch: TouchConfig,
    pub churn: ChurnConfig,
}

/// RFM over won deals and the ABCD classes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ValueConfig {
    /// Days since the last won deal for recency scores 5, 4, 3 and 2 (at most that many days);
    /// older is 1, no won deal 0.
    pub recency_days: [u32; 4],
    /// Won deals for frequency scores 5, 4, 3 and 2 (at least that many); one is 1, none 0.
    pub frequency_counts: [u32; 4],
    /// Per currency, the won total in minor units for monetary scores 5, 4, 3 and 2 (at least
    /// that much); any won amount is 1. A currency without thresholds is reported, not scored.
    pub monetary_minor: BTreeMap<String, [i64; 4]>,
    /// The lowest R+F+M (0 to 15) of class A, and of class B; below is C.
    pub class_a_min: u32,
    pub class_b_min: u32,
    /// The D rule: the customer costs more than it earns when its minutes (activities and
    /// cases) times `cost_per_minute_minor` exceed its won total in `cost_currency`.
    pub cost_currency: String,
    pub cost_per_minute_minor: i64,
}

impl Default for ValueConfig {
    fn default() -> Self {
        ValueConfig {
            recency_days: [30, 90, 180, 365],
            frequency_counts: [10, 5, 3, 2],
            monetary_minor: BTreeMap::from([
                (
                    "EUR".to_owned(),
                    [10_000_000, 5_000_000, 1_000_000, 100_000],
                ),
                (
                    "USD".to_owned(),
                    [10_000_000, 5_000_000, 1_000_000, 100_000],
                ),
            ]),
            class_a_min: 12,
            class_b_min: 8,
            cost_currency: "EUR".to_owned(),
            cost_per_minute_minor: 100,
        }
    }
}

/// Touchpoints weighted by kind and decayed by age.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EngagementConfig {
    pub call: f64,
    pub email: f64,
    pub meeting: f64,
    pub note: f64,
    pub message: f64,
    pub visit: f64,
    /// An inbound e-mail or message: the customer answered (it counts as a reply, not as its
    /// kind).
    pub reply: f64,
    pub link_click: f64,
    /// A touchpoint's weight halves every `half_life_days` (a rebuild applies a change to the
    /// ranked list's order).
    pub half_life_days: f64,
}

impl Default for EngagementConfig {
    fn default() -> Self {
        EngagementConfig {
            call: 3.0,
            email: 1.0,
            meeting: 5.0,
            note: 0.0,
            message: 1.0,
            visit: 5.0,
            reply: 4.0,
            link_click: 2.0,
            half_life_days: 30.0,
        }
    }
}

/// Minutes spent on the customer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TouchConfig {
    /// More minutes than this in the current month flag the customer as high-touch.
    pub high_touch_minutes_per_month: u32,
    /// Cases carry no duration: each case opened counts this many minutes.
    pub case_minutes: u32,
    /// How many months (the current one included) the touch cost lists.
    pub months_shown: u32,
}

impl Default for TouchConfig {
    fn default() -> Self {
        TouchConfig {
            high_touch_minutes_per_month: 240,
            case_minutes: 30,
            months_shown: 6,
        }
    }
}

/// The weights of the churn risk's reasons (their sum is the highest risk, capped at 100).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ChurnConfig {
    /// Silence beyond the customer's usual rhythm of touchpoints.
    pub silence: f64,
    /// Open cases (full weight from `open_cases_full` cases).
    pub open_cases: f64,
    pub open_cases_full: u32,
    /// Won deals further apart than usual.
    pub falling_purchases: f64,
    /// The rhythm assumed with fewer than two touchpoints, in days.
    pub default_rhythm_days: f64,
}

impl Default for ChurnConfig {
    fn default() -> Self {
        ChurnConfig {
            silence: 50.0,
            open_cases: 25.0,
            open_cases_full: 3,
            falling_purchases: 25.0,
            default_rhythm_days: 30.0,
        }
    }
}

impl EngagementConfig {
    /// The half-life in seconds, at least a minute (a zero or negative setting would not decay).
    pub(crate) fn half_life_seconds(&self) -> f64 {
        (self.half_life_days * 86_400.0).max(60.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_empty_section_takes_every_default() {
        let config: ScoringConfig = serde_json::from_str("{}").unwrap();
        assert_eq!(config, ScoringConfig::default());
        let config: ScoringConfig =
            serde_json::from_str(r#"{"engagement": {"meeting": 8.0}}"#).unwrap();
        assert_eq!(config.engagement.meeting, 8.0);
        assert_eq!(config.engagement.email, 1.0);
    }

    #[test]
    fn an_unknown_setting_is_refused() {
        assert!(serde_json::from_str::<ScoringConfig>(r#"{"valu": {}}"#).is_err());
        assert!(serde_json::from_str::<ScoringConfig>(r#"{"touch": {"minutes": 1}}"#).is_err());
    }
}
