//! Run with: `cargo run --release -p strongroom-bench --bin bench-search -- [--quick] [--records N] [--json]`
//!
//! The search index's speed (issue 5, "Speed"), beside SQLite FTS5 with its `trigram`
//! tokenizer (Python's `sqlite3`) on the same records and queries in the same run:
//! - N synthetic records (1,000,000; 50,000 with `--quick`) from a seeded generator: Chinese
//!   titles, 1–2 KB of Chinese text, 20 agencies, years 2010–2024, retention codes; made in
//!   batches of 10,000 and indexed through `search::follower::index_records` (the follower's
//!   document code), never all held at once; records/s, index bytes per record, peak RSS;
//! - 12 fixed queries (words, AND, a phrase, `title:`, year and agency filters, facets), each
//!   run 20 times after a warm-up: p50/p99 per query and overall;
//! - FTS5: the same records inserted from a TSV file, the same queries as `MATCH` (terms of 3+
//!   characters) or `LIKE '%…%'` (2-character words: trigram cannot MATCH them, but its index
//!   serves LIKE), filters as `WHERE` clauses, facets as `GROUP BY` counts.
//!
//! Goals (not tests; exit status 0 whatever the figures): p99 ≤ 50 ms at 1M records, ≥ 3×
//! faster than FTS5 at p50, ≥ 10,000 records/s indexing on 2 cores.

use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use serde_json::{json, Value};

use strongroom::search::follower::index_records;
use strongroom::search::{search, Filters, Scope, SearchIndex};

const USAGE: &str = "usage: bench-search [--quick] [--records N] [--json] [--keep]";
const BATCH: usize = 10_000;
const RUNS: usize = 20;
const LIMIT: usize = 10;
const GOAL_P99_MS: f64 = 50.0;
const GOAL_SPEEDUP: f64 = 3.0;
const GOAL_RECORDS_PER_S: f64 = 10_000.0;

struct Args {
    records: u64,
    json: bool,
    keep: bool,
}

fn parse_args() -> Result<Option<Args>> {
    let mut a = Args {
        records: 1_000_000,
        json: false,
        keep: false,
    };
    let mut it = std::env::args().skip(1);
    let mut explicit = None;
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--quick" => a.records = 50_000,
            "--json" => a.json = true,
            "--keep" => a.keep = true,
            "--records" => {
                let n = it.next().context("--records needs a number")?;
                explicit = Some(n.parse().context("--records needs a number")?);
            }
            "-h" | "--help" => {
                println!("{USAGE}");
                return Ok(None);
            }
            other => bail!("unknown argument {other:?}\n{USAGE}"),
        }
    }
    if let Some(n) = explicit {
        a.records = n;
    }
    Ok(Some(a))
}

// ---- the synthetic records -------------------------------------------------------------

/// splitmix64: small, seeded, the same records on every machine.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: usize) -> usize {
        // n is small; the modulo bias is irrelevant here.
        usize::try_from(self.next() % n as u64).unwrap_or(0)
    }
    fn pick<'a>(&mut self, xs: &[&'a str]) -> &'a str {
        xs[self.below(xs.len())]
    }
}

const PLACES: [&str; 12] = [
    "东城", "西湖", "海淀", "浦东", "天河", "武侯", "江北", "雁塔", "鼓楼", "南山", "历下", "秀英",
];
const AGENCIES: [(&str, &str); 20] = [
    ("A01", "市场监督管理局"),
    ("A02", "人民法院"),
    ("A03", "生态环境局"),
    ("A04", "公安局"),
    ("A05", "财政局"),
    ("A06", "教育局"),
    ("A07", "卫生健康委员会"),
    ("A08", "住房和城乡建设局"),
    ("A09", "自然资源局"),
    ("A10", "人力资源和社会保障局"),
    ("A11", "交通运输局"),
    ("A12", "农业农村局"),
    ("A13", "民政局"),
    ("A14", "司法局"),
    ("A15", "税务局"),
    ("A16", "应急管理局"),
    ("A17", "文化和旅游局"),
    ("A18", "水务局"),
    ("A19", "统计局"),
    ("A20", "人民检察院"),
];
const SUBJECTS: [&str; 16] = [
    "营业执照",
    "行政许可决定书",
    "民事判决书",
    "会议纪要",
    "通知",
    "行政处罚决定书",
    "年度工作总结",
    "请示",
    "批复",
    "检查记录",
    "合同",
    "调查报告",
    "食品经营许可证",
    "刑事裁定书",
    "环境影响评价审批意见",
    "信访事项处理意见书",
];
const TOPICS: [&str; 16] = [
    "关于",
    "关于加强",
    "关于开展",
    "关于印发",
    "关于做好",
    "关于调整",
    "关于进一步规范",
    "关于",
    "关于落实",
    "关于",
    "关于组织",
    "关于",
    "关于表彰",
    "关于",
    "关于转发",
    "关于",
];
const MATTERS: [&str; 16] = [
    "食品安全监督检查",
    "安全生产大检查",
    "城市道路改造工程",
    "农村集体土地确权登记",
    "中小企业融资服务",
    "环境保护专项整治",
    "义务教育学校招生",
    "社会保险费征缴",
    "防汛抗旱工作",
    "历史文化街区保护",
    "医疗机构执业登记",
    "政府采购项目",
    "企业年度报告公示",
    "行政执法案卷评查",
    "疫情防控物资储备",
    "电子政务平台建设",
];
const SENT_SUBJ: [&str; 14] = [
    "经研究决定",
    "根据有关法律法规的规定",
    "为进一步加强管理",
    "本机关于当日受理",
    "经审理查明",
    "会议听取了",
    "各有关单位要高度重视",
    "依据《中华人民共和国行政许可法》",
    "原告诉称",
    "被告辩称",
    "检查人员现场核实",
    "经过认真讨论",
    "市政府常务会议决定",
    "按照上级部门的统一部署",
];
const SENT_VERB: [&str; 14] = [
    "同意",
    "责令",
    "要求",
    "决定对",
    "认真组织",
    "依法审查了",
    "进一步落实",
    "全面开展",
    "严格执行",
    "及时报送",
    "核发",
    "予以撤销",
    "研究部署",
    "督促整改",
];
const SENT_OBJ: [&str; 16] = [
    "申请人提交的材料",
    "营业执照的变更登记",
    "行政处罚的相关程序",
    "食品经营许可证的延续",
    "民事纠纷的调解方案",
    "安全隐患的排查整治",
    "专项资金的使用情况",
    "会议确定的各项任务",
    "建设项目的环境影响评价",
    "档案材料的归档移交",
    "企业信用信息的公示",
    "群众反映的突出问题",
    "合同约定的付款义务",
    "年度目标责任考核",
    "执法人员的资格审查",
    "市场主体的登记注册",
];
const SENT_TAIL: [&str; 10] = [
    "，并报送主管部门备案。",
    "，确保各项工作落到实处。",
    "，逾期不改正的依法处理。",
    "。",
    "，特此通知。",
    "，判决如下。",
    "，现予公告。",
    "，请遵照执行。",
    "，相关费用由被告承担。",
    "，会后形成本纪要。",
];
const RETENTION: [&str; 3] = ["Y", "D30", "D10"];

/// One synthetic record, in the fields the bench and the FTS5 script both use.
struct Synth {
    code: String,
    agency: &'static str,
    year: i64,
    retention: &'static str,
    title: String,
    text: String,
}

fn synth(rng: &mut Rng, i: u64) -> Synth {
    let (agency, agency_name) = AGENCIES[rng.below(AGENCIES.len())];
    let place = rng.pick(&PLACES);
    let year = 2010 + i64::try_from(rng.below(15)).unwrap_or(0);
    let retention = rng.pick(&RETENTION);
    let subject = rng.pick(&SUBJECTS);
    let title = match rng.below(3) {
        0 => format!(
            "某市{place}区{agency_name}{}{}的{subject}",
            rng.pick(&TOPICS),
            rng.pick(&MATTERS)
        ),
        1 => format!("某市{agency_name}{year}年度{}{subject}", rng.pick(&MATTERS)),
        _ => format!(
            "{place}区{agency_name}{subject}（{year}）第{}号",
            rng.below(900) + 1
        ),
    };
    let want = 1024 + rng.below(1024);
    let mut text = String::with_capacity(want + 128);
    while text.len() < want {
        text.push_str(rng.pick(&SENT_SUBJ));
        text.push('，');
        text.push_str(rng.pick(&SENT_VERB));
        if rng.below(4) == 0 {
            text.push_str(rng.pick(&MATTERS));
            text.push('中');
        }
        text.push_str(rng.pick(&SENT_OBJ));
        text.push_str(rng.pick(&SENT_TAIL));
    }
    Synth {
        code: format!("{agency}-{year}-{retention}-{i:07}"),
        agency,
        year,
        retention,
        title,
        text,
    }
}

/// The records in batches of [`BATCH`], each made only when asked for.
fn batches(n: u64) -> impl Iterator<Item = Vec<Synth>> {
    let mut rng = Rng(0x5EED_5EA2_C400_0005);
    let mut next = 0u64;
    std::iter::from_fn(move || {
        if next >= n {
            return None;
        }
        let end = (next + BATCH as u64).min(n);
        let b = (next..end).map(|i| synth(&mut rng, i)).collect();
        next = end;
        Some(b)
    })
}

/// `record.json`, intake evidence and text as the follower reads them.
fn as_record(s: Synth) -> (String, Value, Value, String) {
    let meta = json!({
        "title": s.title,
        "creator": s.agency,
        "fonds": s.agency,
        "retention": s.retention,
        "classification": "公开",
        "category": "WS",
        "year": s.year,
        "date": format!("{}-06-01", s.year),
        "files": [{"path": "main.pdf", "role": "main"}],
    });
    let evidence = json!({
        "transfer": {"agency_code": s.agency},
        "files": [{"role": "main", "format": {"name": "PDF"}}],
    });
    (s.code, meta, evidence, s.text)
}

// ---- the queries -----------------------------------------------------------------------

/// One benchmark query: strongroom's form and FTS5's.
struct Q {
    name: &'static str,
    query: &'static str,
    agency: Option<&'static str>,
    years: Option<(i64, i64)>,
    facets: bool,
    /// FTS5: (column or "" for both, term); terms under 3 characters become LIKE.
    fts: &'static [(&'static str, &'static str)],
}

const QUERIES: [Q; 12] = [
    Q {
        name: "word 营业执照",
        query: "营业执照",
        agency: None,
        years: None,
        facets: false,
        fts: &[("", "营业执照")],
    },
    Q {
        name: "word 判决",
        query: "判决",
        agency: None,
        years: None,
        facets: false,
        fts: &[("", "判决")],
    },
    Q {
        name: "word 纪要",
        query: "纪要",
        agency: None,
        years: None,
        facets: false,
        fts: &[("", "纪要")],
    },
    Q {
        name: "AND 食品 安全",
        query: "食品 安全",
        agency: None,
        years: None,
        facets: false,
        fts: &[("", "食品"), ("", "安全")],
    },
    Q {
        name: "AND 环境保护 整治",
        query: "环境保护 整治",
        agency: None,
        years: None,
        facets: false,
        fts: &[("", "环境保护"), ("", "整治")],
    },
    Q {
        name: "phrase \"行政处罚决定书\"",
        query: "\"行政处罚决定书\"",
        agency: None,
        years: None,
        facets: false,
        fts: &[("", "行政处罚决定书")],
    },
    Q {
        name: "title:营业执照",
        query: "title:营业执照",
        agency: None,
        years: None,
        facets: false,
        fts: &[("title", "营业执照")],
    },
    Q {
        name: "title:会议纪要 years 2015-2018",
        query: "title:会议纪要",
        agency: None,
        years: Some((2015, 2018)),
        facets: false,
        fts: &[("title", "会议纪要")],
    },
    Q {
        name: "通知 agency A01",
        query: "通知",
        agency: Some("A01"),
        years: None,
        facets: false,
        fts: &[("", "通知")],
    },
    Q {
        name: "许可 facets",
        query: "许可",
        agency: None,
        years: None,
        facets: true,
        fts: &[("", "许可")],
    },
    Q {
        name: "年度报告 agency A05 2020-2024 facets",
        query: "年度报告",
        agency: Some("A05"),
        years: Some((2020, 2024)),
        facets: true,
        fts: &[("", "年度报告")],
    },
    Q {
        name: "rare 刑事裁定书 疫情防控",
        query: "刑事裁定书 疫情防控",
        agency: None,
        years: None,
        facets: false,
        fts: &[("", "刑事裁定书"), ("", "疫情防控")],
    },
];

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    // Nearest rank.
    let rank = (p / 100.0 * sorted.len() as f64).ceil().max(1.0) as usize;
    sorted[rank.min(sorted.len()) - 1]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

// ---- the FTS5 baseline -----------------------------------------------------------------

const FTS5_SCRIPT: &str = r#"
import json, sqlite3, sys, time
tsv, db, qfile, runs = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
con = sqlite3.connect(db)
try:
    con.execute("create virtual table r using fts5(title, body, code unindexed, agency unindexed, year unindexed, retention unindexed, tokenize='trigram')")
except sqlite3.OperationalError as e:
    print(json.dumps({"skipped": "no FTS5 trigram: %s" % e})); sys.exit(0)
con.execute("pragma journal_mode=off"); con.execute("pragma synchronous=off")
t0 = time.perf_counter(); n = 0
def rows():
    global n
    with open(tsv, encoding="utf-8") as f:
        for line in f:
            code, agency, year, ret, title, body = line.rstrip("\n").split("\t")
            n += 1
            yield (title, body, code, agency, int(year), ret)
with con:
    con.executemany("insert into r(title, body, code, agency, year, retention) values (?,?,?,?,?,?)", rows())
index_s = time.perf_counter() - t0
def sql_of(q):
    match, where, args = [], [], []
    for col, term in q["fts"]:
        if len(term) >= 3:
            match.append(('%s : "%s"' % (col, term)) if col else '"%s"' % term)
        else:
            cols = [col] if col else ["title", "body"]
            where.append("(" + " or ".join("%s like ?" % c for c in cols) + ")")
            args += ["%" + term + "%"] * len(cols)
    if match:
        where.insert(0, "r match ?"); args.insert(0, " AND ".join(match))
    if q["agency"]:
        where.append("agency = ?"); args.append(q["agency"])
    if q["years"]:
        where.append("year between ? and ?"); args += q["years"]
    w = " and ".join(where)
    order = " order by rank" if match else ""
    return w, args, order
def run(q):
    w, args, order = sql_of(q)
    top = con.execute("select code, title from r where %s%s limit %d" % (w, order, q["limit"]), args).fetchall()
    total = con.execute("select count(*) from r where %s" % w, args).fetchone()[0]
    if q["facets"]:
        for col in ("agency", "year", "retention"):
            con.execute("select %s, count(*) from r where %s group by %s" % (col, w, col), args).fetchall()
    return total
out = []
for q in json.load(open(qfile, encoding="utf-8")):
    total = run(q)
    times = []
    for _ in range(runs):
        t = time.perf_counter(); run(q); times.append((time.perf_counter() - t) * 1000)
    out.append({"name": q["name"], "total": total, "ms": times})
print(json.dumps({"records": n, "index_s": index_s, "sqlite": sqlite3.sqlite_version, "queries": out}))
"#;

fn run_fts5(work: &Path, tsv: &Path, runs: usize) -> Result<Value> {
    let qs: Vec<Value> = QUERIES
        .iter()
        .map(|q| {
            json!({
                "name": q.name,
                "fts": q.fts,
                "agency": q.agency,
                "years": q.years.map(|(a, b)| vec![a, b]),
                "facets": q.facets,
                "limit": LIMIT,
            })
        })
        .collect();
    let qfile = work.join("queries.json");
    std::fs::write(&qfile, serde_json::to_vec(&qs)?)?;
    let script = work.join("fts5.py");
    std::fs::write(&script, FTS5_SCRIPT)?;
    let out = Command::new("python3")
        .arg(&script)
        .arg(tsv)
        .arg(work.join("fts5.sqlite"))
        .arg(&qfile)
        .arg(runs.to_string())
        .output()
        .context("running python3")?;
    if !out.status.success() {
        bail!(
            "the FTS5 script failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    serde_json::from_slice(&out.stdout).context("reading the FTS5 script's output")
}

// ---- the run ---------------------------------------------------------------------------

fn peak_rss() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

fn dir_size(dir: &Path) -> u64 {
    std::fs::read_dir(dir)
        .map(|it| {
            it.filter_map(Result::ok)
                .map(|e| match e.metadata() {
                    Ok(m) if m.is_dir() => dir_size(&e.path()),
                    Ok(m) => m.len(),
                    Err(_) => 0,
                })
                .sum()
        })
        .unwrap_or(0)
}

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("bench-search: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> Result<()> {
    let Some(args) = parse_args()? else {
        return Ok(());
    };
    let n = args.records;
    let work: PathBuf =
        std::env::temp_dir().join(format!("strongroom-bench-search-{}", std::process::id()));
    std::fs::create_dir_all(&work)?;
    let index_dir = work.join("index");
    let tsv = work.join("records.tsv");
    eprintln!("bench-search: {n} records in {}", work.display());

    // Index, writing the TSV for FTS5 on the side (its time is not counted).
    let index = SearchIndex::open(&index_dir)?;
    let mut tsv_out = BufWriter::new(std::fs::File::create(&tsv)?);
    let mut gen_time = Duration::ZERO;
    let mut tsv_err = None;
    let t0 = Instant::now();
    let stream = batches(n).map(|b| {
        let g = Instant::now();
        let mut out = Vec::with_capacity(b.len());
        for s in b {
            if let Err(e) = writeln!(
                tsv_out,
                "{}\t{}\t{}\t{}\t{}\t{}",
                s.code, s.agency, s.year, s.retention, s.title, s.text
            ) {
                tsv_err.get_or_insert(e);
            }
            out.push(as_record(s));
        }
        gen_time += g.elapsed();
        out
    });
    let indexed = index_records(&index, stream)?;
    let index_total = t0.elapsed();
    if let Some(e) = tsv_err {
        return Err(e).context("writing the TSV");
    }
    tsv_out.flush()?;
    drop(tsv_out);
    let index_time = index_total.saturating_sub(gen_time);
    let rate = indexed as f64 / index_time.as_secs_f64();
    let bytes = dir_size(&index_dir);
    let rss = peak_rss().unwrap_or(0);
    eprintln!(
        "bench-search: indexed {indexed} at {rate:.0} records/s, {bytes} index bytes, peak RSS {rss}"
    );

    // Queries.
    let mut ours: Vec<(f64, f64, u64)> = Vec::new();
    let mut all = Vec::new();
    let mut panicked: Vec<&str> = Vec::new();
    for q in &QUERIES {
        let filters = Filters {
            agency: q.agency.map(String::from),
            years: q.years,
            retention: None,
        };
        // A panic inside the library (seen: tantivy's snippet highlighter at 1M records) is
        // reported for that query and the run goes on.
        let once = || {
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                search(&index, q.query, &filters, &Scope::All, LIMIT, q.facets)
            }))
        };
        let warm = match once() {
            Ok(r) => r?,
            Err(_) => {
                eprintln!(
                    "bench-search: query {:?} PANICKED in search(); not timed",
                    q.name
                );
                panicked.push(q.name);
                ours.push((f64::NAN, f64::NAN, 0));
                continue;
            }
        };
        let mut t = Vec::with_capacity(RUNS);
        for _ in 0..RUNS {
            let s = Instant::now();
            if once().is_err() {
                panicked.push(q.name);
                break;
            }
            t.push(ms(s.elapsed()));
        }
        all.extend_from_slice(&t);
        t.sort_by(f64::total_cmp);
        ours.push((percentile(&t, 50.0), percentile(&t, 99.0), warm.total));
    }
    all.sort_by(f64::total_cmp);
    let (p50, p99) = (percentile(&all, 50.0), percentile(&all, 99.0));

    // FTS5.
    eprintln!("bench-search: FTS5 baseline");
    let fts = match run_fts5(&work, &tsv, RUNS) {
        Ok(v) => v,
        Err(e) => json!({"skipped": format!("{e:#}")}),
    };
    let skipped = fts.get("skipped").and_then(Value::as_str).map(String::from);
    let mut fts_q: Vec<(f64, f64, u64)> = Vec::new();
    let mut fts_all = Vec::new();
    for q in fts
        .get("queries")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let mut t: Vec<f64> = q
            .get("ms")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(Value::as_f64)
            .collect();
        fts_all.extend_from_slice(&t);
        t.sort_by(f64::total_cmp);
        let total = q.get("total").and_then(Value::as_u64).unwrap_or(0);
        fts_q.push((percentile(&t, 50.0), percentile(&t, 99.0), total));
    }
    fts_all.sort_by(f64::total_cmp);
    let fts_rate = fts
        .get("index_s")
        .and_then(Value::as_f64)
        .map(|s| n as f64 / s);
    let (f50, f99) = (percentile(&fts_all, 50.0), percentile(&fts_all, 99.0));

    let per_query: Vec<Value> = QUERIES
        .iter()
        .enumerate()
        .map(|(i, q)| {
            let f = fts_q.get(i);
            json!({
                "query": q.name, "p50_ms": ours[i].0, "p99_ms": ours[i].1, "total": ours[i].2,
                "fts5_p50_ms": f.map(|x| x.0), "fts5_p99_ms": f.map(|x| x.1),
                "fts5_total": f.map(|x| x.2),
                "speedup_p50": f.map(|x| x.0 / ours[i].0),
            })
        })
        .collect();
    let summary = json!({
        "records": n,
        "indexing_records_per_s": rate,
        "index_bytes": bytes,
        "index_bytes_per_record": bytes as f64 / n.max(1) as f64,
        "peak_rss_bytes": rss,
        "panicked_queries": panicked,
        "p50_ms": p50, "p99_ms": p99,
        "fts5": {
            "skipped": skipped,
            "sqlite": fts.get("sqlite"),
            "indexing_records_per_s": fts_rate,
            "p50_ms": f50, "p99_ms": f99,
        },
        "speedup_p50": f50 / p50, "speedup_p99": f99 / p99,
        "queries": per_query,
        "goals": {"p99_ms_at_1m": GOAL_P99_MS, "speedup_p50": GOAL_SPEEDUP, "records_per_s": GOAL_RECORDS_PER_S},
    });
    if args.json {
        println!("{}", serde_json::to_string_pretty(&summary)?);
    } else {
        println!(
            "bench-search: {n} records, {} cores",
            std::thread::available_parallelism().map_or(0, usize::from)
        );
        println!(
            "indexing   {rate:>10.0} records/s (goal ≥ {GOAL_RECORDS_PER_S:.0}); FTS5 {}",
            fts_rate.map_or("-".into(), |r| format!("{r:.0} records/s"))
        );
        println!(
            "index      {:>10.0} bytes/record ({:.1} MiB); peak RSS {:.0} MiB",
            bytes as f64 / n.max(1) as f64,
            bytes as f64 / 1048576.0,
            rss as f64 / 1048576.0
        );
        println!();
        println!(
            "{:<40} {:>9} {:>9} {:>9} {:>9} {:>8} {:>9} {:>9}",
            "query", "p50 ms", "p99 ms", "FTS5 p50", "FTS5 p99", "×p50", "hits", "FTS5 hits"
        );
        for (i, q) in QUERIES.iter().enumerate() {
            let (a, b, c) = ours[i];
            let (fa, fb, fc) = fts_q.get(i).copied().unwrap_or((f64::NAN, f64::NAN, 0));
            println!(
                "{:<40} {a:>9.2} {b:>9.2} {fa:>9.2} {fb:>9.2} {:>8.1} {c:>9} {fc:>9}",
                q.name,
                fa / a
            );
        }
        println!(
            "{:<40} {p50:>9.2} {p99:>9.2} {f50:>9.2} {f99:>9.2} {:>8.1}",
            "overall",
            f50 / p50
        );
        println!();
        println!("goals: p99 ≤ {GOAL_P99_MS} ms at 1M records; ≥ {GOAL_SPEEDUP}× FTS5 at p50; ≥ {GOAL_RECORDS_PER_S:.0} records/s");
        if !panicked.is_empty() {
            println!("PANICKED in search() (not timed, not in overall): {panicked:?}");
        }
        if let Some(s) = skipped {
            println!("FTS5 baseline skipped: {s}");
        }
        println!("FTS5: terms of 3+ characters as MATCH \"…\"; 2-character words as LIKE '%…%' (trigram's index serves it)");
    }
    drop(index);
    if !args.keep {
        let _ = std::fs::remove_dir_all(&work);
    }
    Ok(())
}
