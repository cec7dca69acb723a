//! `strongroom serve`, `strongroom user …` and `strongroom token …`: thin glue over
//! [`strongroom::server`] and [`strongroom::users`]. Results go to stdout (JSON with
//! `--json`), diagnostics to stderr.

use std::path::Path;

use anyhow::{bail, Context, Result};
use clap::Subcommand;

use strongroom::home::Home;
use strongroom::server::{self, AppState, ServerLimits};
use strongroom::users::{self, Role, Users};

use crate::print_json;

/// `strongroom user …`.
#[derive(Subcommand)]
pub enum UserCommand {
    /// Add a user with one role: agency:<Agency-Code>, archivist, court:<id>, auditor,
    /// security-admin, system-admin (三员分立: one role per user).
    Add {
        /// The user's name.
        name: String,
        /// The role.
        #[arg(long)]
        role: String,
    },
    /// List users and their tokens (never a token's secret).
    List,
    /// Revoke a user: it and all its tokens stop working at once.
    Revoke {
        /// The user's name.
        name: String,
    },
}

/// `strongroom token …`.
#[derive(Subcommand)]
pub enum TokenCommand {
    /// Issue an API token for a user; it is shown once and stored only as a hash.
    Issue {
        /// The user's name.
        user: String,
        /// Expiry: YYYY-MM-DD or RFC 3339 (default: until revoked).
        #[arg(long)]
        expires: Option<String>,
    },
    /// Revoke a token by its id (`user list` shows ids).
    Revoke {
        /// The token's id.
        id: String,
    },
}

/// Options of `strongroom serve`.
#[derive(clap::Args)]
pub struct ServeArgs {
    /// Address to listen on (port 0 picks a free one; the chosen address is printed).
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub listen: String,
    /// Largest transfer package accepted by upload, in bytes.
    #[arg(long)]
    pub max_upload_bytes: Option<u64>,
    /// Seconds a request (other than an upload) may take.
    #[arg(long, default_value_t = 60)]
    pub request_timeout: u64,
    /// Search results kept for reuse until the index next changes, and with them their
    /// partial results per index segment, reused after a change for the segments it did not
    /// touch (0: every search runs on the whole index).
    #[arg(long, default_value_t = 1024)]
    pub search_cache: usize,
    /// Start on the embedded default with the sample transfer loaded, and print a demo
    /// archivist token.
    #[arg(long)]
    pub demo: bool,
}

/// `strongroom user …`.
pub async fn user(home_dir: &Path, json: bool, actor: &str, cmd: &UserCommand) -> Result<u8> {
    let home = Home::open(home_dir)?;
    let store = home.store().await?;
    match cmd {
        UserCommand::Add { name, role } => {
            let role = Role::parse(role)?;
            let a = users::add_user(&store, &home.key()?, actor, name, &role).await?;
            if json {
                print_json(&a)?;
            } else {
                println!(
                    "added user {name} ({role}); ledger entry {}",
                    a.ledger_index
                );
                println!("issue a token with: strongroom token issue {name}");
            }
        }
        UserCommand::List => {
            let u = Users::load(&store).await?;
            if json {
                print_json(&serde_json::json!({"users": u.list(), "ignored": u.ignored}))?;
            } else {
                for user in u.list() {
                    let state = match &user.revoked_at {
                        Some(t) => format!("revoked {t}"),
                        None => "active".into(),
                    };
                    println!("{}\t{}\t{state}", user.name, user.role);
                    for t in &user.tokens {
                        let s = match (&t.revoked_at, &t.expires) {
                            (Some(r), _) => format!("revoked {r}"),
                            (None, Some(e)) => format!("expires {e}"),
                            (None, None) => "no expiry".into(),
                        };
                        println!("\ttoken {}\tissued {}\t{s}", t.token_id, t.issued_at);
                    }
                }
                for (p, why) in &u.ignored {
                    eprintln!("ignored {p}: {why}");
                }
            }
        }
        UserCommand::Revoke { name } => {
            let a = users::revoke_user(&store, &home.key()?, actor, name).await?;
            if json {
                print_json(&a)?;
            } else {
                println!("revoked user {name}; ledger entry {}", a.ledger_index);
            }
        }
    }
    Ok(0)
}

/// `strongroom token …`.
pub async fn token(home_dir: &Path, json: bool, actor: &str, cmd: &TokenCommand) -> Result<u8> {
    let home = Home::open(home_dir)?;
    let store = home.store().await?;
    match cmd {
        TokenCommand::Issue { user, expires } => {
            let expires = match expires {
                Some(e) => Some(
                    strongroom::seals::registry::parse_time(e)
                        .with_context(|| format!("--expires {e:?}: use YYYY-MM-DD or RFC 3339"))?,
                ),
                None => None,
            };
            let i = users::issue_token(&store, &home.key()?, actor, user, expires).await?;
            if json {
                print_json(&i)?;
            } else {
                println!("{}", i.token);
                eprintln!(
                    "token {} for {user} (shown once; only its hash is kept){}",
                    i.token_id,
                    i.expires
                        .as_deref()
                        .map(|e| format!(", expires {e}"))
                        .unwrap_or_default()
                );
            }
        }
        TokenCommand::Revoke { id } => {
            let a = users::revoke_token(&store, &home.key()?, actor, id).await?;
            if json {
                print_json(&a)?;
            } else {
                println!("revoked token {id}; ledger entry {}", a.ledger_index);
            }
        }
    }
    Ok(0)
}

/// `strongroom serve`.
pub async fn serve(home_dir: &Path, actor: &str, args: &ServeArgs) -> Result<u8> {
    init_logs();
    let mut demo_token = None;
    if args.demo {
        demo_token = Some(demo(home_dir, actor).await?);
    }
    let home = Home::open(home_dir)?;
    let mut limits = ServerLimits {
        request_timeout: std::time::Duration::from_secs(args.request_timeout.max(1)),
        search_cache_entries: args.search_cache,
        ..ServerLimits::default()
    };
    if let Some(m) = args.max_upload_bytes {
        limits.max_upload_bytes = m;
    }
    let state = AppState::open(home, limits).await?;
    server::serve(state, &args.listen, |addr| {
        // The one line on stdout: scripts and tests read the address from it.
        println!("listening on http://{addr}/");
        if let Some(t) = &demo_token {
            println!("demo archivist token: {t}");
            println!("open http://{addr}/signin and paste the token, or: curl -H 'Authorization: Bearer {t}' http://{addr}/api/records");
        }
        use std::io::Write;
        let _ = std::io::stdout().flush();
    })
    .await?;
    eprintln!("stopped");
    Ok(0)
}

/// The embedded default for a newcomer: init if needed, the sample transfer if the archive is
/// empty, a `demo-archivist` user, and a fresh token for it (valid 30 days).
async fn demo(home_dir: &Path, actor: &str) -> Result<String> {
    if !home_dir.join("config.toml").exists() {
        Home::init(home_dir, None, "strongroom.archive").await?;
        eprintln!("initialised archive in {}", home_dir.display());
    }
    let home = Home::open(home_dir)?;
    let store = home.store().await?;
    let key = home.key()?;
    if strongroom::access::list(&store).await?.is_empty() {
        let sample = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/sample-transfer");
        if !sample.exists() {
            bail!("the sample transfer is not at {}", sample.display());
        }
        let opts = strongroom::intake::IntakeOptions {
            limits: home.limits(),
            virus_scan: home.config.virus_scan.clone(),
            staging_dir: home.staging_dir(),
            actor: actor.to_string(),
            threads: 0,
            seal_policy: home.config.seals.clone(),
            retention_policy: Some(strongroom::retention::policy_in_force(&home)?),
        };
        match strongroom::intake::transfer(&store, &key, &sample, &opts, &|_| {}).await? {
            strongroom::intake::Outcome::Rejected { report, .. } => {
                bail!("the sample transfer was refused:\n{}", report.to_text())
            }
            _ => eprintln!("loaded the sample transfer"),
        }
    }
    let name = "demo-archivist";
    if Users::load(&store).await?.get(name).is_none() {
        users::add_user(&store, &key, actor, name, &Role::Archivist).await?;
    }
    let expires = chrono::Utc::now() + chrono::Duration::days(30);
    Ok(users::issue_token(&store, &key, actor, name, Some(expires))
        .await?
        .token)
}

fn init_logs() {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_env("STRONGROOM_LOG")
        .unwrap_or_else(|_| EnvFilter::new("info,tower_http=info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}
