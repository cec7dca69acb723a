//! The web pages in a real browser: Debian's headless Chromium, driven over the DevTools
//! protocol, signs in by typing a token into the sign-in form, searches in Chinese, opens a
//! record from the results, and takes screenshots into this test's output folder
//! (`target/tmp/browser/`). `tools/test` installs Chromium; without it the test is skipped,
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

#[test]
fn sign_in_search_in_chinese_and_open_a_record_in_chromium() {
    let Some(browser) = chromium() else {
        assert!(
            std::env::var("STRONGROOM_REQUIRE_CROSSCHECKS")
                .unwrap_or_default()
                .is_empty(),
            "chromium is missing (tools/test installs it)"
        );
        eprintln!("skipped: no chromium on PATH (tools/test installs it)");
        return;
    };
    let out_dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("browser");
    std::fs::create_dir_all(&out_dir).unwrap();

    let a = Archive::new();
    a.accept(&sample());
    assert_eq!(
        a.run(&["user", "add", "lin", "--role", "archivist"])
            .status
            .code(),
        Some(0)
    );
    let token = text(&a.run(&["token", "issue", "lin"]).stdout)
        .trim()
        .to_string();
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

    // Sign in: type the token into the form and submit it, as a person would.
    page.call("Page.navigate", json!({"url": format!("{base}/signin")}));
    page.wait_for("document.readyState === 'complete' && !!document.getElementById('token')");
    page.screenshot(&out_dir.join("1-signin.png"));
    page.eval(&format!(
        "document.getElementById('token').value = {}; document.querySelector('form[action=\"/signin\"]').submit(); true",
        json!(token)
    ));
    page.wait_for("location.pathname === '/search' && document.readyState === 'complete' && !!document.getElementById('q')");

    // Choose Chinese with the language link (the browser may ask for English).
    page.eval("document.querySelector('a[href=\"/lang/zh\"]').click(); true");
    page.wait_for("document.documentElement.lang === 'zh-CN' && location.pathname === '/search' && document.readyState === 'complete' && !!document.getElementById('q')");

    // Search in Chinese through the search form.
    page.eval("document.getElementById('q').value = '会议纪要'; document.querySelector('form[role=search]').submit(); true");
    page.wait_for("location.search.length > 0 && document.readyState === 'complete' && !!document.querySelector('.hit')");
    let text = page
        .eval("document.body.innerText")
        .as_str()
        .unwrap()
        .to_string();
    assert!(text.contains("网上政务服务平台建设协调会议纪要"), "{text}");
    assert!(text.contains("立档单位"), "facets in Chinese: {text}");
    assert_eq!(
        page.eval("!!document.querySelector('.snippet b')"),
        json!(true),
        "highlighted snippet"
    );
    page.screenshot(&out_dir.join("2-search.png"));

    // Open the record from the results.
    page.eval("document.querySelector('.hit a').click(); true");
    page.wait_for("location.pathname.startsWith('/records/') && document.readyState === 'complete' && document.querySelectorAll('h2').length > 3");
    let text = page
        .eval("document.body.innerText")
        .as_str()
        .unwrap()
        .to_string();
    assert!(text.contains("0194-WS·2016-D30-BGS-0002"), "{text}");
    assert!(
        text.contains("账本历史") && text.contains("record.read"),
        "{text}"
    );
    assert!(text.contains("本次查阅已记入账本"), "{text}");
    page.screenshot(&out_dir.join("3-record.png"));
    // The screenshot is a real PNG of a laptop-sized window.
    let png = std::fs::read(out_dir.join("3-record.png")).unwrap();
    assert!(
        png.starts_with(b"\x89PNG") && png.len() > 10_000,
        "{} bytes",
        png.len()
    );
    eprintln!("screenshots in {}", out_dir.display());
}
