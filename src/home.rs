//! The home directory: local configuration, the archive's private key, staging and caches.
//!
//! Nothing authoritative lives here (DESIGN.md "Where state lives"): the store plus the key
//! is the whole archive. Layout: `config.toml`, `archive.key` (0600), `archive.pub`,
//! `staging/` (unpacked packages, removed after each transfer).

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::package::Limits;
use crate::sign::{self, ArchiveKey};
use crate::store::{ArchiveInfo, BackendKind, Store, StoreError, STORE_FORMAT_VERSION};

/// Errors about the home directory.
#[derive(Debug, thiserror::Error)]
pub enum HomeError {
    /// No home: `init` was never run here.
    #[error("no strongroom home at {0}: run `strongroom init` (or pass --home / STRONGROOM_HOME)")]
    Missing(PathBuf),
    /// `init` on an existing home.
    #[error("{0} already holds a strongroom home; remove it or choose another --home")]
    Exists(PathBuf),
    /// Reading or writing a file failed.
    #[error("{path}")]
    Io {
        /// Which file.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// config.toml does not parse.
    #[error("{path} is not a valid strongroom config")]
    Config {
        /// Which file.
        path: PathBuf,
        /// The parse error.
        #[source]
        source: toml::de::Error,
    },
    /// The key could not be made, read or saved.
    #[error("archive key in {path}")]
    Key {
        /// The home.
        path: PathBuf,
        /// Why.
        #[source]
        source: sign::Error,
    },
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A replica name that config.toml does not define.
    #[error("no replica named {0:?} in config.toml ([[replicas]] name = …)")]
    NoSuchReplica(String),
}

/// `config.toml`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Config {
    /// Store URL (`file:///…`, `s3://bucket/prefix` or `memory://`).
    pub store: String,
    /// How to reach an `s3://` store (`[s3]`; the `AWS_*` environment fills what is left out).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub s3: Option<crate::store::S3Settings>,
    /// The signing key's name, fixed at init.
    pub key_name: String,
    /// A command run on every file of a package; non-zero exit refuses it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub virus_scan: Option<String>,
    /// Unpacking limits (defaults when absent).
    #[serde(default)]
    pub limits: LimitOverrides,
    /// Seal policy per agency (`formats/seals.md`, "Policy"; defaults when absent).
    #[serde(default)]
    pub seals: crate::seals::policy::SealPolicy,
    /// The RFC 3161 timestamp authority for copy bundles' checkpoints (`formats/copy-bundle.md`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timestamp: Option<crate::copy::timestamp::TimestampConfig>,
    /// Replica stores (`[[replicas]]`: name, store URL, optional `s3` settings), caught up by
    /// `strongroom replicate` and repaired by `strongroom verify --repair` (`docs/scale.md`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub replicas: Vec<crate::replica::ReplicaConfig>,
    /// How `serve` keeps the replicas caught up (`[replication]`; defaults when absent).
    #[serde(
        default,
        skip_serializing_if = "crate::replica::ReplicationSettings::is_default"
    )]
    pub replication: crate::replica::ReplicationSettings,
}

/// Overrides of the unpacking limits.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct LimitOverrides {
    /// Total unpacked bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_total_bytes: Option<u64>,
    /// Number of files.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_files: Option<u64>,
    /// Uncompressed / compressed ratio.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_ratio: Option<u64>,
}

/// An opened home.
#[derive(Debug, Clone)]
pub struct Home {
    dir: PathBuf,
    /// Its configuration.
    pub config: Config,
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> HomeError + '_ {
    move |source| HomeError::Io {
        path: path.to_path_buf(),
        source,
    }
}

impl Home {
    /// Creates the home, the key pair and the store. The store URL defaults to `<home>/store`.
    pub async fn init(
        dir: &Path,
        store_url: Option<&str>,
        key_name: &str,
    ) -> Result<(Home, ArchiveKey), HomeError> {
        let config_path = dir.join("config.toml");
        if config_path.exists() {
            return Err(HomeError::Exists(dir.to_path_buf()));
        }
        std::fs::create_dir_all(dir).map_err(io(dir))?;
        let dir = std::fs::canonicalize(dir).map_err(io(dir))?;
        let url = match store_url {
            Some(u) => u.to_string(),
            None => format!("file://{}", dir.join("store").display()),
        };
        let key = ArchiveKey::generate(key_name).map_err(|source| HomeError::Key {
            path: dir.clone(),
            source,
        })?;
        let store = Store::open(&url)?;
        if store.kind() == BackendKind::S3 {
            store.probe().await?;
        }
        store
            .init(&ArchiveInfo {
                kind: "strongroom-archive".into(),
                format_version: STORE_FORMAT_VERSION,
                created: crate::store::now_rfc3339(),
                key_name: key.name().to_string(),
                verifier_key: key.verifier_key(),
            })
            .await?;
        key.save(&dir).map_err(|source| HomeError::Key {
            path: dir.clone(),
            source,
        })?;
        let config = Config {
            store: url,
            s3: None,
            key_name: key.name().to_string(),
            virus_scan: None,
            limits: LimitOverrides::default(),
            seals: Default::default(),
            timestamp: None,
            replicas: Vec::new(),
            replication: Default::default(),
        };
        let text = toml::to_string_pretty(&config).unwrap_or_default();
        std::fs::write(&config_path, text).map_err(io(&config_path))?;
        Ok((Home { dir, config }, key))
    }

    /// Opens an existing home.
    pub fn open(dir: &Path) -> Result<Home, HomeError> {
        let config_path = dir.join("config.toml");
        if !config_path.exists() {
            return Err(HomeError::Missing(dir.to_path_buf()));
        }
        let text = std::fs::read_to_string(&config_path).map_err(io(&config_path))?;
        let config = toml::from_str(&text).map_err(|source| HomeError::Config {
            path: config_path.clone(),
            source,
        })?;
        Ok(Home {
            dir: dir.to_path_buf(),
            config,
        })
    }

    /// The home directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Opens the store and checks it is an archive.
    pub async fn store(&self) -> Result<Store, HomeError> {
        let store = Store::open_with(
            &self.config.store,
            &self.config.s3.clone().unwrap_or_default(),
        )?;
        if store.kind() == BackendKind::S3 {
            // Once per process, before anything relies on create-only puts.
            store.probe().await?;
        }
        store.archive_info().await?;
        Ok(store)
    }

    /// The replicas named in `config.toml` (all when `names` is empty), not yet opened; a
    /// name not configured is an error.
    pub fn replica_configs(
        &self,
        names: &[String],
    ) -> Result<Vec<&crate::replica::ReplicaConfig>, HomeError> {
        if let Some(unknown) = names
            .iter()
            .find(|n| !self.config.replicas.iter().any(|r| &r.name == *n))
        {
            return Err(HomeError::NoSuchReplica(unknown.clone()));
        }
        Ok(self
            .config
            .replicas
            .iter()
            .filter(|r| names.is_empty() || names.contains(&r.name))
            .collect())
    }

    /// Opens the replicas named (all configured ones when `names` is empty), probing each
    /// S3 one. A replica not yet initialised is fine: `replicate` fills it.
    pub async fn replicas(&self, names: &[String]) -> Result<Vec<crate::replica::Copy>, HomeError> {
        let mut out = Vec::new();
        for r in self.replica_configs(names)? {
            out.push(r.open().await?);
        }
        Ok(out)
    }

    /// Loads the private key.
    pub fn key(&self) -> Result<ArchiveKey, HomeError> {
        ArchiveKey::load(&self.dir).map_err(|source| HomeError::Key {
            path: self.dir.clone(),
            source,
        })
    }

    /// Where packages are unpacked.
    pub fn staging_dir(&self) -> PathBuf {
        self.dir.join("staging")
    }

    /// The unpacking limits, defaults overridden by config.
    pub fn limits(&self) -> Limits {
        let mut l = Limits::default();
        let o = &self.config.limits;
        if let Some(v) = o.max_total_bytes {
            l.max_total_bytes = v;
        }
        if let Some(v) = o.max_files {
            l.max_files = v;
        }
        if let Some(v) = o.max_ratio {
            l.max_ratio = v;
        }
        l
    }
}
