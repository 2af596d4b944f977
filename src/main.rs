//! The `hush` command line: `run` (the default), `check-config` and `check DOMAIN`.
//! Exit codes: 0 success, 1 runtime failure (e.g. a port that cannot be bound), 2 bad config
//! or usage.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use argon2::Argon2;
use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHasher, SaltString};
use clap::{Parser, Subcommand};
use tracing_subscriber::EnvFilter;

use std::sync::Arc;

use hush::app::Hush;
use hush::config::{Config, ConfigError, DatabaseLocation, QueryLogConfig};
use hush::control::custom_rule_set;
use hush::dns::policy::Policy;
use hush::lists::source::{ListSpec, compile};
use hush::querylog::EventTarget;
use hush::rules::{Polarity, QueryName, RuleSet};
use hush::store::Store;

#[derive(Parser)]
#[command(name = "hush", version, about = "A self-hosted DNS sinkhole")]
struct Cli {
    /// Config file (default: config/hush.toml when it exists, else built-in defaults).
    #[arg(long, global = true, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Log level when RUST_LOG is not set: error, warn, info, debug or trace
    /// (default: info for `run`, warn for the checks).
    #[arg(long, global = true, value_name = "LEVEL")]
    log_level: Option<String>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Run the DNS server (the default).
    Run,
    /// Validate the config and the lists it names, then print a summary.
    CheckConfig,
    /// Say whether DOMAIN would be blocked, and by which rule of which list.
    Check {
        /// The name to check, e.g. tracking.example.com.
        domain: String,
        /// Answer for this client address: its [[clients]] entry and the groups active now.
        #[arg(long, value_name = "IP")]
        client: Option<std::net::IpAddr>,
    },
    /// Read a password (typed at the terminal, or the first line of standard input) and print
    /// its argon2id hash for `api.password`.
    HashPassword,
}

/// A config problem: reported with exit code 2.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
struct UsageError(String);

fn main() -> ExitCode {
    let cli = Cli::parse();
    let command = cli.command.unwrap_or(Command::Run);
    let default_level = match command {
        Command::Run => "info",
        Command::CheckConfig | Command::Check { .. } | Command::HashPassword => "warn",
    };
    init_tracing(cli.log_level.as_deref().unwrap_or(default_level));
    let result = match command {
        Command::Run => run(cli.config.as_deref()),
        Command::CheckConfig => check_config(cli.config.as_deref()),
        Command::Check { domain, client } => check(cli.config.as_deref(), &domain, client),
        Command::HashPassword => hash_password(),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) if err.is::<UsageError>() || err.is::<ConfigError>() => {
            eprintln!("hush: {err}");
            ExitCode::from(2)
        }
        Err(err) => {
            eprintln!("hush: {err:#}");
            ExitCode::FAILURE
        }
    }
}

fn init_tracing(level: &str) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| {
        // hickory logs two info lines per query; keep its warnings only.
        EnvFilter::new(format!(
            "{level},hickory_server=warn,hickory_proto=warn,hickory_net=warn,hickory_resolver=warn"
        ))
    });
    // Colour codes help a person at a terminal and litter a log file or journal.
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .init();
}

fn load_config(path: Option<&Path>) -> Result<(Config, Option<PathBuf>), ConfigError> {
    match path {
        Some(path) => Ok((Config::load(path)?, Some(path.to_path_buf()))),
        None => Config::load_default(),
    }
}

fn run(path: Option<&Path>) -> anyhow::Result<()> {
    let (config, path) = load_config(path)?;
    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    runtime.block_on(async {
        let hush = Hush::start(config, path, EventTarget::QueryLog).await?;
        hush.run_until_signalled()
            .await
            .context("waiting for signals")?;
        Ok(())
    })
}

fn check_config(path: Option<&Path>) -> anyhow::Result<()> {
    let (config, path) = load_config(path)?;
    let name = path.map_or_else(
        || "built-in defaults".to_owned(),
        |p| p.display().to_string(),
    );
    let compiled = compile(&ListSpec::from_config(&config));
    if let Some(error) = compiled.first_error() {
        return Err(UsageError(format!("{name}: blocking.lists: {error}")).into());
    }
    println!("{name}: valid");
    let join = |items: Vec<String>| items.join(", ");
    println!(
        "listen:    {} (UDP and TCP)",
        join(config.dns.listen.iter().map(ToString::to_string).collect())
    );
    println!(
        "upstreams: {}",
        join(
            config
                .dns
                .upstreams
                .iter()
                .map(ToString::to_string)
                .collect()
        )
    );
    println!(
        "blocking:  {}, answer {}, ttl {}",
        if config.blocking.enabled { "on" } else { "off" },
        config.blocking.answer,
        config.blocking.ttl
    );
    println!("lists:");
    for report in &compiled.reports {
        let kind = match report.source.polarity {
            Polarity::Block => "block",
            Polarity::Allow => "allow",
        };
        let stats = report.stats;
        let note = report
            .error
            .as_deref()
            .map(|error| format!(" ({error})"))
            .unwrap_or_default();
        println!(
            "  {kind} {}: {} entries, {} skipped, {} unsupported, {} invalid{note}",
            report.source.location, stats.entries, stats.skipped, stats.unsupported, stats.invalid
        );
    }
    println!("rules:     {} distinct", compiled.rules.len());
    let querylog = &config.querylog;
    println!(
        "store:     {} (rows written as instance {:?})",
        querylog.database,
        querylog.instance_name()
    );
    if matches!(querylog.database, DatabaseLocation::Postgres(_)) && querylog.instance.is_none() {
        println!(
            "note:      querylog.instance is not set, so this host's name is used; two instances \
             on one host sharing the database must each set their own"
        );
    }
    Ok(())
}

fn check(
    path: Option<&Path>,
    domain: &str,
    client: Option<std::net::IpAddr>,
) -> anyhow::Result<()> {
    let (config, _) = load_config(path)?;
    let name = QueryName::from_text(domain)
        .ok_or_else(|| UsageError(format!("{domain:?} is not a domain name")))?;
    let compiled = compile(&ListSpec::from_config(&config));
    if let Some(error) = compiled.first_error() {
        eprintln!("hush: warning: {error}");
    }
    let custom = custom_rules(&config.querylog)?;
    let policy = Policy::new(Arc::new(compiled.rules), Arc::new(custom), &config);
    let explanation = policy.explain(&name, client);
    let shown = match (client, &explanation.client) {
        (Some(address), Some(entry)) => format!(
            "{} for {entry} ({address}, groups {})",
            explanation.domain,
            explanation.groups.join(", ")
        ),
        (Some(address), None) => format!(
            "{} for {address} (groups {})",
            explanation.domain,
            explanation.groups.join(", ")
        ),
        (None, _) => explanation.domain.clone(),
    };
    let line = match (&explanation.blocked_by, &explanation.allowed_by) {
        (Some(by), _) => format!(
            "{shown}: blocked by \"{}\" in list \"{}\" ({}){}",
            by.rule,
            by.list,
            by.location,
            by.group
                .as_ref()
                .map(|group| format!(" of group {group}"))
                .unwrap_or_default()
        ),
        (None, Some(by)) => format!(
            "{shown}: allowed by \"{}\" in list \"{}\" ({})",
            by.rule, by.list, by.location
        ),
        (None, None) => format!("{shown}: not blocked (no rule matches)"),
    };
    println!("{line}");
    if !config.blocking.enabled {
        println!("note: blocking is disabled in the config, so every name is forwarded");
    }
    Ok(())
}

fn hash_password() -> anyhow::Result<()> {
    let password = if std::io::stdin().is_terminal() {
        let first = rpassword::prompt_password("Password: ").context("reading the password")?;
        let again = rpassword::prompt_password("Again: ").context("reading the password")?;
        if first != again {
            return Err(UsageError("the two passwords differ".to_owned()).into());
        }
        first
    } else {
        let mut line = String::new();
        std::io::stdin()
            .read_line(&mut line)
            .context("reading the password from standard input")?;
        line.trim_end_matches(['\r', '\n']).to_owned()
    };
    if password.is_empty() {
        return Err(UsageError("the password is empty".to_owned()).into());
    }
    let salt = SaltString::generate(&mut OsRng);
    let hash = Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map_err(|err| anyhow::anyhow!("hashing the password: {err}"))?;
    println!("{hash}");
    Ok(())
}

/// The custom rules kept in the store: a SQLite file if it exists (a check never creates
/// one), a shared database when it is reachable (else the rules last read from it).
fn custom_rules(config: &QueryLogConfig) -> anyhow::Result<RuleSet> {
    if config.database.file().is_some_and(|file| !file.exists()) {
        return Ok(RuleSet::empty());
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(async {
        let store = Store::for_config(config).await?;
        let rules = custom_rule_set(&store).await;
        store.close().await;
        Ok(rules?)
    })
}
