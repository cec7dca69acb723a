//! `s3://bucket/prefix` stores: how one is opened (endpoint, region, path style, credentials
//! from `config.toml` or the standard `AWS_*` variables) and the start-up probe that refuses a
//! server which ignores conditional writes.
//!
//! Everything else about S3 is object_store's. The archive's safety on S3 rests on one server
//! promise: a put with `If-None-Match: *` fails when the object exists (`PutMode::Create`).
//! Some S3-compatible servers accept the header and overwrite anyway; [`Store::probe`] finds
//! them before anything is written (`formats/store-layout.md`, "S3").

use std::sync::Arc;

use bytes::Bytes;
use object_store::aws::{AmazonS3Builder, S3ConditionalPut};
use object_store::path::Path;
use object_store::prefix::PrefixStore;
use object_store::ObjectStore;
use serde::{Deserialize, Serialize};

use super::{path_of, random_hex, Store, StoreError};

/// How to reach an S3-compatible server: the `[s3]` table of `config.toml`. Every field is
/// optional; a field left out falls back to its `AWS_*` environment variable (`AWS_ENDPOINT`,
/// `AWS_REGION` / `AWS_DEFAULT_REGION`, `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`,
/// `AWS_SESSION_TOKEN`, `AWS_ALLOW_HTTP`, `AWS_VIRTUAL_HOSTED_STYLE_REQUEST`), then to
/// object_store's default (AWS itself, instance credentials).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct S3Settings {
    /// The server's URL, e.g. `http://minio.local:9000` (AWS when absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint: Option<String>,
    /// The region (`us-east-1` when neither config nor environment names one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    /// Path-style requests (`endpoint/bucket/key`), as MinIO and Ceph RGW usually need;
    /// false means virtual-hosted style (`bucket.endpoint/key`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path_style: Option<bool>,
    /// Access key id. Prefer the environment for secrets; config.toml is a plain file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub access_key_id: Option<String>,
    /// Secret access key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_access_key: Option<String>,
    /// Session token of temporary credentials.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session_token: Option<String>,
    /// Allow plain `http://` endpoints; defaults to true exactly when the endpoint is http.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allow_http: Option<bool>,
}

/// A parsed `s3://bucket/prefix` URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct S3Url {
    /// The bucket.
    pub bucket: String,
    /// The key prefix every object of the archive lives under (may be empty).
    pub prefix: String,
}

impl S3Url {
    /// Parses `s3://bucket` or `s3://bucket/some/prefix` (a trailing `/` is ignored).
    pub fn parse(url: &str) -> Option<S3Url> {
        let rest = url.strip_prefix("s3://")?;
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        // S3 bucket names: 3-63 of lowercase letters, digits, '-' and '.'.
        let bucket_ok = (3..=63).contains(&bucket.len())
            && bucket
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.');
        let prefix = prefix.trim_matches('/');
        let prefix_ok = prefix
            .split('/')
            .all(|s| !s.is_empty() && s != "." && s != "..")
            || prefix.is_empty();
        (bucket_ok && prefix_ok).then(|| S3Url {
            bucket: bucket.to_string(),
            prefix: prefix.to_string(),
        })
    }
}

/// Builds the object_store client of an `s3://` URL: environment first, config over it.
pub(super) fn backend(
    url: &str,
    settings: &S3Settings,
) -> Result<Arc<dyn ObjectStore>, StoreError> {
    let parsed = S3Url::parse(url).ok_or_else(|| StoreError::UnsupportedUrl { url: url.into() })?;
    let mut b = AmazonS3Builder::from_env()
        .with_bucket_name(&parsed.bucket)
        // Explicitly: an AWS_CONDITIONAL_PUT=disabled in the environment must not turn the
        // archive's create-only puts into overwrites.
        .with_conditional_put(S3ConditionalPut::ETagMatch);
    if std::env::var_os("AWS_REGION").is_none() && std::env::var_os("AWS_DEFAULT_REGION").is_none()
    {
        b = b.with_region("us-east-1");
    }
    let endpoint = settings
        .endpoint
        .clone()
        .or_else(|| std::env::var("AWS_ENDPOINT").ok())
        .or_else(|| std::env::var("AWS_ENDPOINT_URL").ok());
    if let Some(e) = &endpoint {
        b = b.with_endpoint(e);
        if settings.allow_http.is_none() && e.starts_with("http://") {
            b = b.with_allow_http(true);
        }
    }
    if let Some(r) = &settings.region {
        b = b.with_region(r);
    }
    if let Some(p) = settings.path_style {
        b = b.with_virtual_hosted_style_request(!p);
    }
    if let Some(k) = &settings.access_key_id {
        b = b.with_access_key_id(k);
    }
    if let Some(k) = &settings.secret_access_key {
        b = b.with_secret_access_key(k);
    }
    if let Some(t) = &settings.session_token {
        b = b.with_token(t);
    }
    if let Some(h) = settings.allow_http {
        b = b.with_allow_http(h);
    }
    let s3 = b
        .build()
        .map_err(|source| StoreError::backend("open", &Path::from(""), source))?;
    Ok(if parsed.prefix.is_empty() {
        Arc::new(s3)
    } else {
        Arc::new(PrefixStore::new(s3, Path::from(parsed.prefix.as_str())))
    })
}

impl Store {
    /// The start-up probe: puts a fresh probe object create-only twice and requires the second
    /// put to fail, then removes it. Fails with [`StoreError::NoConditionalWrites`] on a server
    /// that overwrote, before the archive writes anything that relies on create-only puts.
    /// Credentials that may not write at all pass: a read-only user cannot overwrite either.
    pub async fn probe(&self) -> Result<(), StoreError> {
        let path = path_of(["probes", &format!("{}.txt", random_hex(12))]);
        let first = Bytes::from_static(b"strongroom conditional-write probe: first\n");
        let second = Bytes::from_static(b"strongroom conditional-write probe: second\n");
        match self.put_create(&path, first.clone()).await {
            Ok(()) => {}
            // Read-only credentials (an auditor's): they cannot overwrite anything either, and
            // every read works as it should. A write later fails with the server's refusal.
            Err(StoreError::Backend {
                source:
                    object_store::Error::PermissionDenied { .. }
                    | object_store::Error::Unauthenticated { .. },
                ..
            }) => return Ok(()),
            Err(e) => return Err(e),
        }
        let again = self.put_create(&path, second).await;
        let kept = self.get_bytes(&path).await;
        self.delete(&path).await?;
        match again {
            Err(StoreError::AlreadyExists { .. }) if kept?.as_ref() == Some(&first) => Ok(()),
            Err(StoreError::AlreadyExists { .. }) | Ok(()) => {
                Err(StoreError::NoConditionalWrites {
                    url: self.url.clone(),
                })
            }
            Err(e) => Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_parse() {
        assert_eq!(
            S3Url::parse("s3://archive-1/prod/store/"),
            Some(S3Url {
                bucket: "archive-1".into(),
                prefix: "prod/store".into()
            })
        );
        assert_eq!(
            S3Url::parse("s3://archive").map(|u| u.prefix),
            Some(String::new())
        );
        for bad in [
            "s3://",
            "s3://ab",
            "s3://Upper/x",
            "s3://bkt/a//b",
            "s3://bkt/../x",
            "file:///x",
        ] {
            assert_eq!(S3Url::parse(bad), None, "{bad}");
        }
    }
}
