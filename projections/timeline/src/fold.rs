//! A batch folded in memory, without I/O: each event moves the link state on and becomes one
//! entry per customer whose timeline it belongs on, with its summary and kind. `store` loads
//! the links [`crate::links::referenced`] names and writes back what this leaves.

use std::collections::BTreeSet;

use projector::ProjectionError;
use uuid::Uuid;

use crate::EntryKind;
use crate::collection::Collection;
use crate::decode::Item;
use crate::links::{self, Links};
use crate::model::Customer;
use crate::summary;

/// One event of the batch as the timeline shows it: on the timelines of `customers`, in that
/// order (an entry's ordinal is its customer's index).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Folded<'a> {
    pub item: &'a Item,
    pub collection: Collection,
    pub kind: EntryKind,
    pub summary: String,
    pub customers: Vec<Customer>,
}

/// What a batch leaves: its events on the timelines, and the records whose links changed.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Batch<'a> {
    pub events: Vec<Folded<'a>>,
    pub changed: BTreeSet<Uuid>,
}

impl Batch<'_> {
    /// How many entries the batch writes.
    pub(crate) fn entry_count(&self) -> usize {
        self.events.iter().map(|event| event.customers.len()).sum()
    }
}

/// Folds `items` (in position order) into `links`; an event that is on nobody's timeline (a
/// lead before its conversion, a pipeline's) moves the links on and leaves no entry.
pub(crate) fn fold<'a>(items: &'a [Item], links: &mut Links) -> Result<Batch<'a>, ProjectionError> {
    let mut batch = Batch::default();
    for item in items {
        let Some(collection) = links::collection_of(&item.event) else {
            continue;
        };
        let summary = summary::summary(links, item.id, &item.event);
        let changed =
            links::evolve(links, item.id, &item.event, item.meta.position).map_err(|reason| {
                ProjectionError::Event {
                    position: item.meta.position,
                    reason,
                }
            })?;
        if changed {
            batch.changed.insert(item.id);
        }
        let customers = links::customers(links, item.id, &item.event);
        if customers.is_empty() {
            continue;
        }
        batch.events.push(Folded {
            item,
            collection,
            kind: summary::kind(&item.event),
            summary,
            customers,
        });
    }
    Ok(batch)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::*;
    use domain::AnyEvent;
    use domain::case::CaseStatus;
    use proptest::prelude::*;

    fn on(batch: &Batch<'_>, position: u64) -> Vec<Customer> {
        batch
            .events
            .iter()
            .find(|event| event.item.meta.position == position)
            .map(|event| event.customers.clone())
            .unwrap_or_default()
    }

    #[test]
    fn a_contacts_events_are_on_its_timeline_and_its_company_at_the_time() {
        let (acme, beta, ada) = (Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7());
        let items = vec![
            item(1, acme, company_created(acme, "Acme")),
            item(2, beta, company_created(beta, "Beta")),
            item(3, ada, contact_created(ada, Some(acme))),
            item(4, ada, contact_renamed("Augusta Ada", "King")),
            item(5, ada, contact_moved(Some(acme), Some(beta))),
            item(6, ada, contact_renamed("Ada", "King")),
        ];
        let mut links = Links::new();
        let batch = fold(&items, &mut links).unwrap();
        assert_eq!(on(&batch, 1), vec![Customer::Company(acme)]);
        let at_acme = vec![Customer::Contact(ada), Customer::Company(acme)];
        assert_eq!(on(&batch, 3), at_acme);
        assert_eq!(on(&batch, 4), at_acme);
        assert_eq!(
            on(&batch, 5),
            vec![
                Customer::Contact(ada),
                Customer::Company(acme),
                Customer::Company(beta)
            ]
        );
        assert_eq!(
            on(&batch, 6),
            vec![Customer::Contact(ada), Customer::Company(beta)]
        );
        assert_eq!(links[&ada].company_id, Some(beta));
        assert_eq!(links[&ada].label, "Ada King");
        assert_eq!(batch.changed, BTreeSet::from([acme, beta, ada]));
        assert_eq!(batch.entry_count(), 1 + 1 + 2 + 2 + 3 + 2);
    }

    #[test]
    fn deals_activities_tasks_and_cases_reach_every_customer_they_link() {
        let (acme, ada, deal, call, task, case) = (
            Uuid::now_v7(),
            Uuid::now_v7(),
            Uuid::now_v7(),
            Uuid::now_v7(),
            Uuid::now_v7(),
            Uuid::now_v7(),
        );
        let items = vec![
            item(1, acme, company_created(acme, "Acme")),
            item(2, ada, contact_created(ada, Some(acme))),
            item(3, deal, deal_created(deal, None, Some(ada))),
            item(4, deal, stage_changed("lead", "qualified")),
            item(5, call, call_logged(call, None, None, Some(deal))),
            item(6, call, activity_completed()),
            item(7, task, task_created(task, None, Some(deal))),
            item(8, task, task_completed()),
            item(9, case, case_created(case, ada)),
            item(10, case, case_status(CaseStatus::New, CaseStatus::Open)),
        ];
        let mut links = Links::new();
        let batch = fold(&items, &mut links).unwrap();
        let both = vec![Customer::Contact(ada), Customer::Company(acme)];
        for position in 3..=10 {
            assert_eq!(on(&batch, position), both, "position {position}");
        }
        let call_entry = &batch.events[4];
        assert_eq!(call_entry.collection, Collection::Activities);
        assert_eq!(call_entry.kind, EntryKind::Touchpoint);
        assert_eq!(call_entry.summary, "Call (outbound, 15 min): Renewal");
        assert_eq!(
            batch.events[5].summary,
            "Completed Call: Renewal (75 min), outcome: Asked for a proposal"
        );
        assert_eq!(batch.events[7].summary, "Task completed: Send the offer");
    }

    #[test]
    fn a_lead_is_on_no_timeline_until_it_is_converted() {
        let (lead, ada, acme) = (Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7());
        let items = vec![
            item(1, lead, lead_captured(lead)),
            item(2, acme, company_created(acme, "Acme")),
            item(3, ada, contact_created(ada, Some(acme))),
            item(4, lead, lead_converted(ada, Some(acme))),
        ];
        let mut links = Links::new();
        let batch = fold(&items, &mut links).unwrap();
        assert_eq!(on(&batch, 1), vec![]);
        assert_eq!(
            on(&batch, 4),
            vec![Customer::Contact(ada), Customer::Company(acme)]
        );
        let converted = batch.events.last().unwrap();
        assert_eq!(converted.collection, Collection::Leads);
        assert_eq!(converted.summary, "Converted from the lead Mary Somerville");
    }

    #[test]
    fn an_event_of_a_record_never_created_is_refused_at_its_position() {
        let deal = Uuid::now_v7();
        let items = vec![item(7, deal, stage_changed("lead", "qualified"))];
        let refused = fold(&items, &mut Links::new());
        assert!(matches!(
            refused,
            Err(ProjectionError::Event { position: 7, ref reason }) if reason.contains("deals/")
        ));
    }

    /// One step of a random workload; indexes pick among the records created so far.
    #[derive(Debug, Clone)]
    enum Step {
        Company,
        Contact {
            company: Option<usize>,
        },
        Move {
            contact: usize,
            company: Option<usize>,
        },
        Deal {
            company: Option<usize>,
            contact: Option<usize>,
        },
        Stage {
            deal: usize,
        },
        Call {
            contact: Option<usize>,
            deal: Option<usize>,
        },
        Complete {
            activity: usize,
        },
        Task {
            contact: Option<usize>,
            deal: Option<usize>,
        },
        Case {
            contact: usize,
        },
        Lead {
            contact: usize,
        },
    }

    fn step() -> impl Strategy<Value = Step> {
        let pick = || proptest::option::of(0usize..8);
        prop_oneof![
            Just(Step::Company),
            pick().prop_map(|company| Step::Contact { company }),
            (0usize..8, pick()).prop_map(|(contact, company)| Step::Move { contact, company }),
            (pick(), pick()).prop_map(|(company, contact)| Step::Deal { company, contact }),
            (0usize..8).prop_map(|deal| Step::Stage { deal }),
            (pick(), pick()).prop_map(|(contact, deal)| Step::Call { contact, deal }),
            (0usize..8).prop_map(|activity| Step::Complete { activity }),
            (pick(), pick()).prop_map(|(contact, deal)| Step::Task { contact, deal }),
            (0usize..8).prop_map(|contact| Step::Case { contact }),
            (0usize..8).prop_map(|contact| Step::Lead { contact }),
        ]
    }

    /// The items of `steps`, each step that picks a record not there yet left out.
    fn workload(steps: &[Step]) -> Vec<Item> {
        let mut companies: Vec<Uuid> = Vec::new();
        let mut contacts: Vec<(Uuid, Option<Uuid>)> = Vec::new();
        let mut deals: Vec<Uuid> = Vec::new();
        let mut activities: Vec<Uuid> = Vec::new();
        let mut items = Vec::new();
        let mut push = |id: Uuid, event: AnyEvent| {
            let position = items.len() as u64 + 1;
            items.push(item(position, id, event));
        };
        let get = |list: &[Uuid], index: Option<usize>| index.and_then(|i| list.get(i).copied());
        for step in steps {
            let contact_ids: Vec<Uuid> = contacts.iter().map(|(id, _)| *id).collect();
            match *step {
                Step::Company => {
                    let id = Uuid::now_v7();
                    companies.push(id);
                    push(id, company_created(id, "Company"));
                }
                Step::Contact { company } => {
                    let id = Uuid::now_v7();
                    let company_id = get(&companies, company);
                    contacts.push((id, company_id));
                    push(id, contact_created(id, company_id));
                }
                Step::Move { contact, company } => {
                    let Some((id, from)) = contacts.get_mut(contact) else {
                        continue;
                    };
                    let to = get(&companies, company);
                    let moved = contact_moved(*from, to);
                    *from = to;
                    let id = *id;
                    push(id, moved);
                }
                Step::Deal { company, contact } => {
                    let id = Uuid::now_v7();
                    deals.push(id);
                    let created =
                        deal_created(id, get(&companies, company), get(&contact_ids, contact));
                    push(id, created);
                }
                Step::Stage { deal } => {
                    if let Some(id) = deals.get(deal) {
                        push(*id, stage_changed("lead", "qualified"));
                    }
                }
                Step::Call { contact, deal } => {
                    let id = Uuid::now_v7();
                    activities.push(id);
                    let call = call_logged(id, get(&contact_ids, contact), None, get(&deals, deal));
                    push(id, call);
                }
                Step::Complete { activity } => {
                    if let Some(id) = activities.get(activity) {
                        push(*id, activity_completed());
                    }
                }
                Step::Task { contact, deal } => {
                    let id = Uuid::now_v7();
                    push(
                        id,
                        task_created(id, get(&contact_ids, contact), get(&deals, deal)),
                    );
                }
                Step::Case { contact } => {
                    if let Some(contact_id) = get(&contact_ids, Some(contact)) {
                        let id = Uuid::now_v7();
                        push(id, case_created(id, contact_id));
                    }
                }
                Step::Lead { contact } => {
                    if let Some((contact_id, company_id)) = contacts.get(contact).copied() {
                        let id = Uuid::now_v7();
                        push(id, lead_captured(id));
                        push(id, lead_converted(contact_id, company_id));
                    }
                }
            }
        }
        items
    }

    /// What the store's one query loads for `ids`: their rows, their deals' rows, and the rows of
    /// the contacts those link to.
    fn load(stored: &Links, ids: &[Uuid]) -> Links {
        let get = |id: &Uuid| stored.get(id).map(|link| (*id, link.clone()));
        let named: Links = ids.iter().filter_map(get).collect();
        let deals: Links = named
            .values()
            .filter_map(|link| link.deal_id.as_ref())
            .filter_map(get)
            .collect();
        let contacts: Links = named
            .values()
            .chain(deals.values())
            .filter_map(|link| link.contact_id.as_ref())
            .filter_map(get)
            .collect();
        named.into_iter().chain(deals).chain(contacts).collect()
    }

    /// Every entry a fold leaves: (position, customer, ordinal, summary, kind).
    type Entry = (u64, Customer, usize, String, EntryKind);

    fn entries(batch: &Batch<'_>) -> Vec<Entry> {
        batch
            .events
            .iter()
            .flat_map(|event| {
                event
                    .customers
                    .iter()
                    .enumerate()
                    .map(|(ordinal, customer)| {
                        (
                            event.item.meta.position,
                            *customer,
                            ordinal,
                            event.summary.clone(),
                            event.kind,
                        )
                    })
            })
            .collect()
    }

    proptest! {
        #[test]
        fn batch_boundaries_change_nothing(
            steps in proptest::collection::vec(step(), 1..60),
            sizes in proptest::collection::vec(1usize..12, 1..20),
        ) {
            let items = workload(&steps);
            let mut whole_links = Links::new();
            let whole = entries(&fold(&items, &mut whole_links).unwrap());

            let mut stored = Links::new();
            let mut split = Vec::new();
            let mut rest = &items[..];
            for size in sizes.iter().cycle() {
                if rest.is_empty() {
                    break;
                }
                let (chunk, tail) = rest.split_at((*size).min(rest.len()));
                rest = tail;
                let mut links = load(&stored, &links::referenced(chunk));
                let batch = fold(chunk, &mut links).unwrap();
                split.extend(entries(&batch));
                for id in &batch.changed {
                    stored.insert(*id, links[id].clone());
                }
            }
            prop_assert_eq!(split, whole);
            prop_assert_eq!(stored, whole_links);
        }
    }
}
