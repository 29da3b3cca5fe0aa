//! The one typed settings tree, read once in `main`: defaults, then an optional TOML file, then
//! `CRM_*` environment variables. Nothing below `main` reads the environment; every role gets
//! its part of this tree passed in.
//!
//! An environment variable names a section and a key, split at the first underscore after `CRM_`:
//! `CRM_DATABASE_URL` is `[database] url`, `CRM_NATS_SUBJECT_PREFIX` is `[nats] subject_prefix`.
//! Errors name settings the same way (`database_url`).

use std::path::{Path, PathBuf};

use eventlog::{NatsSettings, RelaySettings};
use eventstore::StoreSettings;
use figment::Figment;
use figment::providers::{Format, Serialized, Toml};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Settings {
    pub database: StoreSettings,
    pub nats: NatsSettings,
    pub relay: RelaySettings,
    pub api: api::ApiSettings,
    pub data: DataSettings,
    pub admin: AdminSettings,
    pub demo: DemoSettings,
    /// Who may see and change what: overrides of the default rules, and territories
    /// (`[access.roles.sales] deals = "own"`, `[access.territories] emea = ["berlin"]`).
    pub access: policy::PolicySettings,
    /// How customers are scored: RFM thresholds and class cut-offs, engagement weights and
    /// half-life, touch cost, churn risk weights (`[scoring.engagement] meeting = 10`). Scores
    /// are computed when read, so a change needs no rebuild, except the engagement half-life
    /// (`crm rebuild scoring`).
    pub scoring: scoring::ScoringConfig,
    /// Receivers of the log's domain events over HTTP, each a `[[webhooks]]` table in the
    /// settings file (`name`, `url`, `aggregates`, `from`).
    pub webhooks: Vec<webhooks::WebhookSettings>,
}

/// `crm up` on a store without customer records seeds demo data through the API (see
/// `demo.rs`); `CRM_DEMO_SEED=false` starts it empty. Only `up` looks at this.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DemoSettings {
    pub seed: bool,
}

impl Default for DemoSettings {
    fn default() -> Self {
        DemoSettings { seed: true }
    }
}

/// The first admin. `CRM_ADMIN_TOKEN` makes that token the admin's; without it, the first start
/// prints a new one.
#[derive(Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AdminSettings {
    pub token: Option<String>,
}

impl std::fmt::Debug for AdminSettings {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("AdminSettings")
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DataSettings {
    /// Where the checkpoint signing key lives (created on first start).
    pub dir: PathBuf,
}

impl Default for DataSettings {
    fn default() -> Self {
        DataSettings {
            dir: PathBuf::from("data/crm"),
        }
    }
}

const SECTIONS: [&str; 7] = ["database", "nats", "relay", "api", "data", "admin", "demo"];

impl Settings {
    /// Defaults, then `file` if given, then the `CRM_*` variables in `environment`.
    pub fn load(
        file: Option<&Path>,
        environment: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Settings, String> {
        let mut figment = Figment::from(Serialized::defaults(Settings::default()));
        if let Some(file) = file {
            if !file.exists() {
                return Err(format!(
                    "the settings file {} does not exist",
                    file.display()
                ));
            }
            figment = figment.merge(Toml::file_exact(file));
        }
        let variables: Vec<(String, String)> = environment
            .into_iter()
            .filter_map(|(name, value)| Some((setting_key(&name)?, value)))
            .collect();
        for (key, value) in variables {
            figment = figment.merge(Serialized::default(&key, parse_value(&value)));
        }
        figment.extract().map_err(|error| describe(&error))
    }
}

/// Reads a variable's text as figment reads environment values: numbers, booleans, or text.
fn parse_value(text: &str) -> figment::value::Value {
    text.parse()
        .unwrap_or_else(|_| figment::value::Value::from(text.to_owned()))
}

/// `CRM_DATABASE_URL` → `database.url`; other variables (and unknown sections) → `None`.
fn setting_key(variable: &str) -> Option<String> {
    let rest = variable.strip_prefix("CRM_")?.to_ascii_lowercase();
    let (section, key) = rest.split_once('_')?;
    SECTIONS
        .contains(&section)
        .then(|| format!("{section}.{key}"))
}

fn describe(error: &figment::Error) -> String {
    error
        .clone()
        .into_iter()
        .map(|error| {
            let setting = error.path.join("_");
            let origin = error
                .metadata
                .as_ref()
                .and_then(|metadata| metadata.source.as_ref())
                .map(|source| format!(" (from {source})"))
                .unwrap_or_default();
            if setting.is_empty() {
                format!("{}{origin}", error.kind)
            } else {
                format!("setting {setting}: {}{origin}", error.kind)
            }
        })
        .collect::<Vec<_>>()
        .join("; ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(name, value)| (name.to_string(), value.to_string()))
            .collect()
    }

    #[test]
    fn environment_variables_name_a_section_and_a_key() {
        let settings = Settings::load(
            None,
            env(&[
                ("CRM_DATABASE_URL", "postgres://x@db:5432/crm"),
                ("CRM_NATS_SUBJECT_PREFIX", "acme"),
                ("CRM_DATABASE_POOL_SIZE", "3"),
                ("CRM_DATA_DIR", "/var/lib/crm"),
                ("CRM_TEST_DATABASE_URL", "ignored: not a section"),
                ("HOME", "/root"),
            ]),
        )
        .expect("loads");
        assert_eq!(settings.database.url, "postgres://x@db:5432/crm");
        assert_eq!(settings.database.pool_size, 3);
        assert_eq!(settings.nats.subject_prefix, "acme");
        assert_eq!(settings.data.dir, PathBuf::from("/var/lib/crm"));
        assert!(settings.demo.seed, "up seeds demo data unless told not to");
        assert_eq!(
            settings.nats.stream, "CRM",
            "untouched settings keep their defaults"
        );
    }

    #[test]
    fn demo_data_can_be_switched_off() {
        let settings = Settings::load(None, env(&[("CRM_DEMO_SEED", "false")])).expect("loads");
        assert!(!settings.demo.seed);
    }

    #[test]
    fn the_environment_overrides_the_file() {
        let directory = tempfile::tempdir().expect("a folder");
        let file = directory.path().join("crm.toml");
        std::fs::write(
            &file,
            "[nats]\nstream = \"FROM_FILE\"\nsubject_prefix = \"file\"\n",
        )
        .expect("written");
        let settings =
            Settings::load(Some(&file), env(&[("CRM_NATS_STREAM", "FROM_ENV")])).expect("loads");
        assert_eq!(settings.nats.stream, "FROM_ENV");
        assert_eq!(settings.nats.subject_prefix, "file");
    }

    #[test]
    fn a_bad_value_names_the_setting() {
        let error =
            Settings::load(None, env(&[("CRM_DATABASE_POOL_SIZE", "many")])).expect_err("refused");
        assert!(error.starts_with("setting database_pool_size:"), "{error}");
    }

    #[test]
    fn an_unknown_key_in_a_known_section_is_refused() {
        let error = Settings::load(None, env(&[("CRM_NATS_STREEM", "X")])).expect_err("refused");
        assert!(error.contains("streem"), "{error}");
    }

    #[test]
    fn a_missing_settings_file_is_an_error() {
        let error = Settings::load(Some(Path::new("/nonexistent/crm.toml")), env(&[]))
            .expect_err("refused");
        assert!(error.contains("/nonexistent/crm.toml"), "{error}");
    }
}
