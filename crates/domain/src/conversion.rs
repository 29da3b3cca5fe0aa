//! Converting a lead into customer records: a contact always, a company and a deal when asked.
//!
//! A conversion touches several streams, which the store appends in one transaction, so it is
//! decided here as one value holding the events of every stream. The new records are decided by
//! their own aggregates' rules (a deal's stage must be in its pipeline), so a conversion cannot
//! create a record that the ordinary command would refuse.

use chrono::NaiveDate;
use uuid::Uuid;

use crate::company::{self, Company, NewCompany};
use crate::contact::{self, Contact, NewContact};
use crate::deal::{self, Deal, NewDeal};
use crate::lead::{self, Lead};
use crate::pipeline::PipelineStages;
use crate::values::{Money, Name, StageKey, Tags};
use crate::{Aggregate, Context, DomainError};

/// What the edge asks for, with the ids it chose for the new records.
#[derive(Debug, Clone, PartialEq)]
pub struct ConversionRequest {
    pub contact_id: Uuid,
    /// The contact's first name; by default the lead's name up to its last space.
    pub first_name: Option<Name>,
    /// The contact's last name; by default the lead's name after its last space.
    pub last_name: Option<Name>,
    pub company: Option<CompanyLink>,
    pub deal: Option<DealSpec>,
}

/// The company the new contact works for.
#[derive(Debug, Clone, PartialEq)]
pub enum CompanyLink {
    /// A company that already exists.
    Existing(Uuid),
    /// A company to create, named `name` or else the lead's company name.
    New {
        company_id: Uuid,
        name: Option<Name>,
    },
}

/// A deal to open for the new contact.
#[derive(Debug, Clone, PartialEq)]
pub struct DealSpec {
    pub deal_id: Uuid,
    pub title: Name,
    pub pipeline: PipelineStages,
    pub stage: StageKey,
    pub amount: Money,
    pub expected_close_on: Option<NaiveDate>,
}

/// The events of every stream a conversion touches, to be appended together.
#[derive(Debug, Clone, PartialEq)]
pub struct Conversion {
    pub contact_id: Uuid,
    pub company_id: Option<Uuid>,
    pub deal_id: Option<Uuid>,
    pub lead: Vec<lead::Event>,
    pub contact: Vec<contact::Event>,
    /// The new company's events; `None` when no company, or an existing one, was asked for.
    pub company: Option<Vec<company::Event>>,
    pub deal: Option<Vec<deal::Event>>,
}

/// Converts an open lead. New records are owned by the lead's owner, or else by the actor.
pub fn convert(
    state: &Option<Lead>,
    request: ConversionRequest,
    context: &Context,
) -> Result<Conversion, DomainError> {
    let lead = lead::open(state)?;
    let owner_id = lead.owner_id.unwrap_or(context.actor_id);
    let (first_name, last_name) = contact_names(lead, request.first_name, request.last_name)?;

    let (company_id, company) = match request.company {
        None => (None, None),
        Some(CompanyLink::Existing(company_id)) => (Some(company_id), None),
        Some(CompanyLink::New { company_id, name }) => {
            let name = name.or(lead.company_name.clone()).ok_or_else(|| {
                DomainError::invalid("company.name", "the lead names no company; give a name")
            })?;
            let new = NewCompany {
                id: company_id,
                name,
                domain: None,
                industry: None,
                value_class: None,
                tags: Tags::default(),
                owner_id: Some(owner_id),
                team: lead.team.clone(),
            };
            let events = Company::decide(&None, company::Command::Create(new), context)
                .map_err(|error| error.within("company"))?;
            (Some(company_id), Some(events))
        }
    };

    let new_contact = NewContact {
        id: request.contact_id,
        first_name,
        last_name,
        emails: lead.email.clone().into_iter().collect(),
        phones: lead.phone.clone().into_iter().collect(),
        title: None,
        company_id,
        tags: Tags::default(),
        owner_id: Some(owner_id),
        team: lead.team.clone(),
    };
    let contact = Contact::decide(&None, contact::Command::Create(new_contact), context)?;

    let (deal_id, deal) = match request.deal {
        None => (None, None),
        Some(spec) => {
            let new = NewDeal {
                id: spec.deal_id,
                title: spec.title,
                pipeline: spec.pipeline,
                stage: spec.stage,
                amount: spec.amount,
                expected_close_on: spec.expected_close_on,
                owner_id,
                team: lead.team.clone(),
                company_id,
                contact_id: Some(request.contact_id),
            };
            let events = Deal::decide(&None, deal::Command::Create(new), context)
                .map_err(|error| error.within("deal"))?;
            (Some(spec.deal_id), Some(events))
        }
    };

    let converted = lead::Event::Converted(lead::Converted {
        contact_id: request.contact_id,
        company_id,
        deal_id,
    });
    Ok(Conversion {
        contact_id: request.contact_id,
        company_id,
        deal_id,
        lead: vec![converted],
        contact,
        company,
        deal,
    })
}

/// The names given, or else the lead's name split at its last space.
fn contact_names(
    lead: &Lead,
    first_name: Option<Name>,
    last_name: Option<Name>,
) -> Result<(Name, Name), DomainError> {
    let (split_first, split_last) = match lead.name.as_str().rsplit_once(' ') {
        Some((first, last)) => (Name::parse(first).ok(), Name::parse(last).ok()),
        None => (Some(lead.name.clone()), None),
    };
    let first_name = first_name.or(split_first).ok_or_else(|| {
        DomainError::invalid(
            "first_name",
            "cannot be taken from the lead's name; give it",
        )
    })?;
    let last_name = last_name.or(split_last).ok_or_else(|| {
        DomainError::invalid(
            "last_name",
            "the lead's name is one word; give first_name and last_name",
        )
    })?;
    Ok((first_name, last_name))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::DomainEvent;
    use crate::lead::{Captured, LeadStatus};
    use crate::testing::*;
    use crate::values::{Email, Probability};

    fn captured(lead_name: &str, company_name: Option<&str>) -> lead::Event {
        lead::Event::Captured(Captured {
            id: id(6),
            name: name(lead_name),
            email: Some(Email::parse("grace@navy.example").unwrap()),
            phone: None,
            company_name: company_name.map(name),
            source: name("Trade fair"),
            campaign_id: None,
            owner_id: None,
            team: Some(team("Berlin")),
        })
    }

    fn open_lead() -> Option<Lead> {
        Lead::evolve(None, &captured("Grace Brewster Hopper", Some("Navy Labs")))
    }

    fn request() -> ConversionRequest {
        ConversionRequest {
            contact_id: id(7),
            first_name: None,
            last_name: None,
            company: None,
            deal: None,
        }
    }

    fn deal_spec(stage: &str) -> DealSpec {
        DealSpec {
            deal_id: id(5),
            title: name("Navy: pilot"),
            pipeline: sales_pipeline(),
            stage: key(stage),
            amount: money(1_000_000, "USD"),
            expected_close_on: None,
        }
    }

    #[test]
    fn a_lead_becomes_a_contact_named_after_it() {
        let conversion = convert(&open_lead(), request(), &context()).unwrap();
        assert_eq!(
            conversion.lead,
            [lead::Event::Converted(lead::Converted {
                contact_id: id(7),
                company_id: None,
                deal_id: None,
            })]
        );
        let contact::Event::Created(created) = &conversion.contact[0] else {
            panic!("expected a created contact, got {:?}", conversion.contact);
        };
        assert_eq!(created.id, id(7));
        assert_eq!(created.first_name, name("Grace Brewster"));
        assert_eq!(created.last_name, name("Hopper"));
        assert_eq!(
            created.emails,
            [Email::parse("grace@navy.example").unwrap()]
        );
        assert_eq!(created.owner_id, Some(context().actor_id));
        assert_eq!(created.team, Some(team("Berlin")));
        assert_eq!(conversion.company, None);
        assert_eq!(conversion.deal, None);
        let lead = conversion.lead.iter().fold(open_lead(), Lead::evolve);
        assert_eq!(lead.unwrap().status, LeadStatus::Converted);
    }

    #[test]
    fn a_conversion_can_create_a_company_and_a_deal() {
        let request = ConversionRequest {
            company: Some(CompanyLink::New {
                company_id: id(8),
                name: None,
            }),
            deal: Some(deal_spec("proposal")),
            ..request()
        };
        let conversion = convert(&open_lead(), request, &context()).unwrap();
        assert_eq!(
            (
                conversion.contact_id,
                conversion.company_id,
                conversion.deal_id
            ),
            (id(7), Some(id(8)), Some(id(5)))
        );
        let company = replay::<Company>(conversion.company.as_deref().unwrap()).unwrap();
        assert_eq!(company.name, name("Navy Labs"));
        let contact = replay::<Contact>(&conversion.contact).unwrap();
        assert_eq!(contact.company_id, Some(id(8)));
        let deal = replay::<Deal>(conversion.deal.as_deref().unwrap()).unwrap();
        assert_eq!(deal.company_id, Some(id(8)));
        assert_eq!(deal.contact_id, Some(id(7)));
        assert_eq!(deal.probability, Probability::new(40).unwrap());
        let streams_touched = [
            conversion.lead[0].event_type(),
            conversion.contact[0].event_type(),
        ];
        assert_eq!(streams_touched, ["converted", "created"]);
    }

    fn replay<A: Aggregate>(events: &[A::Event]) -> A::State {
        crate::replay::<A>(events)
    }

    #[test]
    fn a_conversion_can_link_an_existing_company() {
        let request = ConversionRequest {
            company: Some(CompanyLink::Existing(id(1))),
            ..request()
        };
        let conversion = convert(&open_lead(), request, &context()).unwrap();
        assert_eq!(conversion.company, None);
        assert_eq!(conversion.company_id, Some(id(1)));
        let contact = replay::<Contact>(&conversion.contact).unwrap();
        assert_eq!(contact.company_id, Some(id(1)));
    }

    #[test]
    fn names_given_win_over_the_leads_name() {
        let lead = Lead::evolve(None, &captured("Grace", None));
        let error = convert(&lead, request(), &context()).unwrap_err();
        assert!(matches!(error, DomainError::Invalid { field, .. } if field == "last_name"));
        let request = ConversionRequest {
            last_name: Some(name("Hopper")),
            ..request()
        };
        let conversion = convert(&lead, request, &context()).unwrap();
        let contact = replay::<Contact>(&conversion.contact).unwrap();
        assert_eq!(
            (contact.first_name, contact.last_name),
            (name("Grace"), name("Hopper"))
        );
    }

    #[test]
    fn a_new_company_needs_a_name() {
        let lead = Lead::evolve(None, &captured("Grace Hopper", None));
        let request = ConversionRequest {
            company: Some(CompanyLink::New {
                company_id: id(8),
                name: None,
            }),
            ..request()
        };
        let error = convert(&lead, request, &context()).unwrap_err();
        assert!(matches!(error, DomainError::Invalid { field, .. } if field == "company.name"));
    }

    #[test]
    fn a_deal_in_a_stage_its_pipeline_lacks_is_invalid() {
        let request = ConversionRequest {
            deal: Some(deal_spec("won")),
            ..request()
        };
        let error = convert(&open_lead(), request, &context()).unwrap_err();
        assert!(matches!(error, DomainError::Invalid { field, .. } if field == "deal.stage"));
    }

    #[test]
    fn a_missing_converted_or_disqualified_lead_is_not_converted() {
        assert_eq!(
            convert(&None, request(), &context()),
            Err(DomainError::NotFound)
        );
        let converted = convert(&open_lead(), request(), &context()).unwrap();
        let lead = converted.lead.iter().fold(open_lead(), Lead::evolve);
        assert!(matches!(
            convert(&lead, request(), &context()),
            Err(DomainError::Conflict(message)) if message.contains("already converted")
        ));
        let disqualified = lead::Event::Disqualified(lead::Disqualified { reason: None });
        let lead = Lead::evolve(open_lead(), &disqualified);
        assert!(matches!(
            convert(&lead, request(), &context()),
            Err(DomainError::Conflict(message)) if message.contains("disqualified")
        ));
    }
}
