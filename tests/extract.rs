//! Text extraction per format (`strongroom::extract`, spec `formats/text-extraction.md`):
//! every test file is made here, except the sample transfer's PDF.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use lopdf::content::{Content, Operation};
use lopdf::{dictionary, Document, Object, Stream};
use strongroom::extract::{extract_text, normalise, ExtractLimits, Extracted};
use strongroom::formats::Registry;

const NOTICE: &str = "关于网上政务服务平台建设的通知";

fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, bytes).expect("write test file");
    p
}

/// Extracts with the registry's identification, as the indexer will.
fn extract(path: &Path) -> Extracted {
    let id = Registry::builtin().identify(path).expect("identify");
    extract_text(path, Some(&id), &ExtractLimits::default())
}

/// Extracts without an identification (sniffing).
fn extract_sniffed(path: &Path) -> Extracted {
    extract_text(path, None, &ExtractLimits::default())
}

fn both(path: &Path) -> [Extracted; 2] {
    [extract(path), extract_sniffed(path)]
}

#[test]
fn utf8_chinese_text() {
    let dir = tempfile::tempdir().expect("tempdir");
    let text = format!("{NOTICE}\n各区人民政府，市政府各委、办、局：\n为推进“互联网+政务服务”……\n");
    let with_bom = [b"\xef\xbb\xbf".as_slice(), text.as_bytes()].concat();
    for (name, bytes) in [("a.txt", text.as_bytes()), ("bom.txt", with_bom.as_slice())] {
        let p = write(dir.path(), name, bytes);
        for e in both(&p) {
            assert_eq!(e.method, "utf-8", "{name}: {e:?}");
            assert_eq!(e.text, text, "{name}");
            assert!(!e.truncated && e.problem.is_none(), "{name}: {e:?}");
        }
    }
}

#[test]
fn gbk_text_is_decoded() {
    let dir = tempfile::tempdir().expect("tempdir");
    let text = format!("{NOTICE}\n京政办发〔2016〕12号\n各区人民政府：现将有关事项通知如下。\n");
    let (gbk, _, unmappable) = encoding_rs::GBK.encode(&text);
    assert!(!unmappable);
    assert!(
        std::str::from_utf8(&gbk).is_err(),
        "the test file must not be UTF-8"
    );
    let p = write(dir.path(), "gbk.txt", &gbk);
    for e in both(&p) {
        assert_eq!(e.method, "gb18030", "{e:?}");
        assert_eq!(e.text, text);
        assert!(e.problem.is_none());
    }
    // GB18030 proper, with a character outside GBK.
    let text = format!("{NOTICE} 𠀀 €");
    let (gb, _, _) = encoding_rs::GB18030.encode(&text);
    let p = write(dir.path(), "gb18030.txt", &gb);
    assert_eq!(extract_sniffed(&p).text, text);
}

#[test]
fn utf16_with_bom() {
    let dir = tempfile::tempdir().expect("tempdir");
    let text = format!("{NOTICE}\r\nline two");
    let mut le = vec![0xff, 0xfe];
    let mut be = vec![0xfe, 0xff];
    for u in text.encode_utf16() {
        le.extend_from_slice(&u.to_le_bytes());
        be.extend_from_slice(&u.to_be_bytes());
    }
    for (name, bytes, method) in [("le.txt", le, "utf-16le"), ("be.txt", be, "utf-16be")] {
        let p = write(dir.path(), name, &bytes);
        // The registry may or may not call UTF-16 text; sniffing must read it either way.
        let e = extract_sniffed(&p);
        assert_eq!(e.method, method, "{name}: {e:?}");
        assert_eq!(e.text, text, "{name}");
        let e = extract(&p);
        if e.method != "none" {
            assert_eq!(e.text, text, "{name}: {e:?}");
        }
    }
}

#[test]
fn undecodable_bytes_fall_back_to_lossy_utf8() {
    let dir = tempfile::tempdir().expect("tempdir");
    let p = write(dir.path(), "bad.txt", b"abc \xff\xfe\xfd\x80 def");
    let e = extract_text(&p, None, &ExtractLimits::default());
    // 0xFF 0xFE is a UTF-16 BOM: start with something else.
    assert!(e.problem.is_none());
    let p = write(dir.path(), "bad2.txt", b"abc \x80\xff\x80 def");
    let e = extract_text(&p, None, &ExtractLimits::default());
    assert_eq!(e.method, "utf-8-lossy", "{e:?}");
    assert!(
        e.text.starts_with("abc ") && e.text.ends_with(" def"),
        "{e:?}"
    );
}

#[test]
fn xml_declared_gb18030() {
    let dir = tempfile::tempdir().expect("tempdir");
    let xml = format!(
        "<?xml version=\"1.0\" encoding=\"GB18030\"?>\n\
         <案卷><题名>{NOTICE}</题名><责任者>北京市人民政府办公厅</责任者>\
         <备注>A &amp; B &#x4E2D;&#25991;<![CDATA[<原文>]]></备注><!-- 注释不要 --></案卷>"
    );
    let (bytes, _, _) = encoding_rs::GB18030.encode(&xml);
    let p = write(dir.path(), "目录.xml", &bytes);
    for e in both(&p) {
        assert_eq!(e.method, "xml", "{e:?}");
        assert_eq!(e.encoding, Some("gb18030"));
        assert_eq!(
            normalise(&e.text),
            format!("{NOTICE} 北京市人民政府办公厅 A & B 中文<原文>")
        );
        assert!(e.problem.is_none(), "{e:?}");
    }
    // GB2312 is read as GBK (encoding_rs's labels).
    let xml = format!("<?xml version='1.0' encoding='gb2312'?><a>{NOTICE}</a>");
    let (bytes, _, _) = encoding_rs::GBK.encode(&xml);
    let p = write(dir.path(), "gb2312.xml", &bytes);
    assert_eq!(extract(&p).text.trim(), NOTICE);
}

#[test]
fn malformed_xml_keeps_the_text_before_the_fault() {
    let dir = tempfile::tempdir().expect("tempdir");
    let p = write(
        dir.path(),
        "bad.xml",
        "<?xml version=\"1.0\"?><a><b>前文</b><c attr=\"x></a>".as_bytes(),
    );
    let e = extract(&p);
    assert_eq!(e.method, "xml");
    assert!(e.text.contains("前文"), "{e:?}");
    assert!(e.problem.is_some(), "{e:?}");
}

#[test]
fn html_without_script_and_style() {
    let dir = tempfile::tempdir().expect("tempdir");
    let html = format!(
        "<!DOCTYPE html><html><head><meta charset=\"gbk\"><title>通知</title>\
         <style>body {{ color: red }}</style><script>var x = '<p>不要</p>';</script></head>\
         <body><h1>{NOTICE}</h1><p>政务&nbsp;服务&amp;平台</p><!-- 注释 --></body></html>"
    );
    let (bytes, _, _) = encoding_rs::GBK.encode(&html);
    let p = write(dir.path(), "a.html", &bytes);
    for e in both(&p) {
        assert_eq!(e.method, "html", "{e:?}");
        let t = normalise(&e.text);
        assert_eq!(t, format!("通知 {NOTICE} 政务 服务&平台"), "{e:?}");
    }
}

/// A minimal OFD: OFD.xml → Doc_0/Document.xml → two pages, listed out of name order.
fn ofd_bytes() -> Vec<u8> {
    let mut buf = std::io::Cursor::new(Vec::new());
    {
        let mut z = zip::ZipWriter::new(&mut buf);
        let opts = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Deflated);
        let files: Vec<(&str, String)> = vec![
            (
                "OFD.xml",
                "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\
                 <ofd:OFD xmlns:ofd=\"http://www.ofdspec.org/2016\" Version=\"1.0\" DocType=\"OFD\">\
                 <ofd:DocBody><ofd:DocInfo><ofd:DocID>x</ofd:DocID></ofd:DocInfo>\
                 <ofd:DocRoot>Doc_0/Document.xml</ofd:DocRoot></ofd:DocBody></ofd:OFD>"
                    .to_string(),
            ),
            (
                "Doc_0/Document.xml",
                "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\
                 <ofd:Document xmlns:ofd=\"http://www.ofdspec.org/2016\"><ofd:Pages>\
                 <ofd:Page ID=\"1\" BaseLoc=\"Pages/Page_10/Content.xml\"/>\
                 <ofd:Page ID=\"2\" BaseLoc=\"Pages/Page_2/Content.xml\"/>\
                 </ofd:Pages></ofd:Document>"
                    .to_string(),
            ),
            (
                "Doc_0/Pages/Page_10/Content.xml",
                format!(
                    "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\
                     <ofd:Page xmlns:ofd=\"http://www.ofdspec.org/2016\"><ofd:Content><ofd:Layer ID=\"3\">\
                     <ofd:TextObject ID=\"4\" Boundary=\"0 0 100 10\" Font=\"5\" Size=\"5\">\
                     <ofd:TextCode X=\"0\" Y=\"5\" DeltaX=\"5 5 5 5 5\">{}</ofd:TextCode>\
                     <ofd:TextCode X=\"25\" Y=\"5\">{}</ofd:TextCode></ofd:TextObject>\
                     <ofd:TextObject ID=\"6\"><ofd:TextCode X=\"0\" Y=\"20\">{}</ofd:TextCode></ofd:TextObject>\
                     <ofd:PathObject ID=\"7\"><ofd:AbbreviatedData>M 0 0 L 1 1</ofd:AbbreviatedData></ofd:PathObject>\
                     </ofd:Layer></ofd:Content></ofd:Page>",
                    "关于网上政务",
                    "服务平台建设的通知",
                    "京政办发〔2016〕12号",
                ),
            ),
            (
                "Doc_0/Pages/Page_2/Content.xml",
                "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\
                 <ofd:Page xmlns:ofd=\"http://www.ofdspec.org/2016\"><ofd:Content><ofd:Layer ID=\"3\">\
                 <ofd:TextObject ID=\"4\"><ofd:TextCode X=\"0\" Y=\"5\">Hello &amp;</ofd:TextCode></ofd:TextObject>\
                 <ofd:TextObject ID=\"5\"><ofd:TextCode X=\"0\" Y=\"5\">world</ofd:TextCode></ofd:TextObject>\
                 </ofd:Layer></ofd:Content></ofd:Page>"
                    .to_string(),
            ),
        ];
        for (name, body) in files {
            z.start_file(name, opts).expect("zip entry");
            z.write_all(body.as_bytes()).expect("zip write");
        }
        z.finish().expect("zip finish");
    }
    buf.into_inner()
}

#[test]
fn ofd_text_codes_in_page_order() {
    let dir = tempfile::tempdir().expect("tempdir");
    let p = write(dir.path(), "正文.ofd", &ofd_bytes());
    let id = Registry::builtin().identify(&p).expect("identify");
    assert_eq!(id.format_id.as_deref(), Some("strongroom/ofd"), "{id:?}");
    for e in both(&p) {
        assert_eq!(e.method, "ofd-xml", "{e:?}");
        assert_eq!(
            e.text,
            format!("{NOTICE}京政办发〔2016〕12号\nHello & world"),
            "{e:?}"
        );
        assert!(e.problem.is_none() && !e.truncated, "{e:?}");
    }
}

#[test]
fn a_zip_that_is_not_an_ofd_yields_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut buf = std::io::Cursor::new(Vec::new());
    {
        let mut z = zip::ZipWriter::new(&mut buf);
        z.start_file("a.txt", zip::write::SimpleFileOptions::default())
            .expect("entry");
        z.write_all(b"hello").expect("write");
        z.finish().expect("finish");
    }
    let p = write(dir.path(), "a.zip", &buf.into_inner());
    for e in both(&p) {
        assert_eq!(e.method, "none", "{e:?}");
        assert!(e.text.is_empty());
    }
    // A broken OFD (ZIP signature, garbage after) does not panic.
    let p = write(dir.path(), "bad.ofd", b"PK\x03\x04garbage garbage garbage");
    let e = extract_sniffed(&p);
    assert!(e.text.is_empty() && e.problem.is_some(), "{e:?}");
}

/// A one-page PDF showing `lines` in Helvetica.
fn latin_pdf(lines: &[&str]) -> Vec<u8> {
    let mut doc = Document::with_version("1.5");
    let pages_id = doc.new_object_id();
    let font_id = doc.add_object(dictionary! {
        "Type" => "Font", "Subtype" => "Type1", "BaseFont" => "Helvetica",
        "Encoding" => "WinAnsiEncoding",
    });
    let resources_id = doc.add_object(dictionary! { "Font" => dictionary! { "F1" => font_id } });
    let mut ops = vec![
        Operation::new("BT", vec![]),
        Operation::new("Tf", vec!["F1".into(), 12.into()]),
        Operation::new("TL", vec![14.into()]),
        Operation::new("Td", vec![72.into(), 700.into()]),
    ];
    for l in lines {
        ops.push(Operation::new("Tj", vec![Object::string_literal(*l)]));
        ops.push(Operation::new("T*", vec![]));
    }
    ops.push(Operation::new("ET", vec![]));
    let content = Content { operations: ops };
    let content_id = doc.add_object(Stream::new(
        dictionary! {},
        content.encode().expect("encode content"),
    ));
    let page_id = doc.add_object(dictionary! {
        "Type" => "Page", "Parent" => pages_id, "Contents" => content_id,
    });
    doc.objects.insert(
        pages_id,
        Object::Dictionary(dictionary! {
            "Type" => "Pages", "Kids" => vec![page_id.into()], "Count" => 1,
            "Resources" => resources_id,
            "MediaBox" => vec![0.into(), 0.into(), 595.into(), 842.into()],
        }),
    );
    let catalog_id = doc.add_object(dictionary! { "Type" => "Catalog", "Pages" => pages_id });
    doc.trailer.set("Root", catalog_id);
    let mut out = Vec::new();
    doc.save_to(&mut out).expect("save pdf");
    out
}

/// A one-page PDF with a Type0 (Identity-H) font whose ToUnicode CMap maps CIDs 1..n to the
/// characters of `text`, shown as one hex string: the way Chinese PDFs carry their text layer.
fn cid_pdf(text: &str) -> Vec<u8> {
    let chars: Vec<char> = text.chars().collect();
    let mut cmap = String::from(
        "/CIDInit /ProcSet findresource begin\n12 dict begin\nbegincmap\n\
         /CIDSystemInfo << /Registry (Adobe) /Ordering (UCS) /Supplement 0 >> def\n\
         /CMapName /Adobe-Identity-UCS def\n/CMapType 2 def\n\
         1 begincodespacerange\n<0000> <FFFF>\nendcodespacerange\n",
    );
    cmap.push_str(&format!("{} beginbfchar\n", chars.len()));
    for (i, c) in chars.iter().enumerate() {
        cmap.push_str(&format!("<{:04X}> <{:04X}>\n", i + 1, *c as u32));
    }
    cmap.push_str("endbfchar\nendcmap\nCMapName currentdict /CMap defineresource pop\nend\nend\n");
    let mut doc = Document::with_version("1.7");
    let pages_id = doc.new_object_id();
    let to_unicode = doc.add_object(Stream::new(dictionary! {}, cmap.into_bytes()));
    let descendant = doc.add_object(dictionary! {
        "Type" => "Font", "Subtype" => "CIDFontType2", "BaseFont" => "SimSun",
        "CIDSystemInfo" => dictionary! {
            "Registry" => Object::string_literal("Adobe"),
            "Ordering" => Object::string_literal("Identity"),
            "Supplement" => 0,
        },
        "DW" => 1000,
    });
    let font_id = doc.add_object(dictionary! {
        "Type" => "Font", "Subtype" => "Type0", "BaseFont" => "SimSun",
        "Encoding" => "Identity-H", "DescendantFonts" => vec![descendant.into()],
        "ToUnicode" => to_unicode,
    });
    let resources_id = doc.add_object(dictionary! { "Font" => dictionary! { "F1" => font_id } });
    let codes: Vec<u8> = (1..=chars.len() as u16)
        .flat_map(u16::to_be_bytes)
        .collect();
    let content = Content {
        operations: vec![
            Operation::new("BT", vec![]),
            Operation::new("Tf", vec!["F1".into(), 16.into()]),
            Operation::new("Td", vec![72.into(), 700.into()]),
            Operation::new(
                "Tj",
                vec![Object::String(codes, lopdf::StringFormat::Hexadecimal)],
            ),
            Operation::new("ET", vec![]),
        ],
    };
    let content_id = doc.add_object(Stream::new(
        dictionary! {},
        content.encode().expect("encode content"),
    ));
    let page_id = doc.add_object(dictionary! {
        "Type" => "Page", "Parent" => pages_id, "Contents" => content_id,
        "Resources" => resources_id,
    });
    doc.objects.insert(
        pages_id,
        Object::Dictionary(dictionary! {
            "Type" => "Pages", "Kids" => vec![page_id.into()], "Count" => 1,
            "MediaBox" => vec![0.into(), 0.into(), 595.into(), 842.into()],
        }),
    );
    let catalog_id = doc.add_object(dictionary! { "Type" => "Catalog", "Pages" => pages_id });
    doc.trailer.set("Root", catalog_id);
    let mut out = Vec::new();
    doc.save_to(&mut out).expect("save pdf");
    out
}

#[test]
fn pdf_latin_text_layer() {
    let dir = tempfile::tempdir().expect("tempdir");
    let p = write(
        dir.path(),
        "a.pdf",
        &latin_pdf(&[
            "Notice on the online government service platform",
            "Second line",
        ]),
    );
    for e in both(&p) {
        assert_eq!(e.method, "pdf-text", "{e:?}");
        assert_eq!(
            normalise(&e.text),
            "Notice on the online government service platform Second line"
        );
        assert!(e.problem.is_none(), "{e:?}");
    }
}

#[test]
fn pdf_chinese_cid_font_with_to_unicode() {
    let dir = tempfile::tempdir().expect("tempdir");
    let p = write(dir.path(), "正文.pdf", &cid_pdf(NOTICE));
    for e in both(&p) {
        assert_eq!(e.method, "pdf-text", "{e:?}");
        assert_eq!(normalise(&e.text), NOTICE, "{e:?}");
    }
}

#[test]
fn sample_transfer_pdf() {
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/sample-transfer/data/0001-平台建设通知/正文.pdf");
    let e = extract(&p);
    assert_eq!(e.method, "pdf-text", "{e:?}");
    assert!(e.problem.is_none(), "{e:?}");
    assert_eq!(normalise(&e.text), SAMPLE_PDF_TEXT, "{e:?}");
}

/// What the sample transfer's PDF says (a Helvetica text layer).
const SAMPLE_PDF_TEXT: &str =
    "Notice on building the online government service platform 2016-05-12";

#[test]
fn corrupt_pdfs_give_a_problem_not_a_panic() {
    let dir = tempfile::tempdir().expect("tempdir");
    let good = latin_pdf(&["Hello"]);
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("truncated.pdf", good[..good.len() / 2].to_vec()),
        ("header-only.pdf", b"%PDF-1.7\n".to_vec()),
        ("garbage.pdf", {
            let mut g = b"%PDF-1.4\n".to_vec();
            g.extend((0..4000u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8));
            g
        }),
    ];
    for (name, bytes) in cases {
        let p = write(dir.path(), name, &bytes);
        for e in both(&p) {
            assert_eq!(e.method, "pdf-text", "{name}: {e:?}");
            assert!(e.problem.is_some(), "{name}: {e:?}");
        }
    }
}

#[test]
fn encrypted_pdf_is_reported() {
    let dir = tempfile::tempdir().expect("tempdir");
    let good = latin_pdf(&["Secret"]);
    let mut doc = Document::load_mem(&good).expect("load");
    let enc = doc.add_object(dictionary! {
        "Filter" => "Standard", "V" => 1, "R" => 2, "P" => -4,
        "O" => Object::String(vec![0x11; 32], lopdf::StringFormat::Hexadecimal),
        "U" => Object::String(vec![0x22; 32], lopdf::StringFormat::Hexadecimal),
    });
    doc.trailer.set("Encrypt", enc);
    doc.trailer.set(
        "ID",
        vec![
            Object::String(vec![1; 16], lopdf::StringFormat::Hexadecimal),
            Object::String(vec![1; 16], lopdf::StringFormat::Hexadecimal),
        ],
    );
    let mut out = Vec::new();
    doc.save_to(&mut out).expect("save");
    let p = write(dir.path(), "enc.pdf", &out);
    let e = extract_sniffed(&p);
    assert_eq!(e.method, "pdf-text");
    assert!(
        e.problem
            .as_deref()
            .is_some_and(|p| p.starts_with("encrypted")),
        "{e:?}"
    );
    assert!(e.text.is_empty(), "{e:?}");
    eprintln!("encrypted: {e:?}");
}

/// A small deterministic generator, so failures replay.
struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

#[test]
fn mutated_pdfs_never_panic() {
    let dir = tempfile::tempdir().expect("tempdir");
    let seeds = [latin_pdf(&["Hello world", "Line two"]), cid_pdf(NOTICE)];
    let limits = ExtractLimits {
        max_time: Duration::from_secs(5),
        ..ExtractLimits::default()
    };
    let mut rng = XorShift(0x5eed_1234_abcd_0001);
    let started = Instant::now();
    let (mut with_text, mut with_problem) = (0, 0);
    for i in 0..500 {
        let mut bytes = seeds[i % 2].clone();
        match rng.below(4) {
            0 => {
                // Flip a few bytes.
                for _ in 0..1 + rng.below(8) {
                    let at = rng.below(bytes.len());
                    bytes[at] = rng.next() as u8;
                }
            }
            1 => {
                let at = rng.below(bytes.len());
                bytes.truncate(at.max(9));
            }
            2 => {
                // Duplicate or delete a span.
                let a = rng.below(bytes.len());
                let b = (a + rng.below(64)).min(bytes.len());
                if rng.below(2) == 0 {
                    let span = bytes[a..b].to_vec();
                    bytes.splice(a..a, span);
                } else {
                    bytes.drain(a..b);
                }
            }
            _ => {
                // Replace digits (offsets, lengths, object numbers) with others.
                for _ in 0..1 + rng.below(6) {
                    let at = rng.below(bytes.len());
                    if let Some(d) = bytes[at..].iter().position(u8::is_ascii_digit) {
                        bytes[at + d] = b'0' + rng.below(10) as u8;
                    }
                }
            }
        }
        let p = write(dir.path(), "m.pdf", &bytes);
        let e = extract_text(&p, None, &limits);
        assert!(
            matches!(
                e.method,
                "pdf-text" | "none" | "utf-8" | "utf-8-lossy" | "gb18030"
            ),
            "{i}: {e:?}"
        );
        with_text += usize::from(!e.text.is_empty());
        with_problem += usize::from(e.problem.is_some());
    }
    eprintln!("500 mutants: {with_text} with text, {with_problem} with a problem");
    // The mutants exercise both paths: some still parse, some fail.
    assert!(
        with_text > 20 && with_problem > 100,
        "{with_text} {with_problem}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(120),
        "{:?}",
        started.elapsed()
    );
}

#[test]
fn large_text_is_truncated_within_limits() {
    let dir = tempfile::tempdir().expect("tempdir");
    let p = dir.path().join("big.txt");
    {
        let mut f = std::io::BufWriter::new(std::fs::File::create(&p).expect("create"));
        let line = format!("{NOTICE}，第一条 政务服务平台 abc 123\n");
        let mut written = 0usize;
        while written < 50 * 1024 * 1024 {
            f.write_all(line.as_bytes()).expect("write");
            written += line.len();
        }
        f.flush().expect("flush");
    }
    let limits = ExtractLimits::default();
    let started = Instant::now();
    let e = extract_text(&p, None, &limits);
    let took = started.elapsed();
    assert_eq!(e.method, "utf-8");
    assert!(e.truncated, "{:?}", e.problem);
    assert_eq!(e.text.chars().count(), limits.max_chars_out);
    assert!(took < limits.max_time, "{took:?}");
    // The byte limit cuts too, and a character cut at the limit is not mangled.
    let small = ExtractLimits {
        max_bytes_in: 1000,
        ..ExtractLimits::default()
    };
    let e = extract_text(&p, None, &small);
    assert!(e.truncated);
    assert!(e.text.len() <= 1000 && e.text.starts_with(NOTICE), "{e:?}");
    assert!(!e.text.contains('\u{fffd}'), "{e:?}");
}

#[test]
fn images_and_unknown_files_yield_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let png = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\0\x01\0\0\0\x01\x08\x06\0\0\0\x1f\x15\xc4\x89";
    let p = write(dir.path(), "scan.png", png);
    for e in both(&p) {
        assert_eq!(e.method, "none", "{e:?}");
        assert!(e.text.is_empty() && e.problem.is_none(), "{e:?}");
    }
    let p = write(
        dir.path(),
        "blob.bin",
        b"\x7fELF\x02\x01\x01\0\0\0\0\0\0\0\0\0\x03\0",
    );
    assert_eq!(extract(&p).method, "none");
    assert_eq!(extract_sniffed(&p).method, "none");
    // A missing file is a problem, not a panic.
    let e = extract_sniffed(&dir.path().join("missing.txt"));
    assert!(e.text.is_empty() && e.problem.is_some(), "{e:?}");
}
