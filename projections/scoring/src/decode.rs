//! Reading an envelope as scoring needs it: the events of companies, contacts, deals, activities
//! and cases that carry facts or links, decoded by the domain's catalog. Events of the other
//! streams (leads, pipelines, tasks, users) are passed over; an event of a followed stream that
//! does not read stops the projection.

use chrono::{DateTime, Utc};
use domain::activity::{ActivityKind, Direction};
use domain::case::CaseStatus;
use domain::values::ValueClass;
use domain::{AnyEvent, activity, case, company, contact, deal};
use eventlog::Envelope;
use uuid::Uuid;

use crate::facts::Component;

/// Where an event stands in the log.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Meta {
    pub position: u64,
    /// The public type, `crm.deal.won.v1`.
    pub event_type: String,
    pub occurred_at: DateTime<Utc>,
}

/// An activity as a touchpoint: what it counts as, when, how long, and whom it concerns.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Activity {
    pub component: Component,
    pub occurred_at: DateTime<Utc>,
    pub minutes: u32,
    pub contact_id: Option<Uuid>,
    pub company_id: Option<Uuid>,
    pub deal_id: Option<Uuid>,
}

/// One fact or link an event brings.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Fact {
    CompanyCreated {
        id: Uuid,
        owner_id: Option<Uuid>,
        team: Option<String>,
        class: Option<ValueClass>,
    },
    CompanyReclassified {
        id: Uuid,
        class: Option<ValueClass>,
    },
    CompanyReassigned {
        id: Uuid,
        owner_id: Option<Uuid>,
        team: Option<String>,
    },
    ContactCreated {
        id: Uuid,
        owner_id: Option<Uuid>,
        team: Option<String>,
        company_id: Option<Uuid>,
    },
    ContactMoved {
        id: Uuid,
        company_id: Option<Uuid>,
    },
    ContactReassigned {
        id: Uuid,
        owner_id: Option<Uuid>,
        team: Option<String>,
    },
    LinkClicked {
        contact_id: Uuid,
        clicked_at: DateTime<Utc>,
    },
    DealCreated {
        id: Uuid,
        company_id: Option<Uuid>,
        contact_id: Option<Uuid>,
        amount_minor: i64,
        currency: String,
    },
    DealAmountChanged {
        id: Uuid,
        amount_minor: i64,
        currency: String,
    },
    DealWon {
        id: Uuid,
        closed_at: DateTime<Utc>,
    },
    DealReopened {
        id: Uuid,
    },
    ActivityLogged {
        id: Uuid,
        activity: Activity,
    },
    ActivityScheduled {
        id: Uuid,
        activity: Activity,
    },
    ActivityCompleted {
        id: Uuid,
        occurred_at: DateTime<Utc>,
        minutes: Option<u32>,
    },
    ActivityCancelled {
        id: Uuid,
    },
    CaseOpened {
        id: Uuid,
        contact_id: Uuid,
    },
    CaseStatusChanged {
        id: Uuid,
        open: bool,
    },
}

/// An event that matters to scoring.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Item {
    pub meta: Meta,
    pub fact: Fact,
}

/// Decodes `envelope`: `Ok(None)` for events scoring does not follow, an error naming why an
/// event of a followed stream cannot be read.
pub(crate) fn decode(envelope: &Envelope) -> Result<Option<Item>, String> {
    let (stream_type, id) = envelope
        .stream()
        .ok_or_else(|| format!("the subject {:?} names no record", envelope.subject))?;
    if !matches!(
        stream_type,
        "company" | "contact" | "deal" | "activity" | "case"
    ) {
        return Ok(None);
    }
    let (event_type, schema_version) = envelope.event_of(stream_type).ok_or_else(|| {
        format!(
            "the type {:?} is not an event of the subject's stream {stream_type}",
            envelope.event_type
        )
    })?;
    let event = AnyEvent::from_stored(stream_type, event_type, schema_version, &envelope.data)
        .map_err(|error| error.to_string())?;
    let meta = Meta {
        position: envelope.position,
        event_type: envelope.event_type.clone(),
        occurred_at: envelope.time,
    };
    Ok(fact_of(id, event).map(|fact| Item { meta, fact }))
}

fn fact_of(id: Uuid, event: AnyEvent) -> Option<Fact> {
    let team = |team: Option<domain::values::Team>| team.map(String::from);
    let fact = match event {
        AnyEvent::Company(company::Event::Created(created)) => Fact::CompanyCreated {
            id,
            owner_id: created.owner_id,
            team: team(created.team),
            class: created.value_class,
        },
        AnyEvent::Company(company::Event::Reclassified(reclassified)) => {
            Fact::CompanyReclassified {
                id,
                class: reclassified.value_class,
            }
        }
        AnyEvent::Company(company::Event::Reassigned(reassigned)) => Fact::CompanyReassigned {
            id,
            owner_id: reassigned.owner_id,
            team: team(reassigned.team),
        },
        AnyEvent::Contact(contact::Event::Created(created)) => Fact::ContactCreated {
            id,
            owner_id: created.owner_id,
            team: team(created.team),
            company_id: created.company_id,
        },
        AnyEvent::Contact(contact::Event::Moved(moved)) => Fact::ContactMoved {
            id,
            company_id: moved.to_company_id,
        },
        AnyEvent::Contact(contact::Event::Reassigned(reassigned)) => Fact::ContactReassigned {
            id,
            owner_id: reassigned.owner_id,
            team: team(reassigned.team),
        },
        AnyEvent::Contact(contact::Event::LinkClicked(clicked)) => Fact::LinkClicked {
            contact_id: id,
            clicked_at: clicked.clicked_at,
        },
        AnyEvent::Deal(deal::Event::Created(created)) => Fact::DealCreated {
            id,
            company_id: created.company_id,
            contact_id: created.contact_id,
            amount_minor: created.amount.amount_minor,
            currency: created.amount.currency.code().to_owned(),
        },
        AnyEvent::Deal(deal::Event::AmountChanged(changed)) => Fact::DealAmountChanged {
            id,
            amount_minor: changed.to.amount_minor,
            currency: changed.to.currency.code().to_owned(),
        },
        AnyEvent::Deal(deal::Event::Won(closed)) => Fact::DealWon {
            id,
            closed_at: closed.closed_at,
        },
        AnyEvent::Deal(deal::Event::Reopened(_)) => Fact::DealReopened { id },
        AnyEvent::Activity(activity::Event::Logged(touchpoint)) => Fact::ActivityLogged {
            id,
            activity: activity_of(&touchpoint),
        },
        AnyEvent::Activity(activity::Event::Scheduled(touchpoint)) => Fact::ActivityScheduled {
            id,
            activity: activity_of(&touchpoint),
        },
        AnyEvent::Activity(activity::Event::Completed(completed)) => Fact::ActivityCompleted {
            id,
            occurred_at: completed.occurred_at,
            minutes: completed.duration_minutes.map(u32::from),
        },
        AnyEvent::Activity(activity::Event::Cancelled(_)) => Fact::ActivityCancelled { id },
        AnyEvent::Case(case::Event::Created(created)) => Fact::CaseOpened {
            id,
            contact_id: created.contact_id,
        },
        AnyEvent::Case(case::Event::StatusChanged(changed)) => Fact::CaseStatusChanged {
            id,
            open: is_open(changed.to),
        },
        _ => return None,
    };
    Some(fact)
}

/// New, open and pending cases are open; resolved and closed ones are not.
fn is_open(status: CaseStatus) -> bool {
    matches!(
        status,
        CaseStatus::New | CaseStatus::Open | CaseStatus::Pending
    )
}

fn activity_of(touchpoint: &activity::Touchpoint) -> Activity {
    Activity {
        component: component_of(touchpoint.kind, touchpoint.direction),
        occurred_at: touchpoint.occurred_at,
        minutes: touchpoint.duration_minutes.map_or(0, u32::from),
        contact_id: touchpoint.contact_id,
        company_id: touchpoint.company_id,
        deal_id: touchpoint.deal_id,
    }
}

/// What an activity counts as: its kind, except that an inbound e-mail or message is a reply.
pub(crate) fn component_of(kind: ActivityKind, direction: Option<Direction>) -> Component {
    match (kind, direction) {
        (ActivityKind::Email | ActivityKind::Message, Some(Direction::Inbound)) => Component::Reply,
        (ActivityKind::Call, _) => Component::Call,
        (ActivityKind::Email, _) => Component::Email,
        (ActivityKind::Meeting, _) => Component::Meeting,
        (ActivityKind::Note, _) => Component::Note,
        (ActivityKind::Message, _) => Component::Message,
        (ActivityKind::Visit, _) => Component::Visit,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_inbound_email_or_message_is_a_reply() {
        let inbound = Some(Direction::Inbound);
        assert_eq!(component_of(ActivityKind::Email, inbound), Component::Reply);
        assert_eq!(
            component_of(ActivityKind::Message, inbound),
            Component::Reply
        );
        assert_eq!(component_of(ActivityKind::Call, inbound), Component::Call);
        let outbound = Some(Direction::Outbound);
        assert_eq!(
            component_of(ActivityKind::Email, outbound),
            Component::Email
        );
        assert_eq!(
            component_of(ActivityKind::Meeting, None),
            Component::Meeting
        );
    }
}
