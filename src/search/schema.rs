//! The index schema: which record facts become which tantivy fields, and how each is analysed.
//!
//! Owns field names (they are also the query language's field prefixes: `title:`, `case:`,
//! `doc:`, `creator:` …) and options. A change here is a change of the index format: bump
//! [`super::FORMAT_VERSION`], and the next catch-up rebuilds the index. Specified in
//! `formats/search.md` ("Schema").

use tantivy::schema::{
    DateOptions, DateTimePrecision, FacetOptions, Field, IndexRecordOption, NumericOptions, Schema,
    TextFieldIndexing, TextOptions, STORED, STRING,
};

use super::tokenizer::ANALYZER;

/// The fields of the index, resolved once.
#[derive(Debug, Clone, Copy)]
pub struct Fields {
    /// 档号, raw (exact term; prefix by regex), stored. The key: one document per 档号.
    pub refcode: Field,
    /// 题名, analysed, stored.
    pub title: Field,
    /// 责任者, analysed.
    pub creator: Field,
    /// Agency-Code of the transfer, raw, stored.
    pub agency: Field,
    /// 全宗号, raw.
    pub fonds: Field,
    /// 年度: i64, indexed (ranges), fast, stored.
    pub year: Field,
    /// 日期 as a date (the first day of a `YYYY-MM` or `YYYY` date), indexed and fast.
    pub date: Field,
    /// 日期 as written in record.json, stored for result lists.
    pub date_text: Field,
    /// 办结日期 as a date.
    pub closed: Field,
    /// 保管期限 code (`Y`, `D30`, `D10` …), raw.
    pub retention: Field,
    /// 密级 (公开, 内部, 限制), raw.
    pub classification: Field,
    /// 门类代码, raw.
    pub category: Field,
    /// 案件号, analysed (`case:`).
    pub case: Field,
    /// 文号, analysed (`doc:`).
    pub doc: Field,
    /// 主题词, analysed, one value each.
    pub keywords: Field,
    /// Format names of the record's files (from intake evidence), analysed.
    pub format: Field,
    /// Names of the record's files, analysed.
    pub file: Field,
    /// Extracted text of the main and attachment files, and the description; stored for
    /// snippets.
    pub text: Field,
    /// Facet `/<Agency-Code>`.
    pub agency_facet: Field,
    /// Facet `/<fonds>`.
    pub fonds_facet: Field,
    /// Facet `/<year>`.
    pub year_facet: Field,
    /// Facet `/<retention>`.
    pub retention_facet: Field,
    /// Facet `/<format name>`, one per distinct format.
    pub format_facet: Field,
    /// What a document is: `record` (one per 档号, everything above) or `entry` (one per
    /// ledger entry naming a record: the record's history, below).
    pub kind: Field,
    /// On an `entry` document: the 档号 the ledger entry names, raw.
    pub entry_of: Field,
    /// On an `entry` document: the entry's ledger index, fast.
    pub entry_index: Field,
}

/// [`Fields::kind`] of a record's document.
pub const KIND_RECORD: &str = "record";
/// [`Fields::kind`] of a ledger entry's document.
pub const KIND_ENTRY: &str = "entry";

/// Names of the facet dimensions, as reported in results, with their fields' names.
pub const FACETS: [(&str, &str); 5] = [
    ("agency", "agency_facet"),
    ("fonds", "fonds_facet"),
    ("year", "year_facet"),
    ("retention", "retention_facet"),
    ("format", "format_facet"),
];

fn analysed(stored: bool) -> TextOptions {
    let o = TextOptions::default().set_indexing_options(
        TextFieldIndexing::default()
            .set_tokenizer(ANALYZER)
            .set_index_option(IndexRecordOption::WithFreqsAndPositions),
    );
    if stored {
        o.set_stored()
    } else {
        o
    }
}

fn date_options() -> DateOptions {
    DateOptions::default()
        .set_indexed()
        .set_fast()
        .set_precision(DateTimePrecision::Seconds)
}

/// Builds the schema.
pub fn build() -> Schema {
    let mut b = Schema::builder();
    b.add_text_field("refcode", STRING | STORED);
    b.add_text_field("title", analysed(true));
    b.add_text_field("creator", analysed(false));
    b.add_text_field("agency", STRING | STORED);
    b.add_text_field("fonds", STRING);
    b.add_i64_field(
        "year",
        NumericOptions::default()
            .set_indexed()
            .set_fast()
            .set_stored(),
    );
    b.add_date_field("date", date_options());
    b.add_text_field("date_text", STORED);
    b.add_date_field("closed", date_options());
    b.add_text_field("retention", STRING);
    b.add_text_field("classification", STRING);
    b.add_text_field("category", STRING);
    b.add_text_field("case", analysed(false));
    b.add_text_field("doc", analysed(false));
    b.add_text_field("keywords", analysed(false));
    b.add_text_field("format", analysed(false));
    b.add_text_field("file", analysed(false));
    b.add_text_field("text", analysed(true));
    for (_, field) in FACETS {
        b.add_facet_field(field, FacetOptions::default());
    }
    b.add_text_field("kind", STRING);
    b.add_text_field("entry_of", STRING);
    b.add_u64_field("entry_index", NumericOptions::default().set_fast());
    b.build()
}

impl Fields {
    /// Resolves the fields of `schema` (built by [`build`]); None when one is missing (an
    /// index of another format).
    pub fn of(schema: &Schema) -> Option<Fields> {
        let f = |name: &str| schema.get_field(name).ok();
        Some(Fields {
            refcode: f("refcode")?,
            title: f("title")?,
            creator: f("creator")?,
            agency: f("agency")?,
            fonds: f("fonds")?,
            year: f("year")?,
            date: f("date")?,
            date_text: f("date_text")?,
            closed: f("closed")?,
            retention: f("retention")?,
            classification: f("classification")?,
            category: f("category")?,
            case: f("case")?,
            doc: f("doc")?,
            keywords: f("keywords")?,
            format: f("format")?,
            file: f("file")?,
            text: f("text")?,
            agency_facet: f("agency_facet")?,
            fonds_facet: f("fonds_facet")?,
            year_facet: f("year_facet")?,
            retention_facet: f("retention_facet")?,
            format_facet: f("format_facet")?,
            kind: f("kind")?,
            entry_of: f("entry_of")?,
            entry_index: f("entry_index")?,
        })
    }

    /// The fields a query searches when it names none.
    pub fn default_search(&self) -> Vec<Field> {
        vec![
            self.title,
            self.text,
            self.creator,
            self.keywords,
            self.case,
            self.doc,
            self.file,
        ]
    }
}
