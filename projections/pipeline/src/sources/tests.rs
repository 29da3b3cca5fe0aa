//! Funnels added up per source and per campaign, never across currencies.

use chrono::{DateTime, Utc};
use domain::values::Currency;

use super::*;

#[test]
fn pairs_add_up_per_source_and_per_campaign_keeping_currencies_apart() {
    let campaign = Uuid::from_u128(9);
    let lead_group = |source: &str, campaign_id| LeadGroup {
        source: source.to_owned(),
        campaign_id,
        captured: 2,
        qualified: 1,
        converted: 1,
        deals_opened: 1,
    };
    let won = |source: &str, campaign_id, currency: &str| WonGroup {
        source: source.to_owned(),
        campaign_id,
        won: WonTotal {
            currency: Currency::parse(currency).expect("a currency"),
            deals: 1,
            won_minor: 1_000,
        },
    };
    let leads = [
        lead_group("Web", Some(campaign)),
        lead_group("Web", None),
        lead_group("Fair", Some(campaign)),
    ];
    let wins = [
        won("Web", Some(campaign), "EUR"),
        won("Web", None, "EUR"),
        won("Fair", Some(campaign), "USD"),
    ];
    let window = Window {
        from: DateTime::UNIX_EPOCH,
        to: Utc::now(),
    };
    let report = assemble(window, &leads, &wins);
    let web = &report.sources[1];
    assert_eq!(
        (
            web.source.as_str(),
            web.funnel.captured,
            web.funnel.deals_won
        ),
        ("Web", 4, 2)
    );
    assert_eq!(web.funnel.won.len(), 1);
    assert_eq!(web.funnel.won[0].won_minor, 2_000);
    let by_campaign = &report.campaigns[0].funnel;
    assert_eq!(by_campaign.captured, 4);
    let currencies: Vec<String> = by_campaign
        .won
        .iter()
        .map(|w| w.currency.to_string())
        .collect();
    assert_eq!(currencies, ["EUR", "USD"]);
    // Fair in USD, Web in EUR, the campaign in EUR and USD.
    assert_eq!(report.rows().len(), 1 + 1 + 2);
}
