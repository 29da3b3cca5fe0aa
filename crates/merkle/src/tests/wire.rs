use super::Log;
use crate::{ConsistencyProof, Hash, InclusionProof};

#[test]
fn proofs_travel_as_lowercase_hex_and_verify_after_the_trip() {
    let log = Log::new(1000, 8);
    let proof = InclusionProof {
        leaf_index: 700,
        tree_size: 1000,
        audit_path: log.inclusion(700, 1000),
    };
    let json = serde_json::to_value(&proof).unwrap();
    assert_eq!(json["leaf_index"], 700);
    assert_eq!(json["tree_size"], 1000);
    let first = json["audit_path"][0].as_str().unwrap();
    assert_eq!(first, hex::encode(proof.audit_path[0]));
    assert!(first.len() == 64 && !first.chars().any(|c| c.is_ascii_uppercase()));
    let back: InclusionProof = serde_json::from_value(json).unwrap();
    assert_eq!(back, proof);
    assert_eq!(back.verify(&log.data[700], &log.root(1000)), Ok(()));

    let proof = ConsistencyProof {
        old_size: 300,
        new_size: 1000,
        proof: log.consistency(300, 1000),
    };
    let back: ConsistencyProof =
        serde_json::from_str(&serde_json::to_string(&proof).unwrap()).unwrap();
    assert_eq!(back, proof);
    assert_eq!(back.verify(&log.root(300), &log.root(1000)), Ok(()));
}

#[test]
fn hashes_must_be_32_bytes_of_hex() {
    let hash: Hash = [0xab; 32];
    for bad in [
        hex::encode(&hash[..31]),
        hex::encode([0xab; 33]),
        format!("{}zz", &hex::encode(hash)[..62]),
    ] {
        let json = format!(r#"{{"old_size":1,"new_size":2,"proof":["{bad}"]}}"#);
        assert!(
            serde_json::from_str::<ConsistencyProof>(&json).is_err(),
            "{bad}"
        );
    }
}
