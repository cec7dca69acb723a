//! Validation of a bag on disk against RFC 8493 §3: complete (every required element,
//! every listed file present, every payload file listed in every payload manifest) and valid
//! (every digest in every payload and tag manifest verified), plus the security rules of §4.
//!
//! Reads the bag, never writes to it. Every problem becomes a [`Finding`]; I/O failures too.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::io::Read;
use std::path::Path;

use unicode_normalization::UnicodeNormalization;

use super::hash::{hash_all, BagDigests, HashAlg, Job};
use super::text::{self, Encoding, ManifestLine, Version};
use super::{Bag, BagReport, PayloadFile, ValidateOptions};
use crate::digest::Algorithm;
use crate::findings::{Category, Finding};

/// Tag files are read whole; a bigger one is refused rather than exhausting memory.
const TAG_FILE_LIMIT: u64 = 1 << 30;

/// Validates the bag in `dir`. Never panics; I/O problems become findings.
pub fn validate(dir: &Path, opts: &ValidateOptions) -> BagReport {
    let mut findings = Vec::new();
    let bag = Validator {
        root: dir,
        opts,
        f: &mut findings,
    }
    .run();
    BagReport { findings, bag }
}

/// Files found on disk, by bag-relative `/`-separated path.
#[derive(Default)]
struct Inventory {
    payload: BTreeMap<String, u64>,
    tags: BTreeMap<String, u64>,
    has_data_dir: bool,
}

/// A parsed manifest file.
struct Manifest {
    file: String,
    alg: Option<HashAlg>,
    lines: Vec<ManifestLine>,
}

/// One file as a manifest lists it, keyed by the on-disk path it resolves to.
struct Listing {
    spellings: Vec<String>,
    digest: String,
}

struct Validator<'a> {
    root: &'a Path,
    opts: &'a ValidateOptions,
    f: &'a mut Vec<Finding>,
}

fn nfc(s: &str) -> String {
    s.nfc().collect()
}

fn fold(s: &str) -> String {
    caseless::default_case_fold_str(&nfc(s))
}

fn join(names: &[&str]) -> String {
    names.join(", ")
}

impl Validator<'_> {
    fn run(&mut self) -> Option<Bag> {
        match std::fs::metadata(self.root) {
            Ok(m) if m.is_dir() => {}
            Ok(_) => {
                self.f.push(Finding::error(
                    "BAG_NOT_A_DIRECTORY",
                    Category::Integrity,
                    format!("{} is not a folder", self.root.display()),
                ));
                return None;
            }
            Err(e) => {
                self.f.push(Finding::error(
                    "BAG_NOT_A_DIRECTORY",
                    Category::Integrity,
                    format!("cannot open {}: {e}", self.root.display()),
                ));
                return None;
            }
        }
        let inv = self.walk();

        // Bag declaration (§2.1.1).
        let mut is_bag = true;
        let decl = match self.read_tag(&inv, "bagit.txt") {
            Some(bytes) => text::parse_declaration(&bytes, self.f),
            None => {
                is_bag = false;
                if !inv.tags.contains_key("bagit.txt") {
                    self.f.push(
                        Finding::error(
                            "BAG_DECLARATION_MISSING",
                            Category::Integrity,
                            "the bag has no bagit.txt bag declaration",
                        )
                        .file("bagit.txt"),
                    );
                }
                text::Declaration {
                    version_text: String::new(),
                    version: None,
                    encoding_text: String::new(),
                }
            }
        };
        let version = decl.version.unwrap_or(Version::V1_0);
        let v1 = version.is_rfc8493();
        if let Some(v) = decl.version {
            if v < Version::V1_0 {
                self.f.push(
                    Finding::warning(
                        "BAG_VERSION_OLD",
                        Category::Usability,
                        format!(
                            "BagIt {} predates RFC 8493 (1.0); read by the rules of its draft",
                            decl.version_text
                        ),
                    )
                    .file("bagit.txt")
                    .expected_found("1.0", decl.version_text.clone()),
                );
            } else if v > Version::V1_0 {
                self.f.push(
                    Finding::warning(
                        "BAG_VERSION_UNKNOWN",
                        Category::Usability,
                        format!(
                            "BagIt {} is newer than this validator knows; checked as 1.0",
                            decl.version_text
                        ),
                    )
                    .file("bagit.txt")
                    .expected_found("1.0", decl.version_text.clone()),
                );
            }
        }
        let encoding = if decl.encoding_text.is_empty() {
            Encoding::Utf8
        } else {
            Encoding::from_label(&decl.encoding_text)
        };
        match &encoding {
            Encoding::Utf8 => {}
            Encoding::Unsupported(e) => self.f.push(
                Finding::error(
                    "BAG_ENCODING_UNSUPPORTED",
                    Category::Usability,
                    format!("tag files are declared in {e:?}, which this validator cannot decode"),
                )
                .file("bagit.txt")
                .expected_found("UTF-8", e.clone()),
            ),
            _ => self.f.push(
                Finding::warning(
                    "BAG_ENCODING_NOT_UTF8",
                    Category::Usability,
                    "tag files SHOULD be UTF-8",
                )
                .file("bagit.txt")
                .expected_found("UTF-8", decl.encoding_text.clone()),
            ),
        }

        if !inv.has_data_dir {
            self.f.push(
                Finding::error(
                    "BAG_PAYLOAD_DIR_MISSING",
                    Category::Integrity,
                    "the bag has no data/ payload folder",
                )
                .file("data/"),
            );
        }

        // Manifests (§2.1.3, §2.2.1).
        let mut payload_manifests = Vec::new();
        let mut tag_manifests = Vec::new();
        for name in inv.tags.keys().filter(|k| !k.contains('/')) {
            let (tag, alg_name) = if let Some(r) = name.strip_prefix("tagmanifest-") {
                (true, r)
            } else if let Some(r) = name.strip_prefix("manifest-") {
                (false, r)
            } else {
                continue;
            };
            let Some(alg_name) = alg_name.strip_suffix(".txt") else {
                continue;
            };
            let Some(m) = self.load_manifest(&inv, name, alg_name, &encoding, v1) else {
                continue;
            };
            if tag {
                tag_manifests.push(m);
            } else {
                payload_manifests.push(m);
            }
        }
        self.check_algorithms(&payload_manifests);

        // bag-info.txt (§2.2.2); package-info.txt before 0.96.
        let info_name = if !inv.tags.contains_key("bag-info.txt")
            && version
                < (Version {
                    major: 0,
                    minor: 96,
                })
            && inv.tags.contains_key("package-info.txt")
        {
            "package-info.txt"
        } else {
            "bag-info.txt"
        };
        let info = match self.read_tag(&inv, info_name) {
            Some(bytes) => match text::decode(&bytes, &encoding, info_name, self.f) {
                Some(t) => text::parse_info(&t, info_name, v1, self.f),
                None => Vec::new(),
            },
            None => Vec::new(),
        };
        let oxum = self.check_info(&info, info_name);

        // fetch.txt (§2.2.3).
        let has_fetch = inv.tags.contains_key("fetch.txt");
        let mut fetch: BTreeMap<String, Option<u64>> = BTreeMap::new();
        if has_fetch {
            self.f.push(
                Finding::warning(
                    "BAG_FETCH_PRESENT",
                    Category::Integrity,
                    "the bag has a fetch.txt: some payload may have to be fetched from elsewhere",
                )
                .file("fetch.txt"),
            );
            let lines = self
                .read_tag(&inv, "fetch.txt")
                .and_then(|b| text::decode(&b, &encoding, "fetch.txt", self.f))
                .map(|t| text::parse_fetch(&t, v1, self.f))
                .unwrap_or_default();
            for l in lines {
                match text::clean_path(&l.path) {
                    Err(u) => self.f.push(
                        Finding::error(
                            "BAG_PATH_UNSAFE",
                            Category::Security,
                            format!("fetch.txt line {}: {}", l.line, u.describe()),
                        )
                        .file(l.path.clone()),
                    ),
                    Ok((p, _)) if !p.starts_with("data/") => self.f.push(
                        Finding::error(
                            "BAG_FETCH_TAG_FILE",
                            Category::Integrity,
                            format!("fetch.txt line {} names a file outside data/; fetch.txt may list payload files only", l.line),
                        )
                        .file(p),
                    ),
                    Ok((p, _)) => {
                        fetch.insert(p, l.length);
                    }
                }
            }
        }

        // Resolve every manifest line to a file on disk.
        let payload_nfc = index(&inv.payload, nfc);
        let payload_fold = index(&inv.payload, fold);
        let payload_maps: Vec<HashMap<String, Listing>> = payload_manifests
            .iter()
            .map(|m| self.resolve(m, &inv, &payload_nfc, false, v1))
            .collect();
        let tag_maps: Vec<HashMap<String, Listing>> = tag_manifests
            .iter()
            .map(|m| self.resolve(m, &inv, &payload_nfc, true, v1))
            .collect();

        // Hash every file once with every algorithm it needs.
        let mut needs: BTreeMap<String, BTreeSet<HashAlg>> = BTreeMap::new();
        for p in inv.payload.keys() {
            let set = needs.entry(p.clone()).or_default();
            set.extend(payload_manifests.iter().filter_map(|m| m.alg));
            set.extend(self.opts.also_compute.iter().map(|a| HashAlg::Known(*a)));
        }
        for (m, map) in tag_manifests.iter().zip(&tag_maps) {
            let Some(alg) = m.alg else { continue };
            for key in map.keys() {
                if inv.tags.contains_key(key) || inv.payload.contains_key(key) {
                    needs.entry(key.clone()).or_default().insert(alg);
                }
            }
        }
        let jobs: Vec<Job> = needs
            .into_iter()
            .map(|(rel, algs)| Job {
                abs: self.root.join(&rel),
                rel,
                algs: algs.into_iter().collect(),
            })
            .collect();
        let mut computed: HashMap<String, (BagDigests, u64)> = HashMap::new();
        for o in hash_all(jobs, self.opts.threads) {
            match o.result {
                Ok(r) => {
                    computed.insert(o.rel, r);
                }
                Err(e) => self.f.push(
                    Finding::error(
                        "BAG_FILE_UNREADABLE",
                        Category::Integrity,
                        format!("cannot read the file: {e}"),
                    )
                    .file(o.rel),
                ),
            }
        }

        // Digests (§3 valid).
        for (m, map) in payload_manifests
            .iter()
            .zip(&payload_maps)
            .chain(tag_manifests.iter().zip(&tag_maps))
        {
            let Some(alg) = m.alg else { continue };
            for (key, l) in map {
                let Some(found) = computed.get(key).and_then(|(d, _)| d.get(&alg)) else {
                    continue;
                };
                if *found != l.digest {
                    self.f.push(
                        Finding::error(
                            "BAG_DIGEST_MISMATCH",
                            Category::Authenticity,
                            format!(
                                "the {} digest in {} does not match the file",
                                alg.manifest_name(),
                                m.file
                            ),
                        )
                        .file(key.clone())
                        .expected_found(l.digest.clone(), found.clone()),
                    );
                }
            }
        }

        // Completeness of the payload (§3 complete).
        for p in inv.payload.keys() {
            let absent: Vec<&str> = payload_manifests
                .iter()
                .zip(&payload_maps)
                .filter(|(_, map)| !map.contains_key(p))
                .map(|(m, _)| m.file.as_str())
                .collect();
            if !absent.is_empty() && !payload_manifests.is_empty() {
                self.f.push(
                    Finding::error(
                        "BAG_FILE_UNDECLARED",
                        Category::Integrity,
                        format!("payload file not listed in {}", join(&absent)),
                    )
                    .file(p.clone()),
                );
            }
        }
        let mut missing: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
        for (i, map) in payload_maps.iter().enumerate() {
            for key in map.keys().filter(|k| !inv.payload.contains_key(*k)) {
                missing.entry(key.as_str()).or_default().push(i);
            }
        }
        let (mut pending, mut pending_bytes, mut pending_unknown, mut missing_system) =
            (0u64, 0u64, false, 0u64);
        for (key, idx) in &missing {
            let names: Vec<&str> = idx
                .iter()
                .map(|&i| payload_manifests[i].file.as_str())
                .collect();
            if let Some(len) = fetch.get(*key) {
                pending += 1;
                match len {
                    Some(n) => pending_bytes += n,
                    None => pending_unknown = true,
                }
                self.f.push(
                    Finding::warning(
                        "BAG_FETCH_PENDING",
                        Category::Integrity,
                        "payload file listed in fetch.txt has not been fetched",
                    )
                    .file(*key),
                );
            } else if text::is_system_file(key) {
                missing_system += 1;
                self.f.push(
                    Finding::warning(
                        "BAG_SYSTEM_FILE_MISSING",
                        Category::Usability,
                        format!("operating-system metadata file listed in {} is absent (copy tools drop these)", join(&names)),
                    )
                    .file(*key),
                );
            } else if let Some(twin) = self.case_twin(
                key,
                idx,
                &payload_manifests,
                &payload_maps,
                &payload_fold,
                &computed,
            ) {
                self.f.push(
                    Finding::warning(
                        "BAG_PATH_CASE_COLLISION",
                        Category::Usability,
                        format!("listed in {}, but only {twin} exists: the names differ only in case, so the bag was made on a case-insensitive file system", join(&names)),
                    )
                    .file(*key)
                    .expected_found(key.to_string(), twin),
                );
            } else {
                self.f.push(
                    Finding::error(
                        "BAG_FILE_MISSING",
                        Category::Integrity,
                        format!("listed in {} but absent from the bag", join(&names)),
                    )
                    .file(*key),
                );
            }
        }
        for key in fetch.keys() {
            let absent: Vec<&str> = payload_manifests
                .iter()
                .zip(&payload_maps)
                .filter(|(_, map)| !map.contains_key(key))
                .map(|(m, _)| m.file.as_str())
                .collect();
            if !absent.is_empty() {
                self.f.push(
                    Finding::error(
                        "BAG_FETCH_UNLISTED",
                        Category::Integrity,
                        format!("file in fetch.txt is not listed in {}", join(&absent)),
                    )
                    .file(key.clone()),
                );
            }
        }

        // Tag manifests (§2.2.1).
        let mut tag_missing: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
        for (m, map) in tag_manifests.iter().zip(&tag_maps) {
            for key in map.keys() {
                if !inv.tags.contains_key(key) && !inv.payload.contains_key(key) {
                    tag_missing
                        .entry(key.as_str())
                        .or_default()
                        .push(m.file.as_str());
                }
            }
        }
        for (key, names) in tag_missing {
            self.f.push(
                Finding::error(
                    "BAG_FILE_MISSING",
                    Category::Integrity,
                    format!(
                        "tag file listed in {} but absent from the bag",
                        join(&names)
                    ),
                )
                .file(key),
            );
        }
        if !tag_manifests.is_empty() {
            for t in inv.tags.keys().filter(|t| !is_tag_manifest(t)) {
                let absent: Vec<&str> = tag_manifests
                    .iter()
                    .zip(&tag_maps)
                    .filter(|(_, map)| !map.contains_key(t))
                    .map(|(m, _)| m.file.as_str())
                    .collect();
                if !absent.is_empty() {
                    self.f.push(
                        Finding::warning(
                            "BAG_TAG_FILE_UNLISTED",
                            Category::Integrity,
                            format!("tag file not listed in {} (tag manifests SHOULD list every tag file)", join(&absent)),
                        )
                        .file(t.clone()),
                    );
                }
            }
        }

        // Names that will not survive other systems (§5).
        for p in inv.payload.keys().filter(|p| text::is_system_file(p)) {
            self.f.push(
                Finding::warning(
                    "BAG_SYSTEM_FILE",
                    Category::Usability,
                    "operating-system metadata file in the payload",
                )
                .file(p.clone()),
            );
        }
        for group in payload_fold.values().filter(|g| g.len() > 1) {
            self.f.push(
                Finding::warning(
                    "BAG_PATH_CASE_COLLISION",
                    Category::Usability,
                    format!("payload names differ only in case or normalisation and collide on other file systems: {}", group.join(", ")),
                )
                .file(group[0].clone()),
            );
        }

        // Payload-Oxum (§2.2.2).
        if let Some((octets, streams)) = oxum {
            let size = |p: &String| computed.get(p).map_or(inv.payload[p], |(_, n)| *n);
            let found_octets: u64 = inv.payload.keys().map(size).sum::<u64>() + pending_bytes;
            let found_streams = inv.payload.len() as u64 + pending + missing_system;
            let octets_ok = if pending_unknown || missing_system > 0 {
                octets >= found_octets
            } else {
                octets == found_octets
            };
            if !octets_ok || streams != found_streams {
                self.f.push(
                    Finding::error(
                        "BAG_OXUM_MISMATCH",
                        Category::Integrity,
                        "Payload-Oxum (bytes.files) does not match the payload",
                    )
                    .file(info_name)
                    .expected_found(
                        format!("{octets}.{streams}"),
                        format!("{found_octets}.{found_streams}"),
                    ),
                );
            }
        }

        if !is_bag {
            return None;
        }
        let known = |ms: &[Manifest]| {
            let mut v: Vec<Algorithm> = ms
                .iter()
                .filter_map(|m| match m.alg {
                    Some(HashAlg::Known(a)) => Some(a),
                    _ => None,
                })
                .collect();
            v.sort();
            v.dedup();
            v
        };
        let payload = inv
            .payload
            .iter()
            .map(|(p, size)| {
                let (digests, n) = computed.get(p).cloned().unwrap_or_default();
                let declared = payload_manifests
                    .iter()
                    .zip(&payload_maps)
                    .filter_map(|(m, map)| match (m.alg, map.get(p)) {
                        (Some(HashAlg::Known(a)), Some(l)) => Some((a, l.digest.clone())),
                        _ => None,
                    })
                    .collect();
                PayloadFile {
                    path: p.clone(),
                    size: if computed.contains_key(p) { n } else { *size },
                    computed: digests
                        .into_iter()
                        .filter_map(|(a, d)| match a {
                            HashAlg::Known(k) => Some((k, d)),
                            _ => None,
                        })
                        .collect(),
                    declared,
                }
            })
            .collect();
        Some(Bag {
            root: self.root.to_path_buf(),
            version: decl.version_text,
            encoding: decl.encoding_text,
            info,
            manifest_algorithms: known(&payload_manifests),
            tag_manifest_algorithms: known(&tag_manifests),
            has_fetch,
            payload,
        })
    }

    /// Lists every file under the root without following links.
    fn walk(&mut self) -> Inventory {
        let mut inv = Inventory::default();
        for entry in walkdir::WalkDir::new(self.root)
            .follow_links(false)
            .min_depth(1)
        {
            let entry = match entry {
                Ok(e) => e,
                Err(e) => {
                    let path = e
                        .path()
                        .and_then(|p| p.strip_prefix(self.root).ok())
                        .map(|p| p.display().to_string())
                        .unwrap_or_default();
                    self.f.push(
                        Finding::error(
                            "BAG_IO",
                            Category::Integrity,
                            format!("cannot list the folder: {e}"),
                        )
                        .file(path),
                    );
                    continue;
                }
            };
            let Ok(rel_path) = entry.path().strip_prefix(self.root) else {
                continue;
            };
            let mut parts = Vec::new();
            let mut utf8 = true;
            for c in rel_path.components() {
                match c.as_os_str().to_str() {
                    Some(s) => parts.push(s),
                    None => utf8 = false,
                }
            }
            if !utf8 {
                self.f.push(
                    Finding::error(
                        "BAG_PATH_NOT_UTF8",
                        Category::Usability,
                        "file name is not valid UTF-8 and cannot be listed in a manifest",
                    )
                    .file(rel_path.to_string_lossy()),
                );
                continue;
            }
            let rel = parts.join("/");
            let ft = entry.file_type();
            if ft.is_dir() {
                if rel == "data" {
                    inv.has_data_dir = true;
                }
            } else if ft.is_symlink() {
                self.f.push(
                    Finding::error(
                        "BAG_SYMLINK",
                        Category::Security,
                        "symbolic link in the bag; links are not followed and may point outside the bag",
                    )
                    .file(rel),
                );
            } else if ft.is_file() {
                let size = entry.metadata().map_or(0, |m| m.len());
                if rel.starts_with("data/") {
                    inv.payload.insert(rel, size);
                } else {
                    inv.tags.insert(rel, size);
                }
            } else {
                self.f.push(
                    Finding::error(
                        "BAG_SPECIAL_FILE",
                        Category::Security,
                        "device, pipe or socket in the bag",
                    )
                    .file(rel),
                );
            }
        }
        inv
    }

    /// Reads a tag file that the inventory lists as a regular file.
    fn read_tag(&mut self, inv: &Inventory, rel: &str) -> Option<Vec<u8>> {
        let size = *inv.tags.get(rel)?;
        let io_err = |e: std::io::Error| {
            Finding::error("BAG_IO", Category::Integrity, format!("cannot read: {e}")).file(rel)
        };
        if size > TAG_FILE_LIMIT {
            self.f.push(
                Finding::error(
                    "BAG_TAG_FILE_TOO_LARGE",
                    Category::Security,
                    "tag file is too large to read",
                )
                .file(rel)
                .expected_found(
                    format!("at most {TAG_FILE_LIMIT} bytes"),
                    format!("{size} bytes"),
                ),
            );
            return None;
        }
        let mut buf = Vec::new();
        match std::fs::File::open(self.root.join(rel))
            .and_then(|f| f.take(TAG_FILE_LIMIT + 1).read_to_end(&mut buf))
        {
            Ok(_) => Some(buf),
            Err(e) => {
                self.f.push(io_err(e));
                None
            }
        }
    }

    fn load_manifest(
        &mut self,
        inv: &Inventory,
        name: &str,
        alg_name: &str,
        encoding: &Encoding,
        v1: bool,
    ) -> Option<Manifest> {
        let alg = HashAlg::from_manifest_name(alg_name);
        if alg_name.is_empty()
            || !alg_name
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        {
            self.f.push(
                Finding::warning(
                    "BAG_MANIFEST_NAME",
                    Category::Integrity,
                    "the algorithm in a manifest name SHOULD be lowercase letters and digits only",
                )
                .file(name)
                .expected_found(
                    alg.map_or("lowercase alphanumeric name".to_string(), |a| {
                        a.manifest_name().to_string()
                    }),
                    alg_name,
                ),
            );
        }
        if alg.is_none() {
            self.f.push(
                Finding::warning(
                    "BAG_ALGORITHM_UNKNOWN",
                    Category::Authenticity,
                    format!(
                        "unknown digest algorithm {alg_name:?}: its digests cannot be verified"
                    ),
                )
                .file(name),
            );
        }
        let bytes = self.read_tag(inv, name)?;
        let text = text::decode(&bytes, encoding, name, self.f)?;
        let lines = text::parse_manifest(&text, name, v1, alg.map(HashAlg::hex_len), self.f);
        Some(Manifest {
            file: name.to_string(),
            alg,
            lines,
        })
    }

    fn check_algorithms(&mut self, payload: &[Manifest]) {
        if payload.is_empty() {
            self.f.push(Finding::error(
                "BAG_MANIFEST_MISSING",
                Category::Integrity,
                "the bag has no payload manifest (manifest-<algorithm>.txt)",
            ));
            return;
        }
        let algs: BTreeSet<HashAlg> = payload.iter().filter_map(|m| m.alg).collect();
        if algs.is_empty() {
            self.f.push(Finding::error(
                "BAG_NO_VERIFIABLE_MANIFEST",
                Category::Authenticity,
                "no payload manifest uses an algorithm this validator can compute",
            ));
            return;
        }
        if algs
            .iter()
            .all(|a| matches!(a, HashAlg::Known(k) if !k.is_strong()))
        {
            self.f.push(
                Finding::warning(
                    "BAG_ALGORITHM_WEAK",
                    Category::Authenticity,
                    "payload manifests use only MD5 or SHA-1, which no longer prove a file unchanged",
                )
                .expected_found("sha256 or sha512", algs.iter().map(|a| a.manifest_name()).collect::<Vec<_>>().join(",")),
            );
        }
        for m in payload {
            if matches!(m.alg, Some(HashAlg::Sha224 | HashAlg::Sha384)) {
                self.f.push(
                    Finding::warning(
                        "BAG_ALGORITHM_NOT_RETAINED",
                        Category::Authenticity,
                        "digests verified, but strongroom does not keep this algorithm",
                    )
                    .file(m.file.clone()),
                );
            }
        }
    }

    /// Checks reserved bag-info elements; returns the Payload-Oxum when well formed.
    fn check_info(&mut self, info: &[(String, String)], file: &str) -> Option<(u64, u64)> {
        const ONCE: [&str; 5] = [
            "Bagging-Date",
            "Payload-Oxum",
            "Bag-Size",
            "Bag-Group-Identifier",
            "Bag-Count",
        ];
        for label in ONCE {
            let n = info
                .iter()
                .filter(|(k, _)| k.eq_ignore_ascii_case(label))
                .count();
            if n > 1 {
                self.f.push(
                    Finding::warning(
                        "BAG_INFO_REPEATED",
                        Category::Integrity,
                        format!("{label} appears {n} times; it SHOULD appear once"),
                    )
                    .file(file),
                );
            }
        }
        for (_, v) in info
            .iter()
            .filter(|(k, _)| k.eq_ignore_ascii_case("Bagging-Date"))
        {
            if chrono::NaiveDate::parse_from_str(v, "%Y-%m-%d").is_err() {
                self.f.push(
                    Finding::warning(
                        "BAG_INFO_VALUE",
                        Category::Integrity,
                        "Bagging-Date SHOULD be a date as YYYY-MM-DD",
                    )
                    .file(file)
                    .expected_found("YYYY-MM-DD", v.clone()),
                );
            }
        }
        let (_, v) = info
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case("Payload-Oxum"))?;
        let parsed = text::parse_oxum(v);
        if parsed.is_none() {
            self.f.push(
                Finding::error(
                    "BAG_OXUM_SYNTAX",
                    Category::Integrity,
                    "Payload-Oxum must be OctetCount.StreamCount",
                )
                .file(file)
                .expected_found("e.g. 279164409832.1198", v.clone()),
            );
        }
        parsed
    }

    /// Maps a manifest's lines to the files they name, reporting unsafe paths, duplicates
    /// and spelling differences on the way.
    fn resolve(
        &mut self,
        m: &Manifest,
        inv: &Inventory,
        payload_nfc: &HashMap<String, Vec<String>>,
        tag: bool,
        v1: bool,
    ) -> HashMap<String, Listing> {
        let mut map: HashMap<String, Listing> = HashMap::new();
        let (mut stars, mut dots) = (0usize, 0usize);
        for l in &m.lines {
            let mut p = l.path.as_str();
            if let Some(rest) = p.strip_prefix('*') {
                // md5sum's binary-mode marker: `hash *path`. A payload path always starts
                // with data/, so the star cannot be part of it; a tag path keeps it when a
                // file of that literal name exists.
                if !(tag && inv.tags.contains_key(p)) {
                    p = rest;
                    stars += 1;
                }
            }
            let (path, dot) = match text::clean_path(p) {
                Ok(x) => x,
                Err(u) => {
                    self.f.push(
                        Finding::error(
                            "BAG_PATH_UNSAFE",
                            Category::Security,
                            format!("{} line {}: {}", m.file, l.line, u.describe()),
                        )
                        .file(p),
                    );
                    continue;
                }
            };
            dots += usize::from(dot);
            let in_payload = path.starts_with("data/");
            if !tag && !in_payload {
                self.f.push(
                    Finding::error(
                        "BAG_MANIFEST_OUTSIDE_PAYLOAD",
                        Category::Integrity,
                        format!("{} line {} names a file outside data/", m.file, l.line),
                    )
                    .file(path),
                );
                continue;
            }
            if tag && in_payload {
                self.push_rule(
                    v1,
                    "BAG_TAGMANIFEST_LISTS_PAYLOAD",
                    format!(
                        "{} line {} lists a payload file; tag manifests list tag files only",
                        m.file, l.line
                    ),
                    &path,
                );
            }
            if tag && is_tag_manifest(&path) {
                self.push_rule(
                    v1,
                    "BAG_TAGMANIFEST_LISTS_TAGMANIFEST",
                    format!(
                        "{} line {} lists a tag manifest, which tag manifests MUST NOT do",
                        m.file, l.line
                    ),
                    &path,
                );
                continue;
            }
            let key = if inv.payload.contains_key(&path) || inv.tags.contains_key(&path) {
                path.clone()
            } else {
                match payload_nfc.get(&nfc(&path)).map(Vec::as_slice) {
                    Some([disk]) if in_payload => {
                        self.f.push(
                            Finding::warning(
                                "BAG_PATH_NORMALIZATION",
                                Category::Usability,
                                format!("{} spells the name in another Unicode normalisation form than the file system", m.file),
                            )
                            .file(disk.clone())
                            .expected_found(format!("{path:?}"), format!("{disk:?}")),
                        );
                        disk.clone()
                    }
                    _ => path.clone(),
                }
            };
            match map.get_mut(&key) {
                None => {
                    map.insert(
                        key,
                        Listing {
                            spellings: vec![path],
                            digest: l.digest.clone(),
                        },
                    );
                }
                Some(prev) if prev.digest != l.digest => {
                    self.f.push(
                        Finding::error(
                            "BAG_MANIFEST_DUPLICATE",
                            Category::Integrity,
                            format!(
                                "{} lists the file twice with different digests (line {})",
                                m.file, l.line
                            ),
                        )
                        .file(key.clone())
                        .expected_found(prev.digest.clone(), l.digest.clone()),
                    );
                }
                Some(prev) if prev.spellings.contains(&path) => {
                    self.push_rule(
                        v1,
                        "BAG_MANIFEST_DUPLICATE",
                        format!("{} lists the file more than once (line {})", m.file, l.line),
                        &key,
                    );
                }
                Some(prev) => {
                    prev.spellings.push(path);
                    self.f.push(
                        Finding::warning(
                            "BAG_MANIFEST_DUPLICATE",
                            Category::Usability,
                            format!("{} lists the same name twice in different Unicode normalisation forms (line {})", m.file, l.line),
                        )
                        .file(key.clone()),
                    );
                }
            }
        }
        if stars > 0 {
            self.f.push(
                Finding::warning(
                    "BAG_MANIFEST_BINARY_MARKER",
                    Category::Integrity,
                    format!("{stars} line(s) carry md5sum's '*' binary-mode marker before the path; read without it"),
                )
                .file(m.file.clone()),
            );
        }
        if dots > 0 {
            self.f.push(
                Finding::warning(
                    "BAG_PATH_DOT_SLASH",
                    Category::Integrity,
                    format!("{dots} path(s) start with './'; paths SHOULD be plain relative paths"),
                )
                .file(m.file.clone()),
            );
        }
        map
    }

    /// An RFC 8493 MUST that older drafts did not have: an error from 1.0 on, a warning before.
    fn push_rule(&mut self, v1: bool, code: &str, msg: String, file: &str) {
        let f = if v1 {
            Finding::error(code, Category::Integrity, msg)
        } else {
            Finding::warning(code, Category::Integrity, msg)
        };
        self.f.push(f.file(file));
    }

    /// A present file whose name equals `key` but for case, and whose content matches every
    /// digest the manifests declare for `key`.
    fn case_twin(
        &self,
        key: &str,
        idx: &[usize],
        manifests: &[Manifest],
        maps: &[HashMap<String, Listing>],
        payload_fold: &HashMap<String, Vec<String>>,
        computed: &HashMap<String, (BagDigests, u64)>,
    ) -> Option<String> {
        let candidates = payload_fold.get(&fold(key))?;
        candidates
            .iter()
            .find(|twin| {
                let Some((digests, _)) = computed.get(*twin) else {
                    return false;
                };
                let mut checked = 0;
                for &i in idx {
                    let (Some(alg), Some(l)) = (manifests[i].alg, maps[i].get(key)) else {
                        continue;
                    };
                    if digests.get(&alg) != Some(&l.digest) {
                        return false;
                    }
                    checked += 1;
                }
                checked > 0
            })
            .cloned()
    }
}

fn is_tag_manifest(path: &str) -> bool {
    !path.contains('/') && path.starts_with("tagmanifest-") && path.ends_with(".txt")
}

/// Groups paths by a derived key (NFC form, case fold).
fn index(paths: &BTreeMap<String, u64>, key: fn(&str) -> String) -> HashMap<String, Vec<String>> {
    let mut m: HashMap<String, Vec<String>> = HashMap::new();
    for p in paths.keys() {
        m.entry(key(p)).or_default().push(p.clone());
    }
    m
}
