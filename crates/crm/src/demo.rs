//! Demo data for a fresh installation. `crm up` on a store that holds no customer records yet
//! fills it with a small, plausible sales organisation (users in two teams, a pipeline, companies,
//! contacts, leads, deals, a half-year of activities, tasks and cases), so the first `curl` shows
//! something and the reports, timelines and histories have material.
//!
//! Why through HTTP: the data goes in through the public API with the users' own tokens, exactly
//! as a client would send it, so the demo can only hold what the API accepts, every event carries a
//! real actor, and nothing is written behind the domain's back. Why deterministic: a fixed-seed
//! xorshift picks every name, amount and date (dates relative to now), so two fresh installations
//! look alike and a bug report about the demo can be reproduced. Why it cannot run twice: it only
//! starts on a store without customer records ([`prepare`]) and checks again over HTTP that no
//! company exists before it writes anything ([`seed`]).

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::future::Future;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use chrono::{DateTime, NaiveDate, NaiveTime, SecondsFormat, Utc};
use futures::{StreamExt, TryStreamExt};
use serde_json::{Value, json};

use crm::Settings;

/// Requests in flight at once: enough to keep the group commit busy, few enough to leave the
/// server responsive to the operator's first `curl`.
const CONCURRENCY: usize = 16;
const SEED: u64 = 0x00C0_FFEE_D15C_0DE5;

/// What the demo put in the store.
#[derive(Debug, Clone, Default)]
pub struct DemoSummary {
    /// Companies already existed: nothing was written.
    pub skipped: bool,
    pub users: usize,
    pub pipelines: usize,
    pub companies: usize,
    pub contacts: usize,
    pub leads: usize,
    pub leads_converted: usize,
    pub leads_disqualified: usize,
    pub deals: usize,
    pub stage_changes: usize,
    pub deals_won: usize,
    pub deals_lost: usize,
    pub activities: usize,
    pub tasks: usize,
    pub tasks_completed: usize,
    pub cases: usize,
    pub case_status_changes: usize,
    /// HTTP requests sent.
    pub requests: usize,
    pub elapsed: Duration,
}

impl fmt::Display for DemoSummary {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.skipped {
            return formatter.write_str("not seeded: companies exist already");
        }
        write!(
            formatter,
            "{} users, {} pipeline, {} companies, {} contacts, {} leads ({} converted, {} \
             disqualified), {} deals ({} stage changes, {} won, {} lost), {} activities, {} tasks \
             ({} done), {} cases; {} requests in {:.1} s",
            self.users,
            self.pipelines,
            self.companies,
            self.contacts,
            self.leads,
            self.leads_converted,
            self.leads_disqualified,
            self.deals,
            self.stage_changes,
            self.deals_won,
            self.deals_lost,
            self.activities,
            self.tasks,
            self.tasks_completed,
            self.cases,
            self.requests,
            self.elapsed.as_secs_f64()
        )
    }
}

/// A demo `crm up` will seed once the API listens.
#[derive(Debug, Clone)]
pub struct Pending {
    /// The admin token the demo writes with (the configured one, or the one [`prepare`] made).
    pub admin_token: String,
    /// `prepare` made the token: `up` must show it, since bootstrap will not.
    pub token_generated: bool,
}

/// Decides, before the system is built, whether `up` seeds demo data: only when the setting asks
/// for it and the store holds nothing but users. When the store is empty and no admin token is
/// configured, makes one and configures it, so the first admin's token (shown once) is also the
/// one the demo uses. Without a token on a store that already has its admin, the demo cannot
/// write, and says so.
pub async fn prepare(settings: &mut Settings) -> anyhow::Result<Option<Pending>> {
    if !settings.demo.seed {
        return Ok(None);
    }
    let pool = eventstore::connect(&settings.database).await?;
    let reader = eventstore::Reader::new(pool);
    // A store with nothing but its users has at most a handful of events; more than this many
    // means someone has used it.
    const LOOK_AT: u32 = 1_000;
    let events = reader
        .read_from(0, LOOK_AT)
        .await
        .context("reading the store to decide on demo data")?;
    let holds_records = events.len() >= LOOK_AT as usize
        || events.iter().any(|event| {
            event.category == eventstore::Category::Events
                && !matches!(event.stream.stream_type.as_str(), "user" | "username")
        });
    if holds_records {
        tracing::debug!("the store holds records: no demo data");
        return Ok(None);
    }
    match settings.admin.token.clone() {
        Some(admin_token) => Ok(Some(Pending {
            admin_token,
            token_generated: false,
        })),
        None if events.is_empty() => {
            let admin_token = new_token()?;
            settings.admin.token = Some(admin_token.clone());
            Ok(Some(Pending {
                admin_token,
                token_generated: true,
            }))
        }
        None => {
            tracing::info!(
                "no demo data: the admin exists and CRM_ADMIN_TOKEN is not set; set it to seed"
            );
            Ok(None)
        }
    }
}

/// A fresh secret for the first admin. Not of the `crm_<user id>_<secret>` form (the admin's id
/// does not exist yet): a token of another form authenticates the bootstrap admin.
fn new_token() -> anyhow::Result<String> {
    let mut secret = [0u8; 32];
    getrandom::fill(&mut secret).map_err(|error| anyhow::anyhow!("no randomness: {error}"))?;
    Ok(format!("crm_admin_{}", hex::encode(secret)))
}

/// Where a client on this machine reaches the API: the listen address, with a wildcard host
/// replaced by loopback.
pub fn base_url(listen: SocketAddr, port: u16) -> String {
    let host = match listen.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(ip) if ip.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
        ip => ip,
    };
    format!("http://{}", SocketAddr::new(host, port))
}

/// Seeds the demo through the API at `base_url` with the admin's token, unless a company exists.
pub async fn seed(base_url: &str, admin_token: &str) -> anyhow::Result<DemoSummary> {
    let started = Instant::now();
    let api = Api::new(base_url)?;
    let existing = api.get(admin_token, "/v1/companies?limit=1").await?;
    if existing["items"]
        .as_array()
        .is_some_and(|items| !items.is_empty())
    {
        return Ok(DemoSummary {
            skipped: true,
            ..DemoSummary::default()
        });
    }
    let mut seeder = Seeder {
        api,
        admin: admin_token.to_owned(),
        rng: Rng::new(SEED),
        now: Utc::now(),
        summary: DemoSummary::default(),
    };
    let users = seeder.users().await?;
    let pipeline = seeder.pipeline(&users).await?;
    let companies = seeder.companies(&users).await?;
    let contacts = seeder.contacts(&users, &companies).await?;
    seeder.leads(&users, &companies, &pipeline).await?;
    let deals = seeder
        .deals(&users, &companies, &contacts, &pipeline)
        .await?;
    seeder
        .activities(&users, &companies, &contacts, &deals)
        .await?;
    seeder.tasks(&users, &companies, &deals, &contacts).await?;
    seeder.cases(&users, &contacts).await?;
    let mut summary = seeder.summary;
    summary.requests = seeder.api.requests.load(Ordering::Relaxed);
    summary.elapsed = started.elapsed();
    Ok(summary)
}

/// A small xorshift64* generator: deterministic, no dependency, good enough to pick demo names.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Rng {
        Rng(seed.max(1))
    }

    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// In `0..n` (`n` > 0).
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }

    /// In `low..high`.
    fn range(&mut self, low: i64, high: i64) -> i64 {
        low + (self.next() % (high - low).max(1) as u64) as i64
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }

    fn word(&mut self, words: &[&'static str]) -> &'static str {
        words[self.below(words.len())]
    }

    fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }

    /// An index into `weights`, each chosen in proportion to its weight.
    fn weighted(&mut self, weights: &[u64]) -> usize {
        let total: u64 = weights.iter().sum();
        let mut roll = self.next() % total.max(1);
        for (index, weight) in weights.iter().enumerate() {
            if roll < *weight {
                return index;
            }
            roll -= weight;
        }
        0
    }

    /// Up to `most` distinct entries of `pool`.
    fn some<'a>(&mut self, pool: &[&'a str], most: usize) -> Vec<&'a str> {
        let count = self.below(most + 1);
        let mut chosen: Vec<&str> = Vec::new();
        for _ in 0..count {
            let tag = *self.pick(pool);
            if !chosen.contains(&tag) {
                chosen.push(tag);
            }
        }
        chosen
    }
}

/// The API as a client sees it: JSON over HTTP with a bearer token.
struct Api {
    http: reqwest::Client,
    base: String,
    requests: AtomicUsize,
}

impl Api {
    fn new(base: &str) -> anyhow::Result<Api> {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .pool_max_idle_per_host(CONCURRENCY)
            .build()
            .context("an HTTP client for the demo")?;
        Ok(Api {
            http,
            base: base.trim_end_matches('/').to_owned(),
            requests: AtomicUsize::new(0),
        })
    }

    async fn post(&self, token: &str, path: &str, body: Value) -> anyhow::Result<Value> {
        self.send(reqwest::Method::POST, token, path, Some(body))
            .await
    }

    async fn get(&self, token: &str, path: &str) -> anyhow::Result<Value> {
        self.send(reqwest::Method::GET, token, path, None).await
    }

    /// One request; a 503 or 504 (the server asks to come back) is retried a few times.
    async fn send(
        &self,
        method: reqwest::Method,
        token: &str,
        path: &str,
        body: Option<Value>,
    ) -> anyhow::Result<Value> {
        let mut attempt = 0u32;
        loop {
            attempt += 1;
            self.requests.fetch_add(1, Ordering::Relaxed);
            let mut request = self
                .http
                .request(method.clone(), format!("{}{path}", self.base))
                .bearer_auth(token);
            if let Some(body) = &body {
                request = request.json(body);
            }
            let response = request
                .send()
                .await
                .with_context(|| format!("{method} {path}"))?;
            let status = response.status();
            let text = response
                .text()
                .await
                .with_context(|| format!("{method} {path}: the answer"))?;
            if matches!(status.as_u16(), 503 | 504) && attempt < 5 {
                tokio::time::sleep(Duration::from_millis(200 * u64::from(attempt))).await;
                continue;
            }
            if !status.is_success() {
                bail!("{method} {path}: {status}: {text}");
            }
            return serde_json::from_str(&text)
                .with_context(|| format!("{method} {path}: the answer is not JSON: {text}"));
        }
    }
}

/// Runs `job` on every item, [`CONCURRENCY`] at a time, and returns the results in order.
async fn all<I, F, Fut, T>(items: I, job: F) -> anyhow::Result<Vec<T>>
where
    I: IntoIterator,
    F: FnMut(I::Item) -> Fut,
    Fut: Future<Output = anyhow::Result<T>>,
{
    futures::stream::iter(items)
        .map(job)
        .buffered(CONCURRENCY)
        .try_collect()
        .await
}

fn id_of(answer: &Value) -> anyhow::Result<String> {
    answer["id"]
        .as_str()
        .map(str::to_owned)
        .with_context(|| format!("no id in {answer}"))
}

fn timestamp(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Secs, true)
}

#[derive(Debug, Clone)]
struct User {
    id: String,
    token: String,
}

/// The people of the demo organisation.
struct Users {
    manager: User,
    /// Who owns accounts: the sales people, and the manager for a few strategic ones.
    sellers: Vec<User>,
    support: User,
}

#[derive(Debug, Clone)]
struct Pipeline {
    id: String,
}

#[derive(Debug, Clone)]
struct Company {
    id: String,
    /// The name without its legal form, as deal titles use it.
    short: String,
    domain: String,
    /// Index into `Users::sellers`.
    owner: usize,
    region: &'static Region,
    value_class: &'static str,
}

#[derive(Debug, Clone)]
struct Contact {
    id: String,
    company: usize,
}

#[derive(Debug, Clone)]
struct Deal {
    id: String,
    company: usize,
    contact: Option<usize>,
}

/// Where a company is: its legal form, top-level domain, currency and phone prefix.
#[derive(Debug)]
struct Region {
    legal_form: &'static str,
    tld: &'static str,
    currency: &'static str,
    phone: &'static str,
}

const REGIONS: [Region; 8] = [
    Region {
        legal_form: "GmbH",
        tld: "de",
        currency: "EUR",
        phone: "+49 30",
    },
    Region {
        legal_form: "AG",
        tld: "de",
        currency: "EUR",
        phone: "+49 89",
    },
    Region {
        legal_form: "Ltd",
        tld: "co.uk",
        currency: "GBP",
        phone: "+44 20",
    },
    Region {
        legal_form: "plc",
        tld: "co.uk",
        currency: "GBP",
        phone: "+44 161",
    },
    Region {
        legal_form: "Inc.",
        tld: "com",
        currency: "USD",
        phone: "+1 415",
    },
    Region {
        legal_form: "LLC",
        tld: "com",
        currency: "USD",
        phone: "+1 212",
    },
    Region {
        legal_form: "SAS",
        tld: "fr",
        currency: "EUR",
        phone: "+33 1",
    },
    Region {
        legal_form: "B.V.",
        tld: "nl",
        currency: "EUR",
        phone: "+31 20",
    },
];

const COMPANY_PREFIXES: [&str; 30] = [
    "Nordwind",
    "Alpenglow",
    "Blue Harbor",
    "Kestrel",
    "Lumen",
    "Vantage",
    "Ironbridge",
    "Silverline",
    "Brightwater",
    "Quantum",
    "Cedar",
    "Helix",
    "Orbital",
    "Redwood",
    "Summit",
    "Atlas",
    "Meridian",
    "Northstar",
    "Pioneer",
    "Granite",
    "Falcon",
    "Evergreen",
    "Harbor Point",
    "Copperfield",
    "Aurora",
    "Beacon",
    "Crescent",
    "Driftwood",
    "Elmstead",
    "Foxglove",
];

/// A word of the company's name and the industry it stands for.
const SECTORS: [(&str, &str); 14] = [
    ("Logistics", "Logistics"),
    ("Analytics", "Software"),
    ("Foods", "Food & Beverage"),
    ("Medical", "Healthcare"),
    ("Energy", "Energy"),
    ("Systems", "Software"),
    ("Retail", "Retail"),
    ("Manufacturing", "Manufacturing"),
    ("Capital", "Financial Services"),
    ("Consulting", "Professional Services"),
    ("Pharma", "Pharmaceuticals"),
    ("Robotics", "Industrial Automation"),
    ("Telecom", "Telecommunications"),
    ("Insurance", "Insurance"),
];

const COMPANY_TAGS: [&str; 10] = [
    "enterprise",
    "smb",
    "partner",
    "strategic",
    "renewal-due",
    "referral",
    "expansion",
    "at-risk",
    "reference-customer",
    "trade-fair-2025",
];

const FIRST_NAMES: [&str; 40] = [
    "Anna",
    "Lukas",
    "Sophie",
    "Maximilian",
    "Emma",
    "Paul",
    "Mia",
    "Felix",
    "Hannah",
    "Jonas",
    "Olivia",
    "James",
    "Amelia",
    "Oliver",
    "Isla",
    "George",
    "Emily",
    "Noah",
    "Charlotte",
    "Liam",
    "Camille",
    "Louis",
    "Chloe",
    "Hugo",
    "Lea",
    "Arthur",
    "Sanne",
    "Daan",
    "Fleur",
    "Bram",
    "Priya",
    "Arjun",
    "Mei",
    "Kenji",
    "Sofia",
    "Mateo",
    "Zoe",
    "Ethan",
    "Nora",
    "Samuel",
];

const LAST_NAMES: [&str; 40] = [
    "Schneider",
    "Fischer",
    "Weber",
    "Meyer",
    "Wagner",
    "Becker",
    "Hoffmann",
    "Koch",
    "Richter",
    "Klein",
    "Smith",
    "Jones",
    "Taylor",
    "Brown",
    "Williams",
    "Wilson",
    "Evans",
    "Thomas",
    "Roberts",
    "Walker",
    "Martin",
    "Bernard",
    "Dubois",
    "Moreau",
    "Laurent",
    "Lefebvre",
    "de Vries",
    "Jansen",
    "Bakker",
    "Visser",
    "Patel",
    "Sharma",
    "Chen",
    "Tanaka",
    "Garcia",
    "Rossi",
    "Novak",
    "Kowalski",
    "Andersen",
    "Lindqvist",
];

const TITLES: [&str; 14] = [
    "CEO",
    "CFO",
    "CTO",
    "Head of Sales",
    "Head of Operations",
    "IT Director",
    "Procurement Manager",
    "Sales Operations Lead",
    "Customer Success Manager",
    "Marketing Director",
    "Office Manager",
    "Project Manager",
    "Finance Controller",
    "Solutions Architect",
];

const CONTACT_TAGS: [&str; 6] = [
    "decision-maker",
    "champion",
    "technical",
    "finance",
    "newsletter",
    "event-attendee",
];

const LEAD_COMPANIES: [&str; 16] = [
    "Oakridge Dental",
    "Bergmann Bau GmbH",
    "Lighthouse Travel Ltd",
    "Papillon Cosmetics SAS",
    "Greenfield Farms",
    "Stadtwerke Rheinau",
    "Kite & Co. Design",
    "Polder Water B.V.",
    "Midtown Fitness",
    "Sunrise Solar Inc.",
    "Baltic Shipping",
    "Cobalt Security",
    "Maple Education",
    "Vinothek Huber",
    "Pixelwerk Studio",
    "Harbourside Hotels",
];

const LEAD_SOURCES: [&str; 6] = [
    "web",
    "referral",
    "event",
    "webinar",
    "cold-call",
    "partner",
];

const DISQUALIFY_REASONS: [&str; 5] = [
    "no budget this year",
    "student project",
    "works for a competitor",
    "duplicate enquiry",
    "outside our market",
];

const STAGES: [(&str, &str, u8); 6] = [
    ("lead", "Lead", 10),
    ("qualified", "Qualified", 20),
    ("demo", "Demo", 40),
    ("proposal", "Proposal", 60),
    ("negotiation", "Negotiation", 80),
    ("verbal", "Verbal commit", 90),
];

const PRODUCTS: [&str; 10] = [
    "CRM rollout",
    "Support renewal",
    "Analytics add-on",
    "Onboarding package",
    "Enterprise licence",
    "Data migration",
    "Premium support",
    "Training days",
    "API access tier",
    "Multi-region expansion",
];

const WON_REASONS: [&str; 3] = [
    "best fit for their workflow",
    "price and support",
    "the reference visit convinced them",
];

const LOST_REASONS: [&str; 5] = [
    "chose a competitor",
    "no budget",
    "project postponed",
    "no decision",
    "price too high",
];

const CALL_SUBJECTS: [&str; 6] = [
    "Discovery call",
    "Follow-up call on the proposal",
    "Check-in call",
    "Pricing discussion",
    "Reference call",
    "Renewal call",
];
const EMAIL_SUBJECTS: [&str; 6] = [
    "Sent the proposal",
    "Answered the security questionnaire",
    "Shared a case study",
    "Meeting recap",
    "Contract draft sent",
    "Introduced our implementation partner",
];
const MEETING_SUBJECTS: [&str; 5] = [
    "Product demo",
    "On-site workshop",
    "Quarterly business review",
    "Kick-off meeting",
    "Negotiation meeting",
];
const NOTE_SUBJECTS: [&str; 6] = [
    "Budget confirmed for next quarter",
    "Champion is moving to a new role",
    "Evaluating a competitor",
    "Procurement is involved now",
    "Needs SSO and audit logs",
    "Board decision expected next month",
];
const ACTIVITY_BODIES: [&str; 6] = [
    "They want the revised quote by Friday; volume discount discussed.",
    "Walked through the reporting module; questions about data residency.",
    "IT asked for the DPA and the penetration test summary.",
    "Decision maker joined for the last 15 minutes; positive.",
    "Agreed next steps: trial for two teams, then a go/no-go meeting.",
    "Concerned about migration effort from their spreadsheets.",
];
const CALL_OUTCOMES: [&str; 4] = [
    "connected",
    "left voicemail",
    "no answer",
    "call back requested",
];
const MEETING_OUTCOMES: [&str; 3] = ["positive", "needs follow-up", "next steps agreed"];

const TASK_TITLES: [&str; 8] = [
    "Send the revised proposal",
    "Prepare the demo environment",
    "Follow up on the security review",
    "Book the kick-off meeting",
    "Ask for a reference customer",
    "Send the contract for signature",
    "Check the invoice address",
    "Plan the quarterly business review",
];

const CASE_SUBJECTS: [&str; 10] = [
    "Cannot log in after the password reset",
    "Invoice shows the wrong VAT number",
    "Export to CSV times out",
    "Question about user licences",
    "Sync with the mail server stopped",
    "Request to change the billing contact",
    "Dashboard shows no data since Monday",
    "How to import contacts from a spreadsheet",
    "Two-factor codes arrive late",
    "Report totals differ from the export",
];

/// Everything the seeding phases share: the client, the generator and the counts.
struct Seeder {
    api: Api,
    admin: String,
    rng: Rng,
    now: DateTime<Utc>,
    summary: DemoSummary,
}

impl Seeder {
    /// A moment `days_ago` days back (negative: ahead) in office hours.
    fn office_time(&mut self, days_ago: i64) -> DateTime<Utc> {
        let date = (self.now - chrono::Duration::days(days_ago)).date_naive();
        let hour = self.rng.range(8, 18) as u32;
        let minute = 15 * self.rng.range(0, 4) as u32;
        let time = NaiveTime::from_hms_opt(hour, minute, 0).unwrap_or(NaiveTime::MIN);
        date.and_time(time).and_utc()
    }

    fn date_in(&self, days: i64) -> NaiveDate {
        (self.now + chrono::Duration::days(days)).date_naive()
    }

    async fn users(&mut self) -> anyhow::Result<Users> {
        let people = [
            ("helena.brandt", "manager", "enterprise"),
            ("jonas.weber", "sales", "enterprise"),
            ("olivia.bennett", "sales", "enterprise"),
            ("lucas.moreau", "sales", "mid-market"),
            ("sanne.jansen", "sales", "mid-market"),
            ("sam.okafor", "support", "customer-care"),
        ]
        .map(|(username, role, team)| json!({"username": username, "role": role, "team": team}));
        let api = &self.api;
        let admin = &self.admin;
        let created = all(people, |body| async move {
            let answer = api.post(admin, "/v1/users", body).await?;
            let token = answer["token"]
                .as_str()
                .map(str::to_owned)
                .with_context(|| format!("no token in {answer}"))?;
            Ok(User {
                id: id_of(&answer)?,
                token,
            })
        })
        .await?;
        self.summary.users = created.len();
        let [manager, jonas, olivia, lucas, sanne, support] = <[User; 6]>::try_from(created)
            .map_err(|_| anyhow::anyhow!("six users were asked for"))?;
        Ok(Users {
            sellers: vec![jonas, olivia, lucas, sanne, manager.clone()],
            manager,
            support,
        })
    }

    async fn pipeline(&mut self, users: &Users) -> anyhow::Result<Pipeline> {
        let stages: Vec<Value> = STAGES
            .iter()
            .map(|(key, name, probability)| {
                json!({"key": key, "name": name, "probability": probability})
            })
            .collect();
        let answer = self
            .api
            .post(
                &users.manager.token,
                "/v1/pipelines",
                json!({"name": "New business", "stages": stages}),
            )
            .await?;
        self.summary.pipelines = 1;
        Ok(Pipeline {
            id: id_of(&answer)?,
        })
    }

    async fn companies(&mut self, users: &Users) -> anyhow::Result<Vec<Company>> {
        let mut planned = Vec::new();
        let mut domains = HashSet::new();
        while planned.len() < 50 {
            let prefix = *self.rng.pick(&COMPANY_PREFIXES);
            let (sector, industry) = *self.rng.pick(&SECTORS);
            let region = self.rng.pick(&REGIONS);
            let domain = format!(
                "{}-{}.{}",
                prefix.to_lowercase().replace(' ', ""),
                sector.to_lowercase(),
                region.tld
            );
            if !domains.insert(domain.clone()) {
                continue;
            }
            // The sales people own most accounts; the manager a few strategic ones.
            let owner = self.rng.weighted(&[22, 22, 22, 22, 12]);
            let value_class = ["A", "B", "C", "D"][self.rng.weighted(&[12, 28, 38, 22])];
            let mut tags = self.rng.some(&COMPANY_TAGS, 3);
            if value_class == "A" && !tags.contains(&"strategic") {
                tags.push("strategic");
            }
            let company = Company {
                id: String::new(),
                short: format!("{prefix} {sector}"),
                domain,
                owner,
                region,
                value_class,
            };
            let body = json!({
                "name": format!("{} {}", company.short, region.legal_form),
                "domain": company.domain,
                "industry": industry,
                "value_class": value_class,
                "tags": tags,
            });
            planned.push((company, body));
        }
        let api = &self.api;
        let created = all(planned, |(mut company, body)| async move {
            let token = &users.sellers[company.owner].token;
            company.id = id_of(&api.post(token, "/v1/companies", body).await?)?;
            Ok(company)
        })
        .await?;
        self.summary.companies += created.len();
        Ok(created)
    }

    async fn contacts(
        &mut self,
        users: &Users,
        companies: &[Company],
    ) -> anyhow::Result<Vec<Contact>> {
        let mut planned = Vec::new();
        let mut emails = HashSet::new();
        for index in 0..200 {
            // Every company gets two contacts; the rest go anywhere.
            let company = if index < 2 * companies.len() {
                index % companies.len()
            } else {
                self.rng.below(companies.len())
            };
            let first = *self.rng.pick(&FIRST_NAMES);
            let last = *self.rng.pick(&LAST_NAMES);
            let local = format!("{first}.{}", last.replace(' ', "")).to_lowercase();
            let domain = &companies[company].domain;
            let mut email = format!("{local}@{domain}");
            if !emails.insert(email.clone()) {
                email = format!("{local}{index}@{domain}");
                emails.insert(email.clone());
            }
            let phone = format!(
                "{} {} {}",
                companies[company].region.phone,
                self.rng.range(1000, 10_000),
                self.rng.range(1000, 10_000)
            );
            let body = json!({
                "first_name": first,
                "last_name": last,
                "email": email,
                "phone": phone,
                "title": self.rng.pick(&TITLES),
                "company_id": companies[company].id,
                "tags": self.rng.some(&CONTACT_TAGS, 2),
            });
            planned.push((
                Contact {
                    id: String::new(),
                    company,
                },
                body,
            ));
        }
        let api = &self.api;
        let created = all(planned, |(mut contact, body)| async move {
            let token = &users.sellers[companies[contact.company].owner].token;
            contact.id = id_of(&api.post(token, "/v1/contacts", body).await?)?;
            Ok(contact)
        })
        .await?;
        self.summary.contacts += created.len();
        Ok(created)
    }

    /// Enquiries: some converted (into a new or an existing company, some with a deal), some
    /// disqualified, some qualified and waiting, some new.
    async fn leads(
        &mut self,
        users: &Users,
        companies: &[Company],
        pipeline: &Pipeline,
    ) -> anyhow::Result<()> {
        let sales = users.sellers.len() - 1;
        let mut planned = Vec::new();
        for index in 0..30 {
            let owner = self.rng.below(sales);
            let first = *self.rng.pick(&FIRST_NAMES);
            let last = *self.rng.pick(&LAST_NAMES);
            let company_name = *self.rng.pick(&LEAD_COMPANIES);
            let slug: String = company_name
                .to_lowercase()
                .chars()
                .filter(char::is_ascii_alphanumeric)
                .collect();
            let email = format!("{first}.{}@{slug}.com", last.replace(' ', "")).to_lowercase();
            let phone = self
                .rng
                .chance(60)
                .then(|| format!("+49 40 {}", self.rng.range(100_000, 1_000_000)));
            let capture = json!({
                "name": format!("{first} {last}"),
                "email": email,
                "phone": phone,
                "company_name": company_name,
                "source": self.rng.pick(&LEAD_SOURCES),
            });
            let fate = match index % 10 {
                0..=3 => {
                    let mut convert = json!({"first_name": first, "last_name": last});
                    let own_companies: Vec<&Company> = companies
                        .iter()
                        .filter(|company| company.owner == owner)
                        .collect();
                    let currency = match (index % 3, own_companies.is_empty()) {
                        (2, false) => {
                            let company = *self.rng.pick(&own_companies);
                            convert["company_id"] = json!(company.id);
                            company.region.currency
                        }
                        _ => {
                            convert["company"] = json!({});
                            "EUR"
                        }
                    };
                    if index % 3 != 1 {
                        let close_in = self.rng.range(20, 120);
                        convert["deal"] = json!({
                            "title": format!("{company_name} – {}", self.rng.pick(&PRODUCTS)),
                            "pipeline_id": pipeline.id,
                            "stage": "qualified",
                            "amount": {
                                "amount_minor": 100 * 100 * self.rng.range(20, 300),
                                "currency": currency,
                            },
                            "expected_close_on": self.date_in(close_in),
                        });
                    }
                    LeadFate::Converted(convert)
                }
                4..=6 => LeadFate::Disqualified(self.rng.word(&DISQUALIFY_REASONS)),
                7 | 8 => LeadFate::Qualified,
                _ => LeadFate::New,
            };
            planned.push((owner, capture, fate));
        }
        let api = &self.api;
        let outcomes = all(planned, |(owner, capture, fate)| async move {
            let token = &users.sellers[owner].token;
            let lead = id_of(&api.post(token, "/v1/leads", capture).await?)?;
            match fate {
                LeadFate::New => {}
                LeadFate::Qualified => {
                    api.post(token, &format!("/v1/leads/{lead}/qualify"), json!({}))
                        .await?;
                }
                LeadFate::Disqualified(reason) => {
                    api.post(
                        token,
                        &format!("/v1/leads/{lead}/disqualify"),
                        json!({"reason": reason}),
                    )
                    .await?;
                }
                LeadFate::Converted(convert) => {
                    api.post(token, &format!("/v1/leads/{lead}/qualify"), json!({}))
                        .await?;
                    let converted = api
                        .post(token, &format!("/v1/leads/{lead}/convert"), convert.clone())
                        .await?;
                    return Ok(Some((
                        convert.get("company").is_some(),
                        !converted["deal_id"].is_null(),
                    )));
                }
            }
            Ok(None)
        })
        .await?;
        self.summary.leads = outcomes.len();
        for (index, outcome) in outcomes.iter().enumerate() {
            match outcome {
                Some((new_company, deal)) => {
                    self.summary.leads_converted += 1;
                    self.summary.contacts += 1;
                    self.summary.companies += usize::from(*new_company);
                    self.summary.deals += usize::from(*deal);
                }
                None if matches!(index % 10, 4..=6) => self.summary.leads_disqualified += 1,
                None => {}
            }
        }
        Ok(())
    }

    /// Deals opened at the first stage and moved along to where they stand now; some closed.
    async fn deals(
        &mut self,
        users: &Users,
        companies: &[Company],
        contacts: &[Contact],
        pipeline: &Pipeline,
    ) -> anyhow::Result<Vec<Deal>> {
        let mut by_company: HashMap<usize, Vec<usize>> = HashMap::new();
        for (index, contact) in contacts.iter().enumerate() {
            by_company.entry(contact.company).or_default().push(index);
        }
        let mut planned = Vec::new();
        for index in 0..100 {
            let company = self.rng.below(companies.len());
            let contact = by_company
                .get(&company)
                .map(|candidates| *self.rng.pick(candidates));
            let (low, high) = match companies[company].value_class {
                "A" => (50_000, 400_000),
                "B" => (20_000, 120_000),
                "C" => (5_000, 40_000),
                _ => (1_000, 15_000),
            };
            let amount_major = self.rng.range(low, high) / 100 * 100;
            let fate = if index < 15 {
                DealFate::Won(self.rng.word(&WON_REASONS))
            } else if index < 27 {
                DealFate::Lost(self.rng.word(&LOST_REASONS))
            } else {
                DealFate::Open
            };
            let target = match fate {
                DealFate::Won(_) => STAGES.len() - 1,
                DealFate::Lost(_) => self.rng.below(STAGES.len() - 1),
                DealFate::Open => self.rng.weighted(&[20, 20, 18, 15, 10, 5]),
            };
            let close_in = match fate {
                DealFate::Open => self.rng.range(10, 120),
                _ => -self.rng.range(5, 150),
            };
            let body = json!({
                "title": format!("{} – {}", companies[company].short, self.rng.pick(&PRODUCTS)),
                "pipeline_id": pipeline.id,
                "stage": STAGES[0].0,
                "amount": {
                    "amount_minor": amount_major * 100,
                    "currency": companies[company].region.currency,
                },
                "company_id": companies[company].id,
                "contact_id": contact.map(|contact| contacts[contact].id.clone()),
                "expected_close_on": self.date_in(close_in),
            });
            planned.push((
                Deal {
                    id: String::new(),
                    company,
                    contact,
                },
                body,
                target,
                fate,
            ));
        }
        let api = &self.api;
        let created = all(planned, |(mut deal, body, target, fate)| async move {
            let token = &users.sellers[companies[deal.company].owner].token;
            deal.id = id_of(&api.post(token, "/v1/deals", body).await?)?;
            for (key, _, _) in &STAGES[1..=target] {
                api.post(
                    token,
                    &format!("/v1/deals/{}/stage", deal.id),
                    json!({"stage": key}),
                )
                .await?;
            }
            match fate {
                DealFate::Open => {}
                DealFate::Won(reason) => {
                    api.post(
                        token,
                        &format!("/v1/deals/{}/won", deal.id),
                        json!({"reason": reason}),
                    )
                    .await?;
                }
                DealFate::Lost(reason) => {
                    api.post(
                        token,
                        &format!("/v1/deals/{}/lost", deal.id),
                        json!({"reason": reason}),
                    )
                    .await?;
                }
            }
            Ok((deal, target, fate))
        })
        .await?;
        let mut deals = Vec::with_capacity(created.len());
        for (deal, target, fate) in created {
            self.summary.deals += 1;
            self.summary.stage_changes += target;
            match fate {
                DealFate::Open => {}
                DealFate::Won(_) => self.summary.deals_won += 1,
                DealFate::Lost(_) => self.summary.deals_lost += 1,
            }
            deals.push(deal);
        }
        Ok(deals)
    }

    /// Half a year of touchpoints, logged by the account's owner; a few meetings still ahead.
    async fn activities(
        &mut self,
        users: &Users,
        companies: &[Company],
        contacts: &[Contact],
        deals: &[Deal],
    ) -> anyhow::Result<()> {
        let mut planned = Vec::new();
        for _ in 0..1_000 {
            let (company, contact, deal) = if self.rng.chance(60) {
                let deal = self.rng.pick(deals);
                (deal.company, deal.contact, Some(deal.id.clone()))
            } else {
                let index = self.rng.below(contacts.len());
                (contacts[index].company, Some(index), None)
            };
            let kind = ["call", "email", "meeting", "note"][self.rng.weighted(&[35, 35, 15, 15])];
            let ahead = kind == "meeting" && self.rng.chance(12);
            let days_ago = if ahead {
                -self.rng.range(1, 15)
            } else {
                self.rng.range(0, 181)
            };
            let occurred_at = self.office_time(days_ago);
            let past = occurred_at <= self.now;
            let (subject, duration, direction, outcome) = match kind {
                "call" => (
                    *self.rng.pick(&CALL_SUBJECTS),
                    Some(self.rng.range(3, 46)),
                    Some(if self.rng.chance(35) {
                        "inbound"
                    } else {
                        "outbound"
                    }),
                    past.then(|| *self.rng.pick(&CALL_OUTCOMES)),
                ),
                "email" => (
                    *self.rng.pick(&EMAIL_SUBJECTS),
                    None,
                    Some(if self.rng.chance(35) {
                        "inbound"
                    } else {
                        "outbound"
                    }),
                    None,
                ),
                "meeting" => (
                    *self.rng.pick(&MEETING_SUBJECTS),
                    Some(15 * self.rng.range(2, 9)),
                    None,
                    past.then(|| *self.rng.pick(&MEETING_OUTCOMES)),
                ),
                _ => (*self.rng.pick(&NOTE_SUBJECTS), None, None, None),
            };
            let text = self
                .rng
                .chance(40)
                .then(|| *self.rng.pick(&ACTIVITY_BODIES));
            let body = json!({
                "kind": kind,
                "subject": subject,
                "body": text,
                "occurred_at": timestamp(occurred_at),
                "duration_minutes": duration,
                "direction": direction,
                "outcome": outcome,
                "contact_id": contact.map(|contact| contacts[contact].id.clone()),
                "company_id": companies[company].id,
                "deal_id": deal,
            });
            planned.push((companies[company].owner, body));
        }
        let api = &self.api;
        let created = all(planned, |(owner, body)| async move {
            api.post(&users.sellers[owner].token, "/v1/activities", body)
                .await
        })
        .await?;
        self.summary.activities = created.len();
        Ok(())
    }

    /// Follow-ups for the deals' owners: some done, some due, a few overdue.
    async fn tasks(
        &mut self,
        users: &Users,
        companies: &[Company],
        deals: &[Deal],
        contacts: &[Contact],
    ) -> anyhow::Result<()> {
        let mut planned = Vec::new();
        for _ in 0..60 {
            let deal = self.rng.pick(deals);
            let owner = companies[deal.company].owner;
            let done = self.rng.chance(40);
            let due_in = if done || self.rng.chance(15) {
                -self.rng.range(1, 60)
            } else {
                self.rng.range(1, 30)
            };
            let due_at = self.office_time(-due_in);
            let body = json!({
                "title": self.rng.pick(&TASK_TITLES),
                "due_at": timestamp(due_at),
                "assignee_id": users.sellers[owner].id,
                "deal_id": deal.id,
                "company_id": companies[deal.company].id,
                "contact_id": deal.contact.map(|contact| contacts[contact].id.clone()),
            });
            planned.push((owner, body, done));
        }
        let api = &self.api;
        let created = all(planned, |(owner, body, done)| async move {
            let token = &users.sellers[owner].token;
            let task = id_of(&api.post(token, "/v1/tasks", body).await?)?;
            if done {
                api.post(token, &format!("/v1/tasks/{task}/complete"), json!({}))
                    .await?;
            }
            Ok(done)
        })
        .await?;
        self.summary.tasks = created.len();
        self.summary.tasks_completed = created.iter().filter(|done| **done).count();
        Ok(())
    }

    /// Service cases the support agent works on, in every status of their life.
    async fn cases(&mut self, users: &Users, contacts: &[Contact]) -> anyhow::Result<()> {
        const PATH: [&str; 4] = ["open", "pending", "resolved", "closed"];
        let mut planned = Vec::new();
        for _ in 0..25 {
            let contact = self.rng.pick(contacts);
            let priority = ["low", "normal", "high", "urgent"][self.rng.weighted(&[20, 50, 22, 8])];
            let steps = self.rng.weighted(&[4, 6, 5, 5, 5]);
            let body = json!({
                "subject": self.rng.pick(&CASE_SUBJECTS),
                "contact_id": contact.id,
                "priority": priority,
                "assignee_id": users.support.id,
            });
            planned.push((body, steps));
        }
        let api = &self.api;
        let token = &users.support.token;
        let created = all(planned, |(body, steps)| async move {
            let case = id_of(&api.post(token, "/v1/cases", body).await?)?;
            for status in &PATH[..steps] {
                api.post(
                    token,
                    &format!("/v1/cases/{case}/status"),
                    json!({"status": status}),
                )
                .await?;
            }
            Ok(steps)
        })
        .await?;
        self.summary.cases = created.len();
        self.summary.case_status_changes = created.iter().sum();
        Ok(())
    }
}

enum LeadFate {
    New,
    Qualified,
    Disqualified(&'static str),
    /// With the body of the conversion.
    Converted(Value),
}

#[derive(Debug, Clone, Copy)]
enum DealFate {
    Open,
    Won(&'static str),
    Lost(&'static str),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_generator_is_deterministic_and_spreads_its_picks() {
        let mut first = Rng::new(SEED);
        let mut second = Rng::new(SEED);
        let a: Vec<u64> = (0..100).map(|_| first.next()).collect();
        let b: Vec<u64> = (0..100).map(|_| second.next()).collect();
        assert_eq!(a, b);
        let mut counts = [0usize; 4];
        let mut rng = Rng::new(SEED);
        for _ in 0..4_000 {
            counts[rng.weighted(&[1, 1, 1, 1])] += 1;
        }
        assert!(
            counts.iter().all(|count| (800..1_200).contains(count)),
            "{counts:?}"
        );
    }

    #[test]
    fn a_wildcard_listen_address_is_reached_on_loopback() {
        let any: SocketAddr = "0.0.0.0:8080".parse().expect("an address");
        assert_eq!(base_url(any, 9000), "http://127.0.0.1:9000");
        let one: SocketAddr = "10.1.2.3:8080".parse().expect("an address");
        assert_eq!(base_url(one, 8080), "http://10.1.2.3:8080");
    }

    #[test]
    fn every_demo_value_is_one_the_domain_accepts() {
        for prefix in COMPANY_PREFIXES {
            for (sector, _) in SECTORS {
                for region in &REGIONS {
                    let domain = format!(
                        "{}-{}.{}",
                        prefix.to_lowercase().replace(' ', ""),
                        sector.to_lowercase(),
                        region.tld
                    );
                    assert!(domain::values::Domain::parse(&domain).is_ok(), "{domain}");
                }
            }
        }
        for first in FIRST_NAMES {
            for last in LAST_NAMES {
                let email = format!("{first}.{}@acme.com", last.replace(' ', "")).to_lowercase();
                assert!(domain::values::Email::parse(&email).is_ok(), "{email}");
            }
        }
        for tag in COMPANY_TAGS.iter().chain(&CONTACT_TAGS) {
            assert!(domain::values::Tags::parse(&[tag]).is_ok(), "{tag}");
        }
    }
}
