//! RFC 6962 §2.1 transcribed as literally as possible, over lists of leaf inputs, with its own
//! hashing: the yardstick the crate is measured against. Slow on purpose (no sharing, no state).

use sha2::{Digest, Sha256};

pub type H = [u8; 32];

fn sha256(parts: &[&[u8]]) -> H {
    let mut hasher = Sha256::new();
    for part in parts {
        hasher.update(part);
    }
    hasher.finalize().into()
}

/// The largest power of two smaller than `n` (`n > 1`).
fn k(n: usize) -> usize {
    let mut k = 1;
    while k * 2 < n {
        k *= 2;
    }
    k
}

/// `MTH(D[n])`.
pub fn mth<D: AsRef<[u8]>>(d: &[D]) -> H {
    match d {
        [] => sha256(&[]),
        [only] => sha256(&[&[0x00], only.as_ref()]),
        _ => {
            let k = k(d.len());
            sha256(&[&[0x01], &mth(&d[..k]), &mth(&d[k..])])
        }
    }
}

/// `PATH(m, D[n])`.
pub fn path<D: AsRef<[u8]>>(m: usize, d: &[D]) -> Vec<H> {
    if d.len() <= 1 {
        return Vec::new();
    }
    let k = k(d.len());
    if m < k {
        let mut p = path(m, &d[..k]);
        p.push(mth(&d[k..]));
        p
    } else {
        let mut p = path(m - k, &d[k..]);
        p.push(mth(&d[..k]));
        p
    }
}

/// For each element of `PATH(m, D[n])`: is it the right-hand sibling?
pub fn path_sides(m: usize, n: usize) -> Vec<bool> {
    if n <= 1 {
        return Vec::new();
    }
    let k = k(n);
    let mut sides = if m < k {
        path_sides(m, k)
    } else {
        path_sides(m - k, n - k)
    };
    sides.push(m < k);
    sides
}

/// `PROOF(m, D[n])`.
pub fn proof<D: AsRef<[u8]>>(m: usize, d: &[D]) -> Vec<H> {
    subproof(m, d, true)
}

/// `SUBPROOF(m, D[n], b)`.
fn subproof<D: AsRef<[u8]>>(m: usize, d: &[D], b: bool) -> Vec<H> {
    let n = d.len();
    if m == n {
        return if b { Vec::new() } else { vec![mth(d)] };
    }
    let k = k(n);
    if m <= k {
        let mut p = subproof(m, &d[..k], b);
        p.push(mth(&d[k..]));
        p
    } else {
        let mut p = subproof(m - k, &d[k..], false);
        p.push(mth(&d[..k]));
        p
    }
}
