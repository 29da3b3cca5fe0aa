//! Month ranges and the forecast laid out on them.

use super::*;

fn day(year: i32, month: u32, day: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(year, month, day).expect("a date")
}

#[test]
fn months_run_across_a_year_end_and_refuse_bad_ranges() {
    let months = month_starts(day(2025, 11, 1), 3).expect("valid");
    assert_eq!(
        months,
        [day(2025, 11, 1), day(2025, 12, 1), day(2026, 1, 1)]
    );
    assert_eq!(end_of(&months).expect("an end"), day(2026, 2, 1));
    assert!(month_starts(day(2025, 11, 2), 3).is_err());
    assert!(month_starts(day(2025, 11, 1), 0).is_err());
    assert!(month_starts(day(2025, 11, 1), MAX_MONTHS + 1).is_err());
    assert_eq!(
        month_starts(day(2025, 1, 1), MAX_MONTHS)
            .expect("valid")
            .len(),
        36
    );
}

#[test]
fn groups_land_in_their_month_and_outside_months_are_left_out() {
    let eur = Currency::parse("EUR").expect("a currency");
    let total = |deals| ForecastTotal {
        currency: eur,
        deals,
        weighted_minor: 10,
        best_case_minor: 20,
    };
    let months = month_starts(day(2025, 1, 1), 2).expect("valid");
    let expected = [
        ExpectedGroup {
            bucket: Bucket::Month(day(2025, 2, 1)),
            total: total(1),
        },
        ExpectedGroup {
            bucket: Bucket::Month(day(2025, 9, 1)),
            total: total(2),
        },
        ExpectedGroup {
            bucket: Bucket::Overdue,
            total: total(3),
        },
    ];
    let won = [WonGroup {
        month: day(2025, 1, 1),
        won: WonTotal {
            currency: eur,
            deals: 1,
            won_minor: 99,
        },
    }];
    let report = assemble(Uuid::nil(), "Sales", &months, &expected, &won);
    assert!(report.months[0].expected.is_empty());
    assert_eq!(report.months[0].won[0].won_minor, 99);
    assert_eq!(report.months[1].expected, [total(1)]);
    assert_eq!(report.overdue, [total(3)]);
    assert!(report.without_date.is_empty());
    assert_eq!(report.rows().len(), 3);
}
