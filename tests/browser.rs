//! The web pages in a real browser: Debian's headless Chromium, driven over the DevTools
//! protocol, signs in by typing a token into the sign-in form, searches in Chinese, opens a
//! record from the results, and takes screenshots into this test's output folder
//! (`target/tmp/browser/`); and two archivists approve a disposition batch (the same one twice
//! is refused on the page) and execute it (`target/tmp/browser-disposition/`); an archivist
//! issues a copy for a court on the copies page, the court signs in, sees and downloads it,
//! the archivist revokes the grant and the court no longer sees it
//! (`target/tmp/browser-copies/`). `tools/test` installs Chromium; without it the test is skipped,
//! except under `STRONGROOM_REQUIRE_CROSSCHECKS` (CI), where it fails.
#![allow(clippy::unwrap_used)]

mod common;

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine;
use common::*;
use serde_json::{json, Value};

fn chromium() -> Option<PathBuf> {
    ["chromium", "chromium-browser", "google-chrome"]
        .iter()
        .filter_map(|name| {
            std::env::var_os("PATH").and_then(|paths| {
                std::env::split_paths(&paths)
                    .map(|d| d.join(name))
                    .find(|p| p.is_file())
            })
        })
        .next()
}

struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// One page's DevTools connection.
struct Page {
    ws: tungstenite::WebSocket<tungstenite::stream::MaybeTlsStream<std::net::TcpStream>>,
    next: u64,
}

impl Page {
    fn call(&mut self, method: &str, params: Value) -> Value {
        self.next += 1;
        let id = self.next;
        let msg = json!({"id": id, "method": method, "params": params}).to_string();
        self.ws
            .send(tungstenite::Message::Text(msg.into()))
            .unwrap();
        loop {
            let m = self.ws.read().unwrap();
            let tungstenite::Message::Text(t) = m else {
                continue;
            };
            let v: Value = serde_json::from_str(t.as_str()).unwrap();
            if v["id"] == id {
                assert!(v.get("error").is_none(), "{method}: {v}");
                return v["result"].clone();
            }
        }
    }

    fn eval(&mut self, js: &str) -> Value {
        let r = self.call(
            "Runtime.evaluate",
            json!({"expression": js, "returnByValue": true}),
        );
        r["result"]["value"].clone()
    }

    /// Waits until `js` is true (the page loaded what we wait for).
    fn wait_for(&mut self, js: &str) {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if self.eval(js) == json!(true) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {js}; page: {}",
                self.eval("location.href + '\\n' + document.body.innerText")
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn screenshot(&mut self, path: &std::path::Path) {
        let r = self.call("Page.captureScreenshot", json!({"format": "png"}));
        let png = base64::engine::general_purpose::STANDARD
            .decode(r["data"].as_str().unwrap())
            .unwrap();
        std::fs::write(path, png).unwrap();
    }
}

/// A server and a headless Chromium page on it.
struct Session {
    page: Page,
    base: String,
    out_dir: PathBuf,
    _server: Killed,
    _chrome: Killed,
    _profile: tempfile::TempDir,
}

impl Session {
    /// Starts the server on `a` and Chromium; `None` (skipped) without Chromium, except under
    /// `STRONGROOM_REQUIRE_CROSSCHECKS`.
    fn start(a: &Archive, out: &str) -> Option<Session> {
        let Some(browser) = chromium() else {
            assert!(
                std::env::var("STRONGROOM_REQUIRE_CROSSCHECKS")
                    .unwrap_or_default()
                    .is_empty(),
                "chromium is missing (tools/test installs it)"
            );
            eprintln!("skipped: no chromium on PATH (tools/test installs it)");
            return None;
        };
        let out_dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(out);
        std::fs::create_dir_all(&out_dir).unwrap();
        let mut server = Command::new(bin());
        server
            .arg("--home")
            .arg(&a.home)
            .args(["serve", "--listen", "127.0.0.1:0"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null());
        let mut server = Killed(server.spawn().unwrap());
        let mut line = String::new();
        BufReader::new(server.0.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let base = line
            .trim()
            .trim_start_matches("listening on ")
            .trim_end_matches('/')
            .to_string();

        let profile = tempfile::tempdir().unwrap();
        let mut chrome = Command::new(browser);
        chrome
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
                "--remote-debugging-port=0",
                "--window-size=1280,900",
                "--lang=zh-CN",
            ])
            .arg(format!("--user-data-dir={}", profile.path().display()))
            .arg("about:blank")
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        let mut chrome = Killed(chrome.spawn().unwrap());
        let mut err = BufReader::new(chrome.0.stderr.take().unwrap());
        let mut devtools = String::new();
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline {
            let mut l = String::new();
            if err.read_line(&mut l).unwrap() == 0 {
                break;
            }
            if let Some(ws) = l.trim().strip_prefix("DevTools listening on ") {
                devtools = ws.to_string();
                break;
            }
        }
        assert!(
            !devtools.is_empty(),
            "chromium did not start its DevTools endpoint"
        );
        // Keep draining chromium's stderr so that it never blocks on a full pipe.
        std::thread::spawn(move || for _ in err.lines() {});
        let http = devtools
            .trim_start_matches("ws://")
            .split('/')
            .next()
            .unwrap()
            .to_string();
        let list: Value = ureq::get(format!("http://{http}/json/list"))
            .call()
            .unwrap()
            .body_mut()
            .read_json()
            .unwrap();
        let page_ws = list
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["type"] == "page")
            .and_then(|t| t["webSocketDebuggerUrl"].as_str())
            .unwrap()
            .to_string();
        let (ws, _) = tungstenite::connect(page_ws).unwrap();
        let mut page = Page { ws, next: 0 };
        page.call("Page.enable", json!({}));
        Some(Session {
            page,
            base,
            out_dir,
            _server: server,
            _chrome: chrome,
            _profile: profile,
        })
    }

    /// Signs in by typing `token` into the sign-in form, as a person would.
    fn sign_in(&mut self, token: &str) {
        let base = self.base.clone();
        self.page
            .call("Page.navigate", json!({"url": format!("{base}/signin")}));
        self.page
            .wait_for("document.readyState === 'complete' && !!document.getElementById('token')");
        self.page.eval(&format!(
            "document.getElementById('token').value = {}; document.querySelector('form[action=\"/signin\"]').submit(); true",
            json!(token)
        ));
        // Archivists start at search, courts at their copies.
        self.page.wait_for("document.readyState === 'complete' && ((location.pathname === '/search' && !!document.getElementById('q')) || (location.pathname === '/copies' && !!document.querySelector('main h1')))");
    }

    /// Chooses Chinese with the header's language link (the browser may ask for English).
    fn choose_chinese(&mut self) {
        self.page
            .eval("document.querySelector('a[href=\"/lang/zh\"]').click(); true");
        self.page.wait_for(
            "document.documentElement.lang === 'zh-CN' && document.readyState === 'complete'",
        );
    }

    /// Signs out with the header's button.
    fn sign_out(&mut self) {
        self.page
            .eval("document.querySelector('form[action=\"/signout\"]').submit(); true");
        self.page
            .wait_for("location.pathname === '/signin' && document.readyState === 'complete'");
    }

    /// Fetches `path` from the page (with its cookie): `[status, first two bytes]`.
    fn fetch(&mut self, path: &str) -> Value {
        let js = format!(
            "fetch({}).then(async r => {{ const b = new Uint8Array(await r.arrayBuffer()); return [r.status, String.fromCharCode(b[0] || 0, b[1] || 0)]; }})",
            json!(path)
        );
        let r = self.page.call(
            "Runtime.evaluate",
            json!({"expression": js, "returnByValue": true, "awaitPromise": true}),
        );
        r["result"]["value"].clone()
    }

    /// Opens a page of the server and waits until `ready` holds.
    fn open(&mut self, path: &str, ready: &str) {
        let url = format!("{}{path}", self.base);
        self.page.call("Page.navigate", json!({"url": url}));
        self.page
            .wait_for(&format!("document.readyState === 'complete' && ({ready})"));
    }

    fn text(&mut self) -> String {
        self.page
            .eval("document.body.innerText")
            .as_str()
            .unwrap()
            .to_string()
    }

    fn shot(&mut self, name: &str) {
        let path = self.out_dir.join(name);
        self.page.screenshot(&path);
        let png = std::fs::read(&path).unwrap();
        assert!(
            png.starts_with(b"\x89PNG") && png.len() > 10_000,
            "{name}: {} bytes",
            png.len()
        );
    }
}

fn archivist(a: &Archive, name: &str) -> String {
    assert_eq!(
        a.run(&["user", "add", name, "--role", "archivist"])
            .status
            .code(),
        Some(0)
    );
    text(&a.run(&["token", "issue", name]).stdout)
        .trim()
        .to_string()
}

#[test]
fn sign_in_search_in_chinese_and_open_a_record_in_chromium() {
    let a = Archive::new();
    a.accept(&sample());
    let token = archivist(&a, "lin");
    let Some(mut s) = Session::start(&a, "browser") else {
        return;
    };
    s.open("/signin", "!!document.getElementById('token')");
    s.shot("1-signin.png");
    s.sign_in(&token);
    let page = &mut s.page;

    // Choose Chinese with the language link (the browser may ask for English).
    page.eval("document.querySelector('a[href=\"/lang/zh\"]').click(); true");
    page.wait_for("document.documentElement.lang === 'zh-CN' && location.pathname === '/search' && document.readyState === 'complete' && !!document.getElementById('q')");

    // Search in Chinese through the search form.
    page.eval("document.getElementById('q').value = '会议纪要'; document.querySelector('form[role=search]').submit(); true");
    page.wait_for("location.search.length > 0 && document.readyState === 'complete' && !!document.querySelector('.hit')");
    let text = s.text();
    assert!(text.contains("网上政务服务平台建设协调会议纪要"), "{text}");
    assert!(text.contains("立档单位"), "facets in Chinese: {text}");
    assert_eq!(
        s.page.eval("!!document.querySelector('.snippet b')"),
        json!(true),
        "highlighted snippet"
    );
    s.shot("2-search.png");

    // Open the record from the results.
    s.page
        .eval("document.querySelector('.hit a').click(); true");
    s.page.wait_for("location.pathname.startsWith('/records/') && document.readyState === 'complete' && document.querySelectorAll('h2').length > 3");
    let text = s.text();
    assert!(text.contains("0194-WS·2016-D30-BGS-0002"), "{text}");
    assert!(
        text.contains("账本历史") && text.contains("record.read"),
        "{text}"
    );
    assert!(text.contains("本次查阅已记入账本"), "{text}");
    // A real PNG of a laptop-sized window.
    s.shot("3-record.png");
    eprintln!("screenshots in {}", s.out_dir.display());
}

/// Two archivists approve a disposition batch on the pages (the first one's second approval
/// is refused on the page), then it is executed before two witnesses; the destroyed record's
/// page shows its tombstone.
#[test]
fn two_archivists_approve_and_execute_a_disposition_in_chromium() {
    let a = Archive::new();
    a.accept(&due_package(a.dir.path()));
    let lin = archivist(&a, "lin");
    let mei = archivist(&a, "mei");
    let Some(mut s) = Session::start(&a, "browser-disposition") else {
        return;
    };
    s.sign_in(&lin);
    s.choose_chinese();
    // The due list, from the navigation; propose a batch from it.
    s.page
        .eval("document.querySelector('a[href=\"/retention/due\"]').click(); true");
    s.page.wait_for("location.pathname === '/retention/due' && document.readyState === 'complete' && !!document.querySelector('table')");
    let text = s.text();
    assert!(text.contains(DUE_R1) && text.contains(DUE_R3), "{text}");
    assert!(
        text.contains("销毁清册") || text.contains("disposition"),
        "{text}"
    );
    s.shot("1-due.png");
    s.page
        .eval("document.querySelector('form[action=\"/dispositions\"]').submit(); true");
    s.page.wait_for("location.pathname === '/dispositions/1' && document.readyState === 'complete' && !!document.getElementById('approve')");

    // lin approves; lin's second approval is refused on the page.
    s.page
        .eval("document.getElementById('approve').click(); true");
    s.page
        .wait_for("document.readyState === 'complete' && !!document.querySelector('p.ok')");
    assert!(s.text().contains("lin"), "{}", s.text());
    s.shot("2-first-approval.png");
    s.page
        .eval("document.getElementById('approve').click(); true");
    s.page.wait_for(
        "document.readyState === 'complete' && !!document.querySelector('p.bad[role=alert]')",
    );
    let refusal = s.text();
    assert!(
        refusal.contains("lin already approved"),
        "the same archivist twice is refused: {refusal}"
    );
    assert_eq!(
        s.page.eval("document.getElementById('status').innerText"),
        json!(if refusal.contains("待批准") {
            "待批准"
        } else {
            "proposed"
        })
    );
    s.shot("3-same-archivist-refused.png");

    // Sign out; mei signs in and gives the second approval, then executes.
    s.page
        .eval("document.querySelector('form[action=\"/signout\"]').submit(); true");
    s.page
        .wait_for("location.pathname === '/signin' && document.readyState === 'complete'");
    s.sign_in(&mei);
    s.open("/dispositions/1", "!!document.getElementById('approve')");
    s.page
        .eval("document.getElementById('approve').click(); true");
    s.page
        .wait_for("document.readyState === 'complete' && !!document.getElementById('execute')");
    let text = s.text();
    assert!(text.contains("lin") && text.contains("mei"), "{text}");
    s.shot("4-approved.png");
    s.page.eval("document.getElementById('witness1').value = '王监销'; document.getElementById('witness2').value = '李监销'; document.getElementById('execute').click(); true");
    s.page.wait_for("document.readyState === 'complete' && !!document.querySelector('pre') && !document.getElementById('execute')");
    let text = s.text();
    assert!(text.contains("王监销") && text.contains(DUE_R3), "{text}");
    s.shot("5-executed.png");

    // The destroyed record's page: its tombstone.
    s.open(
        &format!("/records/{}", enc(DUE_R3)),
        "!!document.getElementById('tombstone')",
    );
    let text = s.text();
    assert!(text.contains("李监销") && text.contains("mei"), "{text}");
    s.shot("6-tombstone.png");

    // A hold placed on the holds page shows on the record's page.
    s.open("/holds", "!!document.getElementById('reference_codes')");
    s.page.eval(&format!(
        "document.getElementById('reference_codes').value = {}; document.getElementById('authority').value = '（2026）京01民初1号'; document.getElementById('reason').value = '诉讼保全'; document.querySelector('form[action=\"/holds\"]').submit(); true",
        json!(DUE_R2)
    ));
    s.page
        .wait_for("document.readyState === 'complete' && !!document.querySelector('p.ok')");
    s.shot("7-holds.png");
    s.open(
        &format!("/records/{}", enc(DUE_R2)),
        "!!document.getElementById('holds')",
    );
    let text = s.text();
    assert!(
        text.contains("H1") && text.contains("京01民初1号"),
        "{text}"
    );
    s.shot("8-record-held.png");
    eprintln!("screenshots in {}", s.out_dir.display());
}

/// An archivist issues a copy for a court on the copies page and it is granted; the court's
/// user signs in, sees only it, opens a record it names and downloads the bundle; the
/// archivist revokes the grant with a reason; the court no longer sees or downloads anything.
#[test]
fn an_archivist_issues_and_revokes_a_copy_a_court_downloads_in_chromium() {
    let a = Archive::new();
    a.accept(&sample());
    let lin = archivist(&a, "lin");
    assert_eq!(
        a.run(&["user", "add", "court1", "--role", "court:BJ-01"])
            .status
            .code(),
        Some(0)
    );
    let court = text(&a.run(&["token", "issue", "court1"]).stdout)
        .trim()
        .to_string();
    let r1 = "0194-WS·2016-D30-BGS-0001";
    let r2 = "0194-WS·2016-D30-BGS-0002";
    let Some(mut s) = Session::start(&a, "browser-copies") else {
        return;
    };
    s.sign_in(&lin);
    s.choose_chinese();
    // The copies page from the navigation; a record not in the archive is refused on the
    // page, with what was typed kept.
    s.page
        .eval("document.querySelector('a[href=\"/copies\"]').click(); true");
    s.page.wait_for("location.pathname === '/copies' && document.readyState === 'complete' && !!document.getElementById('records')");
    assert!(s.text().contains("尚未出具副本"), "{}", s.text());
    let fill = |records: &str| {
        format!(
            "document.getElementById('court').value = 'BJ-01'; document.getElementById('request').value = '（2026）京01民初7号 调卷函'; document.getElementById('records').value = {}; document.querySelector('form[action=\"/copies\"]').submit(); true",
            json!(records)
        )
    };
    s.page.eval(&fill("0194-WS·2016-D30-BGS-9999"));
    s.page.wait_for(
        "document.readyState === 'complete' && !!document.querySelector('p.bad[role=alert]')",
    );
    let text = s.text();
    assert!(
        text.contains("9999"),
        "the refusal names the record: {text}"
    );
    assert_eq!(
        s.page.eval("document.getElementById('request').value"),
        json!("（2026）京01民初7号 调卷函")
    );
    s.shot("1-issue-refused.png");
    s.page.eval(&fill(&format!("{r1}\n{r2}")));
    s.page.wait_for("location.pathname.startsWith('/copies/') && document.readyState === 'complete' && !!document.getElementById('reason')");
    let copy_id = s
        .page
        .eval("location.pathname.split('/')[2]")
        .as_str()
        .unwrap()
        .to_string();
    let text = s.text();
    assert!(
        text.contains(r1) && text.contains(r2) && text.contains("授权有效"),
        "{text}"
    );
    s.shot("2-issued.png");
    s.sign_out();

    // The court signs in and lands on its copies: this one, with its download link.
    s.sign_in(&court);
    assert_eq!(s.page.eval("location.pathname"), json!("/copies"));
    let text = s.text();
    assert!(text.contains("京01民初7号") && text.contains(r2), "{text}");
    assert!(
        !text.contains("移交"),
        "no transfers link for a court: {text}"
    );
    s.shot("3-court-copies.png");
    assert_eq!(
        s.page.eval(&format!(
            "!!document.querySelector('a[href=\"/api/copies/{copy_id}/bundle\"]')"
        )),
        json!(true)
    );
    assert_eq!(
        s.fetch(&format!("/api/copies/{copy_id}/bundle")),
        json!([200, "PK"])
    );
    // A record it names, from the copy's page.
    s.open(
        &format!("/copies/{copy_id}"),
        "!!document.querySelector('table a')",
    );
    assert!(!s.text().contains("撤销授权"), "a court cannot revoke");
    s.page
        .eval("document.querySelector('table a').click(); true");
    s.page.wait_for("location.pathname.startsWith('/records/') && document.readyState === 'complete' && document.querySelectorAll('h2').length > 1");
    let text = s.text();
    assert!(
        text.contains(r1) && text.contains("本次查阅已记入账本"),
        "{text}"
    );
    s.shot("4-court-record.png");
    s.sign_out();

    // The archivist revokes the grant with a reason.
    s.sign_in(&lin);
    s.open(
        &format!("/copies/{copy_id}"),
        "!!document.getElementById('reason')",
    );
    s.page.eval("document.getElementById('reason').value = '诉讼已终结'; document.getElementById('reason').form.submit(); true");
    s.page
        .wait_for("document.readyState === 'complete' && !document.getElementById('reason')");
    let text = s.text();
    assert!(
        text.contains("已撤销") && text.contains("诉讼已终结"),
        "{text}"
    );
    s.shot("5-revoked.png");
    s.sign_out();

    // The court: no copies, no bundle, no record.
    s.sign_in(&court);
    let text = s.text();
    assert!(text.contains("没有授予您的副本"), "{text}");
    assert!(!text.contains("京01民初7号"), "{text}");
    s.shot("6-court-after-revocation.png");
    assert_eq!(
        s.fetch(&format!("/api/copies/{copy_id}/bundle")).get(0),
        Some(&json!(404))
    );
    assert_eq!(
        s.fetch(&format!("/records/{}", enc(r1))).get(0),
        Some(&json!(404))
    );
    eprintln!("screenshots in {}", s.out_dir.display());
}

fn enc(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}
