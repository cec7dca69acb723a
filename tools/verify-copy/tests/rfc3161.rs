//! The RFC 3161 code against a token made by `openssl ts` (OpenSSL 3.0, RSA-2048 TSA key,
//! SHA-256; the files in `tests/data/rfc3161/`: the data stamped, the response, the token
//! alone, the TSA certificate, another TSA's certificate): the token verifies over its data with the certificate given
//! or carried, and is refused over other data, with another certificate, or altered.
//!
//! Run with `cargo test -p verify-copy --test rfc3161`.
#![allow(clippy::unwrap_used)]

use std::path::Path;

use verify_copy::tsp;

fn data(name: &str) -> Vec<u8> {
    std::fs::read(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/data/rfc3161")
            .join(name),
    )
    .unwrap()
}

#[test]
fn an_openssl_token_verifies_and_tampering_is_refused() {
    let token = data("token.tst");
    let cert = tsp::certificate_der(&data("tsa.crt")).unwrap();
    let stamp = tsp::verify(&token, &data("data.txt"), Some(&cert)).unwrap();
    assert_eq!(stamp.hash, "sha256");
    assert!(stamp.time.starts_with("2026-"), "{}", stamp.time);
    assert_eq!(tsp::verify(&token, &data("data.txt"), None).unwrap(), stamp);
    // The token inside the response is the same token.
    assert_eq!(tsp::token_from_response(&data("r.tsr")).unwrap(), token);

    let err = tsp::verify(&token, b"other data\n", Some(&cert)).unwrap_err();
    assert!(err.0.contains("other data"), "{err}");
    let mut altered = token.clone();
    let at = altered.len() - 40; // inside the signature
    altered[at] ^= 0x01;
    assert!(tsp::verify(&altered, &data("data.txt"), Some(&cert)).is_err());
    // Another TSA's certificate, or something that is no certificate, does not verify it.
    let other = tsp::certificate_der(&data("other.crt")).unwrap();
    let err = tsp::verify(&token, &data("data.txt"), Some(&other)).unwrap_err();
    assert!(err.0.contains("does not verify"), "{err}");
    assert!(tsp::verify(&token, &data("data.txt"), Some(&token)).is_err());
}

#[test]
fn a_refusal_from_the_authority_is_an_error() {
    // TimeStampResp { status { rejection(2) } }.
    let resp = [0x30, 0x05, 0x30, 0x03, 0x02, 0x01, 0x02];
    let err = tsp::token_from_response(&resp).unwrap_err();
    assert!(err.0.contains("refused"), "{err}");
}
