//! Searching the index within a caller's scope: the query language, filters, facets and
//! snippets. Read-only: it never writes the index (only [`super::follower`] does).
//!
//! The scope ([`Scope`]) is a mandatory clause of every query: nothing outside it is ever
//! returned or counted in facets. The query language is tantivy's (phrases, `AND`/`OR`/`NOT`,
//! `+`/`-`, `field:value`, `year:[2016 TO 2019]`, `date:[2016-01-01 TO 2016-06-30]`) over the
//! field names of [`super::schema`], plus `refcode:CODE` (exact) and `refcode:PREFIX*`.
//! Specified in `formats/search.md` ("Query language").

use std::collections::BTreeMap;
use std::ops::Bound;
use std::sync::Arc;

use serde::Serialize;
use tantivy::collector::{Collector, DocSetCollector, FacetCollector};
use tantivy::query::{
    AllQuery, Bm25StatisticsProvider, BooleanQuery, BoostQuery, ConstScoreQuery, EnableScoring,
    Occur, Query, QueryParser, RangeQuery, RegexQuery, TermQuery, TermSetQuery,
};
use tantivy::schema::{IndexRecordOption, Value};
use tantivy::snippet::SnippetGenerator;
use tantivy::{DocAddress, Score, SegmentOrdinal, TantivyDocument, Term};

use super::partial::{self, PartialCollector};
use super::schema::FACETS;
use super::{SearchError, SearchIndex};
use crate::refcode::RefCode;

/// What a caller may see. Applied to every query as a mandatory clause.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Scope {
    /// Everything (archivists).
    All,
    /// The records of one agency (its Agency-Code).
    Agency(String),
    /// These records only, by 档号 (a court's authorised records).
    Records(Vec<String>),
    /// The 公开 (public) records of one agency: what the agency's own users see through the
    /// server (内部 and 限制 records only go to archivists and to what they grant).
    AgencyPublic(String),
}

/// Filters besides the query text.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct Filters {
    /// Agency-Code.
    pub agency: Option<String>,
    /// 年度 range, both ends included.
    pub years: Option<(i64, i64)>,
    /// 保管期限 code.
    pub retention: Option<String>,
}

/// One result.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Hit {
    /// 档号.
    pub reference_code: String,
    /// 题名.
    pub title: String,
    /// Agency-Code.
    pub agency: String,
    /// 日期 as written.
    pub date: String,
    /// 年度.
    pub year: Option<i64>,
    /// BM25 score.
    pub score: f32,
    /// A passage of the text (or the title) with the matched words in 【】.
    pub snippet: String,
    /// The same passage as HTML, matched words in `<b>`.
    pub snippet_html: String,
}

/// Facet counts: dimension → value → number of matching records in scope.
pub type Facets = BTreeMap<String, BTreeMap<String, u64>>;

/// What a search found.
#[derive(Debug, Clone, Serialize)]
pub struct SearchResults {
    /// The query as given.
    pub query: String,
    /// Matching records in scope (all, not only those listed).
    pub total: u64,
    /// The best `limit`, best first (ties by 档号).
    pub hits: Vec<Hit>,
    /// Facet counts when asked for.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub facets: Option<Facets>,
    /// Parts of the query that did not parse and were read leniently.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
}

/// Escapes a literal for tantivy's regex syntax.
fn regex_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len() * 2);
    for c in s.chars() {
        if "\\.+*?()|[]{}^$#&-~\"<>@".contains(c) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// Turns bare dates in `date:` and `closed:` terms and ranges into the RFC 3339 times
/// tantivy's parser wants (00:00 UTC, as indexed).
fn expand_dates(q: &str) -> String {
    let mut out = String::with_capacity(q.len() + 32);
    let mut in_range = false;
    let mut single = false;
    let chars: Vec<char> = q.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let rest: String = chars[i..].iter().take(8).collect();
        if !in_range && (i == 0 || chars[i - 1].is_whitespace() || "(+-".contains(chars[i - 1])) {
            if let Some(p) = ["date:", "closed:"].iter().find(|p| rest.starts_with(**p)) {
                let n = p.chars().count();
                if chars.get(i + n).is_some_and(char::is_ascii_digit) {
                    out.push_str(p);
                    i += n;
                    single = true;
                    continue;
                }
            }
        }
        if !in_range
            && ["date:[", "date:{", "closed:[", "closed:{"]
                .iter()
                .any(|p| rest.starts_with(p))
        {
            in_range = true;
        }
        if in_range && (chars[i] == ']' || chars[i] == '}') {
            in_range = false;
        }
        // YYYY-MM-DD not followed by 'T'
        if (in_range || single)
            && i + 10 <= chars.len()
            && chars[i..i + 10].iter().enumerate().all(|(k, c)| {
                if k == 4 || k == 7 {
                    *c == '-'
                } else {
                    c.is_ascii_digit()
                }
            })
            && chars.get(i + 10) != Some(&'T')
            && (i == 0 || !chars[i - 1].is_ascii_digit())
        {
            out.extend(&chars[i..i + 10]);
            out.push_str("T00:00:00Z");
            i += 10;
            single = false;
            continue;
        }
        if chars[i].is_whitespace() {
            single = false;
        }
        out.push(chars[i]);
        i += 1;
    }
    out
}

/// Splits `refcode:` terms out of the query text: (the rest, their queries).
fn take_refcodes(
    index: &SearchIndex,
    q: &str,
) -> Result<(String, Vec<Box<dyn Query>>), SearchError> {
    let field = index.fields().refcode;
    let mut rest = Vec::new();
    let mut queries: Vec<Box<dyn Query>> = Vec::new();
    for word in q.split_whitespace() {
        let Some(value) = word.strip_prefix("refcode:") else {
            rest.push(word);
            continue;
        };
        let value = value.trim_matches('"');
        if let Some(prefix) = value.strip_suffix('*') {
            let rq = RegexQuery::from_pattern(&format!("{}.*", regex_escape(prefix)), field)
                .map_err(|source| SearchError::RefcodePrefix {
                    prefix: prefix.to_string(),
                    source,
                })?;
            queries.push(Box::new(rq));
        } else {
            queries.push(Box::new(TermQuery::new(
                Term::from_field_text(field, value),
                IndexRecordOption::Basic,
            )));
        }
    }
    Ok((rest.join(" "), queries))
}

fn term(field: tantivy::schema::Field, value: &str) -> Box<dyn Query> {
    Box::new(TermQuery::new(
        Term::from_field_text(field, value),
        IndexRecordOption::Basic,
    ))
}

/// A clause that narrows without scoring: a filter, the scope, the record kind. (A scored
/// term would add an idf that depends on how the index's segments happen to be laid out.)
fn filter(q: Box<dyn Query>) -> Box<dyn Query> {
    Box::new(ConstScoreQuery::new(q, 0.0))
}

/// Takes out of a plain query (bare words only: no field prefix, quotes, parentheses,
/// operators or ranges) the words the analyzer keeps whole: a word such as 政务服务 is
/// indexed as 政务, 服务 and 政务服务 at consecutive positions, and the query parser would
/// look for that three-token phrase. Wherever the document has the token 政务服务 it has the
/// phrase, so the one term finds the same records without reading positions: several times
/// faster on a common word. Returns the rest of the query and the words taken.
fn take_whole_words(index: &SearchIndex, text: &str) -> (String, Vec<String>) {
    let plain = |w: &str| {
        !w.contains([':', '"', '(', ')', '[', ']', '{', '}', '*', '^', '~', '\\'])
            && !w.starts_with(['+', '-'])
            && !matches!(w, "AND" | "OR" | "NOT" | "IN")
    };
    let pieces: Vec<&str> = text.split_whitespace().collect();
    if pieces.is_empty() || !pieces.iter().all(|w| plain(w)) {
        return (text.to_string(), Vec::new());
    }
    let Ok(mut analyzer) = index.index().tokenizer_for_field(index.fields().text) else {
        return (text.to_string(), Vec::new());
    };
    let (mut rest, mut words) = (Vec::new(), Vec::new());
    for w in pieces {
        let mut stream = analyzer.token_stream(w);
        let (mut n, mut whole) = (0, None);
        while stream.advance() {
            let t = stream.token();
            n += 1;
            if t.offset_from == 0 && t.offset_to == w.len() {
                whole = Some(t.text.clone());
            }
        }
        match whole {
            Some(term) if n > 1 => words.push(term),
            _ => rest.push(w),
        }
    }
    (rest.join(" "), words)
}

/// A whole word (an analysed term) in any of the default fields, boosted as the parser boosts
/// them.
fn whole_word_query(index: &SearchIndex, word: &str) -> Box<dyn Query> {
    let f = index.fields();
    Box::new(BooleanQuery::new(
        f.default_search()
            .into_iter()
            .map(|field| {
                let q: Box<dyn Query> = Box::new(TermQuery::new(
                    Term::from_field_text(field, word),
                    IndexRecordOption::WithFreqs,
                ));
                let boost = if field == f.title {
                    3.0
                } else if field == f.keywords {
                    2.0
                } else {
                    1.0
                };
                let q: Box<dyn Query> = if boost == 1.0 {
                    q
                } else {
                    Box::new(BoostQuery::new(q, boost))
                };
                (Occur::Should, q)
            })
            .collect(),
    ))
}

/// The scope as a query.
fn scope_query(index: &SearchIndex, scope: &Scope) -> Option<Box<dyn Query>> {
    let f = index.fields();
    match scope {
        // Every record; the history lines kept beside them are excluded by `search`.
        Scope::All => None,
        Scope::Agency(code) => Some(term(f.agency, code)),
        Scope::Records(codes) => Some(Box::new(TermSetQuery::new(
            codes
                .iter()
                .map(|c| Term::from_field_text(f.refcode, c.trim())),
        ))),
        Scope::AgencyPublic(code) => Some(Box::new(BooleanQuery::new(vec![
            (Occur::Must, term(f.agency, code)),
            (Occur::Must, term(f.classification, "公开")),
        ]))),
    }
}

/// Searches the index: `query_text` in the query language, narrowed by `filters`, within
/// `scope`; the best `limit` hits, and facet counts when `facets`.
///
/// Answers from the index's result cache when the same search was made on the same reader
/// generation ([`SearchIndex::set_result_cache`]; off unless set).
pub fn search(
    index: &SearchIndex,
    query_text: &str,
    filters: &Filters,
    scope: &Scope,
    limit: usize,
    facets: bool,
) -> Result<SearchResults, SearchError> {
    let searcher = index.searcher();
    let key = super::cache::Key {
        query: query_text.to_string(),
        filters: filters.clone(),
        scope: scope.clone(),
        limit,
        facets,
    };
    let generation = searcher.generation().generation_id();
    if let Some(hit) = index.cache().get(generation, &key) {
        return Ok(hit);
    }
    let results = run(index, &searcher, &key, limit, facets)?;
    index.cache().put(generation, key, &results);
    Ok(results)
}

fn run(
    index: &SearchIndex,
    searcher: &tantivy::Searcher,
    key: &super::cache::Key,
    limit: usize,
    facets: bool,
) -> Result<SearchResults, SearchError> {
    let (query_text, filters, scope) = (key.query.as_str(), &key.filters, &key.scope);
    let f = *index.fields();
    let mut warnings = Vec::new();

    // The user's query: a bare 档号 is an exact look-up; `refcode:` terms are taken out.
    let trimmed = query_text.trim();
    let mut clauses: Vec<(Occur, Box<dyn Query>)> = Vec::new();
    let mut text_query: Option<Box<dyn Query>> = None;
    if RefCode::parse(trimmed).is_ok() {
        clauses.push((Occur::Must, term(f.refcode, trimmed)));
    } else {
        let (rest, refcodes) = take_refcodes(index, trimmed)?;
        clauses.extend(refcodes.into_iter().map(|q| (Occur::Must, q)));
        let rest = expand_dates(&rest);
        let (rest, words) = take_whole_words(index, &rest);
        let mut text_clauses: Vec<(Occur, Box<dyn Query>)> = words
            .iter()
            .map(|w| (Occur::Must, whole_word_query(index, w)))
            .collect();
        if !rest.trim().is_empty() {
            let mut parser = QueryParser::for_index(index.index(), f.default_search());
            parser.set_field_boost(f.title, 3.0);
            parser.set_field_boost(f.keywords, 2.0);
            parser.set_conjunction_by_default();
            let q = match parser.parse_query(&rest) {
                Ok(q) => q,
                Err(strict) => {
                    let (q, errs) = parser.parse_query_lenient(&rest);
                    warnings.push(strict.to_string());
                    warnings.extend(errs.iter().map(ToString::to_string));
                    q
                }
            };
            text_clauses.push((Occur::Must, q));
        }
        if !text_clauses.is_empty() {
            let q: Box<dyn Query> = if text_clauses.len() == 1 {
                text_clauses.remove(0).1
            } else {
                Box::new(BooleanQuery::new(text_clauses))
            };
            text_query = Some(q.box_clone());
            clauses.push((Occur::Must, q));
        }
    }
    if clauses.is_empty() {
        clauses.push((Occur::Must, Box::new(AllQuery)));
    }
    // Filters and the scope: mandatory, unscored.
    if let Some(a) = &filters.agency {
        clauses.push((Occur::Must, filter(term(f.agency, a))));
    }
    if let Some(r) = &filters.retention {
        clauses.push((Occur::Must, filter(term(f.retention, r))));
    }
    if let Some((lo, hi)) = filters.years {
        clauses.push((
            Occur::Must,
            filter(Box::new(RangeQuery::new(
                Bound::Included(Term::from_field_i64(f.year, lo)),
                Bound::Included(Term::from_field_i64(f.year, hi)),
            ))),
        ));
    }
    if let Some(s) = scope_query(index, scope) {
        clauses.push((Occur::Must, filter(s)));
    }
    // Never a history line (`formats/search.md`): excluded, so that it adds no score.
    clauses.push((Occur::MustNot, term(f.kind, super::schema::KIND_ENTRY)));
    let query = BooleanQuery::new(clauses);

    // One pass over each segment's matches: hits, total and (when asked) every facet
    // dimension; a segment unchanged since the same search was made is not searched again.
    let facet_collectors = || -> Vec<FacetCollector> {
        if !facets {
            return Vec::new();
        }
        FACETS
            .iter()
            .map(|(_, field)| {
                let mut c = FacetCollector::for_field(*field);
                c.add_facet("/");
                c
            })
            .collect()
    };
    let collector = PartialCollector {
        limit: limit.max(1),
        facets: facet_collectors(),
    };
    let partials = index.partials();
    let epoch = partials.epoch(searcher);
    let statistics: &dyn Bm25StatisticsProvider = match &epoch {
        Some(e) => &e.searcher,
        None => searcher,
    };
    let weight = query
        .weight(EnableScoring::enabled_from_statistics_provider(
            statistics, searcher,
        ))
        .map_err(|e| index.err(e))?;
    let mut found = Vec::with_capacity(searcher.segment_readers().len());
    for (ord, reader) in searcher.segment_readers().iter().enumerate() {
        let ord = ord as SegmentOrdinal;
        let kept = epoch.as_ref().and_then(|e| partials.get(key, reader, e.id));
        let part = match kept {
            Some(p) => p,
            None => {
                let p = Arc::new(
                    collector
                        .collect_segment(weight.as_ref(), ord, reader)
                        .map_err(|e| index.err(e))?,
                );
                if let Some(e) = &epoch {
                    partials.put(key, reader, e.id, p.clone());
                }
                p
            }
        };
        found.push((ord, part));
    }
    let (top, total, mut facet_counts) =
        partial::merge(&found, limit.max(1), &collector.facets).map_err(|e| index.err(e))?;
    let snippets = |field| {
        text_query
            .as_ref()
            .and_then(|q| SnippetGenerator::create(searcher, &**q, field).ok())
    };
    let mut text_snippets = snippets(f.text);
    if let Some(g) = text_snippets.as_mut() {
        g.set_max_num_chars(120);
    }
    let title_snippets = snippets(f.title);
    let mut hits = Vec::with_capacity(top.len());
    for (score, addr) in top.into_iter().take(limit) {
        hits.push(hit(
            index,
            searcher,
            score,
            addr,
            text_snippets.as_ref(),
            title_snippets.as_ref(),
        )?);
    }
    hits.sort_by(|a, b| {
        b.score
            .total_cmp(&a.score)
            .then_with(|| a.reference_code.cmp(&b.reference_code))
    });

    let facets = if facets {
        let mut out = Facets::new();
        for ((dimension, _), counts) in FACETS.iter().zip(facet_counts.drain(..)) {
            let values = counts
                .get("/")
                .map(|(facet, n)| {
                    let v = facet
                        .to_path()
                        .last()
                        .map(|s| s.to_string())
                        .unwrap_or_default();
                    (v, n)
                })
                .collect();
            out.insert(dimension.to_string(), values);
        }
        Some(out)
    } else {
        None
    };
    Ok(SearchResults {
        query: query_text.to_string(),
        total,
        hits,
        facets,
        warnings,
    })
}

/// The ledger indices of the entries naming `refcode` (its history), ascending, as far as the
/// index has followed the ledger ([`SearchIndex::position`]).
pub fn history(index: &SearchIndex, refcode: &str) -> Result<Vec<u64>, SearchError> {
    let f = *index.fields();
    let searcher = index.searcher();
    let lines = searcher
        .search(&*term(f.entry_of, refcode), &DocSetCollector)
        .map_err(|e| index.err(e))?;
    let mut out = Vec::with_capacity(lines.len());
    let name = index
        .index()
        .schema()
        .get_field_name(f.entry_index)
        .to_string();
    for addr in lines {
        let column = searcher
            .segment_reader(addr.segment_ord)
            .fast_fields()
            .u64(&name)
            .map_err(|e| index.err(e))?;
        if let Some(at) = column.first(addr.doc_id) {
            out.push(at);
        }
    }
    out.sort_unstable();
    out.dedup();
    Ok(out)
}

fn hit(
    index: &SearchIndex,
    searcher: &tantivy::Searcher,
    score: Score,
    addr: DocAddress,
    text_snippets: Option<&SnippetGenerator>,
    title_snippets: Option<&SnippetGenerator>,
) -> Result<Hit, SearchError> {
    let f = index.fields();
    let doc: TantivyDocument = searcher.doc(addr).map_err(|e| index.err(e))?;
    let get = |field| {
        doc.get_first(field)
            .and_then(|v| v.as_str())
            .unwrap_or_default()
            .to_string()
    };
    let title = get(f.title);
    let mut snippet = text_snippets.map(|g| g.snippet_from_doc(&doc));
    if snippet.as_ref().is_none_or(|s| s.highlighted().is_empty()) {
        snippet = title_snippets.map(|g| g.snippet_from_doc(&doc));
    }
    let (plain, html) = match snippet {
        Some(s) if !s.fragment().is_empty() => {
            // The search-mode tokenizer highlights overlapping words (营业执照 and 营业, 执照):
            // merge them first. tantivy's own `to_html` panics on such overlaps, so the HTML
            // is built here too.
            let mut ranges: Vec<std::ops::Range<usize>> = s.highlighted().to_vec();
            ranges.sort_by_key(|r| (r.start, r.end));
            let mut merged: Vec<std::ops::Range<usize>> = Vec::new();
            for r in ranges {
                match merged.last_mut() {
                    Some(last) if r.start <= last.end => last.end = last.end.max(r.end),
                    _ => merged.push(r),
                }
            }
            let frag = s.fragment();
            let (mut plain, mut html) = (String::new(), String::new());
            let mut at = 0;
            for r in merged {
                let before = frag.get(at..r.start).unwrap_or_default();
                let hit = frag.get(r.start..r.end).unwrap_or_default();
                plain.push_str(before);
                plain.push('【');
                plain.push_str(hit);
                plain.push('】');
                html.push_str(&escape_html(before));
                html.push_str("<b>");
                html.push_str(&escape_html(hit));
                html.push_str("</b>");
                at = r.end;
            }
            let rest = frag.get(at..).unwrap_or_default();
            plain.push_str(rest);
            html.push_str(&escape_html(rest));
            (plain.replace('\n', " "), html)
        }
        _ => (title.clone(), String::new()),
    };
    Ok(Hit {
        reference_code: get(f.refcode),
        title,
        agency: get(f.agency),
        date: get(f.date_text),
        year: doc.get_first(f.year).and_then(|v| v.as_i64()),
        score,
        snippet: plain,
        snippet_html: html,
    })
}

/// Text made safe inside HTML.
fn escape_html(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overlapping_highlights_merge_and_html_is_escaped() {
        assert_eq!(
            escape_html("<a href=\"x\">&'"),
            "&lt;a href=&quot;x&quot;&gt;&amp;&#39;"
        );
    }

    #[test]
    fn bare_dates_become_rfc3339_in_date_fields_only() {
        assert_eq!(
            expand_dates("date:[2016-01-01 TO 2016-06-30] 2016-05-12"),
            "date:[2016-01-01T00:00:00Z TO 2016-06-30T00:00:00Z] 2016-05-12"
        );
        assert_eq!(
            expand_dates("通知 closed:2016-08-01"),
            "通知 closed:2016-08-01T00:00:00Z"
        );
        assert_eq!(
            expand_dates("date:{2016-01-01T00:00:00Z TO *}"),
            "date:{2016-01-01T00:00:00Z TO *}"
        );
    }

    #[test]
    fn words_the_analyzer_keeps_whole_are_taken_out_of_plain_queries_only() {
        let ix = SearchIndex::in_ram().expect("index");
        // 会议纪要 is indexed as 会议, 纪要, 会议纪要; 政务服务 only as 政务, 服务 (a phrase).
        let (rest, words) = take_whole_words(&ix, "会议纪要 政务服务 有限公司 平台");
        assert_eq!(words, ["会议纪要", "有限公司"]);
        assert_eq!(rest, "政务服务 平台");
        // Anything beyond bare words goes to the parser whole.
        for q in [
            "\"政务服务\"",
            "title:政务服务",
            "政务服务 OR 平台",
            "-政务服务",
        ] {
            let (rest, words) = take_whole_words(&ix, q);
            assert!(words.is_empty(), "{q}");
            assert_eq!(rest, q);
        }
    }

    #[test]
    fn regex_escape_quotes_refcode_punctuation() {
        assert_eq!(regex_escape("0194-WS·2016"), "0194\\-WS·2016");
    }
}
