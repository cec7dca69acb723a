//! RFC 3161 trusted timestamps (可信时间戳) for the checkpoints copies lead to: asks the
//! timestamp authority named in `[timestamp]` of `config.toml` for a token over a signed
//! checkpoint note, keeps it in the store as `timestamps/<size>.tst` (create-only, one per
//! checkpoint size, reused by every later copy at that size), and hands it to the bundle.
//!
//! Owns only `timestamps/` in the store. The token's DER is read and checked with the
//! standalone verifier's code (`verify_copy::tsp`), so the archive never keeps a token the
//! court's verifier would refuse. The HTTP exchange (RFC 3161 §3.4) is plain `http://`: the
//! token is signed by the authority, so TLS would add nothing to what it proves.

use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::Duration;

use bytes::Bytes;
use serde::{Deserialize, Serialize};

use crate::store::{self, Store, StoreError};

/// `[timestamp]` in `config.toml`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TimestampConfig {
    /// The authority's URL, `http://host[:port]/path`.
    pub url: String,
    /// Seconds to wait for the authority (default 30).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_secs: Option<u64>,
}

/// Errors getting a token.
#[derive(Debug, thiserror::Error)]
pub enum TimestampError {
    /// The URL is not `http://host[:port]/path`.
    #[error("timestamp authority URL {0:?} is not http://host[:port]/path")]
    Url(String),
    /// The authority could not be reached or answered badly.
    #[error("timestamp authority {url}: {message}")]
    Exchange {
        /// The URL.
        url: String,
        /// What went wrong.
        message: String,
    },
    /// The token is not one the verifier would accept.
    #[error("timestamp token from {url} refused: {source}")]
    Token {
        /// The URL (or the stored path).
        url: String,
        /// Why.
        #[source]
        source: verify_copy::note::FormatError,
    },
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The ledger's checkpoint could not be read.
    #[error(transparent)]
    Ledger(#[from] crate::ledger::log::LedgerError),
}

/// Timestamps the ledger's latest signed checkpoint (each published checkpoint gets a token:
/// the CLI calls this after each transfer, and `strongroom ledger timestamp` on demand).
/// Returns the checkpoint's size and the token's time, or None for an empty ledger.
pub async fn stamp_latest(
    store: &Store,
    config: &TimestampConfig,
) -> Result<Option<(u64, String)>, TimestampError> {
    let ledger = crate::ledger::commit::open(store).await?;
    let Some(latest) = ledger.latest().await? else {
        return Ok(None);
    };
    let size = latest.size();
    let (_, time) = checkpoint_token(store, config, &latest.note, size).await?;
    Ok(Some((size, time)))
}

/// Where the token of the checkpoint of `size` is kept.
pub fn token_path(size: u64) -> object_store::path::Path {
    store::path_of(["timestamps", &format!("{size:020}.tst")])
}

/// The token over the signed checkpoint `note` of `size`: the one kept in the store, or a new
/// one from the authority (kept before it is returned). Returns the token and its time.
pub async fn checkpoint_token(
    store: &Store,
    config: &TimestampConfig,
    note: &str,
    size: u64,
) -> Result<(Vec<u8>, String), TimestampError> {
    let path = token_path(size);
    if let Some(kept) = store.get_bytes(&path).await? {
        let stamp = verify_copy::tsp::verify(&kept, note.as_bytes(), None).map_err(|source| {
            TimestampError::Token {
                url: path.to_string(),
                source,
            }
        })?;
        return Ok((kept.to_vec(), stamp.time));
    }
    let hash = ring::digest::digest(&ring::digest::SHA256, note.as_bytes());
    let mut h = [0u8; 32];
    h.copy_from_slice(hash.as_ref());
    let nonce = u64::from_str_radix(&store::random_hex(8), 16).unwrap_or(1);
    let request = verify_copy::tsp::request(&h, nonce);
    let cfg = config.clone();
    let response = tokio::task::spawn_blocking(move || post(&cfg, &request))
        .await
        .map_err(|e| TimestampError::Exchange {
            url: config.url.clone(),
            message: e.to_string(),
        })??;
    let token_err = |source| TimestampError::Token {
        url: config.url.clone(),
        source,
    };
    let token = verify_copy::tsp::token_from_response(&response).map_err(token_err)?;
    let stamp = verify_copy::tsp::verify(&token, note.as_bytes(), None).map_err(token_err)?;
    // A token without our nonce could be a replay of an older answer.
    let echoed = stamp.nonce.as_deref().and_then(|n| {
        let n = &n[n.iter().take_while(|b| **b == 0).count()..];
        (n.len() <= 8).then(|| n.iter().fold(0u64, |a, b| (a << 8) | u64::from(*b)))
    });
    if echoed != Some(nonce) {
        return Err(TimestampError::Exchange {
            url: config.url.clone(),
            message: "the token does not carry the request's nonce".into(),
        });
    }
    match store.put_create(&path, Bytes::from(token.clone())).await {
        Ok(()) => store.sync().await?,
        // Another copy kept a token for this size first: use that one, so all agree.
        Err(StoreError::AlreadyExists { .. }) => {
            if let Some(kept) = store.get_bytes(&path).await? {
                let stamp =
                    verify_copy::tsp::verify(&kept, note.as_bytes(), None).map_err(token_err)?;
                return Ok((kept.to_vec(), stamp.time));
            }
        }
        Err(e) => return Err(e.into()),
    }
    Ok((token, stamp.time))
}

/// POSTs a timestamp query and returns the response body (RFC 3161 §3.4, HTTP/1.1).
fn post(config: &TimestampConfig, body: &[u8]) -> Result<Vec<u8>, TimestampError> {
    let url = &config.url;
    let rest = url
        .strip_prefix("http://")
        .ok_or_else(|| TimestampError::Url(url.clone()))?;
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    if authority.is_empty() {
        return Err(TimestampError::Url(url.clone()));
    }
    let target = if authority.contains(':') {
        authority.to_string()
    } else {
        format!("{authority}:80")
    };
    let fail = |message: String| TimestampError::Exchange {
        url: url.clone(),
        message,
    };
    let timeout = Duration::from_secs(config.timeout_secs.unwrap_or(30));
    let addr = target
        .to_socket_addrs()
        .map_err(|e| fail(format!("cannot resolve {target}: {e}")))?
        .next()
        .ok_or_else(|| fail(format!("{target} has no address")))?;
    let mut conn = TcpStream::connect_timeout(&addr, timeout)
        .map_err(|e| fail(format!("cannot connect: {e}")))?;
    conn.set_read_timeout(Some(timeout)).ok();
    conn.set_write_timeout(Some(timeout)).ok();
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: {authority}\r\nContent-Type: application/timestamp-query\r\n\
         Accept: application/timestamp-reply\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    conn.write_all(head.as_bytes())
        .and_then(|_| conn.write_all(body))
        .map_err(|e| fail(format!("sending the query: {e}")))?;
    let mut response = Vec::new();
    conn.take(16 << 20)
        .read_to_end(&mut response)
        .map_err(|e| fail(format!("reading the reply: {e}")))?;
    let split = response
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| fail("the reply is not HTTP".into()))?;
    let headers = String::from_utf8_lossy(&response[..split]).to_string();
    let status = headers.lines().next().unwrap_or_default();
    if status.split_whitespace().nth(1) != Some("200") {
        return Err(fail(format!("answered {status:?}")));
    }
    let lower = headers.to_ascii_lowercase();
    if lower.contains("transfer-encoding: chunked") {
        return Err(fail("chunked replies are not supported".into()));
    }
    let mut payload = response[split + 4..].to_vec();
    if let Some(len) = lower
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .and_then(|v| v.trim().parse::<usize>().ok())
    {
        if payload.len() < len {
            return Err(fail("the reply is shorter than its Content-Length".into()));
        }
        payload.truncate(len);
    }
    Ok(payload)
}
