//! Who a report may count, as one SQL condition on the owner and team of the deals (or leads)
//! it aggregates: the caller's visibility, narrowed by the request's `owner_id` and `team`.
//! Every value is bound as a parameter.

use policy::Visibility;
use uuid::Uuid;

use crate::sql::Parameters;

/// Who the report may count: `policy::Visibility` (Everything / Nothing / Some { owner_ids,
/// teams }) narrowed further by the request's owner_id/team filters. A deal is in scope when
/// its owner or its team is visible (its company's owner is not consulted), and it matches
/// every filter given; what a deal's closing counts for (a win, a loss) goes by its owner and
/// team when it closed ([`ReportScope::condition_on`] the closer's columns).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportScope {
    pub visibility: Visibility,
    pub owner_id: Option<Uuid>,
    pub team: Option<String>,
}

impl ReportScope {
    /// Everything, unfiltered.
    pub fn everything() -> ReportScope {
        ReportScope {
            visibility: Visibility::Everything,
            owner_id: None,
            team: None,
        }
    }

    /// The condition on the rows aliased `alias`, binding its values to `parameters`.
    pub(crate) fn condition(&self, alias: &str, parameters: &mut Parameters) -> String {
        self.condition_on(
            &format!("{alias}.owner_id"),
            &format!("{alias}.team"),
            parameters,
        )
    }

    /// The condition with `owner_column` and `team_column` naming whose a row is.
    pub(crate) fn condition_on(
        &self,
        owner_column: &str,
        team_column: &str,
        parameters: &mut Parameters,
    ) -> String {
        let mut conditions = Vec::new();
        match &self.visibility {
            Visibility::Everything => {}
            Visibility::Nothing => conditions.push("FALSE".to_owned()),
            Visibility::Some { owner_ids, teams } => {
                let owners = parameters.bind(owner_ids.clone());
                let teams = parameters.bind(teams.clone());
                conditions.push(format!(
                    "({owner_column} = ANY({owners}::uuid[]) OR {team_column} = ANY({teams}::text[]))"
                ));
            }
        }
        if let Some(owner_id) = self.owner_id {
            conditions.push(format!("{owner_column} = {}", parameters.bind(owner_id)));
        }
        if let Some(team) = &self.team {
            conditions.push(format!("{team_column} = {}", parameters.bind(team.clone())));
        }
        if conditions.is_empty() {
            return "TRUE".to_owned();
        }
        conditions.join(" AND ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn everything_unfiltered_is_no_condition() {
        let mut parameters = Parameters::default();
        assert_eq!(
            ReportScope::everything().condition("d", &mut parameters),
            "TRUE"
        );
        assert!(parameters.as_refs().is_empty());
    }

    #[test]
    fn nothing_visible_matches_no_row() {
        let scope = ReportScope {
            visibility: Visibility::Nothing,
            ..ReportScope::everything()
        };
        assert_eq!(scope.condition("d", &mut Parameters::default()), "FALSE");
    }

    #[test]
    fn filters_narrow_what_is_visible_and_travel_as_parameters() {
        let mut parameters = Parameters::default();
        parameters.bind(Uuid::nil());
        let scope = ReportScope {
            visibility: Visibility::Some {
                owner_ids: vec![Uuid::nil()],
                teams: vec!["Berlin'; DROP TABLE deals; --".to_owned()],
            },
            owner_id: Some(Uuid::nil()),
            team: Some("Berlin".to_owned()),
        };
        assert_eq!(
            scope.condition("d", &mut parameters),
            "(d.owner_id = ANY($2::uuid[]) OR d.team = ANY($3::text[])) AND d.owner_id = $4 \
             AND d.team = $5"
        );
        assert_eq!(parameters.as_refs().len(), 5);
    }
}
