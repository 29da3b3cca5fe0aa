//! Signing a delivery the way the Standard Webhooks specification does (standardwebhooks.com),
//! with its asymmetric scheme `v1a`: an Ed25519 signature, by the webhooks' own key, over
//! `<webhook-id>.<webhook-timestamp>.<body>`. A receiver checks it with the public key; no shared
//! secret exists to be kept, copied to each receiver, or leaked.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use ed25519_dalek::{Signature, VerifyingKey};

/// The bytes a delivery's signature covers.
pub fn signed_content(id: &str, timestamp: i64, body: &[u8]) -> Vec<u8> {
    let mut content = format!("{id}.{timestamp}.").into_bytes();
    content.extend_from_slice(body);
    content
}

/// The `webhook-signature` header's value for `signature`.
pub fn header_value(signature: &[u8; 64]) -> String {
    format!("v1a,{}", STANDARD.encode(signature))
}

/// The `webhook-id` of a delivery of `webhook`'s events `first` to `last` (positions): the same
/// when the same events are sent again.
pub fn delivery_id(webhook: &str, first: u64, last: u64) -> String {
    format!("msg_{webhook}_{first}-{last}")
}

/// Whether a delivery is one for `webhook` (the key signs every webhook's: a receiver must not
/// take another's) and any `v1a` signature of its `webhook-signature` header (space-separated)
/// is `public_key`'s over it. A receiver also refuses a `timestamp` far from its clock.
pub fn verify(
    public_key: &[u8; 32],
    webhook: &str,
    id: &str,
    timestamp: i64,
    body: &[u8],
    header: &str,
) -> bool {
    let positions = |range: &str| {
        range.split_once('-').is_some_and(|(first, last)| {
            [first, last]
                .iter()
                .all(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
        })
    };
    let ours = id
        .strip_prefix("msg_")
        .and_then(|rest| rest.strip_prefix(webhook))
        .and_then(|rest| rest.strip_prefix('_'))
        .is_some_and(positions);
    let Ok(key) = VerifyingKey::from_bytes(public_key) else {
        return false;
    };
    if !ours {
        return false;
    }
    let content = signed_content(id, timestamp, body);
    header.split(' ').any(|candidate| {
        candidate
            .strip_prefix("v1a,")
            .and_then(|encoded| STANDARD.decode(encoded).ok())
            .and_then(|bytes| <[u8; 64]>::try_from(bytes).ok())
            .is_some_and(|bytes| {
                key.verify_strict(&content, &Signature::from_bytes(&bytes))
                    .is_ok()
            })
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use eventstore::checkpoint::Signer;

    #[test]
    fn a_signed_delivery_verifies_and_any_change_does_not() {
        let signer = Signer::from_secret([7; 32]);
        let body = br#"[{"id":"x"}]"#;
        let id = delivery_id("billing", 1, 2);
        let content = signed_content(&id, 1_700_000_000, body);
        let header = header_value(&signer.sign_message(&content).unwrap());
        let key = signer.public_key();
        let check = |webhook: &str, id: &str, timestamp: i64, body: &[u8], header: &str| {
            verify(&key, webhook, id, timestamp, body, header)
        };
        assert!(check("billing", &id, 1_700_000_000, body, &header));
        let two = format!("v1,abc {header}");
        assert!(check("billing", &id, 1_700_000_000, body, &two));
        assert!(
            !check("bill", &id, 1_700_000_000, body, &header),
            "another webhook's"
        );
        assert!(!check(
            "billing",
            "msg_billing_1-3",
            1_700_000_000,
            body,
            &header
        ));
        assert!(!check("billing", &id, 1_700_000_001, body, &header));
        assert!(!check("billing", &id, 1_700_000_000, b"[]", &header));
        assert!(!check("billing", &id, 1_700_000_000, body, "v1a,!!"));
        let other = Signer::from_secret([8; 32]).public_key();
        assert!(!verify(
            &other,
            "billing",
            &id,
            1_700_000_000,
            body,
            &header
        ));
    }

    #[test]
    fn the_log_signed_forms_cannot_be_signed_as_a_message() {
        let signer = Signer::from_secret([7; 32]);
        assert!(signer.sign_message(b"crm-tree-head-v1...").is_err());
    }
}
