//! The link state the timeline keeps, so that each event lands on the right customers' timelines:
//! which company a contact is at, which company and contact a deal is for, which contact,
//! company and deal an activity or task concerns, which contact a case is of, and every record's
//! label for summaries. Each record's links change only with its own events; [`customers`]
//! reads them as they are at the event, so history stays as it was when a contact later moves.
//!
//! Pure: `store` loads what [`referenced`] names and writes back the links that changed.

use std::collections::HashMap;

use domain::activity::{self, ActivityKind};
use domain::{AnyEvent, case, company, contact, deal, lead, task};
use uuid::Uuid;

use crate::collection::Collection;
use crate::decode::Item;
use crate::model::Customer;

/// One record's links, as its events have left them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Link {
    pub collection: Collection,
    pub company_id: Option<Uuid>,
    pub contact_id: Option<Uuid>,
    pub deal_id: Option<Uuid>,
    /// What people call it: a company's or contact's name, a deal's title, `Call: Renewal`.
    pub label: String,
    /// The position of the last event that changed this row.
    pub position: u64,
}

/// The links a batch reads and changes, by record id.
pub(crate) type Links = HashMap<Uuid, Link>;

/// The collection of the record an event is about; `None` for pipelines, which are no
/// customer's.
pub(crate) fn collection_of(event: &AnyEvent) -> Option<Collection> {
    match event {
        AnyEvent::Company(_) => Some(Collection::Companies),
        AnyEvent::Contact(_) => Some(Collection::Contacts),
        AnyEvent::Lead(_) => Some(Collection::Leads),
        AnyEvent::Deal(_) => Some(Collection::Deals),
        AnyEvent::Activity(_) => Some(Collection::Activities),
        AnyEvent::Task(_) => Some(Collection::Tasks),
        AnyEvent::Case(_) => Some(Collection::Cases),
        AnyEvent::Pipeline(_) | AnyEvent::User(_) | AnyEvent::Username(_) => None,
    }
}

/// The ids whose links `items` need loaded: each item's own record and the records its event
/// names. The store adds the deals and contacts those link to.
pub(crate) fn referenced(items: &[Item]) -> Vec<Uuid> {
    let mut ids = Vec::with_capacity(items.len() * 2);
    for item in items {
        ids.push(item.id);
        match &item.event {
            AnyEvent::Contact(contact::Event::Moved(moved)) => {
                ids.extend(moved.from_company_id);
                ids.extend(moved.to_company_id);
            }
            AnyEvent::Deal(deal::Event::Created(created)) => ids.extend(created.contact_id),
            AnyEvent::Activity(
                activity::Event::Logged(touchpoint) | activity::Event::Scheduled(touchpoint),
            ) => {
                ids.extend(touchpoint.contact_id);
                ids.extend(touchpoint.deal_id);
            }
            AnyEvent::Task(task::Event::Created(created)) => {
                ids.extend(created.contact_id);
                ids.extend(created.deal_id);
            }
            AnyEvent::Case(case::Event::Created(created)) => ids.push(created.contact_id),
            AnyEvent::Lead(lead::Event::Converted(converted)) => {
                ids.push(converted.contact_id);
                ids.extend(converted.deal_id);
            }
            _ => {}
        }
    }
    ids.sort_unstable();
    ids.dedup();
    ids
}

/// Folds the event of the record `id` at `position` into `links`; returns whether its row
/// changed. An event of a record that was never created is refused: an event is missing.
pub(crate) fn evolve(
    links: &mut Links,
    id: Uuid,
    event: &AnyEvent,
    position: u64,
) -> Result<bool, String> {
    if let Some(created) = created(event, position) {
        links.insert(id, created);
        return Ok(true);
    }
    let Some(collection) = collection_of(event) else {
        return Ok(false);
    };
    let link = links.get_mut(&id).ok_or_else(|| {
        format!(
            "{}/{id} has an event before its creation: an event is missing",
            collection.as_str()
        )
    })?;
    let changed = match event {
        AnyEvent::Company(company::Event::Renamed(renamed)) => {
            link.label = renamed.name.to_string();
            true
        }
        AnyEvent::Contact(contact::Event::Renamed(renamed)) => {
            link.label = format!("{} {}", renamed.first_name, renamed.last_name);
            true
        }
        AnyEvent::Contact(contact::Event::Moved(moved)) => {
            link.company_id = moved.to_company_id;
            true
        }
        AnyEvent::Deal(deal::Event::Renamed(renamed)) => {
            link.label = renamed.title.to_string();
            true
        }
        AnyEvent::Lead(lead::Event::Converted(converted)) => {
            link.contact_id = Some(converted.contact_id);
            link.company_id = converted.company_id;
            link.deal_id = converted.deal_id;
            true
        }
        _ => false,
    };
    if changed {
        link.position = position;
    }
    Ok(changed)
}

/// The row a creation event starts; `None` for any other event.
fn created(event: &AnyEvent, position: u64) -> Option<Link> {
    let link = |collection, company_id, contact_id, deal_id, label: String| Link {
        collection,
        company_id,
        contact_id,
        deal_id,
        label,
        position,
    };
    match event {
        AnyEvent::Company(company::Event::Created(created)) => Some(link(
            Collection::Companies,
            None,
            None,
            None,
            created.name.to_string(),
        )),
        AnyEvent::Contact(contact::Event::Created(created)) => Some(link(
            Collection::Contacts,
            created.company_id,
            None,
            None,
            format!("{} {}", created.first_name, created.last_name),
        )),
        AnyEvent::Lead(lead::Event::Captured(captured)) => Some(link(
            Collection::Leads,
            None,
            None,
            None,
            captured.name.to_string(),
        )),
        AnyEvent::Deal(deal::Event::Created(created)) => Some(link(
            Collection::Deals,
            created.company_id,
            created.contact_id,
            None,
            created.title.to_string(),
        )),
        AnyEvent::Activity(
            activity::Event::Logged(touchpoint) | activity::Event::Scheduled(touchpoint),
        ) => Some(link(
            Collection::Activities,
            touchpoint.company_id,
            touchpoint.contact_id,
            touchpoint.deal_id,
            format!("{}: {}", activity_kind(touchpoint.kind), touchpoint.subject),
        )),
        AnyEvent::Task(task::Event::Created(created)) => Some(link(
            Collection::Tasks,
            created.company_id,
            created.contact_id,
            created.deal_id,
            created.title.to_string(),
        )),
        AnyEvent::Case(case::Event::Created(created)) => Some(link(
            Collection::Cases,
            None,
            Some(created.contact_id),
            None,
            created.subject.to_string(),
        )),
        _ => None,
    }
}

/// An activity's kind as people write it.
pub(crate) fn activity_kind(kind: ActivityKind) -> &'static str {
    match kind {
        ActivityKind::Call => "Call",
        ActivityKind::Email => "E-mail",
        ActivityKind::Meeting => "Meeting",
        ActivityKind::Note => "Note",
        ActivityKind::Message => "Message",
        ActivityKind::Visit => "Visit",
    }
}

/// Whose timelines the event of the record `id` goes on, with `links` as they are after it
/// (the record's own links included): the record's customers, each contact's company at the
/// time, a deal's customers; a contact that moves is on both companies' timelines.
pub(crate) fn customers(links: &Links, id: Uuid, event: &AnyEvent) -> Vec<Customer> {
    let mut customers = Customers {
        links,
        found: Vec::with_capacity(4),
    };
    let own = links.get(&id);
    match event {
        AnyEvent::Company(_) => customers.add(Customer::Company(id)),
        AnyEvent::Contact(contact::Event::Moved(moved)) => {
            customers.add(Customer::Contact(id));
            customers.company(moved.from_company_id);
            customers.company(moved.to_company_id);
        }
        AnyEvent::Contact(_) => customers.contact(Some(id)),
        AnyEvent::Deal(_) => customers.deal(Some(id)),
        AnyEvent::Activity(_) | AnyEvent::Task(_) => {
            if let Some(link) = own {
                customers.contact(link.contact_id);
                customers.company(link.company_id);
                customers.deal(link.deal_id);
            }
        }
        AnyEvent::Case(_) => customers.contact(own.and_then(|link| link.contact_id)),
        AnyEvent::Lead(lead::Event::Converted(converted)) => {
            customers.contact(Some(converted.contact_id));
            customers.company(converted.company_id);
            customers.deal(converted.deal_id);
        }
        AnyEvent::Lead(_) | AnyEvent::Pipeline(_) | AnyEvent::User(_) | AnyEvent::Username(_) => {}
    }
    customers.found
}

/// The customers of one event as they are found, each once, in the order found.
struct Customers<'a> {
    links: &'a Links,
    found: Vec<Customer>,
}

impl Customers<'_> {
    fn add(&mut self, customer: Customer) {
        if !self.found.contains(&customer) {
            self.found.push(customer);
        }
    }

    fn company(&mut self, id: Option<Uuid>) {
        if let Some(id) = id {
            self.add(Customer::Company(id));
        }
    }

    /// The contact and its company now.
    fn contact(&mut self, id: Option<Uuid>) {
        let Some(id) = id else { return };
        self.add(Customer::Contact(id));
        self.company(self.links.get(&id).and_then(|link| link.company_id));
    }

    /// The deal's company and its contact (with the contact's company).
    fn deal(&mut self, id: Option<Uuid>) {
        let Some(link) = id.and_then(|id| self.links.get(&id)) else {
            return;
        };
        let (company_id, contact_id) = (link.company_id, link.contact_id);
        self.contact(contact_id);
        self.company(company_id);
    }
}
