//! `crm verify` and `crm export`: the operator's check of the whole log, and what an auditor
//! takes away to check it without us (`crm-verify` reads these files; `docs/verifying.md`
//! documents them).

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::Context;
use crm::Settings;
use eventstore::{VerifyOptions, tree};

#[derive(Debug, clap::Args)]
pub struct VerifyArgs {
    /// Start from the latest signed tree head whose signature verifies, instead of position 1.
    #[arg(long, visible_alias = "from-checkpoint")]
    from_tree_head: bool,
    /// The public key (64 hex digits) every tree head must be signed with. Default: the data
    /// folder's `checkpoint-signing.pub` when there is one, else the keys registered in the store.
    #[arg(long, value_name = "HEX")]
    public_key: Option<String>,
}

#[derive(Debug, clap::Args)]
#[command(group = clap::ArgGroup::new("what").multiple(false))]
pub struct ExportArgs {
    /// Events after this position (0: from the first).
    #[arg(long, default_value_t = 0, value_name = "POSITION")]
    after: u64,
    /// At most this many events (default: all).
    #[arg(long, value_name = "N")]
    limit: Option<u64>,
    /// Write here instead of to standard output.
    #[arg(long, value_name = "FILE")]
    out: Option<PathBuf>,
    /// Export the latest signed tree head (or the one of `--tree-size`) as JSON instead.
    #[arg(long, group = "what")]
    tree_head: bool,
    /// Export the inclusion proof of the event at this position as JSON instead.
    #[arg(long, group = "what", value_name = "POSITION")]
    inclusion: Option<u64>,
    /// Export the consistency proof from the tree of this many events as JSON instead.
    #[arg(long, group = "what", value_name = "SIZE")]
    consistency: Option<u64>,
    /// The tree size for `--tree-head`, `--inclusion` and `--consistency` (default: the latest
    /// signed tree head's).
    #[arg(long, value_name = "SIZE")]
    tree_size: Option<u64>,
}

/// Recomputes the chain and the tree, checks every tree head; prints `ok: ...` or the first
/// problem (and fails with status 1).
pub async fn verify(settings: &Settings, args: VerifyArgs) -> anyhow::Result<ExitCode> {
    let trusted_key = match &args.public_key {
        Some(hex) => Some(crm::parse_key(hex).context("--public-key")?),
        None => crm::installation_key(&settings.data.dir)?,
    };
    let options = VerifyOptions {
        from_tree_head: args.from_tree_head,
        trusted_key,
    };
    let started = Instant::now();
    let report = eventstore::verify_database(&settings.database, &options).await?;
    let elapsed = started.elapsed();
    println!("{report}");
    eprintln!(
        "checked {} events in {:.1} s ({:.0} events/s), tree heads {}",
        report.chain.checked,
        elapsed.as_secs_f64(),
        report.chain.checked as f64 / elapsed.as_secs_f64().max(1e-9),
        match trusted_key {
            Some(key) => format!(
                "against the key {}",
                eventstore::checkpoint::key_id_of(&key)
            ),
            None => "against the keys registered in the store (no public key given)".to_owned(),
        }
    );
    Ok(if report.is_ok() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// Writes the events as JSON lines, or a tree head or a proof as JSON.
pub async fn export(settings: &Settings, args: ExportArgs) -> anyhow::Result<ExitCode> {
    let pool = eventstore::connect(&settings.database).await?;
    let mut out: Box<dyn Write> = match &args.out {
        Some(path) => Box::new(std::io::BufWriter::new(
            std::fs::File::create(path).with_context(|| format!("creating {}", path.display()))?,
        )),
        None => Box::new(std::io::BufWriter::new(std::io::stdout().lock())),
    };
    let size = || async {
        match args.tree_size {
            Some(size) => anyhow::Ok(size),
            None => tree::latest_tree_head(&pool)
                .await?
                .map(|head| head.position)
                .ok_or_else(|| anyhow::anyhow!("no signed tree head yet: the relay signs them")),
        }
    };
    let what = if args.tree_head {
        let head = match args.tree_size {
            Some(size) => tree::tree_head_at(&pool, size)
                .await?
                .ok_or_else(|| anyhow::anyhow!("no tree head of size {size} was signed"))?,
            None => tree::latest_tree_head(&pool)
                .await?
                .ok_or_else(|| anyhow::anyhow!("no signed tree head yet: the relay signs them"))?,
        };
        write_json(&mut out, &head)?;
        format!("the tree head of size {}", head.position)
    } else if let Some(position) = args.inclusion {
        let size = size().await?;
        let proof = tree::inclusion_proof(&pool, position, size).await?;
        write_json(&mut out, &proof)?;
        format!("the inclusion proof of position {position} in the tree of size {size}")
    } else if let Some(from) = args.consistency {
        let size = size().await?;
        let proof = tree::consistency_proof(&pool, from, size).await?;
        write_json(&mut out, &proof)?;
        format!("the consistency proof from size {from} to {size}")
    } else {
        let reader = eventstore::Reader::new(pool.clone());
        let written =
            eventstore::export::write_events(&reader, args.after, args.limit, &mut out).await?;
        match written {
            0 => "no events".to_owned(),
            n => format!(
                "{n} events (positions {} to {})",
                args.after + 1,
                args.after + n
            ),
        }
    };
    out.flush().context("writing the export")?;
    drop(out);
    match &args.out {
        Some(path) => eprintln!("exported {what} to {}", path.display()),
        None => eprintln!("exported {what}"),
    }
    Ok(ExitCode::SUCCESS)
}

fn write_json(out: &mut dyn Write, value: &impl serde::Serialize) -> anyhow::Result<()> {
    serde_json::to_writer_pretty(&mut *out, value).context("writing the export")?;
    writeln!(out).context("writing the export")?;
    Ok(())
}
