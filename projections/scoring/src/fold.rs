//! A batch folded in memory, without I/O: the link state (deal → company and contact, contact →
//! company, case → customers, scheduled activities) and the customers' summaries as loaded,
//! changed event by event, plus the facts the batch adds. `store` loads what [`needs`] names
//! and writes back what [`fold`] leaves.
//!
//! Attribution: an activity counts for its contact, that contact's company at the time, its
//! company, and the company and contact of its deal; a link click for the contact and its
//! company; a won deal for the deal's company and contact; a case for its contact and the
//! contact's company when it was opened.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use chrono::{DateTime, NaiveDate, Utc};
use domain::values::ValueClass;
use uuid::Uuid;

use crate::decode::{Activity, Fact, Item, Meta};
use crate::facts::{Component, CustomerKey, CustomerKind, Touch, Won};
use crate::score::{add_to_log_sum, exponent, month_of};

/// A customer's row: who holds it and the summaries the ranked list orders by.
#[derive(Debug, Clone, PartialEq, Default)]
pub(crate) struct Customer {
    /// A created event was seen (a customer only referenced is not listed).
    pub created: bool,
    pub owner_id: Option<Uuid>,
    pub team: Option<String>,
    pub company_id: Option<Uuid>,
    pub manual_class: Option<ValueClass>,
    pub touch_count: i64,
    pub first_touch_at: Option<DateTime<Utc>>,
    pub last_touch_at: Option<DateTime<Utc>>,
    /// log2 of Σ 2^(t / half-life) per [`Component::ALL`].
    pub decayed: [Option<f64>; 8],
    pub activity_minutes: i64,
    pub cases_opened: i64,
    pub open_cases: i64,
    pub won_count: i64,
    pub first_won_at: Option<DateTime<Utc>>,
    pub last_won_at: Option<DateTime<Utc>>,
    /// Won totals per currency code.
    pub won_minor: BTreeMap<String, i64>,
}

/// A deal's links and current amount.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct DealLink {
    pub company_id: Option<Uuid>,
    pub contact_id: Option<Uuid>,
    pub amount_minor: i64,
    pub currency: String,
}

/// A case: the customers it counts for, when it was opened, and closed (while it is).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct CaseLink {
    pub contact_id: Uuid,
    /// The contact's company when the case was opened.
    pub company_id: Option<Uuid>,
    pub opened_at: DateTime<Utc>,
    pub closed_at: Option<DateTime<Utc>>,
    pub position: u64,
    pub event_type: String,
}

impl CaseLink {
    pub(crate) fn customers(&self) -> Vec<CustomerKey> {
        let mut keys = vec![CustomerKey {
            kind: CustomerKind::Contact,
            id: self.contact_id,
        }];
        keys.extend(self.company_id.map(|id| CustomerKey {
            kind: CustomerKind::Company,
            id,
        }));
        keys
    }
}

/// The link state and summaries a batch reads and changes.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct State {
    pub customers: HashMap<CustomerKey, Customer>,
    pub deals: HashMap<Uuid, DealLink>,
    pub cases: HashMap<Uuid, CaseLink>,
    /// Activities planned, not yet taken place.
    pub scheduled: HashMap<Uuid, Activity>,
    /// The won deals of every customer a won or reopened deal of the batch concerns.
    pub won: HashMap<CustomerKey, Vec<Won>>,
}

/// What a batch adds beyond the state.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Added {
    pub touches: Vec<(CustomerKey, Touch)>,
    /// The minutes and cases opened per customer and month, to add to the stored ones.
    pub monthly: BTreeMap<(CustomerKey, NaiveDate), (i64, i64)>,
    /// Cases whose row changed.
    pub cases: BTreeSet<Uuid>,
    /// Scheduled activities that took place or were cancelled.
    pub unscheduled: BTreeSet<Uuid>,
    /// Customers whose won deals changed.
    pub won_changed: BTreeSet<CustomerKey>,
}

/// The ids a batch's rows are loaded by.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Needs {
    pub deals: Vec<Uuid>,
    pub cases: Vec<Uuid>,
    pub activities: Vec<Uuid>,
}

/// The deals, cases and scheduled activities `items` refer to.
pub(crate) fn needs(items: &[Item]) -> Needs {
    let mut deals = BTreeSet::new();
    let mut cases = BTreeSet::new();
    let mut activities = BTreeSet::new();
    for item in items {
        match &item.fact {
            Fact::DealCreated { id, .. }
            | Fact::DealAmountChanged { id, .. }
            | Fact::DealWon { id, .. }
            | Fact::DealReopened { id } => {
                deals.insert(*id);
            }
            Fact::ActivityLogged { activity, .. } | Fact::ActivityScheduled { activity, .. } => {
                deals.extend(activity.deal_id);
            }
            Fact::ActivityCompleted { id, .. } | Fact::ActivityCancelled { id } => {
                activities.insert(*id);
            }
            Fact::CaseOpened { id, .. } | Fact::CaseStatusChanged { id, .. } => {
                cases.insert(*id);
            }
            _ => {}
        }
    }
    Needs {
        deals: deals.into_iter().collect(),
        cases: cases.into_iter().collect(),
        activities: activities.into_iter().collect(),
    }
}

/// Every customer `items` may touch, given the loaded links: a superset is fine. Contacts'
/// companies are added by the caller once the contacts are loaded.
pub(crate) fn customers_needed(items: &[Item], state: &State) -> BTreeSet<CustomerKey> {
    let mut keys = BTreeSet::new();
    let contact = |id: Uuid| CustomerKey {
        kind: CustomerKind::Contact,
        id,
    };
    let company = |id: Uuid| CustomerKey {
        kind: CustomerKind::Company,
        id,
    };
    let add_deal = |keys: &mut BTreeSet<CustomerKey>, id: &Uuid| {
        if let Some(deal) = state.deals.get(id) {
            keys.extend(deal.company_id.map(company));
            keys.extend(deal.contact_id.map(contact));
        }
    };
    let add_activity = |keys: &mut BTreeSet<CustomerKey>, activity: &Activity| {
        keys.extend(activity.contact_id.map(contact));
        keys.extend(activity.company_id.map(company));
    };
    for item in items {
        match &item.fact {
            Fact::CompanyCreated { id, .. }
            | Fact::CompanyReclassified { id, .. }
            | Fact::CompanyReassigned { id, .. } => {
                keys.insert(company(*id));
            }
            Fact::ContactCreated { id, company_id, .. } | Fact::ContactMoved { id, company_id } => {
                keys.insert(contact(*id));
                keys.extend(company_id.map(company));
            }
            Fact::ContactReassigned { id, .. } => {
                keys.insert(contact(*id));
            }
            Fact::LinkClicked { contact_id, .. } | Fact::CaseOpened { contact_id, .. } => {
                keys.insert(contact(*contact_id));
            }
            Fact::DealCreated {
                company_id,
                contact_id,
                ..
            } => {
                keys.extend(company_id.map(company));
                keys.extend(contact_id.map(contact));
            }
            Fact::DealAmountChanged { id, .. }
            | Fact::DealWon { id, .. }
            | Fact::DealReopened { id } => add_deal(&mut keys, id),
            Fact::ActivityLogged { activity, .. } | Fact::ActivityScheduled { activity, .. } => {
                add_activity(&mut keys, activity);
                if let Some(deal) = &activity.deal_id {
                    add_deal(&mut keys, deal);
                }
            }
            Fact::ActivityCompleted { id, .. } | Fact::ActivityCancelled { id } => {
                if let Some(activity) = state.scheduled.get(id) {
                    add_activity(&mut keys, activity);
                    if let Some(deal) = &activity.deal_id {
                        add_deal(&mut keys, deal);
                    }
                }
            }
            Fact::CaseStatusChanged { id, .. } => {
                if let Some(case) = state.cases.get(id) {
                    keys.extend(case.customers());
                }
            }
        }
    }
    keys
}

/// The customers whose won deals the batch may change (their won rows are loaded first).
pub(crate) fn won_needed(items: &[Item], state: &State) -> BTreeSet<CustomerKey> {
    let won_items: Vec<Item> = items
        .iter()
        .filter(|item| matches!(item.fact, Fact::DealWon { .. } | Fact::DealReopened { .. }))
        .cloned()
        .collect();
    let mut keys = customers_needed(&won_items, state);
    for item in items {
        if let Fact::DealCreated {
            company_id,
            contact_id,
            ..
        } = &item.fact
        {
            keys.extend(company_id.map(|id| CustomerKey {
                kind: CustomerKind::Company,
                id,
            }));
            keys.extend(contact_id.map(|id| CustomerKey {
                kind: CustomerKind::Contact,
                id,
            }));
        }
    }
    keys
}

/// Folds `items` (in position order) into `state`; returns what they add. `half_life_seconds`
/// is the decay the stored sums use.
pub(crate) fn fold(
    items: &[Item],
    state: &mut State,
    half_life_seconds: f64,
) -> Result<Added, (u64, String)> {
    let mut added = Added::default();
    for item in items {
        apply(item, state, &mut added, half_life_seconds)
            .map_err(|reason| (item.meta.position, reason))?;
    }
    Ok(added)
}

fn apply(
    item: &Item,
    state: &mut State,
    added: &mut Added,
    half_life_seconds: f64,
) -> Result<(), String> {
    let meta = &item.meta;
    match &item.fact {
        Fact::CompanyCreated {
            id,
            owner_id,
            team,
            class,
        } => {
            let company = customer(state, CustomerKind::Company, *id);
            company.created = true;
            company.owner_id = *owner_id;
            company.team = team.clone();
            company.manual_class = *class;
        }
        Fact::CompanyReclassified { id, class } => {
            customer(state, CustomerKind::Company, *id).manual_class = *class;
        }
        Fact::CompanyReassigned { id, owner_id, team }
        | Fact::ContactReassigned { id, owner_id, team } => {
            let kind = if matches!(item.fact, Fact::CompanyReassigned { .. }) {
                CustomerKind::Company
            } else {
                CustomerKind::Contact
            };
            let held = customer(state, kind, *id);
            held.owner_id = *owner_id;
            held.team = team.clone();
        }
        Fact::ContactCreated {
            id,
            owner_id,
            team,
            company_id,
        } => {
            let contact = customer(state, CustomerKind::Contact, *id);
            contact.created = true;
            contact.owner_id = *owner_id;
            contact.team = team.clone();
            contact.company_id = *company_id;
        }
        Fact::ContactMoved { id, company_id } => {
            customer(state, CustomerKind::Contact, *id).company_id = *company_id;
        }
        Fact::LinkClicked {
            contact_id,
            clicked_at,
        } => {
            let mut keys = Vec::new();
            with_company(state, *contact_id, &mut keys);
            let touch = Touch {
                component: Component::LinkClick,
                occurred_at: *clicked_at,
                minutes: 0,
                position: meta.position,
                event_type: meta.event_type.clone(),
            };
            add_touch(state, added, &keys, touch, half_life_seconds);
        }
        Fact::DealCreated {
            id,
            company_id,
            contact_id,
            amount_minor,
            currency,
        } => {
            state.deals.insert(
                *id,
                DealLink {
                    company_id: *company_id,
                    contact_id: *contact_id,
                    amount_minor: *amount_minor,
                    currency: currency.clone(),
                },
            );
        }
        Fact::DealAmountChanged {
            id,
            amount_minor,
            currency,
        } => {
            let deal = state
                .deals
                .get_mut(id)
                .ok_or_else(|| format!("the amount of deal {id} changed before it was created"))?;
            deal.amount_minor = *amount_minor;
            deal.currency = currency.clone();
        }
        Fact::DealWon { id, closed_at } => {
            let deal = state
                .deals
                .get(id)
                .cloned()
                .ok_or_else(|| format!("deal {id} was won before it was created"))?;
            for key in deal_customers(&deal) {
                let won = state.won.entry(key).or_default();
                won.retain(|won| won.deal_id != *id);
                won.push(Won {
                    deal_id: *id,
                    closed_at: *closed_at,
                    amount_minor: deal.amount_minor,
                    currency: deal.currency.clone(),
                    position: meta.position,
                    event_type: meta.event_type.clone(),
                });
                summarise_won(state, key);
                added.won_changed.insert(key);
            }
        }
        Fact::DealReopened { id } => {
            let deal = state
                .deals
                .get(id)
                .cloned()
                .ok_or_else(|| format!("deal {id} was reopened before it was created"))?;
            for key in deal_customers(&deal) {
                state
                    .won
                    .entry(key)
                    .or_default()
                    .retain(|won| won.deal_id != *id);
                summarise_won(state, key);
                added.won_changed.insert(key);
            }
        }
        Fact::ActivityLogged { activity, .. } => {
            took_place(state, added, activity, meta, half_life_seconds);
        }
        Fact::ActivityScheduled { id, activity } => {
            state.scheduled.insert(*id, activity.clone());
        }
        Fact::ActivityCompleted {
            id,
            occurred_at,
            minutes,
        } => {
            let planned = state
                .scheduled
                .remove(id)
                .ok_or_else(|| format!("activity {id} was completed but never scheduled"))?;
            added.unscheduled.insert(*id);
            let activity = Activity {
                occurred_at: *occurred_at,
                minutes: minutes.unwrap_or(planned.minutes),
                ..planned
            };
            took_place(state, added, &activity, meta, half_life_seconds);
        }
        Fact::ActivityCancelled { id } => {
            state.scheduled.remove(id);
            added.unscheduled.insert(*id);
        }
        Fact::CaseOpened { id, contact_id } => {
            let mut keys = Vec::new();
            with_company(state, *contact_id, &mut keys);
            let month = month_of(meta.occurred_at);
            for key in &keys {
                let held = customer(state, key.kind, key.id);
                held.cases_opened += 1;
                held.open_cases += 1;
                added.monthly.entry((*key, month)).or_default().1 += 1;
            }
            let company_id = keys
                .iter()
                .find(|key| key.kind == CustomerKind::Company)
                .map(|key| key.id);
            state.cases.insert(
                *id,
                CaseLink {
                    contact_id: *contact_id,
                    company_id,
                    opened_at: meta.occurred_at,
                    closed_at: None,
                    position: meta.position,
                    event_type: meta.event_type.clone(),
                },
            );
            added.cases.insert(*id);
        }
        Fact::CaseStatusChanged { id, open } => {
            let case = state
                .cases
                .get_mut(id)
                .ok_or_else(|| format!("case {id} changed status before it was opened"))?;
            if case.closed_at.is_none() == *open {
                return Ok(());
            }
            case.closed_at = if *open { None } else { Some(meta.occurred_at) };
            let step = if *open { 1 } else { -1 };
            for key in case.customers() {
                customer(state, key.kind, key.id).open_cases += step;
            }
            added.cases.insert(*id);
        }
    }
    Ok(())
}

/// The customer's row, made (not created) if the state holds none.
fn customer(state: &mut State, kind: CustomerKind, id: Uuid) -> &mut Customer {
    state.customers.entry(CustomerKey { kind, id }).or_default()
}

/// The contact and the company it belongs to now, added to `keys` once each.
fn with_company(state: &State, contact_id: Uuid, keys: &mut Vec<CustomerKey>) {
    let contact = CustomerKey {
        kind: CustomerKind::Contact,
        id: contact_id,
    };
    push_once(keys, contact);
    let company = state
        .customers
        .get(&contact)
        .and_then(|contact| contact.company_id);
    if let Some(id) = company {
        push_once(
            keys,
            CustomerKey {
                kind: CustomerKind::Company,
                id,
            },
        );
    }
}

fn push_once(keys: &mut Vec<CustomerKey>, key: CustomerKey) {
    if !keys.contains(&key) {
        keys.push(key);
    }
}

fn deal_customers(deal: &DealLink) -> Vec<CustomerKey> {
    let mut keys = Vec::new();
    if let Some(id) = deal.company_id {
        keys.push(CustomerKey {
            kind: CustomerKind::Company,
            id,
        });
    }
    if let Some(id) = deal.contact_id {
        keys.push(CustomerKey {
            kind: CustomerKind::Contact,
            id,
        });
    }
    keys
}

/// An activity took place: a touchpoint for everyone it concerns.
fn took_place(
    state: &mut State,
    added: &mut Added,
    activity: &Activity,
    meta: &Meta,
    half_life_seconds: f64,
) {
    let mut keys = Vec::new();
    if let Some(contact_id) = activity.contact_id {
        with_company(state, contact_id, &mut keys);
    }
    if let Some(id) = activity.company_id {
        push_once(
            &mut keys,
            CustomerKey {
                kind: CustomerKind::Company,
                id,
            },
        );
    }
    if let Some(deal) = activity.deal_id.and_then(|id| state.deals.get(&id)) {
        for key in deal_customers(deal) {
            push_once(&mut keys, key);
        }
    }
    let touch = Touch {
        component: activity.component,
        occurred_at: activity.occurred_at,
        minutes: activity.minutes,
        position: meta.position,
        event_type: meta.event_type.clone(),
    };
    add_touch(state, added, &keys, touch, half_life_seconds);
}

fn add_touch(
    state: &mut State,
    added: &mut Added,
    keys: &[CustomerKey],
    touch: Touch,
    half_life_seconds: f64,
) {
    let power = exponent(touch.occurred_at, half_life_seconds);
    let month = month_of(touch.occurred_at);
    for key in keys {
        let held = customer(state, key.kind, key.id);
        held.touch_count += 1;
        held.first_touch_at = Some(
            held.first_touch_at
                .map_or(touch.occurred_at, |first| first.min(touch.occurred_at)),
        );
        held.last_touch_at = Some(
            held.last_touch_at
                .map_or(touch.occurred_at, |last| last.max(touch.occurred_at)),
        );
        let sum = &mut held.decayed[touch.component.index()];
        *sum = Some(add_to_log_sum(*sum, power));
        held.activity_minutes += i64::from(touch.minutes);
        added.monthly.entry((*key, month)).or_default().0 += i64::from(touch.minutes);
        added.touches.push((*key, touch.clone()));
    }
}

/// The won summary of `key`, recomputed from its won deals.
fn summarise_won(state: &mut State, key: CustomerKey) {
    let won = state.won.get(&key).cloned().unwrap_or_default();
    let held = customer(state, key.kind, key.id);
    held.won_count = won.len() as i64;
    held.first_won_at = won.iter().map(|won| won.closed_at).min();
    held.last_won_at = won.iter().map(|won| won.closed_at).max();
    held.won_minor = BTreeMap::new();
    for won in &won {
        let total = held.won_minor.entry(won.currency.clone()).or_default();
        *total = total.saturating_add(won.amount_minor);
    }
}
