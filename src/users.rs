//! Users, roles and API tokens (用户、角色与令牌): who may use the server, in which one role,
//! with which tokens (`formats/users.md`).
//!
//! Owns the change documents under `users/` in the store and nothing else. Authoritative state
//! lives in the store (DESIGN.md "Where state lives"): every change takes the writer lock,
//! writes one document create-only, syncs, and appends one ledger entry, which is the commit
//! point; a document counts only when the entry at its `ledger_index` carries its `change` id
//! and its digest. A token is shown once when issued and kept only as its sha256.
//!
//! 三员分立: each user has exactly one [`Role`], and no role may do everything: the system
//! administrator sees no content and grants nothing, the security administrator manages users
//! but reads no records, the auditor reads the ledger but no content.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use object_store::path::Path;
use serde::{Deserialize, Serialize};

use crate::ledger::entry::{Entry, EntryError, Event};
use crate::ledger::log::LedgerError;
use crate::sign::ArchiveKey;
use crate::store::{self, Store, StoreError};

/// Version of the change documents this code writes.
pub const USERS_FORMAT_VERSION: u32 = 1;

/// The prefix of the change documents in the store.
pub const USERS_PREFIX: &str = "users";

/// Prefix of every token, so a leaked one is recognisable (secret scanners, logs).
pub const TOKEN_PREFIX: &str = "srt_";

/// Errors of the user registry. Bad input is told apart from a failing store.
#[derive(Debug, thiserror::Error)]
pub enum UsersError {
    /// A name, role or expiry that cannot be right.
    #[error("{0}")]
    Usage(String),
    /// No such (active) user or token.
    #[error("{0}")]
    NotFound(String),
    /// The change would repeat one already made.
    #[error("{0}")]
    Duplicate(String),
    /// The operating system gave no randomness for a token.
    #[error("no secure random source for the token")]
    Random,
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The ledger failed.
    #[error(transparent)]
    Ledger(#[from] LedgerError),
    /// A ledger entry could not be encoded.
    #[error(transparent)]
    Entry(#[from] EntryError),
}

/// A user's one role (角色). Written `agency:<Agency-Code>`, `archivist`, `court:<id>`,
/// `auditor`, `security-admin`, `system-admin`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Role {
    /// 立档单位: submits transfers, sees its own transfers and its own 公开 records.
    Agency(String),
    /// 档案管理员: searches, reads and verifies every record.
    Archivist,
    /// 法院: only the records a copy request names, after an archivist grants it.
    Court(String),
    /// 安全审计员: the ledger and logs, no content.
    Auditor,
    /// 安全保密管理员: users, roles and the seal registry; no content.
    SecurityAdmin,
    /// 系统管理员: configuration, health and metrics; no content, no grants.
    SystemAdmin,
}

impl Role {
    /// Parses the written form.
    pub fn parse(s: &str) -> Result<Role, UsersError> {
        let s = s.trim();
        let code_ok = |c: &str| {
            !c.is_empty()
                && c.len() <= 64
                && c.chars()
                    .all(|ch| ch.is_ascii_alphanumeric() || ch == '-' || ch == '_' || ch == '.')
        };
        match s {
            "archivist" => Ok(Role::Archivist),
            "auditor" => Ok(Role::Auditor),
            "security-admin" => Ok(Role::SecurityAdmin),
            "system-admin" => Ok(Role::SystemAdmin),
            _ => {
                if let Some(code) = s.strip_prefix("agency:") {
                    if code_ok(code) {
                        return Ok(Role::Agency(code.to_string()));
                    }
                } else if let Some(id) = s.strip_prefix("court:") {
                    if code_ok(id) {
                        return Ok(Role::Court(id.to_string()));
                    }
                }
                Err(UsersError::Usage(format!(
                    "role {s:?} is not one of agency:<Agency-Code>, archivist, court:<id>, auditor, security-admin, system-admin"
                )))
            }
        }
    }

    /// The written form.
    pub fn as_string(&self) -> String {
        match self {
            Role::Agency(c) => format!("agency:{c}"),
            Role::Archivist => "archivist".into(),
            Role::Court(c) => format!("court:{c}"),
            Role::Auditor => "auditor".into(),
            Role::SecurityAdmin => "security-admin".into(),
            Role::SystemAdmin => "system-admin".into(),
        }
    }
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.as_string())
    }
}

/// What a change does.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "action")]
pub enum Action {
    /// `user.added`.
    #[serde(rename = "user.added")]
    UserAdded {
        /// The role's written form.
        role: String,
    },
    /// `user.revoked`.
    #[serde(rename = "user.revoked")]
    UserRevoked,
    /// `token.issued`.
    #[serde(rename = "token.issued")]
    TokenIssued {
        /// The token's public id.
        token_id: String,
        /// `sha256:` of the whole token text.
        token_sha256: String,
        /// RFC 3339 expiry, when it has one.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        expires: Option<String>,
    },
    /// `token.revoked`.
    #[serde(rename = "token.revoked")]
    TokenRevoked {
        /// The token's public id.
        token_id: String,
    },
}

/// One change document (`users/<ledger index, 20 digits>-<change>.json`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Change {
    /// `strongroom.user-change`.
    #[serde(rename = "type")]
    pub doc_type: String,
    /// [`USERS_FORMAT_VERSION`].
    pub format_version: u32,
    /// Random id; the ledger entry carries the same.
    pub change: String,
    /// Index of the ledger entry that commits it.
    pub ledger_index: u64,
    /// The user concerned.
    pub user: String,
    /// What it does.
    #[serde(flatten)]
    pub action: Action,
    /// When (RFC 3339 UTC).
    pub at: String,
    /// Who made it.
    pub by: String,
}

/// A user as the registry knows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct User {
    /// Name.
    pub name: String,
    /// The one role.
    pub role: String,
    /// Added when, by whom.
    pub added_at: String,
    /// Added by.
    pub added_by: String,
    /// Revoked when, if it was.
    pub revoked_at: Option<String>,
    /// Its tokens.
    pub tokens: Vec<TokenInfo>,
}

/// A token as listed (never its secret).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TokenInfo {
    /// Public id.
    pub token_id: String,
    /// Issued when.
    pub issued_at: String,
    /// Expiry, if any.
    pub expires: Option<String>,
    /// Revoked when, if it was.
    pub revoked_at: Option<String>,
    #[serde(skip)]
    sha256: String,
}

/// Every committed user and token, replayed from the change documents in ledger order.
#[derive(Debug, Clone, Default)]
pub struct Users {
    users: BTreeMap<String, User>,
    /// Documents that count for nothing (a change that crashed before its entry, or a
    /// document changed afterwards), with why.
    pub ignored: Vec<(String, String)>,
}

/// Who a valid token belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// The user's name (the actor of its ledger entries).
    pub user: String,
    /// Its role.
    pub role: Role,
    /// The token used.
    pub token_id: String,
}

fn sha256_tag(bytes: &[u8]) -> String {
    format!("sha256:{}", crate::digest::sha256_hex(bytes))
}

/// A user name: 1-64 characters, letters (any script), digits, `.`, `-`, `_`, `@`.
pub fn check_name(name: &str) -> Result<(), UsersError> {
    let ok = !name.is_empty()
        && name.chars().count() <= 64
        && name
            .chars()
            .all(|c| c.is_alphanumeric() || matches!(c, '.' | '-' | '_' | '@'));
    if ok {
        Ok(())
    } else {
        Err(UsersError::Usage(format!(
            "user name {name:?}: use 1-64 letters, digits, '.', '-', '_' or '@'"
        )))
    }
}

impl Users {
    /// Reads every committed change under `users/` and replays them in ledger order.
    pub async fn load(store: &Store) -> Result<Users, UsersError> {
        let mut out = Users::default();
        let mut paths = store.list_paths(&Path::from(USERS_PREFIX)).await?;
        paths.sort();
        if paths.is_empty() {
            return Ok(out);
        }
        let size = store.ledger_size().await?;
        let ledger = crate::ledger::commit::open(store).await?;
        let mut changes = Vec::new();
        for path in paths {
            let p = path.to_string();
            let Some(bytes) = store.get_bytes(&path).await? else {
                continue;
            };
            let Ok(c) = serde_json::from_slice::<Change>(&bytes) else {
                out.ignored.push((p, "not a user change document".into()));
                continue;
            };
            if c.ledger_index >= size {
                out.ignored
                    .push((p, "its ledger entry was never written".into()));
                continue;
            }
            let entry = Entry::decode(&ledger.entry(c.ledger_index).await?).ok();
            let committed = entry.as_ref().is_some_and(|e| {
                e.field_str("change") == Some(c.change.as_str())
                    && e.field_str("document_sha256") == Some(sha256_tag(&bytes).as_str())
                    && e.field_str("user") == Some(c.user.as_str())
            });
            if !committed {
                out.ignored.push((
                    p,
                    "the ledger entry at its index does not record this document".into(),
                ));
                continue;
            }
            changes.push(c);
        }
        changes.sort_by_key(|c| c.ledger_index);
        for c in changes {
            out.apply(c);
        }
        Ok(out)
    }

    fn apply(&mut self, c: Change) {
        match c.action {
            Action::UserAdded { role } => {
                self.users.entry(c.user.clone()).or_insert(User {
                    name: c.user,
                    role,
                    added_at: c.at,
                    added_by: c.by,
                    revoked_at: None,
                    tokens: Vec::new(),
                });
            }
            Action::UserRevoked => {
                if let Some(u) = self.users.get_mut(&c.user) {
                    u.revoked_at.get_or_insert(c.at);
                }
            }
            Action::TokenIssued {
                token_id,
                token_sha256,
                expires,
            } => {
                if let Some(u) = self.users.get_mut(&c.user) {
                    u.tokens.push(TokenInfo {
                        token_id,
                        issued_at: c.at,
                        expires,
                        revoked_at: None,
                        sha256: token_sha256,
                    });
                }
            }
            Action::TokenRevoked { token_id } => {
                if let Some(t) = self
                    .users
                    .get_mut(&c.user)
                    .and_then(|u| u.tokens.iter_mut().find(|t| t.token_id == token_id))
                {
                    t.revoked_at.get_or_insert(c.at);
                }
            }
        }
    }

    /// Every user, by name.
    pub fn list(&self) -> Vec<&User> {
        self.users.values().collect()
    }

    /// One user.
    pub fn get(&self, name: &str) -> Option<&User> {
        self.users.get(name)
    }

    /// Who `token` belongs to, if it is valid at `now`: well formed, issued, not expired,
    /// not revoked, its user not revoked.
    pub fn authenticate(&self, token: &str, now: DateTime<Utc>) -> Option<Principal> {
        let token_id = token_id_of(token)?;
        let digest = sha256_tag(token.as_bytes());
        for u in self.users.values() {
            if u.revoked_at.is_some() {
                continue;
            }
            for t in &u.tokens {
                // Digests, not secrets, are compared: timing reveals nothing about the token.
                if t.token_id != token_id || t.sha256 != digest || t.revoked_at.is_some() {
                    continue;
                }
                if let Some(exp) = t.expires.as_deref() {
                    match DateTime::parse_from_rfc3339(exp) {
                        Ok(e) if e.with_timezone(&Utc) > now => {}
                        _ => return None,
                    }
                }
                let role = Role::parse(&u.role).ok()?;
                return Some(Principal {
                    user: u.name.clone(),
                    role,
                    token_id: t.token_id.clone(),
                });
            }
        }
        None
    }
}

/// The public id of a token text (`srt_<id>_<secret>`), if it has the shape of one.
pub fn token_id_of(token: &str) -> Option<&str> {
    let rest = token.strip_prefix(TOKEN_PREFIX)?;
    let (id, secret) = rest.split_once('_')?;
    let hex = |s: &str, n: usize| s.len() == n && s.bytes().all(|b| b.is_ascii_hexdigit());
    (hex(id, 16) && hex(secret, 64)).then_some(id)
}

/// What a change did.
#[derive(Debug, Clone, Serialize)]
pub struct Applied {
    /// The ledger entry's type.
    pub event: String,
    /// Its index.
    pub ledger_index: u64,
    /// The change id.
    pub change: String,
    /// The document written.
    pub document: String,
}

/// Every change: load the committed users, check and build the change document, and commit it
/// with its entry through the one document-change frame (`ledger::commit::commit_documents`).
async fn change<F>(
    store: &Store,
    key: &ArchiveKey,
    actor: &str,
    user: &str,
    build: F,
) -> Result<Applied, UsersError>
where
    F: FnOnce(&Users) -> Result<Action, UsersError>,
{
    let done = crate::ledger::commit::commit_documents(
        store,
        key,
        actor,
        "user",
        |s| Box::pin(Users::load(s)),
        |users: &Users, index, change_id| {
            let action = build(users)?;
            let doc = Change {
                doc_type: "strongroom.user-change".into(),
                format_version: USERS_FORMAT_VERSION,
                change: change_id.to_string(),
                ledger_index: index,
                user: user.to_string(),
                action: action.clone(),
                at: store::now_rfc3339(),
                by: actor.to_string(),
            };
            let bytes = store::pretty(&doc);
            let path = store::path_of([USERS_PREFIX, &format!("{index:020}-{change_id}.json")]);
            let (change, document_sha256) = (change_id.to_string(), sha256_tag(&bytes));
            let user = user.to_string();
            let event = match action {
                Action::UserAdded { role } => Event::UserAdded {
                    user,
                    role,
                    change,
                    document_sha256,
                },
                Action::UserRevoked => Event::UserRevoked {
                    user,
                    change,
                    document_sha256,
                },
                Action::TokenIssued {
                    token_id, expires, ..
                } => Event::TokenIssued {
                    user,
                    token_id,
                    expires,
                    change,
                    document_sha256,
                },
                Action::TokenRevoked { token_id } => Event::TokenRevoked {
                    user,
                    token_id,
                    change,
                    document_sha256,
                },
            };
            Ok(crate::ledger::commit::DocumentPlan {
                docs: vec![(path, bytes)],
                blobs: Vec::new(),
                event,
            })
        },
    )
    .await?;
    Ok(Applied {
        event: done.event,
        ledger_index: done.ledger_index,
        change: done.change,
        document: done.documents.into_iter().next().unwrap_or_default(),
    })
}

/// Adds a user with one role (`user add`).
pub async fn add_user(
    store: &Store,
    key: &ArchiveKey,
    actor: &str,
    name: &str,
    role: &Role,
) -> Result<Applied, UsersError> {
    check_name(name)?;
    let role_s = role.as_string();
    change(store, key, actor, name, |users| {
        if users.get(name).is_some() {
            return Err(UsersError::Duplicate(format!(
                "user {name:?} already exists (a name is never reused, even after revocation)"
            )));
        }
        Ok(Action::UserAdded { role: role_s })
    })
    .await
}

/// Revokes a user (`user revoke`): it and all its tokens stop working at once.
pub async fn revoke_user(
    store: &Store,
    key: &ArchiveKey,
    actor: &str,
    name: &str,
) -> Result<Applied, UsersError> {
    change(store, key, actor, name, |users| match users.get(name) {
        None => Err(UsersError::NotFound(format!("no user {name:?}"))),
        Some(u) if u.revoked_at.is_some() => Err(UsersError::Duplicate(format!(
            "user {name:?} is already revoked"
        ))),
        Some(_) => Ok(Action::UserRevoked),
    })
    .await
}

/// A newly issued token: `token` is shown once and never stored.
#[derive(Debug, Clone, Serialize)]
pub struct Issued {
    /// The user.
    pub user: String,
    /// The whole token, to hand to the user.
    pub token: String,
    /// Its public id.
    pub token_id: String,
    /// Expiry, if any.
    pub expires: Option<String>,
    /// The change.
    pub applied: Applied,
}

/// Issues a token for an active user (`token issue`), valid until `expires` when given.
pub async fn issue_token(
    store: &Store,
    key: &ArchiveKey,
    actor: &str,
    name: &str,
    expires: Option<DateTime<Utc>>,
) -> Result<Issued, UsersError> {
    use ring::rand::SecureRandom;
    if let Some(e) = expires {
        if e <= Utc::now() {
            return Err(UsersError::Usage(format!(
                "expiry {} is in the past",
                e.to_rfc3339()
            )));
        }
    }
    let rng = ring::rand::SystemRandom::new();
    let mut id = [0u8; 8];
    let mut secret = [0u8; 32];
    rng.fill(&mut id).map_err(|_| UsersError::Random)?;
    rng.fill(&mut secret).map_err(|_| UsersError::Random)?;
    let token_id = hex::encode(id);
    let token = format!("{TOKEN_PREFIX}{token_id}_{}", hex::encode(secret));
    let expires_s = expires.map(|e| e.to_rfc3339_opts(chrono::SecondsFormat::Secs, true));
    let action = Action::TokenIssued {
        token_id: token_id.clone(),
        token_sha256: sha256_tag(token.as_bytes()),
        expires: expires_s.clone(),
    };
    let applied = change(store, key, actor, name, |users| match users.get(name) {
        None => Err(UsersError::NotFound(format!("no user {name:?}"))),
        Some(u) if u.revoked_at.is_some() => Err(UsersError::Usage(format!(
            "user {name:?} is revoked; add a new user instead"
        ))),
        Some(_) => Ok(action),
    })
    .await?;
    Ok(Issued {
        user: name.to_string(),
        token,
        token_id,
        expires: expires_s,
        applied,
    })
}

/// Revokes one token (`token revoke`).
pub async fn revoke_token(
    store: &Store,
    key: &ArchiveKey,
    actor: &str,
    token_id: &str,
) -> Result<Applied, UsersError> {
    let users = Users::load(store).await?;
    let owner = users
        .list()
        .into_iter()
        .find(|u| u.tokens.iter().any(|t| t.token_id == token_id))
        .map(|u| u.name.clone())
        .ok_or_else(|| UsersError::NotFound(format!("no token with id {token_id:?}")))?;
    change(store, key, actor, &owner, |users| {
        let t = users
            .get(&owner)
            .and_then(|u| u.tokens.iter().find(|t| t.token_id == token_id));
        match t {
            None => Err(UsersError::NotFound(format!(
                "no token with id {token_id:?}"
            ))),
            Some(t) if t.revoked_at.is_some() => Err(UsersError::Duplicate(format!(
                "token {token_id} is already revoked"
            ))),
            Some(_) => Ok(Action::TokenRevoked {
                token_id: token_id.to_string(),
            }),
        }
    })
    .await
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn roles_round_trip_and_bad_ones_are_named() {
        for r in [
            "agency:0194",
            "archivist",
            "court:BJ-001",
            "auditor",
            "security-admin",
            "system-admin",
        ] {
            assert_eq!(Role::parse(r).unwrap().as_string(), r);
        }
        for bad in ["admin", "agency:", "court:a b", "root", ""] {
            let e = Role::parse(bad).unwrap_err().to_string();
            assert!(e.contains("is not one of"), "{e}");
        }
    }

    #[test]
    fn token_shape() {
        let t = format!("{TOKEN_PREFIX}{}_{}", "a".repeat(16), "b".repeat(64));
        assert_eq!(token_id_of(&t), Some("aaaaaaaaaaaaaaaa"));
        assert_eq!(token_id_of("srt_zz_yy"), None);
        assert_eq!(token_id_of("Bearer x"), None);
    }
}
