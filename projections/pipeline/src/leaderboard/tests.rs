//! Owners ranked per month.

use domain::values::Currency;

use super::*;

#[test]
fn owners_rank_by_deals_won_and_months_without_wins_stay_listed() {
    let january = NaiveDate::from_ymd_opt(2025, 1, 1).expect("a date");
    let february = NaiveDate::from_ymd_opt(2025, 2, 1).expect("a date");
    let won = |currency: &str, deals| WonTotal {
        currency: Currency::parse(currency).expect("a currency"),
        deals,
        won_minor: 100,
    };
    let (ada, bob) = (Uuid::from_u128(1), Uuid::from_u128(2));
    let groups = [
        OwnerMonth {
            owner_id: ada,
            month: january,
            won: won("EUR", 1),
        },
        OwnerMonth {
            owner_id: bob,
            month: january,
            won: won("USD", 1),
        },
        OwnerMonth {
            owner_id: bob,
            month: january,
            won: won("EUR", 1),
        },
    ];
    let board = assemble(&[january, february], &groups);
    let ranked: Vec<(Uuid, u64)> = board.months[0]
        .owners
        .iter()
        .map(|o| (o.owner_id, o.won_deals))
        .collect();
    assert_eq!(ranked, [(bob, 2), (ada, 1)]);
    assert!(board.months[1].owners.is_empty());
    assert_eq!(board.owners(), [ada, bob]);
    assert_eq!(board.rows().len(), 3);
}
