//! The server over a real socket (formats/server.md): every endpoint, the authorization
//! matrix (each role against each endpoint), agency A never seeing agency B's records (by id,
//! search, facet counts, download), 密级, transfers uploaded and checked in the background,
//! an upload cut off half-way and one over the size limit storing nothing, every read in the
//! ledger, revocation biting at once, the web pages, and graceful shutdown.
#![allow(clippy::unwrap_used)]

mod common;

use std::io::{Read, Write};
use std::path::Path;
use std::time::{Duration, Instant};

use common::*;
use serde_json::{json, Value};

const B_AGENCY: &str = "11330100MB0000001Y";
const A_AGENCY: &str = "11330100MB0000000X";

/// Agency A's sample (3 公开 records, 2016) and agency B's 2017 copy whose first record is
/// 内部 (internal).
fn two_agencies() -> (Archive, Vec<String>, Vec<String>) {
    let a = Archive::new();
    a.accept(&sample());
    let bag = next_year_package(a.dir.path(), "YJ-2017-0001", |i, _, rec| {
        if i == 0 {
            rec["classification"] = "内部".into();
        }
    });
    rebag(&bag, &[("Agency-Code", B_AGENCY)]);
    a.accept(&bag);
    let codes = |year: &str| {
        (1..=3)
            .map(|i| format!("0194-WS·{year}-D30-BGS-000{i}"))
            .collect::<Vec<_>>()
    };
    (a, codes("2016"), codes("2017"))
}

struct Tokens {
    sec: String,
    arch: String,
    ag_a: String,
    ag_b: String,
    court: String,
    aud: String,
    sys: String,
}

fn tokens(a: &Archive) -> Tokens {
    Tokens {
        sec: user_token(a, "sec", "security-admin"),
        arch: user_token(a, "arch", "archivist"),
        ag_a: user_token(a, "agency-a", &format!("agency:{A_AGENCY}")),
        ag_b: user_token(a, "agency-b", &format!("agency:{B_AGENCY}")),
        court: user_token(a, "court1", "court:BJ-01"),
        aud: user_token(a, "aud", "auditor"),
        sys: user_token(a, "sys", "system-admin"),
    }
}

fn refcodes(v: &Value) -> Vec<String> {
    let mut out: Vec<String> = v["hits"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["reference_code"].as_str().unwrap().to_string())
        .collect();
    out.sort();
    out
}

#[test]
fn authorization_matrix_every_role_against_every_endpoint() {
    let (a, codes_a, _codes_b) = two_agencies();
    let t = tokens(&a);
    let s = ServeProcess::start(&a, "server.log");
    let rc = enc(&codes_a[0]);
    // (method, path, body) → expected status per role, in the order
    // security-admin, archivist, agency A, agency B, court, auditor, system-admin.
    // 404 where a role may read records but not this one (existence is not revealed).
    let seal_body = json!({"agency": A_AGENCY, "file_base64": "aGk=", "seal_base64": "aGk=", "seal_kind": "jws"});
    let rows: Vec<(&str, String, Option<Value>, [u16; 7])> = vec![
        (
            "GET",
            "/api/records".into(),
            None,
            [403, 200, 200, 200, 200, 403, 403],
        ),
        (
            "GET",
            format!("/api/records/{rc}"),
            None,
            [403, 200, 200, 404, 404, 403, 403],
        ),
        (
            "GET",
            format!("/api/records/{rc}/versions"),
            None,
            [403, 200, 200, 404, 404, 403, 403],
        ),
        (
            "GET",
            format!("/api/records/{rc}/history"),
            None,
            [403, 200, 200, 404, 403, 200, 403],
        ),
        (
            "GET",
            format!("/api/records/{rc}/files/record.json"),
            None,
            [403, 200, 200, 404, 404, 403, 403],
        ),
        (
            "POST",
            format!("/api/records/{rc}/fixity"),
            None,
            [403, 200, 403, 403, 403, 200, 403],
        ),
        (
            "GET",
            "/api/search?q=%E4%BC%9A%E8%AE%AE".into(),
            None,
            [403, 200, 200, 200, 200, 403, 403],
        ),
        (
            "POST",
            "/api/seals/verify".into(),
            Some(seal_body),
            [200, 200, 200, 200, 200, 200, 403],
        ),
        ("GET", "/api/ledger/checkpoint".into(), None, [200; 7]),
        ("GET", "/api/ledger/vkey".into(), None, [200; 7]),
        ("GET", "/api/ledger/proof/0".into(), None, [200; 7]),
        (
            "GET",
            "/api/ledger/consistency?old=1".into(),
            None,
            [200; 7],
        ),
        (
            "GET",
            "/api/ledger/entries/0".into(),
            None,
            [403, 200, 403, 403, 403, 200, 403],
        ),
        (
            "GET",
            "/api/transfers".into(),
            None,
            [403, 200, 200, 200, 403, 403, 403],
        ),
        (
            "GET",
            "/api/transfers/0123456789abcdef".into(),
            None,
            [403, 404, 404, 404, 403, 403, 403],
        ),
        (
            "GET",
            "/api/users".into(),
            None,
            [200, 403, 403, 403, 403, 403, 403],
        ),
        (
            "POST",
            "/api/tokens/0123456789abcdef/revoke".into(),
            None,
            [404, 403, 403, 403, 403, 403, 403],
        ),
        (
            "GET",
            "/api/config".into(),
            None,
            [403, 403, 403, 403, 403, 403, 200],
        ),
        (
            "GET",
            "/metrics".into(),
            None,
            [403, 403, 403, 403, 403, 200, 200],
        ),
        ("GET", "/api/whoami".into(), None, [200; 7]),
        // Retention and disposition: archivists only (nothing is due in this archive, so a
        // proposal is refused with 409; batch 99 and hold H99 do not exist).
        (
            "GET",
            "/api/holds".into(),
            None,
            [403, 200, 403, 403, 403, 403, 403],
        ),
        (
            "POST",
            "/api/holds".into(),
            Some(json!({"reference_codes": [], "reason": "r", "authority": "a"})),
            [403, 400, 403, 403, 403, 403, 403],
        ),
        (
            "POST",
            "/api/holds/H99/lift".into(),
            Some(json!({"reason": "r"})),
            [403, 404, 403, 403, 403, 403, 403],
        ),
        (
            "GET",
            "/api/retention/due?as_of=2020-01-01".into(),
            None,
            [403, 200, 403, 403, 403, 403, 403],
        ),
        (
            "GET",
            "/api/dispositions".into(),
            None,
            [403, 200, 403, 403, 403, 403, 403],
        ),
        (
            "POST",
            "/api/dispositions".into(),
            Some(json!({"as_of": "2020-01-01"})),
            [403, 409, 403, 403, 403, 403, 403],
        ),
        (
            "GET",
            "/api/dispositions/99".into(),
            None,
            [403, 404, 403, 403, 403, 403, 403],
        ),
        (
            "POST",
            "/api/dispositions/99/approve".into(),
            None,
            [403, 404, 403, 403, 403, 403, 403],
        ),
        (
            "POST",
            "/api/dispositions/99/execute".into(),
            Some(json!({"witnesses": ["王", "李"]})),
            [403, 404, 403, 403, 403, 403, 403],
        ),
        (
            "GET",
            "/api/dispositions/99/certificate".into(),
            None,
            [403, 404, 403, 403, 403, 403, 403],
        ),
        // Copies: archivists issue; a court lists and downloads its own (none here).
        (
            "GET",
            "/api/copies".into(),
            None,
            [403, 200, 403, 403, 200, 403, 403],
        ),
        (
            "POST",
            "/api/copies".into(),
            Some(json!({"court": "BJ-01", "request": "r", "records": []})),
            [403, 400, 403, 403, 403, 403, 403],
        ),
        (
            "GET",
            "/api/copies/0123456789abcdef".into(),
            None,
            [403, 404, 403, 403, 404, 403, 403],
        ),
        (
            "GET",
            "/api/copies/0123456789abcdef/bundle".into(),
            None,
            [403, 404, 403, 403, 404, 403, 403],
        ),
        // Revoking a grant: archivists only (no such copy here: 404).
        (
            "POST",
            "/api/copies/0123456789abcdef/revoke".into(),
            Some(json!({"reason": "r"})),
            [403, 404, 403, 403, 403, 403, 403],
        ),
    ];
    let roles = [&t.sec, &t.arch, &t.ag_a, &t.ag_b, &t.court, &t.aud, &t.sys];
    let names = [
        "security-admin",
        "archivist",
        "agency A",
        "agency B",
        "court",
        "auditor",
        "system-admin",
    ];
    let mut wrong = Vec::new();
    for (method, path, body, expected) in &rows {
        // Without a token: 401 everywhere.
        let r = match *method {
            "GET" => get(&s, path, None),
            _ => post(&s, path, None, body.as_ref()),
        };
        if r.status != 401 {
            wrong.push(format!("{method} {path} without token: {}", r.status));
        }
        for (i, tok) in roles.iter().enumerate() {
            let r = match *method {
                "GET" => get(&s, path, Some(tok)),
                _ => post(&s, path, Some(tok), body.as_ref()),
            };
            if r.status != expected[i] {
                wrong.push(format!(
                    "{method} {path} as {}: {} (expected {}): {}",
                    names[i],
                    r.status,
                    expected[i],
                    r.text().chars().take(200).collect::<String>()
                ));
            }
        }
    }
    // Uploads: only agencies and archivists may submit (a body that is no package at all).
    for (i, tok) in roles.iter().enumerate() {
        let r = upload(&s, tok, b"not a package");
        let ok = matches!(i, 1..=3);
        if (r.status == 202) != ok || (!ok && r.status != 403) {
            wrong.push(format!("upload as {}: {}", names[i], r.status));
        }
    }
    assert!(
        wrong.is_empty(),
        "authorization matrix:\n{}",
        wrong.join("\n")
    );
    // A bad token is 401, and says why without internals.
    let r = get(&s, "/api/records", Some("srt_0000000000000000_00"));
    assert_eq!(r.status, 401);
    assert_eq!(r.json()["error"], "unauthenticated");
    assert!(r.header("www-authenticate").starts_with("Bearer"));
    assert_eq!(s.stop(), Some(0), "graceful shutdown exits 0");
}

#[test]
fn agencies_see_only_their_own_public_records_and_every_read_is_in_the_ledger() {
    let (a, codes_a, codes_b) = two_agencies();
    let t = tokens(&a);
    let s = ServeProcess::start(&a, "server.log");

    // By id: B's records are 404 to A, and B's 内部 record is 404 to B itself.
    for c in &codes_b {
        assert_eq!(
            get(&s, &format!("/api/records/{}", enc(c)), Some(&t.ag_a)).status,
            404
        );
        assert_eq!(
            get(
                &s,
                &format!("/api/records/{}/files/record.json", enc(c)),
                Some(&t.ag_a)
            )
            .status,
            404
        );
    }
    assert_eq!(
        get(
            &s,
            &format!("/api/records/{}", enc(&codes_b[0])),
            Some(&t.ag_b)
        )
        .status,
        404
    );
    assert_eq!(
        get(
            &s,
            &format!("/api/records/{}", enc(&codes_b[1])),
            Some(&t.ag_b)
        )
        .status,
        200
    );
    assert_eq!(
        get(
            &s,
            &format!("/api/records/{}", enc(&codes_b[0])),
            Some(&t.arch)
        )
        .status,
        200
    );

    // Lists.
    let list = |tok: &str| -> Vec<String> {
        get(&s, "/api/records", Some(tok)).json()["records"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["reference_code"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(list(&t.ag_a), codes_a);
    assert_eq!(list(&t.ag_b), codes_b[1..].to_vec());
    assert_eq!(list(&t.arch).len(), 6);
    assert!(
        list(&t.court).is_empty(),
        "a court sees nothing until a grant"
    );

    // Search and facet counts: within scope only.
    let q = format!("/api/search?q={}", enc("政务服务"));
    let v = get(&s, &q, Some(&t.ag_a)).json();
    assert_eq!(refcodes(&v), codes_a, "{v:#}");
    let agencies = v["facets"]["agency"].as_object().unwrap();
    assert_eq!(agencies.keys().collect::<Vec<_>>(), vec![A_AGENCY], "{v:#}");
    let v = get(&s, &q, Some(&t.ag_b)).json();
    assert_eq!(refcodes(&v), codes_b[1..].to_vec(), "{v:#}");
    assert_eq!(v["facets"]["agency"][B_AGENCY], 2, "{v:#}");
    assert!(v["facets"]["agency"].get(A_AGENCY).is_none(), "{v:#}");
    let v = get(&s, &q, Some(&t.arch)).json();
    assert_eq!(v["total"], 6, "{v:#}");
    let v = get(&s, &format!("{q}&agency={B_AGENCY}"), Some(&t.ag_a)).json();
    assert_eq!(v["total"], 0, "a filter cannot widen the scope: {v:#}");
    // Highlighted snippets.
    let v = get(
        &s,
        &format!("/api/search?q={}", enc("会议纪要")),
        Some(&t.arch),
    )
    .json();
    assert!(
        v["hits"][0]["snippet_html"]
            .as_str()
            .unwrap()
            .contains("<b>"),
        "{v:#}"
    );
    assert_eq!(
        get(&s, "/api/search?q=year:[2016", Some(&t.arch)).status / 100,
        2
    );

    // Show: recorded as a read, by the user, for the purpose given.
    let r = get(
        &s,
        &format!(
            "/api/records/{}?purpose={}",
            enc(&codes_a[0]),
            enc("诉讼 litigation")
        ),
        Some(&t.ag_a),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let v = r.json();
    assert_eq!(v["reference_code"], codes_a[0].as_str());
    assert_eq!(v["classification"], "公开");
    assert_eq!(v["agency"], A_AGENCY);
    let idx = v["read_ledger_index"].as_u64().unwrap();
    let e = get(&s, &format!("/api/ledger/entries/{idx}"), Some(&t.aud)).json();
    assert_eq!(e["type"], "record.read");
    assert_eq!(e["actor"], "agency-a");
    assert_eq!(e["purpose"], "诉讼 litigation");

    // Download with Range: 206 with the right bytes, and a read entry before them.
    let size_before = get(&s, "/api/ledger/checkpoint", Some(&t.aud)).json()["size"]
        .as_u64()
        .unwrap();
    let path = format!(
        "/api/records/{}/files/{}",
        enc(&codes_a[0]),
        enc("附件/清单.txt")
    );
    let whole = get(&s, &path, Some(&t.arch));
    assert_eq!(whole.status, 200);
    let on_disk = std::fs::read(sample().join("data/0001-平台建设通知/附件/清单.txt")).unwrap();
    assert_eq!(whole.body, on_disk);
    let part = get_h(&s, &path, Some(&t.arch), &[("Range", "bytes=2-9")]);
    assert_eq!(part.status, 206);
    assert_eq!(part.body, on_disk[2..10].to_vec());
    assert_eq!(
        part.header("content-range"),
        format!("bytes 2-9/{}", on_disk.len())
    );
    let r = get_h(&s, &path, Some(&t.arch), &[("Range", "bytes=999999-")]);
    assert_eq!(r.status, 416);
    let size_after = get(&s, "/api/ledger/checkpoint", Some(&t.aud)).json()["size"]
        .as_u64()
        .unwrap();
    assert_eq!(
        size_after,
        size_before + 2,
        "each download is one record.read entry"
    );

    // History: stored, then the reads, with proof links that answer.
    let h = get(
        &s,
        &format!("/api/records/{}/history", enc(&codes_a[0])),
        Some(&t.aud),
    )
    .json();
    let kinds: Vec<&str> = h
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["entry"]["type"].as_str().unwrap())
        .collect();
    assert_eq!(kinds[0], "record.stored", "{h:#}");
    assert!(
        kinds.iter().filter(|k| **k == "record.read").count() >= 3,
        "{h:#}"
    );
    let proof = get(&s, h[0]["proof"].as_str().unwrap(), Some(&t.aud));
    assert_eq!(proof.status, 200);
    assert!(
        proof.text().starts_with("c2sp.org/tlog-proof@v1"),
        "{}",
        proof.text()
    );

    // Fixity on demand, recorded as an audit.
    let v = post(
        &s,
        &format!("/api/records/{}/fixity", enc(&codes_a[1])),
        Some(&t.arch),
        None,
    )
    .json();
    assert_eq!(v["intact"], true, "{v:#}");
    let e = get(
        &s,
        &format!("/api/ledger/entries/{}", v["ledger_index"]),
        Some(&t.aud),
    )
    .json();
    assert_eq!(e["type"], "fixity.audited");

    // Ledger: checkpoint, key, consistency.
    let c = get(&s, "/api/ledger/checkpoint", Some(&t.ag_b)).json();
    assert!(c["note"]
        .as_str()
        .unwrap()
        .contains(c["origin"].as_str().unwrap()));
    let k = get(&s, "/api/ledger/vkey", Some(&t.ag_b)).json();
    assert!(k["verifier_key"].as_str().unwrap().contains('+'));
    let cons = get(
        &s,
        &format!("/api/ledger/consistency?old=2&new={}", c["size"]),
        Some(&t.aud),
    )
    .json();
    assert!(!cons["proof"].as_array().unwrap().is_empty());
    assert_eq!(
        get(&s, "/api/ledger/proof/999999", Some(&t.aud)).status,
        400
    );

    // Metrics count requests by route template, never by 档号.
    let m = get(&s, "/metrics", Some(&t.sys)).text();
    assert!(
        m.contains(
            "strongroom_http_requests_total{method=\"GET\",route=\"/api/records/{refcode}\""
        ),
        "{m}"
    );
    assert!(!m.contains("0194-WS"), "{m}");
    assert!(m.contains("strongroom_record_reads_total"), "{m}");

    // OpenAPI, generated from the handlers.
    let o = get(&s, "/api/openapi.json", None).json();
    for p in [
        "/api/transfers",
        "/api/records/{refcode}/files/{path}",
        "/api/search",
        "/api/ledger/consistency",
        "/api/copies/{copy_id}/revoke",
    ] {
        assert!(
            o["paths"].get(p).is_some(),
            "{p} missing from the OpenAPI document"
        );
    }
    assert_eq!(get(&s, "/healthz", None).json()["status"], "ok");
}

#[test]
fn users_tokens_and_revocation_bite_at_once() {
    let a = Archive::new();
    a.accept(&sample());
    let sec = user_token(&a, "sec", "security-admin");
    let s = ServeProcess::start(&a, "server.log");
    // The security administrator adds an archivist and issues a token through the API.
    let r = post(
        &s,
        "/api/users",
        Some(&sec),
        Some(&json!({"name": "lin", "role": "archivist"})),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["event"], "user.added");
    let r = post(
        &s,
        "/api/users",
        Some(&sec),
        Some(&json!({"name": "lin", "role": "archivist"})),
    );
    assert_eq!(r.status, 409);
    let r = post(
        &s,
        "/api/users",
        Some(&sec),
        Some(&json!({"name": "x", "role": "root"})),
    );
    assert_eq!(r.status, 400);
    assert!(r.json()["message"]
        .as_str()
        .unwrap()
        .contains("is not one of"));
    let issued = post(
        &s,
        "/api/users/lin/tokens",
        Some(&sec),
        Some(&json!({"expires": "2099-01-01"})),
    )
    .json();
    let lin = issued["token"].as_str().unwrap().to_string();
    assert_eq!(
        get(&s, "/api/whoami", Some(&lin)).json()["role"],
        "archivist"
    );
    // The token is stored only as a hash.
    let users_dir = a.store().join("users");
    for e in std::fs::read_dir(&users_dir).unwrap() {
        let text = std::fs::read_to_string(e.unwrap().path()).unwrap();
        assert!(
            !text.contains(&lin[20..]),
            "a token's secret is in the store"
        );
    }
    // Revoking the token (API) and a user (CLI, while the server runs) bites at once.
    let id = issued["token_id"].as_str().unwrap();
    assert_eq!(
        post(&s, &format!("/api/tokens/{id}/revoke"), Some(&sec), None).status,
        200
    );
    assert_eq!(get(&s, "/api/whoami", Some(&lin)).status, 401);
    let arch = user_token(&a, "wang", "archivist");
    assert_eq!(get(&s, "/api/records", Some(&arch)).status, 200);
    let out = a.run(&["user", "revoke", "wang"]);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(get(&s, "/api/records", Some(&arch)).status, 401);
    // Expired tokens do not work; an expiry in the past is refused.
    let out = a.run(&["token", "issue", "sec", "--expires", "2001-01-01"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    // Every change is a ledger entry.
    let (_, list) = a.json(&["user", "list"]);
    let users = list["users"].as_array().unwrap();
    assert_eq!(users.len(), 3, "{list:#}");
    let out = a.run(&["ledger", "verify"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stdout));
}

fn tar_bytes(dir: &Path, at: &Path) -> Vec<u8> {
    tar_of(dir, at);
    std::fs::read(at).unwrap()
}

fn uploads_left(a: &Archive) -> usize {
    std::fs::read_dir(a.home.join("staging/uploads"))
        .map(|d| d.count())
        .unwrap_or(0)
}

#[test]
fn transfers_upload_check_in_background_and_refuse_what_they_must() {
    let a = Archive::new();
    let t_a = user_token(&a, "agency-a", &format!("agency:{A_AGENCY}"));
    let t_b = user_token(&a, "agency-b", &format!("agency:{B_AGENCY}"));
    let arch = user_token(&a, "arch", "archivist");
    let s = ServeProcess::start(&a, "server.log");

    // Accepted: status, receipt (verifies with the CLI), the records are A's.
    let pkg = tar_bytes(&sample(), &a.dir.path().join("sample.tar"));
    let r = upload(&s, &t_a, &pkg);
    assert_eq!(r.status, 202, "{}", r.text());
    let id = r.json()["id"].as_str().unwrap().to_string();
    assert_eq!(r.header("location"), format!("/api/transfers/{id}"));
    let v = wait_transfer(&s, &t_a, &id);
    assert_eq!(v["state"], "accepted", "{v:#}");
    assert_eq!(v["agency_code"], A_AGENCY);
    assert_eq!(
        get(&s, &format!("/api/transfers/{id}"), Some(&t_b)).status,
        404
    );
    assert_eq!(
        get(&s, &format!("/api/transfers/{id}"), Some(&arch)).status,
        200
    );
    let receipt = get(&s, &format!("/api/transfers/{id}/receipt"), Some(&t_a)).text();
    let rp = a.dir.path().join("receipt.txt");
    std::fs::write(&rp, &receipt).unwrap();
    let out = a.run(&["receipt", "verify", rp.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stdout));
    let l = get(&s, "/api/transfers", Some(&t_a)).json();
    assert_eq!(l["accepted"].as_array().unwrap().len(), 1);
    assert_eq!(
        get(&s, "/api/transfers", Some(&t_b)).json()["accepted"]
            .as_array()
            .unwrap()
            .len(),
        0
    );
    assert_eq!(uploads_left(&a), 0);

    // An agency cannot transfer another agency's package: refused, nothing stored.
    let before = a.snapshot();
    let bag = next_year_package(a.dir.path(), "YJ-2017-0009", |_, _, _| {});
    let pkg_a2017 = tar_bytes(&bag, &a.dir.path().join("a2017.tar"));
    let r = upload(&s, &t_b, &pkg_a2017);
    let v = wait_transfer(&s, &t_b, r.json()["id"].as_str().unwrap());
    assert_eq!(v["state"], "rejected", "{v:#}");
    assert!(
        v["error"].as_str().unwrap().contains("Agency-Code"),
        "{v:#}"
    );
    assert_eq!(a.snapshot(), before);

    // A damaged package: rejected with the full report, nothing stored.
    let broken = a.dir.path().join("broken");
    copy_tree(&bag, &broken);
    std::fs::write(
        broken.join("data/0002-会议纪要/会议 纪要 第1期.txt"),
        "changed",
    )
    .unwrap();
    let r = upload(
        &s,
        &t_a,
        &tar_bytes(&broken, &a.dir.path().join("broken.tar")),
    );
    let id = r.json()["id"].as_str().unwrap().to_string();
    let v = wait_transfer(&s, &t_a, &id);
    assert_eq!(v["state"], "rejected", "{v:#}");
    let rep = get(&s, &format!("/api/transfers/{id}/report"), Some(&t_a)).json();
    assert!(!codes(&rep).is_empty(), "{rep:#}");
    assert_eq!(
        rep["package"],
        format!("upload {id}"),
        "no server path in the report"
    );
    assert_eq!(a.snapshot(), before);
    assert_eq!(
        get(&s, &format!("/api/transfers/{id}/receipt"), Some(&t_a)).status,
        404
    );

    // Cut off half-way: the connection closes after half the declared bytes.
    let mut sock = std::net::TcpStream::connect(&s.addr).unwrap();
    write!(
        sock,
        "POST /api/transfers HTTP/1.1\r\nHost: {}\r\nAuthorization: Bearer {t_a}\r\nContent-Type: application/octet-stream\r\nContent-Length: {}\r\n\r\n",
        s.addr,
        pkg_a2017.len()
    )
    .unwrap();
    sock.write_all(&pkg_a2017[..pkg_a2017.len() / 2]).unwrap();
    sock.flush().unwrap();
    std::thread::sleep(Duration::from_millis(300));
    drop(sock);
    let deadline = Instant::now() + Duration::from_secs(10);
    while uploads_left(&a) > 0 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(uploads_left(&a), 0, "the partial upload was not removed");
    let l = get(&s, "/api/transfers", Some(&arch)).json();
    assert_eq!(
        l["received"].as_array().unwrap().len(),
        3,
        "a cut-off upload is no transfer: {l:#}"
    );
    assert_eq!(a.snapshot(), before);

    // The same package in full is accepted.
    let r = upload(&s, &t_a, &pkg_a2017);
    let v = wait_transfer(&s, &t_a, r.json()["id"].as_str().unwrap());
    assert_eq!(v["state"], "accepted", "{v:#}");
    drop(s);

    // Over the size limit: 413 at once from Content-Length, and while streaming without one.
    let s = ServeProcess::start_with(&a, "server.log", &["--max-upload-bytes", "4096"]);
    let before = a.snapshot();
    let r = upload(&s, &t_a, &pkg);
    assert_eq!(r.status, 413, "{}", r.text());
    assert_eq!(r.json()["error"], "payload_too_large");
    let mut sock = std::net::TcpStream::connect(&s.addr).unwrap();
    write!(
        sock,
        "POST /api/transfers HTTP/1.1\r\nHost: {}\r\nAuthorization: Bearer {t_a}\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n",
        s.addr
    )
    .unwrap();
    for chunk in pkg.chunks(1024) {
        if write!(sock, "{:x}\r\n", chunk.len()).is_err()
            || sock.write_all(chunk).is_err()
            || sock.write_all(b"\r\n").is_err()
        {
            break;
        }
    }
    let _ = sock.write_all(b"0\r\n\r\n");
    let mut answer = String::new();
    let _ = sock.read_to_string(&mut answer);
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    assert_eq!(a.snapshot(), before);
    assert_eq!(uploads_left(&a), 0);
    assert_eq!(s.stop(), Some(0));
}

#[test]
fn web_pages_sign_in_search_in_chinese_and_open_a_record() {
    let a = Archive::new();
    a.accept(&sample());
    let arch = user_token(&a, "arch", "archivist");
    let s = ServeProcess::start(&a, "server.log");
    // Not signed in: to the sign-in page.
    let r = get(&s, "/search", None);
    assert_eq!(r.status, 303);
    assert_eq!(r.header("location"), "/signin");
    let r = get(&s, "/signin", None);
    assert!(
        r.text()
            .contains("<form method=\"post\" action=\"/signin\""),
        "{}",
        r.text()
    );
    // A wrong token is refused on the page; the right one sets an HttpOnly cookie.
    let bad = finish(
        agent()
            .post(format!("{}/signin", s.base))
            .send_form([("token", "nope")]),
    );
    assert_eq!(bad.status, 401);
    let ok = finish(
        agent()
            .post(format!("{}/signin", s.base))
            .send_form([("token", arch.as_str())]),
    );
    assert_eq!(ok.status, 303);
    let cookie = ok.header("set-cookie");
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"),
        "{cookie}"
    );
    let c = cookie.split(';').next().unwrap().to_string();
    let page =
        |path: &str, lang: &str| get_h(&s, path, None, &[("Cookie", &format!("{c}; lang={lang}"))]);
    let r = page(&format!("/search?q={}", enc("会议纪要")), "zh");
    assert_eq!(r.status, 200);
    let html = r.text();
    assert!(html.contains("<html lang=\"zh-CN\">"), "{html}");
    assert!(html.contains("网上政务服务平台建设协调会议纪要"), "{html}");
    assert!(html.contains("<b>"), "highlighted snippet: {html}");
    assert!(html.contains("立档单位"), "facets: {html}");
    let r = page(
        &format!("/records/{}", enc("0194-WS·2016-D30-BGS-0002")),
        "en",
    );
    assert_eq!(r.status, 200);
    let html = r.text();
    assert!(
        html.contains("Ledger history") && html.contains("inclusion proof"),
        "{html}"
    );
    assert!(
        html.contains("This view is recorded in the ledger"),
        "{html}"
    );
    let r = page(
        &format!("/records/{}", enc("0194-WS·2016-D30-BGS-9999")),
        "en",
    );
    assert_eq!(r.status, 404);
    let r = finish(
        agent()
            .post(format!(
                "{}/records/{}/fixity",
                s.base,
                enc("0194-WS·2016-D30-BGS-0002")
            ))
            .header("Cookie", &c)
            .send_empty(),
    );
    assert!(r.text().contains("完好"), "{}", r.text());
    let r = page("/transfers", "zh");
    assert!(r.text().contains(A_AGENCY), "{}", r.text());
}

#[test]
fn seal_verification_service_judges_against_the_registry() {
    use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
    use base64::Engine;
    use ring::signature::{Ed25519KeyPair, KeyPair};
    let a = Archive::new();
    let pkcs8 = Ed25519KeyPair::generate_pkcs8(&ring::rand::SystemRandom::new()).unwrap();
    let key = Ed25519KeyPair::from_pkcs8(pkcs8.as_ref()).unwrap();
    let raw = a.dir.path().join("agency.raw");
    std::fs::write(&raw, key.public_key().as_ref()).unwrap();
    let out = a.run(&[
        "seal",
        "trust",
        "add",
        "--agency",
        "AG1",
        "--key",
        raw.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let content = "正文: the record's bytes\n".repeat(50).into_bytes();
    // A detached JWS with the unencoded payload (RFC 7797).
    let h = URL_SAFE_NO_PAD.encode(r#"{"alg":"EdDSA","b64":false,"crit":["b64"]}"#);
    let mut input = format!("{h}.").into_bytes();
    input.extend_from_slice(&content);
    let seal = format!("{h}..{}", URL_SAFE_NO_PAD.encode(key.sign(&input).as_ref()));
    let aud = user_token(&a, "aud", "auditor");
    let s = ServeProcess::start(&a, "server.log");
    let ask = |body: &[u8]| {
        post(
            &s,
            "/api/seals/verify",
            Some(&aud),
            Some(
                &json!({"agency": "AG1", "file_base64": STANDARD.encode(body),
                "seal_base64": STANDARD.encode(&seal), "seal_kind": "jws"}),
            ),
        )
    };
    let r = ask(&content);
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["valid"], true, "{}", r.text());
    let mut changed = content.clone();
    changed[0] ^= 1;
    assert_eq!(ask(&changed).json()["valid"], false);
    let r = post(
        &s,
        "/api/seals/verify",
        Some(&aud),
        Some(&json!({"agency": "AG1", "file_base64": "%%", "seal_base64": "", "seal_kind": "jws"})),
    );
    assert_eq!(r.status, 400);
}

/// Peak resident memory of a process (VmHWM), in KiB.
fn peak_rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}

/// Bytes of a fixed pattern, produced as read (the test holds none of it either).
struct Pattern {
    left: u64,
}

impl Read for Pattern {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = (buf.len() as u64).min(self.left) as usize;
        for (i, b) in buf[..n].iter_mut().enumerate() {
            *b = (i % 251) as u8;
        }
        self.left -= n as u64;
        Ok(n)
    }
}

#[test]
fn a_2_gib_upload_streams_to_disk_with_bounded_memory() {
    const SIZE: u64 = 2 << 30;
    let a = Archive::new();
    let arch = user_token(&a, "arch", "archivist");
    let s = ServeProcess::start(&a, "server.log");
    let before = peak_rss_kib(s.child.id());
    let started = Instant::now();
    let r = finish(
        agent()
            .post(format!("{}/api/transfers", s.base))
            .header("Authorization", format!("Bearer {arch}"))
            .header("Content-Length", SIZE.to_string())
            .send(ureq::SendBody::from_owned_reader(Pattern { left: SIZE })),
    );
    let secs = started.elapsed().as_secs_f64();
    assert_eq!(r.status, 202, "{}", r.text());
    assert_eq!(r.json()["bytes"], SIZE);
    let peak = peak_rss_kib(s.child.id());
    eprintln!(
        "2 GiB upload: {:.1} s ({:.0} MiB/s), server peak RSS {} MiB (before: {} MiB)",
        secs,
        SIZE as f64 / secs / 1048576.0,
        peak / 1024,
        before / 1024
    );
    assert!(
        peak < before + 128 * 1024,
        "the server's memory grew with the upload: {before} KiB → {peak} KiB"
    );
    // Not a package: rejected by intake, and the uploaded file is gone.
    let v = wait_transfer(&s, &arch, r.json()["id"].as_str().unwrap());
    assert_eq!(v["state"], "rejected", "{v:#}");
    assert_eq!(codes(&v["report"]), vec!["PKG_UNKNOWN_FORMAT"], "{v:#}");
    assert_eq!(uploads_left(&a), 0);
}

#[test]
fn shutdown_lets_a_running_transfer_check_finish() {
    let a = Archive::new();
    let arch = user_token(&a, "arch", "archivist");
    let s = ServeProcess::start(&a, "server.log");
    let pkg = tar_bytes(&sample(), &a.dir.path().join("sample.tar"));
    let r = upload(&s, &arch, &pkg);
    assert_eq!(r.status, 202, "{}", r.text());
    // SIGTERM right after the upload: the server waits for the checks, then exits 0.
    assert_eq!(s.stop(), Some(0));
    let (code, v) = a.json(&["list"]);
    assert_eq!(code, Some(0));
    assert_eq!(v.as_array().unwrap().len(), 3, "{v:#}");
    assert_eq!(uploads_left(&a), 0);
}

const R1: &str = DUE_R1;
const R3: &str = DUE_R3;

/// An archive where R1 and R3 are due (`common::due_package`).
fn due_archive() -> Archive {
    let a = Archive::new();
    a.accept(&due_package(a.dir.path()));
    a
}

fn due_items(v: &Value) -> Vec<String> {
    v["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["reference_code"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn retention_over_the_api_holds_due_lists_and_a_two_archivist_disposition() {
    let a = due_archive();
    let alice = user_token(&a, "alice", "archivist");
    let bob = user_token(&a, "bob", "archivist");
    let s = ServeProcess::start(&a, "server.log");
    let (al, bo) = (Some(alice.as_str()), Some(bob.as_str()));

    // The due list as JSON, as CSV (by ?format= and by Accept), and bad input named.
    let r = get(&s, "/api/retention/due?as_of=2022-01-01", al);
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(due_items(&r.json()), [R1, R3]);
    let r = get(&s, "/api/retention/due?as_of=2021-12-31&action=destroy", al);
    assert_eq!(due_items(&r.json()), [R3]);
    let r = get(&s, "/api/retention/due?as_of=2022-01-01&format=csv", al);
    assert_eq!(r.status, 200);
    assert!(r.header("content-type").starts_with("text/csv"));
    let csv = r.text();
    assert!(csv.starts_with('\u{feff}'), "UTF-8 with BOM");
    assert!(
        csv.contains("档号") && csv.contains(R1) && csv.contains(R3),
        "{csv}"
    );
    let r = get_h(
        &s,
        "/api/retention/due?as_of=2022-01-01",
        al,
        &[("Accept", "text/csv")],
    );
    assert!(r.text().contains("序号"), "{}", r.text());
    for (q, says) in [
        ("as_of=2022-02-30", "2022-02-30"),
        ("action=burn", "burn"),
        ("format=xml", "xml"),
    ] {
        let r = get(&s, &format!("/api/retention/due?{q}"), al);
        assert_eq!(r.status, 400, "{q}: {}", r.text());
        assert!(r.json()["message"].as_str().unwrap().contains(says));
    }

    // A hold on R1: it leaves the due list and is kept out of a batch.
    let r = post(
        &s,
        "/api/holds",
        al,
        Some(
            &json!({"reference_codes": [R1], "reason": "诉讼", "authority": "（2026）京01民初1号"}),
        ),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let hold = r.json()["hold"].as_str().unwrap().to_string();
    let r = post(
        &s,
        "/api/holds",
        al,
        Some(
            &json!({"reference_codes": ["0194-WS·2016-D5-BGS-9999"], "reason": "x", "authority": "y"}),
        ),
    );
    assert_eq!(r.status, 404, "a hold on no record: {}", r.text());
    let r = get(&s, "/api/retention/due?as_of=2022-01-01", al);
    let v = r.json();
    assert_eq!(due_items(&v), [R3]);
    assert_eq!(v["held"][0][0], R1);

    // A batch: proposed by alice, approved once by her; her second approval is refused and
    // stores nothing; execution waits for a second archivist.
    let r = post(&s, "/api/dispositions", al, Some(&json!({})));
    assert_eq!(r.status, 200, "{}", r.text());
    let batch = r.json()["batch"]["batch"].as_u64().unwrap();
    assert_eq!(
        due_items(&r.json()["batch"]),
        [R3],
        "the held R1 is left out"
    );
    let approve = |tok| post(&s, &format!("/api/dispositions/{batch}/approve"), tok, None);
    let r = approve(al);
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["approval"], 1);
    let before = a.snapshot();
    let r = approve(al);
    assert_eq!(r.status, 409, "{}", r.text());
    assert_eq!(r.json()["error"], "refused");
    assert!(r.json()["message"].as_str().unwrap().contains("alice"));
    assert_eq!(a.snapshot(), before, "a refused approval stores nothing");
    let execute = |tok, w: Value| {
        post(
            &s,
            &format!("/api/dispositions/{batch}/execute"),
            tok,
            Some(&json!({ "witnesses": w })),
        )
    };
    let r = execute(al, json!(["王监销", "李监销"]));
    assert_eq!(r.status, 409, "not approved yet: {}", r.text());
    let r = approve(bo);
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["approvers"], json!(["alice", "bob"]));
    let approved_at = r.json()["applied"]["ledger_index"].as_u64().unwrap();
    let r = get(&s, &format!("/api/dispositions/{batch}"), al);
    assert_eq!(r.json()["status"], "approved");
    let r = execute(bo, json!(["王监销"]));
    assert_eq!(r.status, 400, "one witness: {}", r.text());
    let r = get(&s, &format!("/api/dispositions/{batch}/certificate"), al);
    assert_eq!(r.status, 409, "no certificate before execution");
    let r = execute(bo, json!(["王监销", "李监销"]));
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["destroyed_now"], json!([R3]));

    // What remains: a tombstone (410), the certificate, the batch executed; R1 untouched.
    let r = get(&s, &format!("/api/records/{}", enc(R3)), al);
    assert_eq!(r.status, 410, "{}", r.text());
    assert_eq!(r.json()["error"], "destroyed");
    assert_eq!(
        get(&s, &format!("/api/records/{}", enc(R1)), al).status,
        200
    );
    let r = get(&s, &format!("/api/dispositions/{batch}/certificate"), al);
    assert_eq!(r.status, 200);
    let cert = r.text();
    assert!(cert.contains(R3) && cert.contains("王监销"), "{cert}");
    let file = a.dir.path().join("certificate.txt");
    std::fs::write(&file, &cert).unwrap();
    let out = a.run(&["dispose", "verify", file.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let r = get(&s, "/api/dispositions", al);
    assert_eq!(r.json()[0]["status"], "executed");

    // Lifting the hold: two distinct archivists; the same one twice is refused.
    let lift = |tok| {
        post(
            &s,
            &format!("/api/holds/{hold}/lift"),
            tok,
            Some(&json!({"reason": "结案"})),
        )
    };
    let r = lift(bo);
    assert_eq!(r.json()["lifted"], false, "{}", r.text());
    assert_eq!(lift(bo).status, 409);
    let r = lift(al);
    assert_eq!(r.json()["lifted"], true, "{}", r.text());
    let r = get(&s, "/api/holds", al);
    assert_eq!(r.json()[0]["active"], false, "{}", r.text());
    // The changes are in the ledger in the archivists' names.
    let r = get(&s, &format!("/api/ledger/entries/{approved_at}"), al);
    let e = r.json();
    assert_eq!(e["type"], "disposition.approved", "{e}");
    assert_eq!(e["actor"], "bob", "{e}");
    assert_eq!(s.stop(), Some(0));
}

#[test]
fn a_court_sees_only_the_copies_granted_to_it_and_the_records_they_name() {
    let (a, codes_a, codes_b) = two_agencies();
    let arch = user_token(&a, "arch", "archivist");
    let c1 = user_token(&a, "court1", "court:BJ-01");
    let c2 = user_token(&a, "court2", "court:BJ-02");
    let s = ServeProcess::start(&a, "server.log");
    let (arch, c1, c2) = (Some(arch.as_str()), Some(c1.as_str()), Some(c2.as_str()));
    // codes_b[0] is 内部: before any grant, no court sees it, by id or search.
    let internal = enc(&codes_b[0]);
    assert_eq!(get(&s, &format!("/api/records/{internal}"), c1).status, 404);
    let r = get(&s, "/api/search?q=%E4%BC%9A%E8%AE%AE", c1);
    assert_eq!(r.json()["total"], 0, "{}", r.text());

    // Bad requests are named and store nothing.
    let before = a.snapshot();
    for (body, status) in [
        (
            json!({"court": "BJ 01", "request": "r", "records": [codes_b[0]]}),
            400,
        ),
        (
            json!({"court": "BJ-01", "request": " ", "records": [codes_b[0]]}),
            400,
        ),
        (
            json!({"court": "BJ-01", "request": "r", "records": ["0194-WS·2016-D30-BGS-9999"]}),
            404,
        ),
    ] {
        let r = post(&s, "/api/copies", arch, Some(&body));
        assert_eq!(r.status, status, "{body}: {}", r.text());
    }
    assert_eq!(a.snapshot(), before, "refused copy requests store nothing");

    // The archivist issues a copy of the 内部 record for court BJ-01.
    let r = post(
        &s,
        "/api/copies",
        arch,
        Some(
            &json!({"court": "BJ-01", "request": "（2026）京01民初1号 调卷函", "records": [codes_b[0]]}),
        ),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let v = r.json();
    let copy_id = v["copy"]["copy_id"].as_str().unwrap().to_string();
    assert_eq!(v["grant"]["court"], "BJ-01");
    assert_eq!(v["grant"]["reference_codes"], json!([codes_b[0]]));
    let granted_at = v["grant"]["ledger_index"].as_u64().unwrap();
    let e = get(&s, &format!("/api/ledger/entries/{granted_at}"), arch).json();
    assert_eq!(e["type"], "copy.granted", "{e}");
    assert_eq!(e["actor"], "arch");

    // Court BJ-01: lists it, downloads it (a valid bundle), reads the record it names and
    // nothing else.
    let r = get(&s, "/api/copies", c1);
    assert_eq!(r.json().as_array().unwrap().len(), 1, "{}", r.text());
    let r = get(&s, &format!("/api/copies/{copy_id}/bundle"), c1);
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(r.body.starts_with(b"PK"), "a ZIP");
    let file = a.dir.path().join("court-copy.zip");
    std::fs::write(&file, &r.body).unwrap();
    let vkey = a.home.join("archive.pub");
    let out = a.run(&[
        "copy",
        "verify",
        file.to_str().unwrap(),
        "--key",
        vkey.to_str().unwrap(),
    ]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    let r = get(&s, &format!("/api/records/{internal}"), c1);
    assert_eq!(r.status, 200, "the granted 内部 record: {}", r.text());
    assert_eq!(
        get(&s, &format!("/api/records/{}", enc(&codes_a[0])), c1).status,
        404
    );
    let r = get(&s, "/api/records", c1);
    assert_eq!(r.json()["total"], 1, "{}", r.text());
    // The download was recorded as a read of the record, in the court user's name.
    let r = get(&s, &format!("/api/records/{internal}/history"), arch);
    let reads: Vec<Value> = r
        .json()
        .as_array()
        .unwrap()
        .iter()
        .filter(|h| h["entry"]["type"] == "record.read" && h["entry"]["actor"] == "court1")
        .cloned()
        .collect();
    assert!(
        reads
            .iter()
            .any(|h| h["entry"]["file"] == format!("copy:{copy_id}")),
        "{reads:?}"
    );

    // Court BJ-02 sees none of it.
    let r = get(&s, "/api/copies", c2);
    assert_eq!(r.json(), json!([]));
    assert_eq!(get(&s, &format!("/api/copies/{copy_id}"), c2).status, 404);
    assert_eq!(
        get(&s, &format!("/api/copies/{copy_id}/bundle"), c2).status,
        404
    );
    assert_eq!(get(&s, &format!("/api/records/{internal}"), c2).status, 404);

    // A bundle changed on disk is not handed out.
    let bundle = a
        .home
        .join("copies")
        .join(v["grant"]["bundle"].as_str().unwrap());
    let mut bytes = std::fs::read(&bundle).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 1;
    std::fs::write(&bundle, &bytes).unwrap();
    let r = get(&s, &format!("/api/copies/{copy_id}/bundle"), c1);
    assert_eq!(r.status, 409, "{}", r.text());
    assert_eq!(s.stop(), Some(0));
}

#[test]
fn serve_catches_the_search_index_up_in_the_background_at_start_up() {
    let a = Archive::new();
    a.accept(&sample());
    let arch = user_token(&a, "arch", "archivist");
    // An index that knows nothing: the server must catch it up without being asked.
    let _ = std::fs::remove_dir_all(a.home.join("index"));
    let s = ServeProcess::start(&a, "server.log");
    // It answers at once…
    assert_eq!(get(&s, "/healthz", None).status, 200);
    // …and catches the index up on its own, before any search.
    let log = a.dir.path().join("server.log");
    let deadline = Instant::now() + Duration::from_secs(60);
    while !std::fs::read_to_string(&log)
        .unwrap_or_default()
        .contains("search index caught up")
    {
        assert!(
            Instant::now() < deadline,
            "no catch-up at start-up: {}",
            std::fs::read_to_string(&log).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let r = get(
        &s,
        "/api/search?q=%E4%BC%9A%E8%AE%AE%E7%BA%AA%E8%A6%81",
        Some(&arch),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(r.json()["total"].as_u64().unwrap() >= 1, "{}", r.text());
    assert_eq!(s.stop(), Some(0));
}

#[test]
fn a_revoked_grant_gives_the_court_nothing_more_and_its_reads_stay_in_the_ledger() {
    let (a, codes_a, codes_b) = two_agencies();
    let arch = user_token(&a, "arch", "archivist");
    let c1 = user_token(&a, "court1", "court:BJ-01");
    let s = ServeProcess::start(&a, "server.log");
    let (arch, c1) = (Some(arch.as_str()), Some(c1.as_str()));
    let issue = |records: Value| {
        let r = post(
            &s,
            "/api/copies",
            arch,
            Some(&json!({"court": "BJ-01", "request": "（2026）京01民初7号", "records": records})),
        );
        assert_eq!(r.status, 200, "{}", r.text());
        r.json()["copy"]["copy_id"].as_str().unwrap().to_string()
    };
    // Two copies: the 内部 record alone, and a 公开 record of agency A.
    let first = issue(json!([codes_b[0]]));
    let second = issue(json!([codes_a[0]]));
    let internal = enc(&codes_b[0]);
    // The court reads through the first copy: a download and a record view.
    assert_eq!(
        get(&s, &format!("/api/copies/{first}/bundle"), c1).status,
        200
    );
    assert_eq!(get(&s, &format!("/api/records/{internal}"), c1).status, 200);
    let reads_before = court_reads(&s, arch, &internal);
    assert!(reads_before >= 2, "{reads_before}");

    // Refusals store nothing.
    let before = a.snapshot();
    for (path, body, status) in [
        (
            format!("/api/copies/{first}/revoke"),
            json!({"reason": "  "}),
            400,
        ),
        (
            "/api/copies/0123456789abcdef/revoke".to_string(),
            json!({"reason": "r"}),
            404,
        ),
    ] {
        let r = post(&s, &path, arch, Some(&body));
        assert_eq!(r.status, status, "{path}: {}", r.text());
    }
    let r = post(
        &s,
        &format!("/api/copies/{first}/revoke"),
        c1,
        Some(&json!({"reason": "r"})),
    );
    assert_eq!(r.status, 403, "a court cannot revoke: {}", r.text());
    assert_eq!(a.snapshot(), before, "refused revocations store nothing");

    // The archivist revokes the first grant; its bundle leaves the home, the second stays.
    let (first_bundle, second_bundle) = (bundle_of(&a, &first), bundle_of(&a, &second));
    assert!(first_bundle.exists() && second_bundle.exists());
    let r = post(
        &s,
        &format!("/api/copies/{first}/revoke"),
        arch,
        Some(&json!({"reason": "诉讼已终结，调阅目的已完成"})),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let v = r.json();
    assert_eq!(v["bundle_removed"], true, "{v:#}");
    assert!(
        !first_bundle.exists(),
        "the revoked grant's bundle is removed"
    );
    assert!(second_bundle.exists());
    // An archivist asking for it is told why, not "missing".
    let r = get(&s, &format!("/api/copies/{first}/bundle"), arch);
    assert_eq!(r.status, 410, "{}", r.text());
    assert!(r.text().contains("revoked by arch"), "{}", r.text());
    let at = v["applied"]["ledger_index"].as_u64().unwrap();
    assert_eq!(v["revocation"]["copy_id"], first);
    let e = get(&s, &format!("/api/ledger/entries/{at}"), arch).json();
    assert_eq!(e["type"], "copy.revoked", "{e}");
    assert_eq!(e["actor"], "arch");
    assert_eq!(e["court"], "BJ-01");
    assert_eq!(e["reason"], "诉讼已终结，调阅目的已完成");
    assert_eq!(e["grant_ledger_index"], v["grant"]["ledger_index"]);

    // The court: 404 for the copy, its bundle and its record, by id, list and search; the
    // second copy and its record stay.
    assert_eq!(get(&s, &format!("/api/copies/{first}"), c1).status, 404);
    assert_eq!(
        get(&s, &format!("/api/copies/{first}/bundle"), c1).status,
        404
    );
    assert_eq!(get(&s, &format!("/api/records/{internal}"), c1).status, 404);
    let l = get(&s, "/api/copies", c1).json();
    let ids: Vec<&str> = l
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["copy_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, vec![second.as_str()], "{l:#}");
    let r = get(&s, "/api/records", c1).json();
    assert_eq!(r["total"], 1, "{r:#}");
    let r = get(&s, &format!("/api/search?q={}", enc("会议")), c1).json();
    assert!(
        r["hits"]
            .as_array()
            .unwrap()
            .iter()
            .all(|h| h["reference_code"] != codes_b[0]),
        "{r:#}"
    );
    assert_eq!(
        get(&s, &format!("/api/records/{}", enc(&codes_a[0])), c1).status,
        200
    );
    // The archivist still sees it, revoked, and the court's earlier reads stay.
    let l = get(&s, "/api/copies", arch).json();
    let g = l
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["copy_id"] == first)
        .unwrap()
        .clone();
    assert_eq!(g["revoked"]["revoked_by"], "arch", "{g:#}");
    assert_eq!(court_reads(&s, arch, &internal), reads_before);
    // A revocation is final.
    let r = post(
        &s,
        &format!("/api/copies/{first}/revoke"),
        arch,
        Some(&json!({"reason": "again"})),
    );
    assert_eq!(r.status, 409, "{}", r.text());

    // The CLI revokes the second while the server runs; it bites at the next request.
    let out = a.run(&["copy", "revoke", &second, "--reason", "误授权"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("its bundle was removed"),
        "{}",
        text(&out.stdout)
    );
    assert!(
        !second_bundle.exists(),
        "copy revoke removes the bundle too"
    );
    assert_eq!(get(&s, &format!("/api/copies/{second}"), c1).status, 404);
    assert_eq!(
        get(&s, &format!("/api/records/{}", enc(&codes_a[0])), c1).status,
        404
    );
    assert_eq!(get(&s, "/api/copies", c1).json(), json!([]));
    let (code, v) = a.json(&["copy", "revoke", &second, "--reason", "again"]);
    assert_eq!(code, Some(1), "{v:#}");
    assert_eq!(v["revoked"], false);
    let (code, _) = a.json(&["copy", "revoke", "0123456789abcdef", "--reason", "r"]);
    assert_eq!(code, Some(1));
    assert_eq!(s.stop(), Some(0));
    let out = a.run(&["ledger", "verify"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stdout));
}

/// Where a copy's bundle lies in the home, as its grant (`copy list`) names it.
fn bundle_of(a: &Archive, copy_id: &str) -> std::path::PathBuf {
    let (code, v) = a.json(&["copy", "list", "--all"]);
    assert_eq!(code, Some(0), "{v:#}");
    let g = v
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["copy_id"] == copy_id)
        .unwrap_or_else(|| panic!("copy {copy_id} not listed: {v:#}"));
    a.home.join("copies").join(g["bundle"].as_str().unwrap())
}

#[test]
fn copy_list_shows_every_grant_and_prune_removes_the_bundles_of_revoked_and_expired_ones() {
    let (a, codes_a, codes_b) = two_agencies();
    let arch = user_token(&a, "arch", "archivist");
    let c1 = user_token(&a, "court1", "court:BJ-01");
    let s = ServeProcess::start(&a, "server.log");
    let (arch, c1) = (Some(arch.as_str()), Some(c1.as_str()));
    let issue = |court: &str, records: Value, expires: Option<&str>| {
        let mut body = json!({"court": court, "request": format!("（2026）{court}民初1号"), "records": records});
        if let Some(e) = expires {
            body["expires"] = e.into();
        }
        post(&s, "/api/copies", arch, Some(&body))
    };
    // An expiry already past, or not a date, is refused before anything is written.
    let before = a.snapshot();
    for bad in ["2020-01-01", "next week"] {
        let r = issue("BJ-01", json!([codes_a[0]]), Some(bad));
        assert_eq!(r.status, 400, "{bad}: {}", r.text());
        assert!(r.text().contains("expires"), "{}", r.text());
    }
    assert_eq!(a.snapshot(), before, "a refused expiry stores nothing");
    assert!(
        !a.home.join("copies").exists()
            || std::fs::read_dir(a.home.join("copies")).unwrap().count() == 0
    );

    // Three grants: BJ-01 until revoked, BJ-01 for a few seconds, BJ-02 until revoked.
    let id = |r: Resp| {
        assert_eq!(r.status, 200, "{}", r.text());
        r.json()["copy"]["copy_id"].as_str().unwrap().to_string()
    };
    let lasting = id(issue("BJ-01", json!([codes_a[0], codes_b[0]]), None));
    let expiry = chrono::Utc::now() + chrono::Duration::seconds(6);
    let expiry_s = expiry.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let brief = id(issue("BJ-01", json!([codes_a[1]]), Some(&expiry_s)));
    let other = id(issue("BJ-02", json!([codes_a[2]]), None));

    // `copy list` shows them as the API shows an archivist: id, court, records, request, by
    // whom and when, expiry, state.
    let (code, listed) = a.json(&["copy", "list"]);
    let listed_by = chrono::Utc::now();
    assert_eq!(code, Some(0), "{listed:#}");
    let rows = listed.as_array().unwrap();
    let ids: Vec<&str> = rows
        .iter()
        .map(|g| g["copy_id"].as_str().unwrap())
        .collect();
    // (Only when the listing finished before the expiry can it show the brief grant.)
    if listed_by < expiry {
        assert_eq!(
            ids,
            vec![lasting.as_str(), brief.as_str(), other.as_str()],
            "{listed:#}"
        );
        assert_eq!(rows[1]["state"], "active");
        assert_eq!(rows[1]["expires"], expiry_s.as_str());
    }
    let g = &rows[0];
    assert_eq!(g["court"], "BJ-01");
    assert_eq!(g["reference_codes"], json!([codes_a[0], codes_b[0]]));
    assert_eq!(g["request"], "（2026）BJ-01民初1号");
    assert_eq!(g["granted_by"], "arch");
    assert!(g["granted_at"].as_str().unwrap().ends_with('Z'), "{g:#}");
    assert_eq!(g["expires"], Value::Null);
    assert_eq!(g["state"], "active");
    assert_eq!(g["revoked"], Value::Null);
    let (_, only) = a.json(&["copy", "list", "--court", "BJ-02"]);
    assert_eq!(only.as_array().unwrap().len(), 1, "{only:#}");
    assert_eq!(only[0]["copy_id"], other);

    // Revoked from the command line: its bundle goes, and only --all still lists it.
    let other_bundle = bundle_of(&a, &other);
    let (code, v) = a.json(&["copy", "revoke", &other, "--reason", "法院撤回调卷函"]);
    assert_eq!(code, Some(0), "{v:#}");
    assert_eq!(v["bundle_removed"], true);
    assert!(!other_bundle.exists());
    let (_, active) = a.json(&["copy", "list", "--court", "BJ-02"]);
    assert_eq!(active, json!([]));
    let (_, all) = a.json(&["copy", "list", "--court", "BJ-02", "--all"]);
    assert_eq!(all[0]["state"], "revoked", "{all:#}");
    assert_eq!(all[0]["revoked"]["revoked_by"], "tester");
    assert_eq!(all[0]["revoked"]["reason"], "法院撤回调卷函");
    let out = a.run(&["copy", "list", "--all"]);
    assert_eq!(out.status.code(), Some(0));
    let listing = text(&out.stdout);
    assert!(
        listing.contains(&format!("copy {other}  court BJ-02  revoked by tester")),
        "{listing}"
    );
    assert!(listing.contains(&codes_a[2]), "{listing}");

    // Once the brief grant expires the court has nothing through it, with no entry written.
    let (lasting_bundle, brief_bundle) = (bundle_of(&a, &lasting), bundle_of(&a, &brief));
    let wait = expiry - chrono::Utc::now() + chrono::Duration::milliseconds(1200);
    if let Ok(w) = wait.to_std() {
        std::thread::sleep(w);
    }
    assert_eq!(get(&s, &format!("/api/copies/{brief}"), c1).status, 404);
    assert_eq!(
        get(&s, &format!("/api/copies/{brief}/bundle"), c1).status,
        404
    );
    assert_eq!(
        get(&s, &format!("/api/records/{}", enc(&codes_a[1])), c1).status,
        404
    );
    assert_eq!(get(&s, &format!("/api/copies/{lasting}"), c1).status, 200);
    let (_, all) = a.json(&["copy", "list", "--all"]);
    let states: Vec<(&str, &str)> = all
        .as_array()
        .unwrap()
        .iter()
        .map(|g| (g["copy_id"].as_str().unwrap(), g["state"].as_str().unwrap()))
        .collect();
    assert_eq!(
        states,
        vec![
            (lasting.as_str(), "active"),
            (brief.as_str(), "expired"),
            (other.as_str(), "revoked")
        ]
    );
    // The API gives an archivist the very same listing (one reader).
    assert_eq!(get(&s, "/api/copies", arch).json(), all);
    let out = a.run(&["copy", "list", "--all"]);
    assert!(
        text(&out.stdout).contains(&format!("expired at {expiry_s}")),
        "{}",
        text(&out.stdout)
    );

    // prune: a dry run says what it would remove and removes nothing; then the expired
    // grant's bundle goes and the active one's stays; the store and ledger are untouched.
    let before = a.snapshot();
    let (code, dry) = a.json(&["copy", "prune", "--dry-run"]);
    assert_eq!(code, Some(0), "{dry:#}");
    assert_eq!(dry["dry_run"], true);
    assert_eq!(dry["removed"].as_array().unwrap().len(), 1, "{dry:#}");
    assert!(brief_bundle.exists(), "a dry run removes nothing");
    let (code, done) = a.json(&["copy", "prune"]);
    assert_eq!(code, Some(0), "{done:#}");
    let removed = done["removed"].as_array().unwrap();
    assert_eq!(removed.len(), 1, "{done:#}");
    assert_eq!(removed[0]["copy_id"], brief);
    assert_eq!(removed[0]["state"], "expired");
    assert_eq!(removed[0]["since"], expiry_s.as_str());
    assert_eq!(done["kept"], 1);
    assert_eq!(
        done["already_gone"], 1,
        "the revoked one's bundle went with the revocation"
    );
    assert_eq!(done["bytes_removed"], removed[0]["bytes"]);
    assert!(!brief_bundle.exists());
    assert!(
        lasting_bundle.exists(),
        "prune keeps the bundle of a grant in force"
    );
    assert_eq!(a.snapshot(), before, "prune touches nothing in the store");
    // An archivist asking for the pruned bundle is told why.
    let r = get(&s, &format!("/api/copies/{brief}/bundle"), arch);
    assert_eq!(r.status, 410, "{}", r.text());
    assert!(r.text().contains("expired"), "{}", r.text());
    // The court still downloads the copy in force, and a second prune finds nothing.
    let r = get(&s, &format!("/api/copies/{lasting}/bundle"), c1);
    assert_eq!(r.status, 200, "{}", r.text());
    let out = a.run(&["copy", "prune"]);
    assert_eq!(out.status.code(), Some(0));
    assert!(
        text(&out.stdout).contains("removed 0 bundles"),
        "{}",
        text(&out.stdout)
    );
    assert_eq!(s.stop(), Some(0));
}

/// How many `record.read` entries of the court user the record's history holds.
fn court_reads(s: &ServeProcess, arch: Option<&str>, record: &str) -> usize {
    let r = get(s, &format!("/api/records/{record}/history"), arch);
    assert_eq!(r.status, 200, "{}", r.text());
    r.json()
        .as_array()
        .unwrap()
        .iter()
        .filter(|h| h["entry"]["type"] == "record.read" && h["entry"]["actor"] == "court1")
        .count()
}

/// Holds the store's writer lock in this test process's name (a live writer), so that a
/// transfer's checks wait for it.
fn hold_writer_lock(a: &Archive) -> std::path::PathBuf {
    let now = chrono::Utc::now();
    let lock = a.store().join("locks").join("writer.json");
    std::fs::create_dir_all(lock.parent().unwrap()).unwrap();
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap();
    let boot = std::fs::read_to_string("/proc/sys/kernel/random/boot_id").unwrap();
    write_json(
        &lock,
        &json!({"token": "test-holder", "actor": "test", "host": host.trim(),
            "pid": std::process::id(), "boot_id": boot.trim(),
            "acquired": now.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            "expires": (now + chrono::Duration::hours(1)).to_rfc3339_opts(chrono::SecondsFormat::Secs, true)}),
    );
    lock
}

#[test]
fn transfer_status_survives_a_restart_and_a_check_cut_short_is_abandoned() {
    let a = Archive::new();
    let ag = user_token(&a, "agency-a", &format!("agency:{A_AGENCY}"));
    let ag_b = user_token(&a, "agency-b", &format!("agency:{B_AGENCY}"));
    let arch = user_token(&a, "arch", "archivist");
    let s = ServeProcess::start(&a, "server.log");
    // One accepted, one rejected (a file changed after bagging).
    let pkg = tar_bytes(&sample(), &a.dir.path().join("sample.tar"));
    let r = upload(&s, &ag, &pkg);
    assert_eq!(r.status, 202, "{}", r.text());
    let ok = r.json()["id"].as_str().unwrap().to_string();
    let accepted = wait_transfer(&s, &ag, &ok);
    assert_eq!(accepted["state"], "accepted", "{accepted:#}");
    let receipt = get(&s, &format!("/api/transfers/{ok}/receipt"), Some(&ag)).text();
    let bad = next_year_package(a.dir.path(), "YJ-2017-0002", |_, _, _| {});
    let data = bad.join("data");
    let file = std::fs::read_dir(&data)
        .unwrap()
        .flat_map(|d| std::fs::read_dir(d.unwrap().path()).unwrap())
        .map(|f| f.unwrap().path())
        .find(|p| p.file_name().unwrap() != "record.json")
        .unwrap();
    let mut bytes = std::fs::read(&file).unwrap();
    bytes.push(b'!');
    std::fs::write(&file, bytes).unwrap();
    let r = upload(&s, &ag, &tar_bytes(&bad, &a.dir.path().join("bad.tar")));
    assert_eq!(r.status, 202, "{}", r.text());
    let rejected_id = r.json()["id"].as_str().unwrap().to_string();
    let rejected = wait_transfer(&s, &ag, &rejected_id);
    assert_eq!(rejected["state"], "rejected", "{rejected:#}");
    let report = get(
        &s,
        &format!("/api/transfers/{rejected_id}/report"),
        Some(&ag),
    )
    .json();
    assert!(
        !report["findings"].as_array().unwrap().is_empty(),
        "{report:#}"
    );
    assert_eq!(s.stop(), Some(0));

    // After a restart: the same status, receipt and report, to the same people only.
    let s = ServeProcess::start(&a, "server.log");
    assert_eq!(wait_transfer(&s, &ag, &ok), accepted);
    assert_eq!(
        get(&s, &format!("/api/transfers/{ok}/receipt"), Some(&ag)).text(),
        receipt
    );
    let rp = a.dir.path().join("receipt.txt");
    std::fs::write(&rp, &receipt).unwrap();
    let out = a.run(&["receipt", "verify", rp.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stdout));
    assert_eq!(wait_transfer(&s, &ag, &rejected_id), rejected);
    assert_eq!(
        get(
            &s,
            &format!("/api/transfers/{rejected_id}/report"),
            Some(&ag)
        )
        .json(),
        report
    );
    assert_eq!(
        get(&s, &format!("/api/transfers/{ok}"), Some(&ag_b)).status,
        404
    );
    let l = get(&s, "/api/transfers", Some(&arch)).json();
    assert_eq!(l["received"].as_array().unwrap().len(), 2, "{l:#}");
    let page = get_h(
        &s,
        &format!("/transfers/{rejected_id}"),
        None,
        &[("Cookie", &format!("strongroom_token={ag}"))],
    );
    assert_eq!(page.status, 200);
    let code = report["findings"][0]["code"].as_str().unwrap();
    assert!(page.text().contains(code), "{}", page.text());

    // A check cut short: the store's writer lock is held elsewhere, so intake waits; the
    // server is killed while the transfer is `checking`.
    let lock = hold_writer_lock(&a);
    let bag = next_year_package(a.dir.path(), "YJ-2017-0003", |_, _, _| {});
    let pkg = tar_bytes(&bag, &a.dir.path().join("cut.tar"));
    let r = upload(&s, &arch, &pkg);
    assert_eq!(r.status, 202, "{}", r.text());
    let cut = r.json()["id"].as_str().unwrap().to_string();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let v = get(&s, &format!("/api/transfers/{cut}"), Some(&arch)).json();
        assert_eq!(v["state"], "checking", "{v:#}");
        if v["external_identifier"] == "YJ-2017-0003" {
            break;
        }
        assert!(Instant::now() < deadline, "the checks never began: {v:#}");
        std::thread::sleep(Duration::from_millis(100));
    }
    std::thread::sleep(Duration::from_millis(500));
    s.kill();
    std::fs::remove_file(&lock).unwrap();
    let s = ServeProcess::start(&a, "server.log");
    let v = wait_transfer(&s, &arch, &cut);
    assert_eq!(v["state"], "abandoned", "{v:#}");
    assert!(v["error"].as_str().unwrap().contains("submit"), "{v:#}");
    assert!(v["finished_at"].is_string(), "{v:#}");
    assert_eq!(uploads_left(&a), 0, "the leftover upload is removed");
    let (_, list) = a.json(&["list"]);
    assert_eq!(list.as_array().unwrap().len(), 3, "nothing of it stored");
    // Submitted again, it is accepted.
    let r = upload(&s, &arch, &pkg);
    let again = r.json()["id"].as_str().unwrap().to_string();
    assert_eq!(wait_transfer(&s, &arch, &again)["state"], "accepted");
    assert_eq!(s.stop(), Some(0));
}
