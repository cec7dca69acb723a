//! The search index (formats/search.md): Chinese segmentation, field prefixes, filters,
//! facets, the follower catching up after a transfer and an amendment, reindex giving the same
//! results as the incremental index, and the access scope, driven through the binary.

mod common;

use common::*;
use serde_json::Value;
use strongroom::search::{self, Filters, Scope, SearchIndex};

fn refcodes(v: &Value) -> Vec<String> {
    let mut out: Vec<String> = v["hits"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|h| h["reference_code"].as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default();
    out.sort();
    out
}

fn titles(v: &Value) -> Vec<String> {
    v["hits"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|h| h["title"].as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default()
}

fn search(a: &Archive, args: &[&str]) -> Value {
    let mut all = vec!["search"];
    all.extend_from_slice(args);
    let (code, v) = a.json(&all);
    assert_eq!(code, Some(0), "search {args:?}: {v:#}");
    v
}

const B_AGENCY: &str = "11330100MB0000001Y";

/// The sample (agency A, 2016) and a 2017 copy from agency B.
fn two_agencies() -> Archive {
    let a = Archive::new();
    a.accept(&sample());
    let bag = next_year_package(a.dir.path(), "YJ-2017-0001", |_, _, _| {});
    rebag(&bag, &[("Agency-Code", B_AGENCY)]);
    a.accept(&bag);
    a
}

#[test]
fn chinese_words_titles_years_agencies_and_facets() {
    let a = two_agencies();
    // Segmentation: 网上政务服务 in the title matches 政务服务.
    let v = search(&a, &["政务服务", "--year", "2016..2016"]);
    assert!(
        titles(&v).contains(&"关于网上政务服务平台建设的通知".to_string()),
        "{v:#}"
    );
    let v = search(&a, &["会议纪要", "--year", "2016"]);
    assert_eq!(refcodes(&v), vec!["0194-WS·2016-D30-BGS-0002"], "{v:#}");
    let v = search(&a, &["title:目录", "--year", "2016"]);
    assert_eq!(titles(&v), vec!["电子证照目录及数据规范"], "{v:#}");
    // Full text of the XML file.
    let v = search(&a, &["营业执照", "--year", "2016"]);
    assert_eq!(refcodes(&v), vec!["0194-WS·2016-D30-BGS-0003"], "{v:#}");
    // Year filter and range syntax.
    let v = search(&a, &["政务服务", "--year", "2017..2017"]);
    assert!(refcodes(&v).iter().all(|c| c.contains("·2017-")), "{v:#}");
    assert!(!refcodes(&v).is_empty());
    let v = search(&a, &["year:[2016 TO 2016]"]);
    assert_eq!(v["total"], 3, "{v:#}");
    // A single date; English words are stemmed (the PDF's text layer says "platform").
    let v = search(&a, &["date:2016-05-12", "--year", "2016"]);
    assert_eq!(refcodes(&v), vec!["0194-WS·2016-D30-BGS-0001"], "{v:#}");
    let v = search(&a, &["Platforms", "--year", "2016"]);
    assert_eq!(refcodes(&v), vec!["0194-WS·2016-D30-BGS-0001"], "{v:#}");
    // Prefix on 档号.
    let v = search(&a, &["refcode:0194-WS·2017*"]);
    assert_eq!(v["total"], 3, "{v:#}");
    // Another agency's filter returns nothing of A's; an unknown agency nothing at all.
    let v = search(&a, &["会议纪要", "--agency", B_AGENCY]);
    assert_eq!(refcodes(&v), vec!["0194-WS·2017-D30-BGS-0002"], "{v:#}");
    let v = search(&a, &["会议纪要", "--agency", "91110000000000000X"]);
    assert_eq!(v["total"], 0, "{v:#}");
    // Facets count per agency and year.
    let v = search(&a, &["政务服务", "--facets"]);
    let f = &v["facets"];
    assert_eq!(f["agency"]["11330100MB0000000X"], 3, "{f:#}");
    assert_eq!(f["agency"][B_AGENCY], 3, "{f:#}");
    assert_eq!(f["year"]["2016"], 3, "{f:#}");
    assert_eq!(f["year"]["2017"], 3, "{f:#}");
    assert_eq!(f["retention"]["D30"], 6, "{f:#}");
    // Highlighted snippet.
    let v = search(&a, &["会议纪要", "--year", "2016"]);
    let s = v["hits"][0]["snippet"].as_str().unwrap_or_default();
    assert!(s.contains('【'), "{v:#}");
}

#[test]
fn an_amendment_is_followed_and_reindex_gives_the_same_results() {
    let a = Archive::new();
    a.accept(&sample());
    let before = search(&a, &["网上政务服务平台建设协调会议纪要"]);
    assert_eq!(before["total"], 1, "{before:#}");
    let (_, rec) = &records(&sample())[1];
    let refcode = rec["reference_code"].as_str().expect("档号");
    let mut changed = rec.clone();
    changed["title"] = Value::String("电子印章系统验收报告".into());
    let path = a.dir.path().join("record.json");
    write_json(&path, &changed);
    let out = a.run(&[
        "amend",
        refcode,
        "--metadata",
        path.to_str().expect("utf-8"),
        "--reason",
        "题名有误",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    // A second transfer after the amendment, so the follower has more than one kind to apply.
    let bag = next_year_package(a.dir.path(), "YJ-2017-0001", |_, _, _| {});
    a.accept(&bag);
    let v = search(&a, &["title:协调会议纪要", "--year", "2016"]);
    assert_eq!(v["total"], 0, "the old title is still found: {v:#}");
    let v = search(&a, &["验收报告"]);
    assert_eq!(refcodes(&v), vec![refcode.to_string()], "{v:#}");

    let queries: [&[&str]; 6] = [
        &["政务服务", "--facets"],
        &["会议纪要"],
        &["验收报告"],
        &["title:目录"],
        &["year:[2017 TO 2017]", "--facets"],
        &["营业执照 OR 电子印章", "--facets"],
    ];
    let incremental: Vec<Value> = queries.iter().map(|q| search(&a, q)).collect();
    let (code, r) = a.json(&["reindex"]);
    assert_eq!(code, Some(0), "{r:#}");
    for (q, inc) in queries.iter().zip(&incremental) {
        let re = search(&a, q);
        assert_eq!(refcodes(&re), refcodes(inc), "{q:?}");
        assert_eq!(re["total"], inc["total"], "{q:?}");
        assert_eq!(re["facets"], inc["facets"], "{q:?}");
        assert_eq!(titles(&re).len(), titles(inc).len(), "{q:?}");
    }
}

#[test]
fn an_agency_scope_never_sees_another_agency() {
    let a = two_agencies();
    search(&a, &["政务服务"]); // catches the index up
    let index = SearchIndex::open(&a.home.join("index")).expect("index");
    let none = Filters::default();
    for q in [
        "政务服务",
        "会议纪要",
        "year:[2016 TO 2017]",
        "",
        "refcode:0194*",
    ] {
        let r = search::search(&index, q, &none, &Scope::Agency(B_AGENCY.into()), 100, true)
            .expect("search");
        assert!(r.total > 0, "{q}");
        assert!(
            r.hits.iter().all(|h| h.agency == B_AGENCY),
            "{q}: {:?}",
            r.hits
        );
        let facets = r.facets.expect("facets");
        assert_eq!(facets["agency"].len(), 1, "{q}: {facets:?}");
        assert!(!facets["year"].contains_key("2016"), "{q}: {facets:?}");
        // The scope wins over a filter naming another agency.
        let r = search::search(
            &index,
            q,
            &Filters {
                agency: Some("11330100MB0000000X".into()),
                ..Filters::default()
            },
            &Scope::Agency(B_AGENCY.into()),
            100,
            true,
        )
        .expect("search");
        assert_eq!(r.total, 0, "{q}");
    }
    // A court's scope: the named records only.
    let only = "0194-WS·2016-D30-BGS-0001".to_string();
    let r = search::search(
        &index,
        "政务服务",
        &Filters::default(),
        &Scope::Records(vec![only.clone()]),
        100,
        true,
    )
    .expect("search");
    assert_eq!(
        r.hits
            .iter()
            .map(|h| h.reference_code.clone())
            .collect::<Vec<_>>(),
        vec![only]
    );
    let r = search::search(
        &index,
        "",
        &Filters::default(),
        &Scope::Records(vec![]),
        10,
        false,
    )
    .expect("search");
    assert_eq!(r.total, 0);
}

#[test]
fn a_busy_index_is_searched_as_it_is_with_a_warning() {
    let a = Archive::new();
    a.accept(&sample());
    assert_eq!(search(&a, &["政务服务"])["total"], 3);
    // Another follower (a running server) holds the index's writer: the transfer is accepted
    // and leaves the index to it.
    let index = SearchIndex::open(&a.home.join("index")).expect("index");
    let writer = index
        .index()
        .writer::<tantivy::TantivyDocument>(50_000_000)
        .expect("writer lock");
    let bag = next_year_package(a.dir.path(), "YJ-2017-0001", |_, _, _| {});
    a.accept(&bag);
    let out = a.run(&["--json", "search", "政务服务"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("may be behind"),
        "{}",
        text(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(v["total"], 3, "the index is searched as it is: {v:#}");
    drop(writer);
    assert_eq!(search(&a, &["政务服务"])["total"], 6);
}

/// Once an archive has an index, a CLI transfer brings it up to the ledger itself; an
/// archive that never searched is not given one by a transfer.
#[test]
fn a_transfer_through_the_cli_is_indexed_when_the_archive_has_an_index() {
    let a = Archive::new();
    a.accept(&sample());
    assert!(
        !a.home.join("index").exists(),
        "no index before the first search"
    );
    assert_eq!(search(&a, &["政务服务"])["total"], 3);
    let bag = next_year_package(a.dir.path(), "YJ-2017-0001", |_, _, _| {});
    a.accept(&bag);
    let index = SearchIndex::open(&a.home.join("index")).expect("index");
    let size = a.json(&["ledger", "checkpoint"]).1["size"]
        .as_u64()
        .expect("ledger size");
    assert_eq!(
        index.position().expect("position").map(|p| p.applied),
        Some(size),
        "the transfer caught the index up"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn batch_size_does_not_change_the_index_and_catch_up_is_idempotent() {
    let a = two_agencies();
    let home = strongroom::home::Home::open(&a.home).expect("home");
    let store = home.store().await.expect("store");
    let quiet = |_: u64, _: u64| {};
    let one_by_one = SearchIndex::open(&a.dir.path().join("ix1")).expect("ix1");
    let opts = search::CatchUpOptions {
        batch_entries: 1,
        ..Default::default()
    };
    let c = search::catch_up(&store, &one_by_one, &opts, &quiet)
        .await
        .expect("catch up");
    assert_eq!(c.to, store.ledger_size().await.expect("size"));
    assert!(!c.busy);
    let again = search::catch_up(&store, &one_by_one, &opts, &quiet)
        .await
        .expect("again");
    assert_eq!(
        (again.from, again.to, again.records_indexed),
        (c.to, c.to, 0)
    );
    let batched = SearchIndex::open(&a.dir.path().join("ix2")).expect("ix2");
    search::catch_up(&store, &batched, &Default::default(), &quiet)
        .await
        .expect("catch up");
    for q in [
        "政务服务",
        "会议纪要",
        "营业执照",
        "year:[2017 TO 2017]",
        "",
    ] {
        let r1 = search::search(&one_by_one, q, &Filters::default(), &Scope::All, 50, true)
            .expect("search");
        let r2 = search::search(&batched, q, &Filters::default(), &Scope::All, 50, true)
            .expect("search");
        assert_eq!(r1.total, r2.total, "{q}");
        assert_eq!(r1.hits, r2.hits, "{q}");
        assert_eq!(r1.facets, r2.facets, "{q}");
    }
}

/// The index's history lines of a record are exactly the ledger entries naming it, whatever
/// the batch size, and they are no search hit.
#[tokio::test(flavor = "multi_thread")]
async fn history_lines_are_the_ledger_entries_naming_each_record() {
    let a = two_agencies();
    let home = strongroom::home::Home::open(&a.home).expect("home");
    let store = home.store().await.expect("store");
    let ledger = strongroom::ledger::commit::open(&store)
        .await
        .expect("ledger");
    let size = ledger.size().await.expect("size");
    let mut expected: std::collections::BTreeMap<String, Vec<u64>> = Default::default();
    for (i, bytes) in (0..).zip(ledger.entries(0, size).await.expect("entries").iter()) {
        let e = strongroom::ledger::entry::Entry::decode(bytes).expect("entry");
        if let Some(code) = e.field_str("reference_code") {
            expected.entry(code.to_string()).or_default().push(i);
        }
    }
    assert!(expected.len() >= 2, "{expected:?}");
    let quiet = |_: u64, _: u64| {};
    for batch in [1, 1000] {
        let ix = SearchIndex::open(&a.dir.path().join(format!("h{batch}"))).expect("ix");
        let opts = search::CatchUpOptions {
            batch_entries: batch,
            ..Default::default()
        };
        search::catch_up(&store, &ix, &opts, &quiet)
            .await
            .expect("catch up");
        assert_eq!(ix.read_to(), size);
        for (code, lines) in &expected {
            assert_eq!(
                &search::query::history(&ix, code).expect("history"),
                lines,
                "{code} with batches of {batch}"
            );
        }
        assert!(search::query::history(&ix, "NOPE-2020-Y-0001")
            .expect("history")
            .is_empty());
        // Everything, as the archivist sees it: records only.
        let all =
            search::search(&ix, "", &Filters::default(), &Scope::All, 500, false).expect("search");
        assert_eq!(all.total as usize, expected.len(), "{all:?}");
    }
}

/// The result cache answers a repeated search, and a catch-up that adds records makes the
/// next search run on the index again (never a stale answer).
#[tokio::test(flavor = "multi_thread")]
async fn the_result_cache_never_outlives_a_catch_up() {
    let a = Archive::new();
    a.accept(&sample());
    let home = strongroom::home::Home::open(&a.home).expect("home");
    let store = home.store().await.expect("store");
    let quiet = |_: u64, _: u64| {};
    let ix = SearchIndex::open(&a.dir.path().join("cached")).expect("ix");
    ix.set_result_cache(16);
    search::catch_up(&store, &ix, &Default::default(), &quiet)
        .await
        .expect("catch up");
    let ask =
        || search::search(&ix, "", &Filters::default(), &Scope::All, 50, true).expect("search");
    let first = ask();
    let again = ask();
    assert_eq!(first.hits, again.hits);
    assert_eq!(first.facets, again.facets);
    let stats = ix.cache().stats();
    assert_eq!((stats.hits, stats.misses), (1, 1));
    // Another agency's transfer, then the follower: the same search sees it.
    let bag = next_year_package(a.dir.path(), "YJ-2017-0001", |_, _, _| {});
    rebag(&bag, &[("Agency-Code", B_AGENCY)]);
    a.accept(&bag);
    search::catch_up(&store, &ix, &Default::default(), &quiet)
        .await
        .expect("catch up");
    let after = ask();
    assert!(after.total > first.total, "{after:?}");
    assert_eq!(ix.cache().stats().misses, 2);
    // Off: nothing kept, nothing counted.
    ix.set_result_cache(0);
    ask();
    assert_eq!(ix.cache().stats().misses, 2);
}

/// The partial results of unchanged segments, reused after commits (an amendment marking a
/// deletion in the corpus's segment, then another transfer), answer exactly as an index
/// searched afresh: the same records, totals and facets, the amended record once.
#[tokio::test(flavor = "multi_thread")]
async fn partials_of_unchanged_segments_answer_as_a_fresh_search() {
    let a = Archive::new();
    let (bag, docs) = corpus(a.dir.path());
    a.accept(&bag);
    let home = strongroom::home::Home::open(&a.home).expect("home");
    let store = home.store().await.expect("store");
    let quiet = |_: u64, _: u64| {};
    let cached = SearchIndex::open(&a.dir.path().join("cached")).expect("ix");
    cached.set_result_cache(64);
    let plain = SearchIndex::open(&a.dir.path().join("plain")).expect("ix");
    let follow = || async {
        for ix in [&cached, &plain] {
            search::catch_up(&store, ix, &Default::default(), &quiet)
                .await
                .expect("catch up");
        }
    };
    follow().await;
    let queries = [
        ("食品经营许可", true),
        ("判决书 NOT 民间借贷", true),
        ("", true),
        ("关于", false),
        ("电子印章", true),
        ("year:[2019 TO 2020]", true),
    ];
    let ask = |ix: &SearchIndex, q: &str, facets: bool| {
        search::search(ix, q, &Filters::default(), &Scope::All, 500, facets).expect("search")
    };
    let codes = |r: &search::SearchResults| {
        let mut v: Vec<String> = r.hits.iter().map(|h| h.reference_code.clone()).collect();
        v.sort();
        v
    };
    let compare = |step: &str| {
        for (q, facets) in queries {
            let (c, p) = (ask(&cached, q, facets), ask(&plain, q, facets));
            assert_eq!(codes(&c), codes(&p), "{step}: {q:?}");
            assert_eq!(c.total, p.total, "{step}: {q:?}");
            assert_eq!(c.facets, p.facets, "{step}: {q:?}");
        }
    };
    compare("after the corpus");

    // An amendment: the corpus's segment gets a deletion, the new version a new segment.
    let amended = &docs[0].refcode;
    let folder = bag.join("data").join("2018-D30-0001");
    let mut rec: Value =
        serde_json::from_slice(&std::fs::read(folder.join("record.json")).expect("read"))
            .expect("json");
    assert_eq!(rec["reference_code"].as_str(), Some(amended.as_str()));
    rec["title"] = Value::String("电子印章系统验收报告".into());
    let path = a.dir.path().join("amended.json");
    write_json(&path, &rec);
    let out = a.run(&[
        "amend",
        amended,
        "--metadata",
        path.to_str().expect("utf-8"),
        "--reason",
        "题名有误",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    follow().await;
    compare("after the amendment");
    let found = ask(&cached, "验收报告", false);
    assert_eq!(codes(&found), vec![amended.clone()], "{found:?}");

    // Another transfer: a new segment; the others are not searched again.
    let before = cached.partials().stats();
    a.accept(&sample());
    follow().await;
    compare("after the next transfer");
    let after = cached.partials().stats();
    assert!(
        after.hits > before.hits && after.misses > before.misses,
        "unchanged segments reused, the new one searched: {before:?} → {after:?}"
    );
    let all = ask(&cached, "", false);
    assert_eq!(
        codes(&all).iter().filter(|c| *c == amended).count(),
        1,
        "the amended record once"
    );
}

/// One record of the relevance corpus, with the facts its queries are judged by.
struct Doc {
    refcode: String,
    kind: &'static str,
    topic: &'static str,
    party: &'static str,
    other: &'static str,
    case_number: String,
}

const COMPANIES: [&str; 8] = [
    "杭州明远食品有限公司",
    "宁波海润建设集团有限公司",
    "温州康泰药业有限公司",
    "嘉兴绿源环保科技有限公司",
    "湖州通达物流有限公司",
    "绍兴仁和医院有限公司",
    "金华味道餐饮管理有限公司",
    "台州恒信建筑工程有限公司",
];
const LICENCES: [&str; 6] = [
    "食品经营许可",
    "建筑工程施工许可",
    "药品经营许可",
    "排污许可",
    "道路运输经营许可",
    "医疗机构执业许可",
];
const PEOPLE: [&str; 9] = [
    "张伟", "李娜", "王芳", "刘洋", "陈静", "杨帆", "赵磊", "黄敏", "周涛",
];
const DISPUTES: [&str; 6] = [
    "买卖合同",
    "房屋租赁合同",
    "劳动争议",
    "民间借贷",
    "机动车交通事故责任",
    "著作权侵权",
];
const NOTICES: [&str; 7] = [
    "开展安全生产大检查",
    "做好防汛防台工作",
    "推进生活垃圾分类",
    "加强冬春季传染病防控",
    "进一步优化营商环境",
    "推进数字政府建设",
    "做好春节期间市场保供稳价",
];

/// A transfer of 300 records: administrative licences, court judgments and government
/// notices, spread over 2018-2020, each with a text file; returns the bag and the facts.
fn corpus(dir: &std::path::Path) -> (std::path::PathBuf, Vec<Doc>) {
    let bag = dir.join("corpus");
    std::fs::create_dir_all(bag.join("data")).expect("mkdir");
    std::fs::write(
        bag.join("bag-info.txt"),
        "Source-Organization: 某市档案馆\nAgency-Code: 11330100MB0000000X\nFonds-Code: 0194\n\
         External-Identifier: YJ-CORPUS-0001\nBag-Count: 1 of 1\n",
    )
    .expect("bag-info");
    let mut items: std::collections::BTreeMap<(u32, &str), u32> = Default::default();
    let mut docs = Vec::new();
    for i in 0..300usize {
        let year = 2018 + ((i / 3) % 3) as u32;
        let (kind, retention) = match i % 3 {
            0 => ("licence", "D30"),
            1 => ("court", "Y"),
            _ => ("notice", "D10"),
        };
        let n = items.entry((year, retention)).or_insert(0);
        *n += 1;
        let item = *n;
        let refcode = format!("0194-WS·{year}-{retention}-BGS-{item:04}");
        let date = format!("{year}-{:02}-{:02}", 1 + i % 12, 1 + i % 28);
        let mut other = "";
        let (title, body, topic, party, case_number) = match kind {
            "licence" => {
                let company = COMPANIES[(i / 3) % COMPANIES.len()];
                let licence = LICENCES[(i / 7) % LICENCES.len()];
                let case = format!("（{year}）某市监许字第{item}号");
                (
                    format!("关于准予{company}{licence}的行政许可决定书"),
                    format!(
                        "{company}：你单位于{date}提交的{licence}申请材料齐全、符合法定形式。\
                         经审查，符合法定条件，决定准予行政许可，有效期五年。"
                    ),
                    licence,
                    company,
                    case,
                )
            }
            "court" => {
                let plaintiff = PEOPLE[(i / 3) % PEOPLE.len()];
                let defendant = PEOPLE[(i / 3 + 4) % PEOPLE.len()];
                let dispute = DISPUTES[(i / 5) % DISPUTES.len()];
                let case = format!("（{year}）浙0102民初{}号", 1000 + item);
                other = defendant;
                (
                    format!("{plaintiff}诉{defendant}{dispute}纠纷一审民事判决书"),
                    format!(
                        "原告{plaintiff}与被告{defendant}{dispute}纠纷一案，本院于{date}立案后，\
                         依法适用普通程序，公开开庭进行了审理。本院认为，当事人对自己提出的诉讼\
                         请求所依据的事实，应当提供证据加以证明。判决如下：驳回原告的其他诉讼请求。"
                    ),
                    dispute,
                    plaintiff,
                    case,
                )
            }
            _ => {
                let topic = NOTICES[(i / 3) % NOTICES.len()];
                (
                    format!("关于{topic}的通知"),
                    format!(
                        "各区县人民政府，市政府各部门：为{topic}，经市政府同意，现将有关事项\
                         通知如下：一、提高认识，加强领导。二、明确责任，狠抓落实。"
                    ),
                    topic,
                    "",
                    format!("某政办发〔{year}〕{item}号"),
                )
            }
        };
        let folder = bag
            .join("data")
            .join(format!("{year}-{retention}-{item:04}"));
        std::fs::create_dir_all(&folder).expect("mkdir");
        std::fs::write(folder.join("正文.txt"), &body).expect("text");
        let mut rec = serde_json::json!({
            "reference_code": refcode, "title": title, "creator": "某市人民政府",
            "date": date, "retention": retention, "fonds": "0194", "category": "WS",
            "year": year, "organization": "BGS", "item_number": item,
            "classification": "公开",
            "files": [{"path": "正文.txt", "order": 1, "role": "main"}],
        });
        let key = if kind == "notice" {
            "document_number"
        } else {
            "case_number"
        };
        rec[key] = Value::String(case_number.clone());
        write_json(&folder.join("record.json"), &rec);
        docs.push(Doc {
            refcode,
            kind,
            topic,
            party,
            other,
            case_number,
        });
    }
    rebag(&bag, &[]);
    (bag, docs)
}

#[test]
fn relevance_on_a_corpus_of_licences_judgments_and_notices() {
    let a = Archive::new();
    let (bag, docs) = corpus(a.dir.path());
    a.accept(&bag);
    // (query, extra CLI args, what is relevant). Judged: the top 10 hold only relevant
    // records, and every relevant record when there are at most 10.
    type Judge = Box<dyn Fn(&Doc) -> bool>;
    let cases: Vec<(String, Vec<&str>, Judge)> = vec![
        (
            "食品经营许可".into(),
            vec![],
            Box::new(|d: &Doc| d.topic == "食品经营许可"),
        ),
        (
            "杭州明远食品有限公司 排污许可".into(),
            vec![],
            Box::new(|d: &Doc| d.party == "杭州明远食品有限公司" && d.topic == "排污许可"),
        ),
        (
            "房屋租赁".into(),
            vec![],
            Box::new(|d: &Doc| d.topic == "房屋租赁合同"),
        ),
        (
            "劳动争议 张伟".into(),
            vec![],
            Box::new(|d: &Doc| d.topic == "劳动争议" && (d.party == "张伟" || d.other == "张伟")),
        ),
        (
            "防汛".into(),
            vec!["--year", "2019"],
            Box::new(|d: &Doc| d.topic == "做好防汛防台工作" && d.refcode.contains("·2019-")),
        ),
        (
            "垃圾分类".into(),
            vec!["--retention", "D10"],
            Box::new(|d: &Doc| d.topic == "推进生活垃圾分类"),
        ),
        (
            "判决书 NOT 民间借贷 NOT 劳动争议".into(),
            vec![],
            Box::new(|d: &Doc| d.kind == "court" && d.topic != "民间借贷" && d.topic != "劳动争议"),
        ),
        (
            "\"数字政府\"".into(),
            vec![],
            Box::new(|d: &Doc| d.topic == "推进数字政府建设"),
        ),
    ];
    // A case number, exactly.
    let court = docs.iter().find(|d| d.kind == "court").expect("a judgment");
    let case_query = format!("case:\"{}\"", court.case_number);
    let court_ref = court.refcode.clone();
    let mut cases = cases;
    cases.push((
        case_query,
        vec![],
        Box::new(move |d: &Doc| d.refcode == court_ref),
    ));
    for (query, extra, relevant) in &cases {
        let mut args = vec![query.as_str(), "--limit", "10"];
        args.extend(extra.iter());
        let v = search(&a, &args);
        let top = refcodes(&v);
        let wanted: Vec<&Doc> = docs.iter().filter(|d| relevant(d)).collect();
        assert!(
            !wanted.is_empty(),
            "{query}: the corpus has nothing relevant"
        );
        for code in &top {
            let d = docs.iter().find(|d| &d.refcode == code).expect("known");
            assert!(relevant(d), "{query}: {code} is not relevant: {v:#}");
        }
        if wanted.len() <= 10 {
            assert_eq!(top.len(), wanted.len(), "{query}: {v:#}");
        } else {
            assert_eq!(top.len(), 10, "{query}: {v:#}");
            assert_eq!(v["total"], wanted.len(), "{query}");
        }
    }
    // A plain word the analyzer keeps whole is searched as that one term, not as the phrase
    // of its parts: the same records either way (a quoted word goes to the phrase).
    for word in [
        "食品经营许可",
        "房屋租赁合同",
        "劳动争议",
        "垃圾分类",
        "数字政府",
        "有限公司",
        "判决书",
    ] {
        let plain = search(&a, &[word, "--limit", "500"]);
        let quoted = search(&a, &[&format!("\"{word}\""), "--limit", "500"]);
        let (mut p, mut q) = (refcodes(&plain), refcodes(&quoted));
        p.sort();
        q.sort();
        assert!(!p.is_empty(), "{word}: {plain:#}");
        assert_eq!(plain["total"], quoted["total"], "{word}");
        assert_eq!(p, q, "{word}");
    }
}
