//! The small pieces every statement of the read model is built from: a table named in its
//! generation's schema, and the parameters of a statement whose conditions depend on the
//! request (every value is a parameter, never SQL text).

use tokio_postgres::types::ToSql;

pub(crate) use projector::qualified;

/// The values bound to a statement's `$1`, `$2`, ...
#[derive(Default)]
pub(crate) struct Parameters {
    values: Vec<Box<dyn ToSql + Sync + Send>>,
}

impl Parameters {
    /// Binds `value`; returns its placeholder.
    pub(crate) fn bind<T: ToSql + Sync + Send + 'static>(&mut self, value: T) -> String {
        self.values.push(Box::new(value));
        format!("${}", self.values.len())
    }

    pub(crate) fn as_refs(&self) -> Vec<&(dyn ToSql + Sync)> {
        self.values
            .iter()
            .map(|value| value.as_ref() as &(dyn ToSql + Sync))
            .collect()
    }
}
