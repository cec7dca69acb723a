//! Embedded PDF signatures (`seals::pdf::verify_pdf`) against PDFs signed at test time by a
//! real signing library, pyHanko (installed by tools/test into .venv), with a CA and signer
//! made by Debian's `openssl`; pyHanko's own validator is asked for the same verdict.
//! Without pyHanko the tests are skipped, unless STRONGROOM_REQUIRE_CROSSCHECKS is set.

mod common;

use chrono::Utc;
use std::path::{Path, PathBuf};
use std::process::Command;
use strongroom::seals::pdf::{verify_pdf, PdfSeals};
use strongroom::seals::verdict::{AlgorithmPolicy, SealCode};
use strongroom::seals::x509::{Certificate, TrustAnchor};

const SAMPLE: &str = "tests/data/sample-transfer/data/0001-平台建设通知/正文.pdf";

const SIGN_PY: &str = r#"
import sys
from pyhanko.sign import signers
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
key, cert, inp, out, field = sys.argv[1:6]
signer = signers.SimpleSigner.load(key, cert, key_passphrase=None)
with open(inp, 'rb') as f:
    w = IncrementalPdfFileWriter(f, strict=False)
    meta = signers.PdfSignatureMetadata(field_name=field, reason='归档测试', md_algorithm='sha256')
    with open(out, 'wb') as o:
        signers.sign_pdf(w, meta, signer=signer, output=o)
"#;

/// Adds an RFC 3161 document timestamp (PAdES) to argv[3] as argv[4], from a local
/// time-stamping authority (pyHanko's in-process TSA; RSA only) with cert argv[1], key argv[2].
const TIMESTAMP_PY: &str = r#"
import sys
from pyhanko.sign import signers
from pyhanko.sign.timestamps.dummy_client import DummyTimeStamper
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.keys import load_cert_from_pemder, load_private_key_from_pemder
cert = load_cert_from_pemder(sys.argv[1])
key = load_private_key_from_pemder(sys.argv[2], None)
tsa = DummyTimeStamper(tsa_cert=cert, tsa_key=key, certs_to_embed=[cert])
with open(sys.argv[3], 'rb') as f:
    w = IncrementalPdfFileWriter(f, strict=False)
    with open(sys.argv[4], 'wb') as o:
        signers.PdfTimeStamper(tsa).timestamp_pdf(w, 'sha256', validation_context=None, output=o)
"#;

/// Writes a one-page PDF with a cross-reference stream (PDF 1.5+ style) to argv[1].
const GEN_PY: &str = r#"
import sys
from pyhanko.pdf_utils.writer import PdfFileWriter, PageObject
from pyhanko.pdf_utils import generic
n = generic.pdf_name
w = PdfFileWriter()
content = generic.StreamObject(stream_data=b'BT /F1 12 Tf 72 720 Td (Notice) Tj ET')
font = generic.DictionaryObject({n('/Type'): n('/Font'), n('/Subtype'): n('/Type1'),
                                 n('/BaseFont'): n('/Helvetica')})
res = generic.DictionaryObject({n('/Font'): generic.DictionaryObject({n('/F1'): w.add_object(font)})})
box = generic.ArrayObject([generic.NumberObject(x) for x in (0, 0, 595, 842)])
w.insert_page(PageObject(contents=w.add_object(content), media_box=box, resources=res))
with open(sys.argv[1], 'wb') as f:
    w.write(f)
"#;

/// Writes a one-page PDF of about argv[2] bytes (a large comment-only content stream).
const BIG_PY: &str = r#"
import sys
from pyhanko.pdf_utils.writer import PdfFileWriter, PageObject
from pyhanko.pdf_utils import generic
n = generic.pdf_name
w = PdfFileWriter(stream_xrefs=False)
big = generic.StreamObject(stream_data=b'% padding\n' * (int(sys.argv[2]) // 10))
text = generic.StreamObject(stream_data=b'BT /F1 12 Tf 72 720 Td (Notice) Tj ET')
font = generic.DictionaryObject({n('/Type'): n('/Font'), n('/Subtype'): n('/Type1'),
                                 n('/BaseFont'): n('/Helvetica')})
res = generic.DictionaryObject({n('/Font'): generic.DictionaryObject({n('/F1'): w.add_object(font)})})
box = generic.ArrayObject([generic.NumberObject(x) for x in (0, 0, 595, 842)])
contents = generic.ArrayObject([w.add_object(big), w.add_object(text)])
w.insert_page(PageObject(contents=contents, media_box=box, resources=res))
with open(sys.argv[1], 'wb') as f:
    w.write(f)
"#;

/// Prints one line per signature: `field intact valid trusted modification_level`.
const VALIDATE_PY: &str = r#"
import sys
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.validation import validate_pdf_signature, validate_pdf_timestamp
from pyhanko_certvalidator import ValidationContext
from pyhanko.keys import load_cert_from_pemder
roots = [load_cert_from_pemder(p) for p in sys.argv[2:]]
vc = ValidationContext(trust_roots=roots, allow_fetching=False, revocation_mode='soft-fail')
with open(sys.argv[1], 'rb') as f:
    r = PdfFileReader(f, strict=False)
    for s in r.embedded_signatures:
        if s.sig_object_type == '/DocTimeStamp':
            st = validate_pdf_timestamp(s, validation_context=vc)
            print(s.field_name, st.intact, st.valid, st.trusted, 'TIMESTAMP')
        else:
            st = validate_pdf_signature(s, vc)
            print(s.field_name, st.intact, st.valid, st.trusted, st.modification_level.name)
"#;

fn python() -> Option<PathBuf> {
    let py = Path::new(env!("CARGO_MANIFEST_DIR")).join(".venv/bin/python");
    let ok = py.exists()
        && Command::new(&py)
            .args(["-c", "import pyhanko.sign, pyhanko_certvalidator"])
            .output()
            .is_ok_and(|o| o.status.success());
    if ok {
        return Some(py);
    }
    let required = std::env::var("STRONGROOM_REQUIRE_CROSSCHECKS").unwrap_or_default();
    assert!(
        required.is_empty(),
        "pyHanko is required here: run the suite with tools/test"
    );
    eprintln!("SKIPPED: pyHanko not installed in .venv (run tools/test to install it)");
    None
}

fn run(cmd: &mut Command) -> String {
    let out = cmd.output().expect("run a fixture tool");
    assert!(
        out.status.success(),
        "{cmd:?} failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

struct Fixture {
    dir: tempfile::TempDir,
    py: PathBuf,
}

impl Fixture {
    /// A CA and the signers it issued (`a`, `b`: EC P-256, `r`: RSA 2048); the sample PDF as
    /// `in.pdf`; `xref-stream.pdf`, a PDF with a cross-reference stream made by pyHanko.
    fn new(py: PathBuf) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let d = dir.path();
        let openssl = |args: &[&str]| run(Command::new("openssl").current_dir(d).args(args));
        openssl(&[
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-keyout",
            "ca.key",
            "-out",
            "ca.pem",
            "-days",
            "3650",
            "-subj",
            "/CN=PDF Test CA",
            "-addext",
            "basicConstraints=critical,CA:TRUE",
            "-addext",
            "keyUsage=critical,keyCertSign,cRLSign",
        ]);
        std::fs::write(
            d.join("ext.cnf"),
            "basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,nonRepudiation\n",
        )
        .expect("write");
        for (who, alg, opt) in [
            ("a", "ec", "ec_paramgen_curve:P-256"),
            ("b", "ec", "ec_paramgen_curve:P-256"),
            ("r", "rsa", "rsa_keygen_bits:2048"),
        ] {
            let subj = format!("/CN=Signer {who}/O=某某档案馆");
            openssl(&[
                "req",
                "-newkey",
                alg,
                "-pkeyopt",
                opt,
                "-nodes",
                "-keyout",
                &format!("{who}.key"),
                "-out",
                &format!("{who}.csr"),
                "-subj",
                &subj,
                "-utf8",
            ]);
            openssl(&[
                "x509",
                "-req",
                "-in",
                &format!("{who}.csr"),
                "-CA",
                "ca.pem",
                "-CAkey",
                "ca.key",
                "-CAcreateserial",
                "-days",
                "365",
                "-out",
                &format!("{who}.pem"),
                "-extfile",
                "ext.cnf",
            ]);
        }
        // A time-stamping authority (RSA: pyHanko's local TSA signs with RSA only).
        std::fs::write(
            d.join("tsa.cnf"),
            "basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\n\
             extendedKeyUsage=critical,timeStamping\n",
        )
        .expect("write");
        openssl(&[
            "req",
            "-newkey",
            "rsa",
            "-pkeyopt",
            "rsa_keygen_bits:2048",
            "-nodes",
            "-keyout",
            "tsa.key",
            "-out",
            "tsa.csr",
            "-subj",
            "/CN=Test TSA",
        ]);
        openssl(&[
            "x509",
            "-req",
            "-in",
            "tsa.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-days",
            "365",
            "-out",
            "tsa.pem",
            "-extfile",
            "tsa.cnf",
        ]);
        std::fs::write(d.join("timestamp.py"), TIMESTAMP_PY).expect("write");
        let sample = Path::new(env!("CARGO_MANIFEST_DIR")).join(SAMPLE);
        std::fs::copy(sample, d.join("in.pdf")).expect("copy sample");
        std::fs::write(d.join("sign.py"), SIGN_PY).expect("write");
        std::fs::write(d.join("validate.py"), VALIDATE_PY).expect("write");
        std::fs::write(d.join("gen.py"), GEN_PY).expect("write");
        run(Command::new(&py)
            .current_dir(d)
            .args(["gen.py", "xref-stream.pdf"]));
        Fixture { dir, py }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn sign(&self, who: &str, input: &str, output: &str, field: &str) -> PathBuf {
        run(Command::new(&self.py).current_dir(self.dir.path()).args([
            "sign.py",
            &format!("{who}.key"),
            &format!("{who}.pem"),
            input,
            output,
            field,
        ]));
        self.path(output)
    }

    /// Adds a document timestamp to `input` as `output`, by the TSA `who` (`tsa`, or a signer
    /// without the time-stamping purpose).
    fn timestamp(&self, who: &str, input: &str, output: &str) -> PathBuf {
        run(Command::new(&self.py).current_dir(self.dir.path()).args([
            "timestamp.py",
            &format!("{who}.pem"),
            &format!("{who}.key"),
            input,
            output,
        ]));
        self.path(output)
    }

    /// pyHanko's verdict per signature: (field, intact, valid, trusted, modification level).
    fn pyhanko(&self, pdf: &Path) -> Vec<Vec<String>> {
        let out = run(Command::new(&self.py)
            .current_dir(self.dir.path())
            .arg("validate.py")
            .arg(pdf)
            .arg("ca.pem"));
        out.lines()
            .map(|l| l.split_whitespace().map(str::to_string).collect())
            .collect()
    }

    fn anchors(&self) -> Vec<TrustAnchor> {
        let pem = std::fs::read_to_string(self.path("ca.pem")).expect("read ca");
        let certificate = Certificate::from_pem(&pem)
            .expect("ca parses")
            .into_iter()
            .next();
        vec![TrustAnchor {
            certificate,
            ..TrustAnchor::default()
        }]
    }

    fn verify(&self, pdf: &Path, anchors: &[TrustAnchor]) -> PdfSeals {
        verify_pdf(pdf, anchors, &[], Utc::now(), &AlgorithmPolicy::default()).expect("readable")
    }
}

fn codes(s: &PdfSeals) -> Vec<SealCode> {
    s.all_problems().iter().map(|p| p.code).collect()
}

#[test]
fn a_signed_pdf_is_valid_and_pyhanko_agrees() {
    let Some(py) = python() else { return };
    let f = Fixture::new(py);
    let out = f.sign("a", "in.pdf", "one.pdf", "Sig1");
    let s = f.verify(&out, &f.anchors());
    assert!(s.valid(), "{s:#?}");
    assert_eq!(s.signatures.len(), 1);
    let sig = &s.signatures[0];
    assert_eq!(sig.field_name.as_deref(), Some("Sig1"));
    assert_eq!(sig.reason.as_deref(), Some("归档测试"));
    assert_eq!(sig.sub_filter.as_deref(), Some("adbe.pkcs7.detached"));
    assert!(sig.m.as_deref().is_some_and(|m| m.starts_with("D:20")));
    assert_eq!(sig.covers_up_to, s.file_length);
    assert_eq!(sig.byte_range[0], 0);
    assert!(s.changed_after_last_signature.is_none());
    let subject = sig.verdict.signers[0].subject.clone().unwrap_or_default();
    assert!(subject.contains("Signer a"), "{subject}");
    // serde round trip (the verdict is kept as evidence).
    let json = serde_json::to_string(&s).expect("serialise");
    let back: PdfSeals = serde_json::from_str(&json).expect("deserialise");
    assert_eq!(back, s);

    let ph = f.pyhanko(&out);
    assert_eq!(ph.len(), 1, "{ph:?}");
    assert_eq!(ph[0][..4], ["Sig1", "True", "True", "True"], "{ph:?}");
}

#[test]
fn a_pdf_without_signatures_has_none() {
    let Some(py) = python() else { return };
    let f = Fixture::new(py);
    let s = f.verify(&f.path("in.pdf"), &f.anchors());
    assert!(s.signatures.is_empty() && s.problems.is_empty(), "{s:#?}");
    assert!(!s.valid());
}

#[test]
fn a_byte_changed_inside_the_signed_range_is_a_digest_mismatch() {
    let Some(py) = python() else { return };
    let f = Fixture::new(py);
    let out = f.sign("a", "in.pdf", "one.pdf", "Sig1");
    let mut bytes = std::fs::read(&out).expect("read");
    let at = bytes
        .windows(6)
        .position(|w| w == b"Notice")
        .expect("the text of the sample");
    bytes[at] = b'M';
    let bad = f.path("tampered.pdf");
    std::fs::write(&bad, &bytes).expect("write");
    let s = f.verify(&bad, &f.anchors());
    assert!(!s.valid());
    assert_eq!(codes(&s), vec![SealCode::DigestMismatch], "{s:#?}");
    let ph = f.pyhanko(&bad);
    assert_eq!(ph[0][1], "False", "pyHanko finds it intact: {ph:?}");
}

/// Appends an incremental update by hand that replaces the page's content stream.
fn append_content_change(signed: &Path, to: &Path) {
    let mut bytes = std::fs::read(signed).expect("read");
    let text = String::from_utf8_lossy(&bytes).into_owned();
    let startxref = text
        .rfind("startxref")
        .and_then(|i| text[i + 9..].split_whitespace().next())
        .expect("startxref")
        .to_string();
    let size = text
        .rfind("/Size ")
        .and_then(|i| text[i + 6..].split_whitespace().next())
        .expect("/Size")
        .to_string();
    let content = "BT /F1 12 Tf 72 720 Td (A forged notice) Tj ET";
    let obj_at = bytes.len() + 1;
    bytes.extend_from_slice(
        format!(
            "\n4 0 obj\n<< /Length {} >>\nstream\n{content}\nendstream\nendobj\n",
            content.len()
        )
        .as_bytes(),
    );
    let xref_at = bytes.len();
    bytes.extend_from_slice(
        format!(
            "xref\n0 1\n0000000000 65535 f \n4 1\n{obj_at:010} 00000 n \ntrailer\n<< /Size {size} \
             /Root 1 0 R /Prev {startxref} >>\nstartxref\n{xref_at}\n%%EOF\n"
        )
        .as_bytes(),
    );
    std::fs::write(to, bytes).expect("write");
}

#[test]
fn content_appended_after_signing_is_a_change() {
    let Some(py) = python() else { return };
    let f = Fixture::new(py);
    let out = f.sign("a", "in.pdf", "one.pdf", "Sig1");
    let changed = f.path("changed.pdf");
    append_content_change(&out, &changed);
    let s = f.verify(&changed, &f.anchors());
    assert!(!s.valid());
    // The signature itself still verifies over what it covers.
    assert!(s.signatures[0].verdict.valid, "{s:#?}");
    assert_eq!(codes(&s), vec![SealCode::DigestMismatch], "{s:#?}");
    assert!(
        s.problems[0]
            .message
            .starts_with("the PDF was changed after its last signature:"),
        "{}",
        s.problems[0].message
    );
    let upd = s.changed_after_last_signature.as_ref().expect("an update");
    assert!(!upd.only_signatures);
    assert!(
        upd.changes.iter().any(|c| c.starts_with("object 4 0")),
        "{upd:?}"
    );
    // pyHanko: intact, but the document was modified beyond signing.
    let ph = f.pyhanko(&changed);
    assert_eq!(ph[0][1], "True", "{ph:?}");
    assert_eq!(ph[0][4], "OTHER", "{ph:?}");
}

#[test]
fn a_co_signature_leaves_both_valid_and_nothing_changed() {
    let Some(py) = python() else { return };
    let f = Fixture::new(py);
    f.sign("a", "in.pdf", "one.pdf", "Sig1");
    let two = f.sign("b", "one.pdf", "two.pdf", "签名2");
    let s = f.verify(&two, &f.anchors());
    assert!(s.valid(), "{s:#?}");
    assert_eq!(s.signatures.len(), 2);
    let (first, second) = (&s.signatures[0], &s.signatures[1]);
    assert_eq!(first.field_name.as_deref(), Some("Sig1"));
    assert_eq!(second.field_name.as_deref(), Some("签名2"));
    assert!(first.covers_up_to < second.covers_up_to);
    assert_eq!(second.covers_up_to, s.file_length);
    let between = first.update_after.as_ref().expect("the second revision");
    assert!(between.only_signatures, "{between:?}");
    assert!(s.changed_after_last_signature.is_none());

    let ph = f.pyhanko(&two);
    assert_eq!(ph.len(), 2, "{ph:?}");
    for row in &ph {
        assert_eq!(row[1..4], ["True", "True", "True"], "{ph:?}");
        assert_ne!(row[4], "OTHER", "{ph:?}");
    }

    // A change after the second signature is reported, the earlier gap still is not.
    let changed = f.path("two-changed.pdf");
    append_content_change(&two, &changed);
    let s = f.verify(&changed, &f.anchors());
    assert_eq!(codes(&s), vec![SealCode::DigestMismatch], "{s:#?}");
}

/// PAdES-LTA style: a signature, then an RFC 3161 document timestamp over the whole signed
/// document. Both verify, the timestamp's revision is only signature machinery, and pyHanko's
/// validators agree; the timestamp is judged at its genTime with the TSA's chain.
#[test]
fn a_document_timestamp_after_a_signature_is_verified_and_pyhanko_agrees() {
    let Some(py) = python() else { return };
    let f = Fixture::new(py);
    f.sign("a", "in.pdf", "one.pdf", "Sig1");
    let stamped = f.timestamp("tsa", "one.pdf", "stamped.pdf");
    let s = f.verify(&stamped, &f.anchors());
    assert!(s.valid(), "{s:#?}");
    assert_eq!(s.signatures.len(), 2);
    let ts = &s.signatures[1];
    assert_eq!(ts.sub_filter.as_deref(), Some("ETSI.RFC3161"));
    assert_eq!(ts.verdict.format, "rfc3161-document-timestamp");
    let signer = &ts.verdict.signers[0];
    assert_eq!(signer.subject.as_deref(), Some("CN=Test TSA"));
    assert_eq!(
        signer.time_source,
        Some(strongroom::seals::verdict::TimeSource::TimestampGenTime)
    );
    let between = s.signatures[0]
        .update_after
        .as_ref()
        .expect("the timestamp's revision");
    assert!(between.only_signatures, "{between:?}");
    let ph = f.pyhanko(&stamped);
    assert_eq!(ph.len(), 2, "{ph:?}");
    for row in &ph {
        assert_eq!(row[1..4], ["True", "True", "True"], "{ph:?}");
    }
    assert_eq!(ph[1][4], "TIMESTAMP", "{ph:?}");

    // A byte changed inside what the timestamp covers (after the signature's revision).
    let mut bytes = std::fs::read(&stamped).expect("read");
    let from = usize::try_from(s.signatures[0].covers_up_to).expect("fits");
    let at = from
        + bytes[from..]
            .windows(4)
            .position(|w| w == b"/Sig")
            .expect("a /Sig name in the timestamp's revision");
    bytes[at + 1] = b'X';
    let bad = f.path("stamped-tampered.pdf");
    std::fs::write(&bad, &bytes).expect("write");
    let s = f.verify(&bad, &f.anchors());
    assert!(
        s.signatures[1]
            .verdict
            .codes()
            .contains(&SealCode::DigestMismatch),
        "{s:#?}"
    );
    let ph = f.pyhanko(&bad);
    assert_eq!(
        ph[1][1], "False",
        "pyHanko finds the timestamp intact: {ph:?}"
    );
}

/// A token signed by a certificate without the time-stamping purpose, or by a TSA the agency's
/// registry does not know, is not a valid timestamp.
#[test]
fn a_timestamp_from_a_non_tsa_certificate_or_an_unknown_tsa_is_refused() {
    let Some(py) = python() else { return };
    let f = Fixture::new(py);
    let by_signer = f.timestamp("r", "in.pdf", "by-signer.pdf");
    let s = f.verify(&by_signer, &f.anchors());
    assert_eq!(codes(&s), vec![SealCode::KeyUsage], "{s:#?}");
    let stamped = f.timestamp("tsa", "in.pdf", "stamped-only.pdf");
    assert!(f.verify(&stamped, &f.anchors()).valid());
    let s = f.verify(&stamped, &[]);
    assert_eq!(codes(&s), vec![SealCode::UntrustedSigner], "{s:#?}");
}

#[test]
fn an_unknown_signer_is_untrusted() {
    let Some(py) = python() else { return };
    let f = Fixture::new(py);
    let out = f.sign("a", "in.pdf", "one.pdf", "Sig1");
    let s = f.verify(&out, &[]);
    assert!(!s.valid());
    assert_eq!(codes(&s), vec![SealCode::UntrustedSigner], "{s:#?}");
}

#[test]
fn a_byte_range_that_misses_the_contents_is_malformed() {
    let Some(py) = python() else { return };
    let f = Fixture::new(py);
    let out = f.sign("a", "in.pdf", "one.pdf", "Sig1");
    let s = f.verify(&out, &f.anchors());
    let [a, b, c, d] = s.signatures[0].byte_range;
    let old = format!("[{a} {b} {c} {d}]");
    let new = format!("[{a} {} {} {}]", b + 2, c, d);
    let text = std::fs::read(&out).expect("read");
    let at = text
        .windows(old.len())
        .position(|w| w == old.as_bytes())
        .expect("the byte range");
    let mut bytes = text.clone();
    // Same length: the padding after the array absorbs the longer numbers.
    bytes.splice(at..at + new.len(), new.bytes());
    let bad = f.path("range.pdf");
    std::fs::write(&bad, &bytes).expect("write");
    let s = f.verify(&bad, &f.anchors());
    assert_eq!(codes(&s), vec![SealCode::Malformed], "{s:#?}");
}

#[test]
fn garbage_and_truncated_pdfs_do_not_panic() {
    let Some(py) = python() else { return };
    let f = Fixture::new(py);
    let out = f.sign("a", "in.pdf", "one.pdf", "Sig1");
    let bytes = std::fs::read(&out).expect("read");
    let anchors = f.anchors();
    let p = f.path("cut.pdf");
    for cut in (0..bytes.len()).step_by(97).chain([bytes.len() - 1]) {
        std::fs::write(&p, &bytes[..cut]).expect("write");
        let s = f.verify(&p, &anchors);
        assert!(!s.valid() || cut == bytes.len(), "cut at {cut}: {s:#?}");
    }
    for garbage in [
        &b""[..],
        b"%PDF-1.7\n/ByteRange [",
        b"/ByteRange [0 1 2 3] /Contents <00>",
        b"1 0 obj << /ByteRange [0 99999999999999999999999 2 3] >> endobj",
        b"1 0 obj << /Contents <3000> /ByteRange [0 9 13 0] >> endobj",
        b"/ByteRange [18446744073709551615 18446744073709551615 18446744073709551615 1]",
    ] {
        std::fs::write(&p, garbage).expect("write");
        let s = f.verify(&p, &anchors);
        assert!(!s.valid());
    }
}

#[test]
fn a_thousand_mutated_signed_pdfs_do_not_panic() {
    let Some(py) = python() else { return };
    let f = Fixture::new(py);
    f.sign("a", "in.pdf", "one.pdf", "Sig1");
    let two = f.sign("b", "one.pdf", "two.pdf", "Sig2");
    let bytes = std::fs::read(two).expect("read");
    let anchors = f.anchors();
    let p = f.path("mutant.pdf");
    let mut seed: u64 = 0x5eed_1234_abcd_0001;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let interesting: &[&[u8]] = &[b"/ByteRange", b"/Contents", b"obj", b"endobj", b"<<", b">>"];
    let mut still_valid = 0;
    for _ in 0..1000 {
        let mut m = bytes.clone();
        for _ in 0..(1 + next() % 4) {
            let at = (next() % m.len().max(1) as u64) as usize;
            match next() % 6 {
                0 => m[at] = next() as u8,
                1 => m[at] = b"0123456789 []<>/"[(next() % 16) as usize],
                2 => m.truncate(at),
                3 => {
                    let w = interesting[(next() % interesting.len() as u64) as usize];
                    m.splice(at..at, w.iter().copied());
                }
                4 => {
                    let end = (at + (next() % 64) as usize).min(m.len());
                    m.drain(at..end);
                }
                _ => m.insert(at, next() as u8),
            }
            if m.is_empty() {
                break;
            }
        }
        std::fs::write(&p, &m).expect("write");
        let s = verify_pdf(&p, &anchors, &[], Utc::now(), &AlgorithmPolicy::default())
            .expect("readable");
        if s.valid() {
            still_valid += 1;
        }
    }
    eprintln!("{still_valid} of 1000 mutants still valid (mutations in the unsigned gap)");
}

#[test]
fn a_change_between_two_signatures_is_reported_against_the_first() {
    let Some(py) = python() else { return };
    let f = Fixture::new(py);
    let one = f.sign("a", "in.pdf", "one.pdf", "Sig1");
    append_content_change(&one, &f.path("one-changed.pdf"));
    let two = f.sign("b", "one-changed.pdf", "two.pdf", "Sig2");
    let s = f.verify(&two, &f.anchors());
    assert!(s.signatures.iter().all(|x| x.verdict.valid), "{s:#?}");
    assert!(s.changed_after_last_signature.is_none());
    assert_eq!(codes(&s), vec![SealCode::DigestMismatch], "{s:#?}");
    assert!(
        s.problems[0]
            .message
            .starts_with("the PDF was changed after signature 1 (field Sig1) and before"),
        "{}",
        s.problems[0].message
    );
    let ph = f.pyhanko(&two);
    let sig1 = ph.iter().find(|r| r[0] == "Sig1").expect("Sig1");
    assert_eq!(sig1[4], "OTHER", "{ph:?}");
}

#[test]
fn rsa_signatures_over_an_xref_stream_pdf_co_sign_cleanly() {
    let Some(py) = python() else { return };
    let f = Fixture::new(py);
    f.sign("r", "xref-stream.pdf", "x1.pdf", "Sig1");
    let two = f.sign("a", "x1.pdf", "x2.pdf", "Sig2");
    let s = f.verify(&two, &f.anchors());
    assert!(s.valid(), "{s:#?}");
    assert_eq!(s.signatures.len(), 2);
    let alg = s.signatures[0].verdict.signers[0]
        .signature_algorithm
        .clone()
        .unwrap_or_default();
    assert!(alg.contains("RSA"), "{alg}");
    assert!(s.signatures[0]
        .update_after
        .as_ref()
        .is_some_and(|u| u.only_signatures));
    let ph = f.pyhanko(&two);
    assert_eq!(ph.len(), 2, "{ph:?}");
    assert!(
        ph.iter().all(|r| r[1..4] == ["True", "True", "True"]),
        "{ph:?}"
    );

    // The same hand-made change, now after a cross-reference-stream revision.
    let changed = f.path("x2-changed.pdf");
    append_content_change(&two, &changed);
    let s = f.verify(&changed, &f.anchors());
    assert_eq!(codes(&s), vec![SealCode::DigestMismatch], "{s:#?}");
}

/// Peak resident memory of this process, in bytes (Linux), when known.
fn peak_rss() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

#[test]
fn a_pdf_larger_than_64_mib_is_streamed_not_loaded() {
    // The measuring half runs in a process of its own, so no other test's memory counts.
    if let Ok(pdf) = std::env::var("SEALS_PDF_BIG") {
        let ca = std::env::var("SEALS_PDF_BIG_CA").expect("the CA");
        let pem = std::fs::read_to_string(ca).expect("read ca");
        let anchors = vec![TrustAnchor {
            certificate: Certificate::from_pem(&pem).expect("ca").into_iter().next(),
            ..TrustAnchor::default()
        }];
        let s = verify_pdf(
            Path::new(&pdf),
            &anchors,
            &[],
            Utc::now(),
            &AlgorithmPolicy::default(),
        )
        .expect("readable");
        assert!(s.valid(), "{s:#?}");
        assert!(s.file_length > 64 * 1024 * 1024);
        if let Some(peak) = peak_rss() {
            assert!(peak < 48 * 1024 * 1024, "peak memory {peak} bytes");
        }
        return;
    }
    let Some(py) = python() else { return };
    let f = Fixture::new(py);
    std::fs::write(f.path("big.py"), BIG_PY).expect("write");
    run(Command::new(&f.py)
        .current_dir(f.dir.path())
        .args(["big.py", "big.pdf", "70000000"]));
    let signed = f.sign("a", "big.pdf", "big-signed.pdf", "Sig1");
    std::fs::remove_file(f.path("big.pdf")).expect("remove");
    let out = Command::new(std::env::current_exe().expect("test binary"))
        .args([
            "a_pdf_larger_than_64_mib_is_streamed_not_loaded",
            "--exact",
            "--nocapture",
        ])
        .env("SEALS_PDF_BIG", &signed)
        .env("SEALS_PDF_BIG_CA", f.path("ca.pem"))
        .output()
        .expect("run the measuring half");
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success() && all.contains("1 passed"), "{all}");
}

/// Through the binary: a signed PDF in a transfer is verified against the agency's CA in the
/// registry, its verdict kept in the evidence and a `seal.verified` entry in the ledger; the
/// same PDF changed after signing refuses the transfer.
#[test]
fn intake_verifies_embedded_signatures_and_refuses_a_pdf_changed_after_signing() {
    const AGENCY: &str = "11330100MB0000000X";
    let Some(py) = python() else { return };
    let f = Fixture::new(py);
    let signed = f.sign("a", "in.pdf", "one.pdf", "Sig1");
    let a = common::Archive::new();
    let ca = f.path("ca.pem");
    let out = a.run(&[
        "seal",
        "trust",
        "add",
        "--agency",
        AGENCY,
        "--cert",
        ca.to_str().expect("utf-8"),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", common::text(&out.stderr));

    let with_pdf = |name: &str, pdf: &Path| {
        let bag = common::sample_copy(a.dir.path(), name);
        let (folder, rec) = common::records(&bag).into_iter().next().expect("record");
        let file = rec["files"][0]["path"].as_str().expect("path").to_string();
        std::fs::copy(pdf, bag.join("data").join(&folder).join(&file)).expect("copy");
        common::rebag(&bag, &[("External-Identifier", name)]);
        (
            bag,
            rec["reference_code"].as_str().expect("档号").to_string(),
            file,
        )
    };
    let (bag, code, file) = with_pdf("SIGNED-PDF", &signed);
    let r = a.accept(&bag);
    let out = a.run(&["get", &code, "evidence/intake.json"]);
    let ev: serde_json::Value = serde_json::from_slice(&out.stdout).expect("evidence");
    let pdf = ev["files"]
        .as_array()
        .expect("files")
        .iter()
        .find(|x| x["path"] == file.as_str())
        .expect("the PDF's evidence");
    assert_eq!(
        pdf["pdf_signatures"]["signatures"][0]["verdict"]["valid"], true,
        "{pdf:#}"
    );
    let size = r["receipt"]["ledger"]["tree_size"].as_u64().expect("size");
    let out = a.run(&["ledger", "show", &(size - 1).to_string()]);
    let entry: serde_json::Value = serde_json::from_slice(&out.stdout).expect("entry");
    assert_eq!(entry["type"], "seal.verified");
    assert_eq!(entry["seal_file"], format!("files/{file}#Sig1"));

    // The verification service checks a PDF's embedded signatures when no seal is beside it,
    // and signs its report.
    let (code, v) = a.json(&[
        "seal",
        "verify",
        signed.to_str().expect("utf-8"),
        "--agency",
        AGENCY,
        "--signed",
    ]);
    assert_eq!(code, Some(0), "{v:#}");
    assert_eq!(v["valid"], true);
    assert_eq!(v["pdf"]["signatures"][0]["verdict"]["valid"], true, "{v:#}");
    let report = a.dir.path().join("pdf-report.txt");
    std::fs::write(&report, v["signed"].as_str().expect("signed")).expect("write");
    let (code, checked) = a.json(&["receipt", "verify", report.to_str().expect("utf-8")]);
    assert_eq!(code, Some(0), "{checked:#}");
    assert_eq!(checked["document"]["valid"], true);
    assert!(checked["document"].get("seal").is_none());

    let changed = f.path("changed.pdf");
    append_content_change(&signed, &changed);
    let (code, v) = a.json(&[
        "seal",
        "verify",
        changed.to_str().expect("utf-8"),
        "--agency",
        AGENCY,
    ]);
    assert_eq!(code, Some(1), "{v:#}");
    assert_eq!(v["valid"], false);
    let out = a.run(&[
        "seal",
        "verify",
        changed.to_str().expect("utf-8"),
        "--agency",
        AGENCY,
    ]);
    let said = common::text(&out.stdout);
    assert!(said.starts_with("NOT VALID"), "{said}");
    let (bag, _, _) = with_pdf("CHANGED-PDF", &changed);
    let codes = a.reject(&bag);
    assert!(
        codes.contains(&"SEAL_DIGEST_MISMATCH".to_string()),
        "{codes:?}"
    );
}
