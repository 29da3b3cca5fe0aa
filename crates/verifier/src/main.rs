//! `crm-verify`: an auditor's check of an export with nothing but the files and the public key.
//! Never connects anywhere. Prints `ok: ...` and exits 0, or names the first problem and exits 1
//! (2 when an input cannot be read). See `docs/verifying.md`.

use std::io::BufReader;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use verifier::{Expectations, VerifyError, check, parse_public_key, read_json};

#[derive(Parser)]
#[command(
    name = "crm-verify",
    version,
    about = "Checks an exported CRM log segment, a signed tree head and Merkle proofs offline"
)]
struct Cli {
    /// The log segment: JSON lines from `crm export` (`-` for standard input).
    #[arg(long, value_name = "FILE")]
    log: PathBuf,
    /// The signed tree head to check against (`crm export --tree-head`).
    #[arg(long, value_name = "FILE")]
    tree_head: PathBuf,
    /// The installation's Ed25519 public key, 64 hex digits (`checkpoint-signing.pub`).
    #[arg(long, value_name = "HEX")]
    public_key: String,
    /// An inclusion proof against the tree head (`crm export --inclusion P`).
    #[arg(long, value_name = "FILE")]
    inclusion: Option<PathBuf>,
    /// A consistency proof from `--old-head` to the tree head (`crm export --consistency S`).
    #[arg(long, value_name = "FILE", requires = "old_head")]
    consistency: Option<PathBuf>,
    /// The earlier signed tree head the consistency proof starts from.
    #[arg(long, value_name = "FILE", requires = "consistency")]
    old_head: Option<PathBuf>,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(&cli) {
        Ok(outcome) => {
            println!("{outcome}");
            ExitCode::SUCCESS
        }
        Err(error) => {
            match &error {
                VerifyError::Broken { .. } => println!("{error}"),
                VerifyError::Input(_) => eprintln!("error: {error}"),
            }
            ExitCode::from(error.exit_code())
        }
    }
}

fn run(cli: &Cli) -> Result<verifier::Outcome, VerifyError> {
    let expected = Expectations {
        public_key: parse_public_key(&cli.public_key)?,
        tree_head: read_json(&cli.tree_head, "the tree head")?,
        inclusion: cli
            .inclusion
            .as_deref()
            .map(|path| read_json(path, "the inclusion proof"))
            .transpose()?,
        consistency: match (&cli.consistency, &cli.old_head) {
            (Some(proof), Some(old)) => Some((
                read_json(proof, "the consistency proof")?,
                read_json(old, "the old tree head")?,
            )),
            _ => None,
        },
    };
    if cli.log.as_os_str() == "-" {
        return check(std::io::stdin().lock(), &expected);
    }
    let file = std::fs::File::open(&cli.log).map_err(|error| {
        VerifyError::Input(format!("reading the log {}: {error}", cli.log.display()))
    })?;
    check(BufReader::with_capacity(1 << 20, file), &expected)
}
