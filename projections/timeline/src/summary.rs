//! The one line a person reads on a timeline for each event ("Stage changed from qualified to
//! proposal", "Call (outbound, 15 min): Renewal", "Case status new -> open"), and whether the
//! event is a touchpoint (an interaction with the customer) or a change. Pure: the event, and
//! the labels of the records it names as the links held them just before it.

use chrono::{DateTime, NaiveDate, Utc};
use domain::activity::Direction;
use domain::case::Priority;
use domain::values::{Money, ValueClass};
use domain::{AnyEvent, activity, case, company, contact, deal, lead, task};
use uuid::Uuid;

use crate::EntryKind;
use crate::links::{Links, activity_kind};

/// The longest free text (a reason, an outcome) a summary quotes, in characters.
const MAX_QUOTE_CHARS: usize = 80;

/// Touchpoints are the interactions: activities that took place, and tracked link clicks.
pub(crate) fn kind(event: &AnyEvent) -> EntryKind {
    match event {
        AnyEvent::Activity(activity::Event::Logged(_) | activity::Event::Completed(_))
        | AnyEvent::Contact(contact::Event::LinkClicked(_)) => EntryKind::Touchpoint,
        _ => EntryKind::Change,
    }
}

/// The summary of the event of the record `id`, with `links` as they were before it.
pub(crate) fn summary(links: &Links, id: Uuid, event: &AnyEvent) -> String {
    let label = |id: Uuid| links.get(&id).map(|link| link.label.as_str());
    let own = label(id).unwrap_or("");
    match event {
        AnyEvent::Company(event) => company_summary(event, own),
        AnyEvent::Contact(event) => contact_summary(event, own, &label),
        AnyEvent::Lead(event) => lead_summary(event, own),
        AnyEvent::Deal(event) => deal_summary(event, own),
        AnyEvent::Activity(event) => activity_summary(event, own),
        AnyEvent::Task(event) => task_summary(event, own),
        AnyEvent::Case(event) => case_summary(event),
        AnyEvent::Pipeline(_) | AnyEvent::User(_) | AnyEvent::Username(_) => String::new(),
    }
}

fn company_summary(event: &company::Event, name: &str) -> String {
    match event {
        company::Event::Created(created) => format!("Company created: {}", created.name),
        company::Event::Renamed(renamed) => format!("Renamed from {name} to {}", renamed.name),
        company::Event::ProfileChanged(changed) => format!(
            "Profile changed: domain {}, industry {}",
            or_none(changed.domain.as_ref().map(|domain| domain.as_str())),
            or_none(changed.industry.as_ref().map(|industry| industry.as_str()))
        ),
        company::Event::Retagged(retagged) => tags(retagged.tags.iter()),
        company::Event::Reclassified(reclassified) => match reclassified.value_class {
            Some(class) => format!("Value class changed to {}", value_class(class)),
            None => "Value class cleared".to_owned(),
        },
        company::Event::Reassigned(reassigned) => reassignment(reassigned.team.as_deref_str()),
        company::Event::Archived(_) => "Company archived".to_owned(),
    }
}

fn contact_summary<'a>(
    event: &contact::Event,
    name: &str,
    label: &impl Fn(Uuid) -> Option<&'a str>,
) -> String {
    let company = |id: Option<Uuid>| match id {
        None => "no company".to_owned(),
        Some(id) => label(id).unwrap_or("an unknown company").to_owned(),
    };
    match event {
        contact::Event::Created(created) => {
            format!(
                "Contact created: {} {}",
                created.first_name, created.last_name
            )
        }
        contact::Event::Renamed(renamed) => format!(
            "Renamed from {name} to {} {}",
            renamed.first_name, renamed.last_name
        ),
        contact::Event::EmailsChanged(changed) => list(
            "E-mail addresses",
            changed.emails.iter().map(|email| email.as_str()),
        ),
        contact::Event::PhonesChanged(changed) => list(
            "Phone numbers",
            changed.phones.iter().map(|phone| phone.as_str()),
        ),
        contact::Event::TitleChanged(changed) => match &changed.title {
            Some(title) => format!("Title changed to {title}"),
            None => "Title cleared".to_owned(),
        },
        contact::Event::Moved(moved) => format!(
            "Moved from {} to {}",
            company(moved.from_company_id),
            company(moved.to_company_id)
        ),
        contact::Event::Retagged(retagged) => tags(retagged.tags.iter()),
        contact::Event::Reassigned(reassigned) => reassignment(reassigned.team.as_deref_str()),
        contact::Event::LinkClicked(clicked) => {
            format!("Clicked {}", quote(clicked.url.as_str()))
        }
    }
}

fn lead_summary(event: &lead::Event, name: &str) -> String {
    match event {
        lead::Event::Captured(captured) => {
            format!("Lead captured: {} ({})", captured.name, captured.source)
        }
        lead::Event::Qualified(_) => "Lead qualified".to_owned(),
        lead::Event::Disqualified(_) => "Lead disqualified".to_owned(),
        lead::Event::Converted(_) => format!("Converted from the lead {name}"),
        lead::Event::Reassigned(reassigned) => reassignment(reassigned.team.as_deref_str()),
    }
}

fn deal_summary(event: &deal::Event, title: &str) -> String {
    match event {
        deal::Event::Created(created) => format!(
            "Deal opened: {} in {} ({})",
            created.title,
            created.stage,
            money(created.amount)
        ),
        deal::Event::Renamed(renamed) => {
            format!("Deal renamed from {title} to {}", renamed.title)
        }
        deal::Event::StageChanged(changed) => {
            format!("Stage changed from {} to {}", changed.from, changed.to)
        }
        deal::Event::AmountChanged(changed) => format!(
            "Amount changed from {} to {}",
            money(changed.from),
            money(changed.to)
        ),
        deal::Event::ExpectedCloseChanged(changed) => match changed.expected_close_on {
            Some(date) => format!("Expected close changed to {}", day(date)),
            None => "Expected close cleared".to_owned(),
        },
        deal::Event::Reassigned(reassigned) => format!(
            "Deal {}",
            reassignment(reassigned.team.as_deref_str()).to_lowercase()
        ),
        deal::Event::Won(closed) => with_reason(format!("Deal won: {title}"), &closed.reason),
        deal::Event::Lost(closed) => with_reason(format!("Deal lost: {title}"), &closed.reason),
        deal::Event::Reopened(_) => format!("Deal reopened: {title}"),
    }
}

fn activity_summary(event: &activity::Event, label: &str) -> String {
    match event {
        activity::Event::Logged(touchpoint) => {
            let mut details = Vec::new();
            details.extend(touchpoint.direction.map(direction));
            details.extend(touchpoint.duration_minutes.map(minutes));
            let kind = activity_kind(touchpoint.kind);
            if details.is_empty() {
                format!("{kind}: {}", touchpoint.subject)
            } else {
                format!("{kind} ({}): {}", details.join(", "), touchpoint.subject)
            }
        }
        activity::Event::Scheduled(touchpoint) => format!(
            "{} scheduled for {}: {}",
            activity_kind(touchpoint.kind),
            time(touchpoint.occurred_at),
            touchpoint.subject
        ),
        activity::Event::Completed(completed) => {
            let mut summary = format!("Completed {label}");
            if let Some(duration) = completed.duration_minutes {
                summary.push_str(&format!(" ({})", minutes(duration)));
            }
            if let Some(outcome) = &completed.outcome {
                summary.push_str(&format!(", outcome: {}", quote(outcome.as_str())));
            }
            summary
        }
        activity::Event::Cancelled(cancelled) => {
            with_reason(format!("Cancelled {label}"), &cancelled.reason)
        }
    }
}

fn task_summary(event: &task::Event, title: &str) -> String {
    match event {
        task::Event::Created(created) => format!(
            "Task created: {} (due {})",
            created.title,
            time(created.due_at)
        ),
        task::Event::Completed(_) => format!("Task completed: {title}"),
        task::Event::Reassigned(_) => format!("Task reassigned: {title}"),
        task::Event::Rescheduled(rescheduled) => {
            format!("Task rescheduled to {}: {title}", time(rescheduled.due_at))
        }
    }
}

fn case_summary(event: &case::Event) -> String {
    match event {
        case::Event::Created(created) => format!(
            "Case opened: {} ({})",
            created.subject,
            priority(created.priority)
        ),
        case::Event::StatusChanged(changed) => format!(
            "Case status {} -> {}",
            changed.from.as_str(),
            changed.to.as_str()
        ),
        case::Event::PriorityChanged(changed) => format!(
            "Case priority {} -> {}",
            priority(changed.from),
            priority(changed.to)
        ),
        case::Event::Assigned(assigned) => match assigned.to {
            Some(_) => "Case assigned".to_owned(),
            None => "Case unassigned".to_owned(),
        },
    }
}

/// `Option<Team>` and the like, as text.
trait AsDerefStr {
    fn as_deref_str(&self) -> Option<&str>;
}

impl<T: AsRef<str>> AsDerefStr for Option<T> {
    fn as_deref_str(&self) -> Option<&str> {
        self.as_ref().map(AsRef::as_ref)
    }
}

fn or_none(value: Option<&str>) -> &str {
    value.unwrap_or("none")
}

fn reassignment(team: Option<&str>) -> String {
    match team {
        Some(team) => format!("Reassigned (team {team})"),
        None => "Reassigned".to_owned(),
    }
}

fn tags<'a>(tags: impl Iterator<Item = &'a str>) -> String {
    let tags: Vec<&str> = tags.collect();
    if tags.is_empty() {
        "Tags cleared".to_owned()
    } else {
        format!("Tags set to {}", tags.join(", "))
    }
}

fn list<'a>(what: &str, items: impl Iterator<Item = &'a str>) -> String {
    let items: Vec<&str> = items.collect();
    if items.is_empty() {
        format!("{what} removed")
    } else {
        format!("{what} changed to {}", items.join(", "))
    }
}

fn with_reason<T: AsRef<str>>(summary: String, reason: &Option<T>) -> String {
    match reason {
        Some(reason) => format!("{summary} ({})", quote(reason.as_ref())),
        None => summary,
    }
}

/// Free text cut to its first line and at most [`MAX_QUOTE_CHARS`] characters.
fn quote(text: &str) -> String {
    let line = text.lines().next().unwrap_or("").trim();
    if line.chars().count() <= MAX_QUOTE_CHARS && line.len() == text.trim().len() {
        return line.to_owned();
    }
    let cut: String = line.chars().take(MAX_QUOTE_CHARS).collect();
    format!("{}…", cut.trim_end())
}

fn direction(direction: Direction) -> String {
    match direction {
        Direction::Inbound => "inbound".to_owned(),
        Direction::Outbound => "outbound".to_owned(),
    }
}

fn minutes(minutes: u16) -> String {
    format!("{minutes} min")
}

fn priority(priority: Priority) -> &'static str {
    match priority {
        Priority::Low => "low",
        Priority::Normal => "normal",
        Priority::High => "high",
        Priority::Urgent => "urgent",
    }
}

fn value_class(class: ValueClass) -> &'static str {
    match class {
        ValueClass::A => "A",
        ValueClass::B => "B",
        ValueClass::C => "C",
        ValueClass::D => "D",
    }
}

/// An amount in its currency's major unit, `1250.00 EUR`, `5000 JPY`: exact, never a float.
pub(crate) fn money(money: Money) -> String {
    let digits = money.currency.minor_unit_digits();
    let sign = if money.amount_minor < 0 { "-" } else { "" };
    let minor = money.amount_minor.unsigned_abs();
    if digits == 0 {
        return format!("{sign}{minor} {}", money.currency);
    }
    let scale = 10u64.pow(digits);
    format!(
        "{sign}{}.{:0width$} {}",
        minor / scale,
        minor % scale,
        money.currency,
        width = digits as usize
    )
}

fn time(time: DateTime<Utc>) -> String {
    time.format("%Y-%m-%d %H:%M UTC").to_string()
}

fn day(date: NaiveDate) -> String {
    date.format("%Y-%m-%d").to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::collection::Collection;
    use crate::fixtures::*;
    use crate::links::Link;
    use domain::values::{Currency, Text};

    fn link(collection: Collection, label: &str) -> Link {
        Link {
            collection,
            company_id: None,
            contact_id: None,
            deal_id: None,
            label: label.to_owned(),
            position: 1,
        }
    }

    fn eur(minor: i64) -> Money {
        Money::new(minor, Currency::parse("EUR").unwrap())
    }

    #[test]
    fn a_stage_change_says_from_where_to_where() {
        assert_eq!(
            summary(
                &Links::new(),
                Uuid::nil(),
                &stage_changed("qualify", "proposal")
            ),
            "Stage changed from qualify to proposal"
        );
    }

    #[test]
    fn a_logged_call_names_its_direction_duration_and_subject() {
        let call = call_logged(Uuid::nil(), None, None, None);
        assert_eq!(
            summary(&Links::new(), Uuid::nil(), &call),
            "Call (outbound, 15 min): Renewal"
        );
        let AnyEvent::Activity(activity::Event::Logged(mut note)) = call else {
            unreachable!()
        };
        note.kind = domain::activity::ActivityKind::Note;
        note.direction = None;
        note.duration_minutes = None;
        let note = AnyEvent::Activity(activity::Event::Logged(note));
        assert_eq!(summary(&Links::new(), Uuid::nil(), &note), "Note: Renewal");
    }

    #[test]
    fn a_case_status_change_shows_the_path() {
        use domain::case::CaseStatus;
        assert_eq!(
            summary(
                &Links::new(),
                Uuid::nil(),
                &case_status(CaseStatus::New, CaseStatus::Open)
            ),
            "Case status new -> open"
        );
        let id = Uuid::now_v7();
        assert_eq!(
            summary(&Links::new(), id, &case_created(id, Uuid::nil())),
            "Case opened: Loom 7 stopped (high)"
        );
    }

    #[test]
    fn later_events_name_the_record_by_its_label_before_the_event() {
        let activity_id = Uuid::now_v7();
        let contact_id = Uuid::now_v7();
        let from = Uuid::now_v7();
        let to = Uuid::now_v7();
        let links = Links::from([
            (activity_id, link(Collection::Activities, "Meeting: Demo")),
            (contact_id, link(Collection::Contacts, "Ada Lovelace")),
            (from, link(Collection::Companies, "Acme GmbH")),
            (to, link(Collection::Companies, "Beta AG")),
        ]);
        assert_eq!(
            summary(&links, activity_id, &activity_completed()),
            "Completed Meeting: Demo (75 min), outcome: Asked for a proposal"
        );
        assert_eq!(
            summary(&links, contact_id, &contact_moved(Some(from), Some(to))),
            "Moved from Acme GmbH to Beta AG"
        );
        assert_eq!(
            summary(&links, contact_id, &contact_moved(Some(to), None)),
            "Moved from Beta AG to no company"
        );
        assert_eq!(
            summary(&links, contact_id, &contact_renamed("Augusta Ada", "King")),
            "Renamed from Ada Lovelace to Augusta Ada King"
        );
    }

    #[test]
    fn amounts_are_shown_exactly_in_their_currency_unit() {
        assert_eq!(money(eur(125_000)), "1250.00 EUR");
        assert_eq!(money(eur(5)), "0.05 EUR");
        assert_eq!(money(eur(-1_999)), "-19.99 EUR");
        assert_eq!(
            money(Money::new(5_000, Currency::parse("JPY").unwrap())),
            "5000 JPY"
        );
        assert_eq!(
            money(Money::new(1_234, Currency::parse("KWD").unwrap())),
            "1.234 KWD"
        );
        let changed = AnyEvent::Deal(deal::Event::AmountChanged(deal::AmountChanged {
            from: eur(4_800_000),
            to: eur(7_200_000),
        }));
        assert_eq!(
            summary(&Links::new(), Uuid::nil(), &changed),
            "Amount changed from 48000.00 EUR to 72000.00 EUR"
        );
    }

    #[test]
    fn free_text_is_cut_to_one_short_line() {
        assert_eq!(quote("Best integration story"), "Best integration story");
        assert_eq!(quote("First line\nsecond line"), "First line…");
        let long = "x".repeat(200);
        assert_eq!(quote(&long), format!("{}…", "x".repeat(MAX_QUOTE_CHARS)));
        let lost = AnyEvent::Deal(deal::Event::Lost(deal::Closed {
            reason: Some(Text::parse("Too expensive\nthey said").unwrap()),
            closed_at: at(1),
        }));
        let deal_id = Uuid::now_v7();
        let links = Links::from([(deal_id, link(Collection::Deals, "Forty looms"))]);
        assert_eq!(
            summary(&links, deal_id, &lost),
            "Deal lost: Forty looms (Too expensive…)"
        );
    }

    #[test]
    fn only_interactions_are_touchpoints() {
        assert_eq!(
            kind(&call_logged(Uuid::nil(), None, None, None)),
            EntryKind::Touchpoint
        );
        assert_eq!(kind(&activity_completed()), EntryKind::Touchpoint);
        assert_eq!(kind(&stage_changed("a", "b")), EntryKind::Change);
        assert_eq!(kind(&task_completed()), EntryKind::Change);
        assert_eq!(
            kind(&case_created(Uuid::nil(), Uuid::nil())),
            EntryKind::Change
        );
    }

    proptest::proptest! {
        #[test]
        fn every_summary_is_one_line(reason in "\\PC{1,300}(\n\\PC{0,50})?") {
            let Ok(reason) = Text::parse(&reason) else { return Ok(()); };
            let event = AnyEvent::Activity(activity::Event::Cancelled(activity::Cancelled {
                reason: Some(reason),
            }));
            let line = summary(&Links::new(), Uuid::nil(), &event);
            proptest::prop_assert!(!line.contains('\n'));
            proptest::prop_assert!(line.chars().count() <= MAX_QUOTE_CHARS + 20);
        }
    }
}
