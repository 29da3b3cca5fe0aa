//! Money: an integer number of minor units (cents) in one ISO 4217 currency, never a float. Two
//! amounts in different currencies are never added or compared as if they were one.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::DomainError;

/// An amount of money in one currency.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Money {
    /// The amount in the currency's minor unit (cents for EUR, yen for JPY).
    pub amount_minor: i64,
    pub currency: Currency,
}

impl Money {
    pub fn new(amount_minor: i64, currency: Currency) -> Money {
        Money {
            amount_minor,
            currency,
        }
    }

    /// The sum of two amounts in the same currency.
    pub fn checked_add(self, other: Money) -> Result<Money, DomainError> {
        if self.currency != other.currency {
            return Err(DomainError::invalid(
                "currency",
                format!("cannot add {} to {}", other.currency, self.currency),
            ));
        }
        let amount_minor = self
            .amount_minor
            .checked_add(other.amount_minor)
            .ok_or_else(|| DomainError::invalid("amount_minor", "the sum is too large"))?;
        Ok(Money::new(amount_minor, self.currency))
    }
}

/// An active ISO 4217 currency, by its alphabetic code.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(into = "String")]
pub struct Currency(&'static str);

impl Currency {
    pub fn parse(code: &str) -> Result<Currency, DomainError> {
        CURRENCY_CODES
            .binary_search(&code)
            .map(|index| Currency(CURRENCY_CODES[index]))
            .map_err(|_| {
                DomainError::invalid_value("must be an active ISO 4217 currency code such as EUR")
            })
    }

    pub fn code(self) -> &'static str {
        self.0
    }

    /// How many digits of the amount are after the decimal point (2 for EUR, 0 for JPY).
    pub fn minor_unit_digits(self) -> u32 {
        const NO_MINOR_UNIT: [&str; 16] = [
            "BIF", "CLP", "DJF", "GNF", "ISK", "JPY", "KMF", "KRW", "PYG", "RWF", "UGX", "VND",
            "VUV", "XAF", "XOF", "XPF",
        ];
        const THOUSANDTHS: [&str; 7] = ["BHD", "IQD", "JOD", "KWD", "LYD", "OMR", "TND"];
        if NO_MINOR_UNIT.contains(&self.0) {
            0
        } else if THOUSANDTHS.contains(&self.0) {
            3
        } else {
            2
        }
    }
}

impl std::fmt::Debug for Currency {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.write_str(self.0)
    }
}

impl std::fmt::Display for Currency {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.write_str(self.0)
    }
}

impl TryFrom<String> for Currency {
    type Error = DomainError;
    fn try_from(code: String) -> Result<Self, Self::Error> {
        Currency::parse(&code)
    }
}

impl From<Currency> for String {
    fn from(currency: Currency) -> String {
        currency.0.to_owned()
    }
}

// Written by hand: serde's derive would make a `&'static str` field borrow from the input.
impl<'de> Deserialize<'de> for Currency {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let code = std::borrow::Cow::<'de, str>::deserialize(deserializer)?;
        Currency::parse(&code).map_err(serde::de::Error::custom)
    }
}

impl std::str::FromStr for Currency {
    type Err = DomainError;
    fn from_str(code: &str) -> Result<Self, Self::Err> {
        Currency::parse(code)
    }
}

impl JsonSchema for Currency {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Currency".into()
    }

    // A pattern rather than the list: a currency ISO adds later must not change a published schema.
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "description": "An active ISO 4217 alphabetic currency code.",
            "type": "string",
            "pattern": "^[A-Z]{3}$"
        })
    }
}

/// The active ISO 4217 currencies (list 1, 2025), sorted; without funds, precious metals, bond
/// units, special drawing rights and the testing codes.
pub const CURRENCY_CODES: [&str; 157] = [
    "AED", "AFN", "ALL", "AMD", "ANG", "AOA", "ARS", "AUD", "AWG", "AZN", "BAM", "BBD", "BDT",
    "BGN", "BHD", "BIF", "BMD", "BND", "BOB", "BRL", "BSD", "BTN", "BWP", "BYN", "BZD", "CAD",
    "CDF", "CHF", "CLP", "CNY", "COP", "CRC", "CUP", "CVE", "CZK", "DJF", "DKK", "DOP", "DZD",
    "EGP", "ERN", "ETB", "EUR", "FJD", "FKP", "GBP", "GEL", "GHS", "GIP", "GMD", "GNF", "GTQ",
    "GYD", "HKD", "HNL", "HTG", "HUF", "IDR", "ILS", "INR", "IQD", "IRR", "ISK", "JMD", "JOD",
    "JPY", "KES", "KGS", "KHR", "KMF", "KPW", "KRW", "KWD", "KYD", "KZT", "LAK", "LBP", "LKR",
    "LRD", "LSL", "LYD", "MAD", "MDL", "MGA", "MKD", "MMK", "MNT", "MOP", "MRU", "MUR", "MVR",
    "MWK", "MXN", "MYR", "MZN", "NAD", "NGN", "NIO", "NOK", "NPR", "NZD", "OMR", "PAB", "PEN",
    "PGK", "PHP", "PKR", "PLN", "PYG", "QAR", "RON", "RSD", "RUB", "RWF", "SAR", "SBD", "SCR",
    "SDG", "SEK", "SGD", "SHP", "SLE", "SOS", "SRD", "SSP", "STN", "SVC", "SYP", "SZL", "THB",
    "TJS", "TMT", "TND", "TOP", "TRY", "TTD", "TWD", "TZS", "UAH", "UGX", "USD", "UYU", "UZS",
    "VED", "VES", "VND", "VUV", "WST", "XAF", "XCD", "XCG", "XOF", "XPF", "YER", "ZAR", "ZMW",
    "ZWG",
];

#[cfg(test)]
mod tests {
    use super::*;

    fn currency(code: &str) -> Currency {
        Currency::parse(code).unwrap()
    }

    #[test]
    fn the_currency_list_is_sorted_and_unique() {
        assert!(CURRENCY_CODES.windows(2).all(|pair| pair[0] < pair[1]));
        assert!(
            CURRENCY_CODES
                .iter()
                .all(|code| { code.len() == 3 && code.chars().all(|c| c.is_ascii_uppercase()) })
        );
    }

    #[test]
    fn only_active_codes_are_currencies() {
        assert_eq!(currency("EUR").code(), "EUR");
        for refused in ["eur", "EURO", "", "XXX", "XAU", "DEM", " EUR"] {
            assert!(Currency::parse(refused).is_err(), "{refused:?}");
        }
    }

    #[test]
    fn minor_units_follow_the_currency() {
        assert_eq!(currency("EUR").minor_unit_digits(), 2);
        assert_eq!(currency("JPY").minor_unit_digits(), 0);
        assert_eq!(currency("KWD").minor_unit_digits(), 3);
    }

    #[test]
    fn money_reads_and_writes_as_the_api_shows_it() {
        let money: Money =
            serde_json::from_str(r#"{"amount_minor": 125000, "currency": "EUR"}"#).unwrap();
        assert_eq!(money, Money::new(125_000, currency("EUR")));
        assert_eq!(
            serde_json::to_string(&money).unwrap(),
            r#"{"amount_minor":125000,"currency":"EUR"}"#
        );
        assert!(
            serde_json::from_str::<Money>(r#"{"amount_minor": 1, "currency": "EUX"}"#).is_err()
        );
        assert!(
            serde_json::from_str::<Money>(r#"{"amount_minor": 1.5, "currency": "EUR"}"#).is_err()
        );
    }

    #[test]
    fn money_never_adds_across_currencies() {
        let euros = Money::new(100, currency("EUR"));
        assert_eq!(euros.checked_add(euros).unwrap().amount_minor, 200);
        assert_eq!(
            euros
                .checked_add(Money::new(1, currency("USD")))
                .unwrap_err(),
            DomainError::invalid("currency", "cannot add USD to EUR")
        );
        assert!(
            Money::new(i64::MAX, currency("EUR"))
                .checked_add(euros)
                .is_err()
        );
    }
}
