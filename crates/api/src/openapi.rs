//! The OpenAPI 3.1 document of the HTTP API (`GET /openapi.json`, checked in as
//! `schemas/openapi.json`), generated from the types the handlers parse and answer with, so the
//! published contract cannot drift from the code: request bodies are the handlers' own body
//! types, records are the domain's record types, errors are [`Problem`]. Their JSON Schemas come
//! from schemars, which speaks JSON Schema 2020-12, the dialect OpenAPI 3.1 uses, so they go into
//! `components/schemas` as they are and every shared type is defined once and referenced.
//!
//! The one hand-kept part is [`ROUTES`], a table of every route with its headers, body, answer and
//! the errors it can give. It is kept honest from both sides by `tests/openapi.rs`: every row is
//! sent to the real router (which must know its method and path), and every route `v1/mod.rs`
//! registers must have a row.
//!
//! Requests are described as they are deserialised and answers as they are serialised: an
//! `Option` field may be left out of a request, but it is always present (maybe `null`) in an
//! answer. schemars fixes that choice per generator, so there are two, one per direction; their
//! definitions are merged, and a type that reads the same both ways is defined once. One that
//! does not keeps its name for requests and gets `-Output` for answers.

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet};

use axum::Json;
use domain::activity::Activity;
use domain::case::Case;
use domain::company::Company;
use domain::contact::Contact;
use domain::deal::Deal;
use domain::lead::Lead;
use domain::pipeline::Pipeline;
use domain::task::Task;
use domain::values::StageKey;
use schemars::generate::{Contract, SchemaSettings};
use schemars::{JsonSchema, Schema, SchemaGenerator};
use serde_json::{Map, Value, json};

use crate::command::Committed;
use crate::problem::{PROBLEM_CONTENT_TYPE, Problem};
use crate::request::MAX_BODY_BYTES;
use crate::v1::audit::{Consistency, Inclusion};
use crate::v1::companies::{ChangeCompany, CreateCompany};
use crate::v1::contacts::{ChangeContact, CreateContact, RecordLinkClick};
use crate::v1::deals::{ChangeDeal, Close, MoveStage, OpenDeal};
use crate::v1::history::{EventsPage, History};
use crate::v1::leads::{CaptureLead, ChangeLead, ConvertLead, Converted, Disqualify};
use crate::v1::pipelines::{AddStage, ChangePipeline, ChangeStage, CreatePipeline, ReorderStages};
use crate::v1::touchpoints::{
    CancelActivity, ChangeCase, ChangeCaseStatus, ChangeTask, CompleteActivity, CreateTask,
    OpenCase, RecordActivity,
};
use crate::v1::users::{
    ChangeUser, CreateUser, CreatedUser, IssueToken, IssuedTokenAnswer, UserView,
};

/// The OpenAPI version the document follows.
pub const OPENAPI_VERSION: &str = "3.1.0";

/// Where component schemas live; schemars writes its `$ref`s against this.
const SCHEMAS: &str = "/components/schemas";
/// Where the answers' schemas live until they are merged with the requests' (see the module
/// docs): a separate place, so a reference says unambiguously which direction it meant.
const OUTPUT_SCHEMAS: &str = "/components/output-schemas";
/// The suffix of an answer's schema whose type reads differently in a request.
const OUTPUT_SUFFIX: &str = "-Output";

/// The HTTP methods the API uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Method {
    Get,
    Post,
    Patch,
    Delete,
}

impl Method {
    /// The key of an operation in an OpenAPI path item.
    fn key(self) -> &'static str {
        match self {
            Method::Get => "get",
            Method::Post => "post",
            Method::Patch => "patch",
            Method::Delete => "delete",
        }
    }
}

/// The groups operations are listed under.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Tag {
    Companies,
    Contacts,
    Leads,
    Pipelines,
    Deals,
    Activities,
    Tasks,
    Cases,
    Users,
    History,
    Reports,
    Scores,
    Timelines,
    Audit,
    Operations,
}

impl Tag {
    const ALL: [Tag; 15] = [
        Tag::Companies,
        Tag::Contacts,
        Tag::Leads,
        Tag::Pipelines,
        Tag::Deals,
        Tag::Activities,
        Tag::Tasks,
        Tag::Cases,
        Tag::Users,
        Tag::History,
        Tag::Reports,
        Tag::Scores,
        Tag::Timelines,
        Tag::Audit,
        Tag::Operations,
    ];

    fn name(self) -> &'static str {
        match self {
            Tag::Companies => "companies",
            Tag::Contacts => "contacts",
            Tag::Leads => "leads",
            Tag::Pipelines => "pipelines",
            Tag::Deals => "deals",
            Tag::Activities => "activities",
            Tag::Tasks => "tasks",
            Tag::Cases => "cases",
            Tag::Users => "users",
            Tag::History => "history",
            Tag::Reports => "reports",
            Tag::Scores => "scores",
            Tag::Timelines => "timelines",
            Tag::Audit => "audit",
            Tag::Operations => "operations",
        }
    }

    fn description(self) -> &'static str {
        match self {
            Tag::Companies => "Organisations the business sells to or serves (accounts).",
            Tag::Contacts => "People, at a company or on their own.",
            Tag::Leads => {
                "Enquiries not yet qualified; converting one creates a contact (and, when \
                 asked, a company and a deal) in one atomic step."
            }
            Tag::Pipelines => {
                "The business's own sales processes: ordered stages, each with a probability."
            }
            Tag::Deals => "Opportunities moving through a pipeline's stages until won or lost.",
            Tag::Activities => "Touchpoints with a customer: calls, e-mails, meetings, notes.",
            Tag::Tasks => "Work to do, assigned to a user and due at a time.",
            Tag::Cases => "Service cases, from new through open, pending and resolved to closed.",
            Tag::Users => "People and services that call the API, with their role and team.",
            Tag::History => "The log itself: a record's events, and every event in order.",
            Tag::Reports => {
                "What the business sees of its sales: the pipeline by stage, conversion and \
                 velocity, the forecast against actuals, leaderboards and lead sources; JSON, \
                 CSV or XLSX; counted over the deals the caller may see."
            }
            Tag::Scores => {
                "Each customer's value class (RFM), engagement, touch cost and churn risk, \
                 with the components and events that explain them."
            }
            Tag::Timelines => {
                "Every touchpoint and change of a customer and of its deals, tasks and cases, \
                 newest first."
            }
            Tag::Audit => {
                "The audit trail, for auditor and admin only; each call is itself logged as an \
                 access."
            }
            Tag::Operations => "Liveness, readiness, metrics and this document; no token needed.",
        }
    }
}

/// The answer of a lead's conversion ([`Converted`]) under a name of its own: the domain's lead
/// record has a `Converted` too, and schemars would tell them apart as `Converted2`.
struct LeadConversion;

impl JsonSchema for LeadConversion {
    fn schema_name() -> Cow<'static, str> {
        "LeadConversion".into()
    }

    fn json_schema(generator: &mut SchemaGenerator) -> Schema {
        Converted::json_schema(generator)
    }
}

/// How a type's JSON Schema is found: its name, and a `$ref` to it from a generator (which
/// defines it, and what it uses, on the way).
#[derive(Clone, Copy)]
struct TypeSchema {
    name: fn() -> Cow<'static, str>,
    reference: fn(&mut SchemaGenerator) -> Schema,
}

const fn schema_of<T: JsonSchema>() -> TypeSchema {
    TypeSchema {
        name: T::schema_name,
        reference: SchemaGenerator::subschema_for::<T>,
    }
}

/// What a request carries besides its path, and so which headers and query parameters it takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// A command that makes a record: `Idempotency-Key`.
    Create,
    /// A command that makes a record and whose replay could not answer in full (a new user's
    /// token is shown once), so it refuses `Idempotency-Key`.
    CreateOnce,
    /// A command to an existing record: `Idempotency-Key` and `If-Match`.
    Change,
    /// A command to an existing record whose replay could not answer in full (a token is shown
    /// once): `If-Match`, and no `Idempotency-Key`.
    IssueOnce,
    /// A command to an existing record that consults a read model first: as [`Kind::Change`],
    /// and `X-Crm-Min-Position` for how fresh that read must be.
    ChangeAfterRead,
    /// A read of one record: `X-Crm-Min-Position` or `?min_position=`.
    Read,
    /// A read of one record by id: as [`Kind::Read`], and `as_of`.
    RecordRead,
    /// A read of a list: the same, and the filters and the page.
    List,
    /// A report: whose deals, which pipeline, window or months, and the file format.
    Report,
    /// A customer's timeline: the time range, the kind of entry and the page.
    Timeline,
    /// A ranked list of scores: the order, the class and how many.
    Ranked,
    /// A read of the audit trail: the time range, the action and the page.
    Audit,
    /// A page of the log: `after` and `limit`.
    Events,
    /// The log followed live: where to start, and which aggregate.
    Follow,
    /// A record's history: as [`Kind::Read`], and `after` (a version) and `limit`.
    History,
    /// A check of the log itself: no parameters.
    LogCheck,
    /// A read answered from the store itself (never behind): no parameters.
    StoreRead,
    /// An inclusion proof: `position` and `tree_size`.
    Inclusion,
    /// A consistency proof: `from` and `to` (tree sizes).
    Consistency,
    /// An operations route: no token.
    Open,
}

/// The JSON body a route reads.
#[derive(Clone, Copy)]
enum Body {
    /// No body is read.
    None,
    /// A body of this type must be sent.
    Required(TypeSchema),
    /// Every field is optional, so the body may be left out (it reads as `{}`).
    Optional(TypeSchema),
}

/// What a route answers when it succeeds.
#[derive(Clone, Copy)]
enum Answer {
    /// A command's answer: this status, this JSON body and `X-Crm-Position`.
    Command { status: u16, body: TypeSchema },
    /// One record as the read model holds it, with its `version` (also as `ETag`).
    Record(TypeSchema),
    /// A page of records.
    Page(TypeSchema),
    /// A JSON document of this type.
    Json {
        description: &'static str,
        body: TypeSchema,
    },
    /// A report: JSON of this type, or the same as a CSV or XLSX file (`?format=`).
    Report {
        description: &'static str,
        body: TypeSchema,
    },
    /// Plain text of this media type.
    Text { media_type: &'static str },
    /// Server-sent events, each an event envelope.
    EventStream,
    /// `/readyz`: the readiness report, with 200 or 503.
    Readiness,
    /// This document.
    Document,
}

/// One route of the API: the table [`ROUTES`] is made of these.
struct Route {
    method: Method,
    /// In OpenAPI's form: `/v1/companies/{id}`.
    path: &'static str,
    operation_id: &'static str,
    summary: &'static str,
    tag: Tag,
    kind: Kind,
    body: Body,
    answer: Answer,
    /// The error statuses the route can answer, each with a problem+json body.
    errors: &'static [u16],
}

/// A command that makes a record.
const CREATE_ERRORS: &[u16] = &[400, 401, 403, 408, 413, 422, 503];
/// A command that makes a record that may already exist under another name (a username).
const CREATE_UNIQUE_ERRORS: &[u16] = &[400, 401, 403, 408, 409, 413, 422, 503];
/// A command with a body to an existing record.
const CHANGE_ERRORS: &[u16] = &[400, 401, 403, 404, 408, 409, 412, 413, 422, 503];
/// A command without a body to an existing record (422 for a bad `If-Match` or key; 400, 408
/// and 413 for a body sent all the same).
const ACTION_ERRORS: &[u16] = &[400, 401, 403, 404, 408, 409, 412, 413, 422, 503];
/// A command without a body that consults a read model first.
const ACTION_AFTER_READ_ERRORS: &[u16] = &[400, 401, 403, 404, 408, 409, 412, 413, 422, 503, 504];
/// A read of one record.
const READ_ERRORS: &[u16] = &[401, 403, 404, 422, 503, 504];
/// A read of a list.
const LIST_ERRORS: &[u16] = &[401, 403, 422, 503, 504];

const fn committed(status: u16) -> Answer {
    Answer::Command {
        status,
        body: schema_of::<Committed>(),
    }
}

/// A record's events in order.
const fn history_route(path: &'static str, operation_id: &'static str) -> Route {
    Route {
        method: Method::Get,
        path,
        operation_id,
        summary: "The record's events in order, with actor and time, a page at a time \
            (analyst, admin)",
        tag: Tag::History,
        kind: Kind::History,
        body: Body::None,
        answer: Answer::Json {
            description: "The record's events, oldest first.",
            body: schema_of::<History>(),
        },
        errors: READ_ERRORS,
    }
}

/// A report of the sales pipeline.
const fn report_route(
    path: &'static str,
    operation_id: &'static str,
    summary: &'static str,
    answer: Answer,
) -> Route {
    Route {
        method: Method::Get,
        path,
        operation_id,
        summary,
        tag: Tag::Reports,
        kind: Kind::Report,
        body: Body::None,
        answer,
        errors: READ_ERRORS,
    }
}

/// A customer's timeline.
const fn timeline_route(path: &'static str, operation_id: &'static str) -> Route {
    Route {
        method: Method::Get,
        path,
        operation_id,
        summary: "Every touchpoint and change of the customer and of its deals, tasks and \
            cases that the caller may read, newest first",
        tag: Tag::Timelines,
        kind: Kind::Timeline,
        body: Body::None,
        answer: Answer::Json {
            description: "One page of the timeline, newest first.",
            body: schema_of::<timeline::TimelinePage>(),
        },
        errors: READ_ERRORS,
    }
}

/// Every route the API serves.
const ROUTES: &[Route] = &[
    // companies
    Route {
        method: Method::Post,
        path: "/v1/companies",
        operation_id: "createCompany",
        summary: "Create a company",
        tag: Tag::Companies,
        kind: Kind::Create,
        body: Body::Required(schema_of::<CreateCompany>()),
        answer: committed(201),
        errors: CREATE_ERRORS,
    },
    Route {
        method: Method::Get,
        path: "/v1/companies",
        operation_id: "listCompanies",
        summary: "List companies, filtered",
        tag: Tag::Companies,
        kind: Kind::List,
        body: Body::None,
        answer: Answer::Page(schema_of::<Company>()),
        errors: LIST_ERRORS,
    },
    Route {
        method: Method::Get,
        path: "/v1/companies/{id}",
        operation_id: "getCompany",
        summary: "Read a company",
        tag: Tag::Companies,
        kind: Kind::RecordRead,
        body: Body::None,
        answer: Answer::Record(schema_of::<Company>()),
        errors: READ_ERRORS,
    },
    Route {
        method: Method::Patch,
        path: "/v1/companies/{id}",
        operation_id: "changeCompany",
        summary: "Change a company's named fields",
        tag: Tag::Companies,
        kind: Kind::Change,
        body: Body::Required(schema_of::<ChangeCompany>()),
        answer: committed(200),
        errors: CHANGE_ERRORS,
    },
    Route {
        method: Method::Post,
        path: "/v1/companies/{id}/archive",
        operation_id: "archiveCompany",
        summary: "Archive a company: it stays readable and takes no further change (409)",
        tag: Tag::Companies,
        kind: Kind::Change,
        body: Body::None,
        answer: committed(200),
        errors: ACTION_ERRORS,
    },
    // contacts
    Route {
        method: Method::Post,
        path: "/v1/contacts",
        operation_id: "createContact",
        summary: "Create a contact",
        tag: Tag::Contacts,
        kind: Kind::Create,
        body: Body::Required(schema_of::<CreateContact>()),
        answer: committed(201),
        errors: CREATE_ERRORS,
    },
    Route {
        method: Method::Get,
        path: "/v1/contacts",
        operation_id: "listContacts",
        summary: "List contacts, filtered",
        tag: Tag::Contacts,
        kind: Kind::List,
        body: Body::None,
        answer: Answer::Page(schema_of::<Contact>()),
        errors: LIST_ERRORS,
    },
    Route {
        method: Method::Get,
        path: "/v1/contacts/{id}",
        operation_id: "getContact",
        summary: "Read a contact",
        tag: Tag::Contacts,
        kind: Kind::RecordRead,
        body: Body::None,
        answer: Answer::Record(schema_of::<Contact>()),
        errors: READ_ERRORS,
    },
    Route {
        method: Method::Patch,
        path: "/v1/contacts/{id}",
        operation_id: "changeContact",
        summary: "Change a contact's named fields",
        tag: Tag::Contacts,
        kind: Kind::Change,
        body: Body::Required(schema_of::<ChangeContact>()),
        answer: committed(200),
        errors: CHANGE_ERRORS,
    },
    // leads
    Route {
        method: Method::Post,
        path: "/v1/leads",
        operation_id: "captureLead",
        summary: "Capture a lead",
        tag: Tag::Leads,
        kind: Kind::Create,
        body: Body::Required(schema_of::<CaptureLead>()),
        answer: committed(201),
        errors: CREATE_ERRORS,
    },
    Route {
        method: Method::Get,
        path: "/v1/leads",
        operation_id: "listLeads",
        summary: "List leads, filtered",
        tag: Tag::Leads,
        kind: Kind::List,
        body: Body::None,
        answer: Answer::Page(schema_of::<Lead>()),
        errors: LIST_ERRORS,
    },
    Route {
        method: Method::Get,
        path: "/v1/leads/{id}",
        operation_id: "getLead",
        summary: "Read a lead",
        tag: Tag::Leads,
        kind: Kind::RecordRead,
        body: Body::None,
        answer: Answer::Record(schema_of::<Lead>()),
        errors: READ_ERRORS,
    },
    Route {
        method: Method::Patch,
        path: "/v1/leads/{id}",
        operation_id: "changeLead",
        summary: "Hand a lead to someone (its team follows the new owner unless named)",
        tag: Tag::Leads,
        kind: Kind::Change,
        body: Body::Required(schema_of::<ChangeLead>()),
        answer: committed(200),
        errors: CHANGE_ERRORS,
    },
    Route {
        method: Method::Post,
        path: "/v1/leads/{id}/qualify",
        operation_id: "qualifyLead",
        summary: "Qualify a lead",
        tag: Tag::Leads,
        kind: Kind::Change,
        body: Body::None,
        answer: committed(200),
        errors: ACTION_ERRORS,
    },
    Route {
        method: Method::Post,
        path: "/v1/leads/{id}/disqualify",
        operation_id: "disqualifyLead",
        summary: "Disqualify a lead, saying why",
        tag: Tag::Leads,
        kind: Kind::Change,
        body: Body::Optional(schema_of::<Disqualify>()),
        answer: committed(200),
        errors: CHANGE_ERRORS,
    },
    Route {
        method: Method::Post,
        path: "/v1/leads/{id}/convert",
        operation_id: "convertLead",
        summary: "Convert a lead into a contact, and a company and a deal when asked; a converted lead is 409",
        tag: Tag::Leads,
        kind: Kind::Change,
        body: Body::Optional(schema_of::<ConvertLead>()),
        answer: Answer::Command {
            status: 200,
            body: schema_of::<LeadConversion>(),
        },
        errors: CHANGE_ERRORS,
    },
    // pipelines
    Route {
        method: Method::Post,
        path: "/v1/pipelines",
        operation_id: "createPipeline",
        summary: "Define a sales process (admin, manager)",
        tag: Tag::Pipelines,
        kind: Kind::Create,
        body: Body::Required(schema_of::<CreatePipeline>()),
        answer: committed(201),
        errors: CREATE_ERRORS,
    },
    Route {
        method: Method::Get,
        path: "/v1/pipelines",
        operation_id: "listPipelines",
        summary: "List pipelines",
        tag: Tag::Pipelines,
        kind: Kind::List,
        body: Body::None,
        answer: Answer::Page(schema_of::<Pipeline>()),
        errors: LIST_ERRORS,
    },
    Route {
        method: Method::Get,
        path: "/v1/pipelines/{id}",
        operation_id: "getPipeline",
        summary: "Read a pipeline",
        tag: Tag::Pipelines,
        kind: Kind::RecordRead,
        body: Body::None,
        answer: Answer::Record(schema_of::<Pipeline>()),
        errors: READ_ERRORS,
    },
    Route {
        method: Method::Patch,
        path: "/v1/pipelines/{id}",
        operation_id: "changePipeline",
        summary: "Rename a pipeline (admin, manager)",
        tag: Tag::Pipelines,
        kind: Kind::Change,
        body: Body::Required(schema_of::<ChangePipeline>()),
        answer: committed(200),
        errors: CHANGE_ERRORS,
    },
    Route {
        method: Method::Post,
        path: "/v1/pipelines/{id}/stages",
        operation_id: "addPipelineStage",
        summary: "Add a stage to a pipeline (admin, manager)",
        tag: Tag::Pipelines,
        kind: Kind::Change,
        body: Body::Required(schema_of::<AddStage>()),
        answer: committed(200),
        errors: CHANGE_ERRORS,
    },
    Route {
        method: Method::Post,
        path: "/v1/pipelines/{id}/stages/order",
        operation_id: "reorderPipelineStages",
        summary: "Put a pipeline's stages in a new order (admin, manager)",
        tag: Tag::Pipelines,
        kind: Kind::Change,
        body: Body::Required(schema_of::<ReorderStages>()),
        answer: committed(200),
        errors: CHANGE_ERRORS,
    },
    Route {
        method: Method::Patch,
        path: "/v1/pipelines/{id}/stages/{key}",
        operation_id: "changePipelineStage",
        summary: "Rename a stage or change its win probability (admin, manager)",
        tag: Tag::Pipelines,
        kind: Kind::Change,
        body: Body::Required(schema_of::<ChangeStage>()),
        answer: committed(200),
        errors: CHANGE_ERRORS,
    },
    Route {
        method: Method::Delete,
        path: "/v1/pipelines/{id}/stages/{key}",
        operation_id: "removePipelineStage",
        summary: "Remove a stage no open deal is in (admin, manager); one in use is 409",
        tag: Tag::Pipelines,
        kind: Kind::ChangeAfterRead,
        body: Body::None,
        answer: committed(200),
        errors: ACTION_AFTER_READ_ERRORS,
    },
    // deals
    Route {
        method: Method::Post,
        path: "/v1/deals",
        operation_id: "openDeal",
        summary: "Open a deal in a pipeline",
        tag: Tag::Deals,
        kind: Kind::Create,
        body: Body::Required(schema_of::<OpenDeal>()),
        answer: committed(201),
        errors: CREATE_ERRORS,
    },
    Route {
        method: Method::Get,
        path: "/v1/deals",
        operation_id: "listDeals",
        summary: "List deals, filtered",
        tag: Tag::Deals,
        kind: Kind::List,
        body: Body::None,
        answer: Answer::Page(schema_of::<Deal>()),
        errors: LIST_ERRORS,
    },
    Route {
        method: Method::Get,
        path: "/v1/deals/{id}",
        operation_id: "getDeal",
        summary: "Read a deal",
        tag: Tag::Deals,
        kind: Kind::RecordRead,
        body: Body::None,
        answer: Answer::Record(schema_of::<Deal>()),
        errors: READ_ERRORS,
    },
    Route {
        method: Method::Patch,
        path: "/v1/deals/{id}",
        operation_id: "changeDeal",
        summary: "Change a deal's title, amount, expected close or owner",
        tag: Tag::Deals,
        kind: Kind::Change,
        body: Body::Required(schema_of::<ChangeDeal>()),
        answer: committed(200),
        errors: CHANGE_ERRORS,
    },
    Route {
        method: Method::Post,
        path: "/v1/deals/{id}/stage",
        operation_id: "moveDealStage",
        summary: "Move a deal to another stage of its pipeline; a closed deal is 409",
        tag: Tag::Deals,
        kind: Kind::Change,
        body: Body::Required(schema_of::<MoveStage>()),
        answer: committed(200),
        errors: CHANGE_ERRORS,
    },
    Route {
        method: Method::Post,
        path: "/v1/deals/{id}/won",
        operation_id: "winDeal",
        summary: "Close a deal as won",
        tag: Tag::Deals,
        kind: Kind::Change,
        body: Body::Optional(schema_of::<Close>()),
        answer: committed(200),
        errors: CHANGE_ERRORS,
    },
    Route {
        method: Method::Post,
        path: "/v1/deals/{id}/lost",
        operation_id: "loseDeal",
        summary: "Close a deal as lost",
        tag: Tag::Deals,
        kind: Kind::Change,
        body: Body::Optional(schema_of::<Close>()),
        answer: committed(200),
        errors: CHANGE_ERRORS,
    },
    Route {
        method: Method::Post,
        path: "/v1/deals/{id}/reopen",
        operation_id: "reopenDeal",
        summary: "Reopen a closed deal",
        tag: Tag::Deals,
        kind: Kind::Change,
        body: Body::None,
        answer: committed(200),
        errors: ACTION_ERRORS,
    },
    // activities
    Route {
        method: Method::Post,
        path: "/v1/activities",
        operation_id: "recordActivity",
        summary: "Log a touchpoint, or schedule one",
        tag: Tag::Activities,
        kind: Kind::Create,
        body: Body::Required(schema_of::<RecordActivity>()),
        answer: committed(201),
        errors: CREATE_ERRORS,
    },
    Route {
        method: Method::Get,
        path: "/v1/activities",
        operation_id: "listActivities",
        summary: "List activities, filtered",
        tag: Tag::Activities,
        kind: Kind::List,
        body: Body::None,
        answer: Answer::Page(schema_of::<Activity>()),
        errors: LIST_ERRORS,
    },
    Route {
        method: Method::Get,
        path: "/v1/activities/{id}",
        operation_id: "getActivity",
        summary: "Read an activity",
        tag: Tag::Activities,
        kind: Kind::RecordRead,
        body: Body::None,
        answer: Answer::Record(schema_of::<Activity>()),
        errors: READ_ERRORS,
    },
    Route {
        method: Method::Post,
        path: "/v1/activities/{id}/complete",
        operation_id: "completeActivity",
        summary: "Mark a scheduled activity as done",
        tag: Tag::Activities,
        kind: Kind::Change,
        body: Body::Optional(schema_of::<CompleteActivity>()),
        answer: committed(200),
        errors: CHANGE_ERRORS,
    },
    Route {
        method: Method::Post,
        path: "/v1/activities/{id}/cancel",
        operation_id: "cancelActivity",
        summary: "Cancel a scheduled activity, with why: it never counts as a touchpoint",
        tag: Tag::Activities,
        kind: Kind::Change,
        body: Body::Optional(schema_of::<CancelActivity>()),
        answer: committed(200),
        errors: CHANGE_ERRORS,
    },
    // tasks
    Route {
        method: Method::Post,
        path: "/v1/tasks",
        operation_id: "createTask",
        summary: "Create a task",
        tag: Tag::Tasks,
        kind: Kind::Create,
        body: Body::Required(schema_of::<CreateTask>()),
        answer: committed(201),
        errors: CREATE_ERRORS,
    },
    Route {
        method: Method::Get,
        path: "/v1/tasks",
        operation_id: "listTasks",
        summary: "List tasks, filtered",
        tag: Tag::Tasks,
        kind: Kind::List,
        body: Body::None,
        answer: Answer::Page(schema_of::<Task>()),
        errors: LIST_ERRORS,
    },
    Route {
        method: Method::Get,
        path: "/v1/tasks/{id}",
        operation_id: "getTask",
        summary: "Read a task",
        tag: Tag::Tasks,
        kind: Kind::RecordRead,
        body: Body::None,
        answer: Answer::Record(schema_of::<Task>()),
        errors: READ_ERRORS,
    },
    Route {
        method: Method::Patch,
        path: "/v1/tasks/{id}",
        operation_id: "changeTask",
        summary: "Reassign a pending task or change when it is due",
        tag: Tag::Tasks,
        kind: Kind::Change,
        body: Body::Required(schema_of::<ChangeTask>()),
        answer: committed(200),
        errors: CHANGE_ERRORS,
    },
    Route {
        method: Method::Post,
        path: "/v1/tasks/{id}/complete",
        operation_id: "completeTask",
        summary: "Complete a task",
        tag: Tag::Tasks,
        kind: Kind::Change,
        body: Body::None,
        answer: committed(200),
        errors: ACTION_ERRORS,
    },
    // cases
    Route {
        method: Method::Post,
        path: "/v1/cases",
        operation_id: "openCase",
        summary: "Open a service case",
        tag: Tag::Cases,
        kind: Kind::Create,
        body: Body::Required(schema_of::<OpenCase>()),
        answer: committed(201),
        errors: CREATE_ERRORS,
    },
    Route {
        method: Method::Get,
        path: "/v1/cases",
        operation_id: "listCases",
        summary: "List cases, filtered",
        tag: Tag::Cases,
        kind: Kind::List,
        body: Body::None,
        answer: Answer::Page(schema_of::<Case>()),
        errors: LIST_ERRORS,
    },
    Route {
        method: Method::Get,
        path: "/v1/cases/{id}",
        operation_id: "getCase",
        summary: "Read a case",
        tag: Tag::Cases,
        kind: Kind::RecordRead,
        body: Body::None,
        answer: Answer::Record(schema_of::<Case>()),
        errors: READ_ERRORS,
    },
    Route {
        method: Method::Post,
        path: "/v1/cases/{id}/status",
        operation_id: "changeCaseStatus",
        summary: "Move a case along new, open, (pending,) resolved, closed; reopen a resolved one",
        tag: Tag::Cases,
        kind: Kind::Change,
        body: Body::Required(schema_of::<ChangeCaseStatus>()),
        answer: committed(200),
        errors: CHANGE_ERRORS,
    },
    Route {
        method: Method::Patch,
        path: "/v1/cases/{id}",
        operation_id: "changeCase",
        summary: "Hand a case to someone (or to nobody with null), or change its priority",
        tag: Tag::Cases,
        kind: Kind::Change,
        body: Body::Required(schema_of::<ChangeCase>()),
        answer: committed(200),
        errors: CHANGE_ERRORS,
    },
    // users
    Route {
        method: Method::Post,
        path: "/v1/users",
        operation_id: "createUser",
        summary: "Create a user and its first token, shown this once (admin); a taken username is 409",
        tag: Tag::Users,
        kind: Kind::CreateOnce,
        body: Body::Required(schema_of::<CreateUser>()),
        answer: Answer::Command {
            status: 201,
            body: schema_of::<CreatedUser>(),
        },
        errors: CREATE_UNIQUE_ERRORS,
    },
    Route {
        method: Method::Get,
        path: "/v1/users/{id}",
        operation_id: "getUser",
        summary: "A user: username, role, team, scopes, whether active, and when each token was \
            issued (admin)",
        tag: Tag::Users,
        kind: Kind::StoreRead,
        body: Body::None,
        answer: Answer::Json {
            description: "The user as its events leave it.",
            body: schema_of::<UserView>(),
        },
        errors: &[401, 403, 404, 503],
    },
    Route {
        method: Method::Patch,
        path: "/v1/users/{id}",
        operation_id: "changeUser",
        summary: "Change a user's role or team (admin); not one's own role (409)",
        tag: Tag::Users,
        kind: Kind::Change,
        body: Body::Required(schema_of::<ChangeUser>()),
        answer: committed(200),
        errors: CHANGE_ERRORS,
    },
    Route {
        method: Method::Post,
        path: "/v1/users/{id}/tokens",
        operation_id: "issueToken",
        summary: "Issue a user a new token, shown this once (admin); `revoke_others` rotates",
        tag: Tag::Users,
        kind: Kind::IssueOnce,
        body: Body::Optional(schema_of::<IssueToken>()),
        answer: Answer::Command {
            status: 201,
            body: schema_of::<IssuedTokenAnswer>(),
        },
        errors: CHANGE_ERRORS,
    },
    Route {
        method: Method::Post,
        path: "/v1/users/{id}/deactivate",
        operation_id: "deactivateUser",
        summary: "Deactivate a user (admin): every token stops working; not oneself (409)",
        tag: Tag::Users,
        kind: Kind::Change,
        body: Body::None,
        answer: committed(200),
        errors: ACTION_ERRORS,
    },
    // audit
    Route {
        method: Method::Get,
        path: "/v1/audit/records/{collection}/{id}",
        operation_id: "auditRecord",
        summary: "Every read and change of one record, newest first: who, when, which fields \
            changed from what to what, why, with what outcome (auditor, admin)",
        tag: Tag::Audit,
        kind: Kind::Audit,
        body: Body::None,
        answer: Answer::Json {
            description: "One page of the record's audit trail, newest first.",
            body: schema_of::<audit::AuditPage>(),
        },
        // 404: a collection that does not exist.
        errors: READ_ERRORS,
    },
    Route {
        method: Method::Get,
        path: "/v1/audit/actors/{user_id}",
        operation_id: "auditActor",
        summary: "Everything one user read or changed, newest first (auditor, admin)",
        tag: Tag::Audit,
        kind: Kind::Audit,
        body: Body::None,
        answer: Answer::Json {
            description: "One page of what the user did, newest first.",
            body: schema_of::<audit::AuditPage>(),
        },
        errors: LIST_ERRORS,
    },
    Route {
        method: Method::Get,
        path: "/v1/audit/subjects/contacts/{id}",
        operation_id: "auditDataSubject",
        summary: "The data subject report of a contact: the contact as recorded, and every \
            change and access of it and of the records linked to it (auditor, admin)",
        tag: Tag::Audit,
        kind: Kind::Audit,
        body: Body::None,
        answer: Answer::Json {
            description: "The contact now, and one page of its history, newest first.",
            body: schema_of::<audit::SubjectReport>(),
        },
        // 404: no contact of that id (yet: `X-Crm-Min-Position` waits for it).
        errors: READ_ERRORS,
    },
    Route {
        method: Method::Get,
        path: "/v1/audit/verify",
        operation_id: "verifyLog",
        summary: "The hash chain and the Merkle tree recomputed from the first event, every \
            signed tree head checked: ok, or the first broken position and why (auditor, admin)",
        tag: Tag::Audit,
        kind: Kind::LogCheck,
        body: Body::None,
        answer: Answer::Json {
            description: "The report of the check.",
            body: schema_of::<eventstore::AuditReport>(),
        },
        errors: &[401, 403, 503],
    },
    Route {
        method: Method::Get,
        path: "/v1/audit/tree-head",
        operation_id: "latestTreeHead",
        summary: "The latest signed tree head: size, chain hash, Merkle root, time, key id and \
            Ed25519 signature (auditor, admin)",
        tag: Tag::Audit,
        kind: Kind::LogCheck,
        body: Body::None,
        answer: Answer::Json {
            description: "The signed tree head.",
            body: schema_of::<eventstore::checkpoint::TreeHead>(),
        },
        errors: &[401, 403, 404, 503],
    },
    Route {
        method: Method::Get,
        path: "/v1/audit/proofs/inclusion",
        operation_id: "inclusionProof",
        summary: "Proof (RFC 6962) that the event at a position is in a signed tree \
            (auditor, admin)",
        tag: Tag::Audit,
        kind: Kind::Inclusion,
        body: Body::None,
        answer: Answer::Json {
            description: "The audit path and the signed tree head it leads to.",
            body: schema_of::<Inclusion>(),
        },
        errors: &[401, 403, 404, 422, 503],
    },
    Route {
        method: Method::Get,
        path: "/v1/audit/proofs/consistency",
        operation_id: "consistencyProof",
        summary: "Proof (RFC 6962) that an earlier tree is a prefix of a signed tree: the log was \
            only appended to (auditor, admin)",
        tag: Tag::Audit,
        kind: Kind::Consistency,
        body: Body::None,
        answer: Answer::Json {
            description: "The proof and the signed tree head it leads to.",
            body: schema_of::<Consistency>(),
        },
        errors: &[401, 403, 404, 422, 503],
    },
    // reports
    report_route(
        "/v1/reports/pipeline",
        "pipelineReport",
        "Per stage, in stage order: open deals, total and probability-weighted amount per \
            currency, average and oldest age in the stage, stalled deals (no activity for 14 \
            days)",
        Answer::Report {
            description: "The pipeline by stage.",
            body: schema_of::<pipeline::PipelineReport>(),
        },
    ),
    report_route(
        "/v1/reports/velocity",
        "velocityReport",
        "Stage-to-stage conversion, win rate, average sales cycle and time per stage for a \
            window, in total, per owner or per team",
        Answer::Report {
            description: "Conversion and velocity.",
            body: schema_of::<pipeline::VelocityReport>(),
        },
    ),
    report_route(
        "/v1/reports/forecast",
        "forecastReport",
        "Weighted and best-case value of open deals by expected close month, against the \
            value won in each month",
        Answer::Report {
            description: "The forecast against actuals.",
            body: schema_of::<pipeline::ForecastReport>(),
        },
    ),
    report_route(
        "/v1/reports/leaderboard",
        "leaderboard",
        "Won value and count per owner per month",
        Answer::Report {
            description: "The leaderboard.",
            body: schema_of::<pipeline::Leaderboard>(),
        },
    ),
    report_route(
        "/v1/reports/sources",
        "leadSources",
        "Leads captured, qualified and converted, and the sales they led to, per source and \
            per campaign",
        Answer::Report {
            description: "Lead sources and campaigns.",
            body: schema_of::<pipeline::SourceReport>(),
        },
    ),
    // scores
    Route {
        method: Method::Get,
        path: "/v1/scores/contacts",
        operation_id: "rankContacts",
        summary: "Contacts the caller may see, highest score first",
        tag: Tag::Scores,
        kind: Kind::Ranked,
        body: Body::None,
        answer: Answer::Json {
            description: "The ranked contacts, each with its scores.",
            body: schema_of::<scoring::RankedScores>(),
        },
        errors: LIST_ERRORS,
    },
    Route {
        method: Method::Get,
        path: "/v1/scores/contacts/{id}",
        operation_id: "scoreContact",
        summary: "A contact's value, engagement, touch cost and churn risk, explained",
        tag: Tag::Scores,
        kind: Kind::Read,
        body: Body::None,
        answer: Answer::Json {
            description: "The contact's scores.",
            body: schema_of::<scoring::CustomerScore>(),
        },
        errors: READ_ERRORS,
    },
    Route {
        method: Method::Get,
        path: "/v1/scores/companies",
        operation_id: "rankCompanies",
        summary: "Companies the caller may see, highest score first",
        tag: Tag::Scores,
        kind: Kind::Ranked,
        body: Body::None,
        answer: Answer::Json {
            description: "The ranked companies, each with its scores.",
            body: schema_of::<scoring::RankedScores>(),
        },
        errors: LIST_ERRORS,
    },
    Route {
        method: Method::Get,
        path: "/v1/scores/companies/{id}",
        operation_id: "scoreCompany",
        summary: "A company's value class (computed and manual), engagement, touch cost and \
            churn risk, explained",
        tag: Tag::Scores,
        kind: Kind::Read,
        body: Body::None,
        answer: Answer::Json {
            description: "The company's scores.",
            body: schema_of::<scoring::CustomerScore>(),
        },
        errors: READ_ERRORS,
    },
    Route {
        method: Method::Post,
        path: "/v1/contacts/{id}/link-clicks",
        operation_id: "recordLinkClick",
        summary: "Record that the contact clicked a tracked link (counted by engagement scores)",
        tag: Tag::Contacts,
        kind: Kind::Change,
        body: Body::Required(schema_of::<RecordLinkClick>()),
        answer: committed(200),
        errors: CHANGE_ERRORS,
    },
    // timelines
    timeline_route("/v1/contacts/{id}/timeline", "contactTimeline"),
    timeline_route("/v1/companies/{id}/timeline", "companyTimeline"),
    // history
    Route {
        method: Method::Get,
        path: "/v1/events",
        operation_id: "readLog",
        summary: "The raw event log in position order (analyst, auditor, admin): its domain \
            events, and its accesses for those who read the audit trail (auditor, admin)",
        tag: Tag::History,
        kind: Kind::Events,
        body: Body::None,
        answer: Answer::Json {
            description: "One page of the log.",
            body: schema_of::<EventsPage>(),
        },
        errors: &[401, 403, 422, 503, 504],
    },
    Route {
        method: Method::Get,
        path: "/v1/events/stream",
        operation_id: "followLog",
        summary: "Domain events as they are committed, as server-sent events: each one's \
            CloudEvents envelope, under its position as the event id (analyst, auditor, admin, \
            a service with events:read)",
        tag: Tag::History,
        kind: Kind::Follow,
        body: Body::None,
        answer: Answer::EventStream,
        errors: &[401, 403, 422, 429, 503],
    },
    history_route("/v1/companies/{id}/history", "companyHistory"),
    history_route("/v1/contacts/{id}/history", "contactHistory"),
    history_route("/v1/leads/{id}/history", "leadHistory"),
    history_route("/v1/pipelines/{id}/history", "pipelineHistory"),
    history_route("/v1/deals/{id}/history", "dealHistory"),
    history_route("/v1/activities/{id}/history", "activityHistory"),
    history_route("/v1/tasks/{id}/history", "taskHistory"),
    history_route("/v1/cases/{id}/history", "caseHistory"),
    // operations
    Route {
        method: Method::Get,
        path: "/healthz",
        operation_id: "healthz",
        summary: "Liveness: the process answers",
        tag: Tag::Operations,
        kind: Kind::Open,
        body: Body::None,
        answer: Answer::Text {
            media_type: "text/plain; charset=utf-8",
        },
        errors: &[],
    },
    Route {
        method: Method::Get,
        path: "/readyz",
        operation_id: "readyz",
        summary: "Readiness: the store and NATS answer, and how far the relay and each read model trail",
        tag: Tag::Operations,
        kind: Kind::Open,
        body: Body::None,
        answer: Answer::Readiness,
        errors: &[],
    },
    Route {
        method: Method::Get,
        path: "/metrics",
        operation_id: "metrics",
        summary: "Metrics in the OpenMetrics (Prometheus) text format",
        tag: Tag::Operations,
        kind: Kind::Open,
        body: Body::None,
        answer: Answer::Text {
            media_type: "application/openmetrics-text; version=1.0.0; charset=utf-8",
        },
        errors: &[],
    },
    Route {
        method: Method::Get,
        path: "/openapi.json",
        operation_id: "openapi",
        summary: "This document",
        tag: Tag::Operations,
        kind: Kind::Open,
        body: Body::None,
        answer: Answer::Document,
        errors: &[],
    },
];

/// `GET /openapi.json`.
pub(crate) async fn serve() -> Json<Value> {
    Json(openapi())
}

/// The whole HTTP API as an OpenAPI 3.1 document, its objects' keys sorted so that the text is
/// the same whichever features serde_json was built with.
pub fn openapi() -> Value {
    let mut inputs = generator(Contract::Deserialize, SCHEMAS);
    let mut outputs = generator(Contract::Serialize, OUTPUT_SCHEMAS);
    let problem = outputs.subschema_for::<Problem>().to_value();

    let mut paths: BTreeMap<&str, Map<String, Value>> = BTreeMap::new();
    for route in ROUTES {
        let operation = operation(route, &mut inputs, &mut outputs);
        paths
            .entry(route.path)
            .or_default()
            .insert(route.method.key().to_owned(), operation);
    }
    let paths: Map<String, Value> = paths
        .into_iter()
        .map(|(path, item)| (path.to_owned(), Value::Object(item)))
        .collect();

    let parameters = parameters(&mut inputs);
    let input_definitions = inputs.take_definitions(true);
    let output_definitions = outputs.take_definitions(true);
    let renamed = output_renames(&input_definitions, &output_definitions);
    let schemas = merged_schemas(input_definitions, output_definitions, &renamed);
    let mut document = json!({
        "openapi": OPENAPI_VERSION,
        "info": {
            "title": "CRM API",
            "version": env!("CARGO_PKG_VERSION"),
            "description": DESCRIPTION,
        },
        "tags": Tag::ALL.iter().map(|tag| json!({
            "name": tag.name(),
            "description": tag.description(),
        })).collect::<Vec<_>>(),
        "security": [{ "bearer": [] }],
        "paths": paths,
        "components": {
            "securitySchemes": {
                "bearer": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "`Authorization: Bearer <token>` on every `/v1` route: a token \
                        `POST /v1/users` or `crm user add` issued, or `CRM_ADMIN_TOKEN`.",
                },
            },
            "parameters": parameters,
            "headers": headers(),
            "responses": error_responses(&problem),
            "schemas": schemas,
        },
    });
    rewrite_references(&mut document, &|reference| {
        merged_reference(reference, &renamed)
    });
    document.sort_all_objects();
    document
}

const DESCRIPTION: &str = "The CRM's HTTP API. JSON everywhere, `snake_case` fields, ids are \
UUIDs (v7), times RFC 3339 UTC, money `{\"amount_minor\": 125000, \"currency\": \"EUR\"}`.\n\n\
Every command answers with the record's `id`, its `version` after the command and the global \
`position` of its last event, also sent as `X-Crm-Position`; a query sent with \
`X-Crm-Min-Position` (or `?min_position=`) answers only once the read model has reached that \
position, or 504 after a bounded wait. `Idempotency-Key` makes a command safe to retry: the same \
key and body get the first answer and append nothing; the same key with another body is 422. \
`If-Match: \"<version>\"` pins the version a command applies to (412 when the record has moved \
on); without it, a command that loses a race is decided again on fresh state, and 409 means it \
no longer holds.\n\n\
Errors are `application/problem+json` (RFC 9457): 400 malformed JSON, 422 invalid values or \
unknown fields (each named in `errors`), 413 a body over the limit, 408 one that did not arrive \
in time, 401, 403, 404, 405, 409, 412, 429 and 503 with `Retry-After`, 504.";

/// A generator of one direction whose `$ref`s point into `definitions_path`.
fn generator(contract: Contract, definitions_path: &'static str) -> SchemaGenerator {
    SchemaSettings::draft2020_12()
        .with(|settings| {
            settings.definitions_path = definitions_path.into();
            settings.contract = contract;
            settings.meta_schema = None;
        })
        .into_generator()
}

/// The operation object of one route.
fn operation(route: &Route, inputs: &mut SchemaGenerator, outputs: &mut SchemaGenerator) -> Value {
    let mut operation = Map::new();
    operation.insert("operationId".into(), route.operation_id.into());
    operation.insert("summary".into(), route.summary.into());
    operation.insert("tags".into(), json!([route.tag.name()]));
    if route.kind == Kind::Open {
        operation.insert("security".into(), json!([]));
    }

    let parameters = parameters_of(route);
    if !parameters.is_empty() {
        let references: Vec<Value> = parameters
            .iter()
            .map(|name| json!({ "$ref": format!("#/components/parameters/{name}") }))
            .collect();
        operation.insert("parameters".into(), references.into());
    }

    let body = match route.body {
        Body::None => None,
        Body::Required(body) => Some((true, body)),
        Body::Optional(body) => Some((false, body)),
    };
    if let Some((required, body)) = body {
        let description = if required {
            "The JSON body; unknown fields are refused."
        } else {
            "The JSON body; every field is optional and the body may be left out."
        };
        operation.insert(
            "requestBody".into(),
            json!({
                "required": required,
                "description": description,
                "content": {
                    "application/json": { "schema": (body.reference)(inputs).to_value() },
                },
            }),
        );
    }

    let mut responses = success_responses(route.answer, outputs);
    // Any route that authenticates refuses a user's failed authentications beyond those logged.
    let throttled = (route.kind != Kind::Open).then_some(&429);
    for status in route.errors.iter().chain(throttled) {
        responses.insert(
            status.to_string(),
            json!({ "$ref": format!("#/components/responses/{}", error_name(*status)) }),
        );
    }
    operation.insert("responses".into(), Value::Object(responses));
    Value::Object(operation)
}

/// The names (in `components/parameters`) of the parameters a route takes.
fn parameters_of(route: &Route) -> Vec<&'static str> {
    let mut names: Vec<&'static str> = path_parameters(route.path).collect();
    match route.kind {
        Kind::Create => names.push("Idempotency-Key"),
        Kind::Change => names.extend(["Idempotency-Key", "If-Match"]),
        Kind::ChangeAfterRead => {
            names.extend(["Idempotency-Key", "If-Match", "X-Crm-Min-Position"]);
        }
        Kind::Read => names.extend([
            "X-Crm-Min-Position",
            "min_position",
            "X-Crm-Purpose",
            "X-Request-Id",
        ]),
        Kind::RecordRead => names.extend([
            "X-Crm-Min-Position",
            "min_position",
            "X-Crm-Purpose",
            "X-Request-Id",
            "as_of",
        ]),
        Kind::Report => names.extend([
            "X-Crm-Min-Position",
            "min_position",
            "X-Crm-Purpose",
            "X-Request-Id",
            "pipeline_id",
            "report_owner_id",
            "team",
            "window_from",
            "window_to",
            "group",
            "from_month",
            "months",
            "format",
        ]),
        Kind::Timeline => names.extend([
            "X-Crm-Min-Position",
            "min_position",
            "X-Crm-Purpose",
            "X-Request-Id",
            "from",
            "to",
            "entry_kind",
            "limit",
            "cursor",
        ]),
        Kind::Ranked => names.extend([
            "X-Crm-Min-Position",
            "min_position",
            "X-Crm-Purpose",
            "X-Request-Id",
            "order",
            "class",
            "limit",
        ]),
        Kind::LogCheck | Kind::StoreRead => names.extend(["X-Crm-Purpose", "X-Request-Id"]),
        Kind::IssueOnce => names.push("If-Match"),
        Kind::Inclusion => names.extend(["X-Crm-Purpose", "X-Request-Id", "position", "tree_size"]),
        Kind::Consistency => {
            names.extend(["X-Crm-Purpose", "X-Request-Id", "from_size", "to_size"]);
        }
        Kind::History => names.extend([
            "X-Crm-Min-Position",
            "min_position",
            "X-Crm-Purpose",
            "X-Request-Id",
            "after_version",
            "event_limit",
        ]),
        Kind::Follow => names.extend([
            "X-Crm-Purpose",
            "X-Request-Id",
            "Last-Event-ID",
            "after_live",
            "aggregate",
        ]),
        Kind::Events => names.extend([
            "X-Crm-Purpose",
            "X-Request-Id",
            "after",
            "event_limit",
            "min_position",
        ]),
        Kind::Audit => names.extend([
            "X-Crm-Min-Position",
            "min_position",
            "X-Crm-Purpose",
            "X-Request-Id",
            "from",
            "to",
            "action",
            "limit",
            "cursor",
        ]),
        Kind::List => names.extend([
            "X-Crm-Min-Position",
            "min_position",
            "X-Crm-Purpose",
            "X-Request-Id",
            "tag",
            "owner_id",
            "company_id",
            "q",
            "status",
            "contact_id",
            "due_before",
            "limit",
            "cursor",
        ]),
        Kind::CreateOnce | Kind::Open => {}
    }
    names
}

/// The names of the `{parameters}` in `path`, which are also their names in
/// `components/parameters`.
fn path_parameters(path: &'static str) -> impl Iterator<Item = &'static str> {
    path.split('/')
        .filter_map(|segment| segment.strip_prefix('{')?.strip_suffix('}'))
}

/// The success answers of a route, by status.
fn success_responses(answer: Answer, outputs: &mut SchemaGenerator) -> Map<String, Value> {
    let mut responses = Map::new();
    let position = json!({ "X-Crm-Position": { "$ref": "#/components/headers/X-Crm-Position" } });
    match answer {
        Answer::Command { status, body } => {
            let description = if status == 201 {
                "Created (also the answer to a replay with the same Idempotency-Key)."
            } else {
                "Done; a command that changes nothing answers the record's current version."
            };
            responses.insert(
                status.to_string(),
                json!({
                    "description": description,
                    "headers": position,
                    "content": json_content((body.reference)(outputs).to_value()),
                }),
            );
        }
        Answer::Record(record) => {
            let schema = record_schema(record, outputs);
            responses.insert(
                "200".into(),
                json!({
                    "description": "The record as the read model holds it, with its version.",
                    "headers": { "ETag": { "$ref": "#/components/headers/ETag" } },
                    "content": json_content(schema),
                }),
            );
        }
        Answer::Page(record) => {
            let schema = page_schema(record, outputs);
            responses.insert(
                "200".into(),
                json!({
                    "description": "One page of the records the filters select, in id order.",
                    "content": json_content(schema),
                }),
            );
        }
        Answer::Json { description, body } => {
            let schema = (body.reference)(outputs).to_value();
            responses.insert(
                "200".into(),
                json!({ "description": description, "content": json_content(schema) }),
            );
        }
        Answer::Report { description, body } => {
            let mut content = json_content((body.reference)(outputs).to_value());
            let file = json!({ "schema": { "type": "string", "format": "binary" } });
            content["text/csv"] = file.clone();
            content[crate::export::XLSX_TYPE] = file;
            responses.insert(
                "200".into(),
                json!({ "description": description, "content": content }),
            );
        }
        Answer::Text { media_type } => {
            responses.insert(
                "200".into(),
                json!({
                    "description": "OK",
                    "content": { media_type: { "schema": { "type": "string" } } },
                }),
            );
        }
        Answer::Readiness => {
            for (status, description) in [
                ("200", "Ready."),
                (
                    "503",
                    "Not ready: the store or NATS does not answer, or a projector stopped.",
                ),
            ] {
                responses.insert(
                    status.into(),
                    json!({
                        "description": description,
                        "content": json_content(readiness_schema()),
                    }),
                );
            }
        }
        Answer::EventStream => {
            responses.insert(
                "200".into(),
                json!({
                    "description": "An endless stream of server-sent events: `id` is the \
                        event's position, `event` its type, `data` its CloudEvents envelope \
                        (schemas/envelope.v1.json) as published on NATS. Comment lines keep a \
                        quiet stream open. Each batch is logged as an access before it is sent; \
                        when that or NATS fails, the stream ends and the client resumes with \
                        Last-Event-ID.",
                    "content": { "text/event-stream": { "schema": { "type": "string" } } },
                }),
            );
        }
        Answer::Document => {
            responses.insert(
                "200".into(),
                json!({
                    "description": "This OpenAPI document.",
                    "content": json_content(json!({ "type": "object" })),
                }),
            );
        }
    }
    responses
}

fn json_content(schema: Value) -> Value {
    json!({ "application/json": { "schema": schema } })
}

/// `<Record>Record`: the domain's record plus the `version` the read adds. Defined once per
/// record type, among the answers' schemas.
fn record_schema(record: TypeSchema, outputs: &mut SchemaGenerator) -> Value {
    let name = format!("{}Record", (record.name)());
    if !outputs.definitions().contains_key(&name) {
        let domain_record = (record.reference)(outputs).to_value();
        let schema = json!({
            "description": "The record as its events leave it, and its version.",
            "allOf": [
                domain_record,
                {
                    "type": "object",
                    "required": ["version"],
                    "properties": {
                        "version": {
                            "description": "The record's version: the number of its events. \
                                Send it back as `If-Match` to pin a command to it.",
                            "type": "integer",
                            "format": "uint64",
                            "minimum": 1,
                        },
                    },
                },
            ],
        });
        outputs.definitions_mut().insert(name.clone(), schema);
    }
    json!({ "$ref": format!("#{OUTPUT_SCHEMAS}/{name}") })
}

/// `<Record>Page`: one page of a list.
fn page_schema(record: TypeSchema, outputs: &mut SchemaGenerator) -> Value {
    let name = format!("{}Page", (record.name)());
    if !outputs.definitions().contains_key(&name) {
        let item = record_schema(record, outputs);
        let schema = json!({
            "type": "object",
            "required": ["items", "next_cursor"],
            "properties": {
                "items": { "type": "array", "items": item },
                "next_cursor": {
                    "description": "Pass as `cursor` for the next page; `null` on the last.",
                    "type": ["string", "null"],
                },
            },
        });
        outputs.definitions_mut().insert(name.clone(), schema);
    }
    json!({ "$ref": format!("#{OUTPUT_SCHEMAS}/{name}") })
}

/// The answer of `/readyz`. Its Rust type has no JSON Schema, so this names the fields loosely.
fn readiness_schema() -> Value {
    let probe = json!({
        "description": "`{\"position\": n}` when it answered, `{\"error\": \"...\"}` when not.",
        "type": "object",
        "minProperties": 1,
        "maxProperties": 1,
        "properties": {
            "position": { "type": "integer", "minimum": 0 },
            "error": { "type": "string" },
        },
    });
    json!({
        "type": "object",
        "required": ["ready", "store", "stream", "relay_lag", "tree_head", "unsigned_events", "projections", "webhooks"],
        "properties": {
            "ready": { "type": "boolean" },
            "store": probe,
            "stream": probe,
            "relay_lag": {
                "description": "Committed events not yet on the stream.",
                "type": ["integer", "null"],
                "minimum": 0,
            },
            "tree_head": {
                "description": "The latest signed tree head: its size, when it was signed and \
                    how long ago; null before the first.",
                "type": ["object", "null"],
                "required": ["size", "signed_at", "age_seconds"],
                "properties": {
                    "size": { "type": "integer", "minimum": 1 },
                    "signed_at": { "type": "string", "format": "date-time" },
                    "age_seconds": { "type": "integer", "minimum": 0 },
                },
            },
            "unsigned_events": {
                "description": "Committed events no signed tree head covers yet.",
                "type": ["integer", "null"],
                "minimum": 0,
            },
            "projections": {
                "description": "Each read model: how far it has applied and how far it trails.",
                "type": "array",
                "items": { "type": "object" },
            },
            "webhooks": {
                "description": "Each webhook: the position it has delivered to (or passed over), \
                    when that last moved, and since when and why its next batch fails.",
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["name", "position", "delivered_at", "failing_since", "last_error"],
                    "properties": {
                        "name": { "type": "string" },
                        "position": { "type": "integer", "minimum": 0 },
                        "delivered_at": { "type": "string", "format": "date-time" },
                        "failing_since": { "type": ["string", "null"], "format": "date-time" },
                        "last_error": { "type": ["string", "null"] },
                    },
                },
            },
        },
    })
}

/// The parameters routes share, by name.
fn parameters(inputs: &mut SchemaGenerator) -> Value {
    let mut parameters = record_parameters(inputs);
    if let (Value::Object(all), Value::Object(more)) = (&mut parameters, reading_parameters()) {
        all.extend(more);
    }
    parameters
}

/// The parameters of the record, list, audit and log routes.
fn record_parameters(inputs: &mut SchemaGenerator) -> Value {
    let stage_key = inputs.subschema_for::<StageKey>().to_value();
    let position = json!({ "type": "integer", "format": "uint64", "minimum": 0 });
    let uuid = json!({ "type": "string", "format": "uuid" });
    json!({
        "id": {
            "name": "id",
            "in": "path",
            "required": true,
            "description": "The record's id.",
            "schema": uuid,
        },
        "collection": {
            "name": "collection",
            "in": "path",
            "required": true,
            "description": "The record's collection: companies, contacts, leads, pipelines, \
                deals, activities, tasks, cases or users.",
            "schema": { "type": "string" },
        },
        "user_id": {
            "name": "user_id",
            "in": "path",
            "required": true,
            "description": "The user's id.",
            "schema": uuid,
        },
        "X-Crm-Purpose": {
            "name": "X-Crm-Purpose",
            "in": "header",
            "description": "Why the caller reads: recorded with the access (cut at 500 bytes).",
            "schema": { "type": "string" },
        },
        "X-Request-Id": {
            "name": "X-Request-Id",
            "in": "header",
            "description": "The request's id, recorded with the access; one is made when absent.",
            "schema": { "type": "string", "maxLength": 128 },
        },
        "position": {
            "name": "position",
            "in": "query",
            "required": true,
            "description": "The event's position.",
            "schema": position,
        },
        "tree_size": {
            "name": "tree_size",
            "in": "query",
            "description": "The size of a signed tree head; the latest by default.",
            "schema": position,
        },
        "from_size": {
            "name": "from",
            "in": "query",
            "required": true,
            "description": "The size of the earlier tree.",
            "schema": position,
        },
        "to_size": {
            "name": "to",
            "in": "query",
            "description": "The size of a signed tree head; the latest by default.",
            "schema": position,
        },
        "after": {
            "name": "after",
            "in": "query",
            "description": "Events after this position (0, the default, for the first).",
            "schema": position,
        },
        "after_version": {
            "name": "after",
            "in": "query",
            "description": "Events after this version of the record (0, the default, for the first).",
            "schema": position,
        },
        "after_live": {
            "name": "after",
            "in": "query",
            "description": "Start after this position (0 for the first event); without it, and \
                without Last-Event-ID, with the first event committed after the request.",
            "schema": position,
        },
        "Last-Event-ID": {
            "name": "Last-Event-ID",
            "in": "header",
            "description": "The id (position) of the last event taken: a client that \
                reconnects goes on after it. Takes precedence over `after`.",
            "schema": position,
        },
        "aggregate": {
            "name": "aggregate",
            "in": "query",
            "description": "Only this aggregate's events.",
            "schema": {
                "type": "string",
                "enum": ["company", "contact", "lead", "pipeline", "deal", "activity", "task", "case", "user"],
            },
        },
        "event_limit": {
            "name": "limit",
            "in": "query",
            "description": "The page size.",
            "schema": { "type": "integer", "minimum": 1, "maximum": 1000, "default": 100 },
        },
        "from": {
            "name": "from",
            "in": "query",
            "description": "Only entries at or after this time (RFC 3339).",
            "schema": { "type": "string", "format": "date-time" },
        },
        "to": {
            "name": "to",
            "in": "query",
            "description": "Only entries before this time (RFC 3339).",
            "schema": { "type": "string", "format": "date-time" },
        },
        "action": {
            "name": "action",
            "in": "query",
            "description": "Only entries of this action: change, read, list, history, timeline, \
                export, audit, authenticate or write.",
            "schema": { "type": "string" },
        },
        "key": {
            "name": "key",
            "in": "path",
            "required": true,
            "description": "The key of a pipeline's stage.",
            "schema": stage_key,
        },
        "Idempotency-Key": {
            "name": "Idempotency-Key",
            "in": "header",
            "description": "Makes the command safe to retry: a retry with the same key and \
                body gets the first answer and appends nothing; the same key with another body \
                is 422. Scoped to the caller.",
            "schema": { "type": "string", "minLength": 1, "maxLength": 200 },
        },
        "If-Match": {
            "name": "If-Match",
            "in": "header",
            "description": "`\"<version>\"` (the record's `ETag`): apply the command only to the \
                record at exactly that version, else 412.",
            "schema": { "type": "string", "examples": ["\"3\""] },
        },
        "X-Crm-Min-Position": {
            "name": "X-Crm-Min-Position",
            "in": "header",
            "description": "Answer only once the read model has reached this position (a \
                command's `X-Crm-Position`), or 504 after a bounded wait.",
            "schema": position,
        },
        "min_position": {
            "name": "min_position",
            "in": "query",
            "description": "The same as `X-Crm-Min-Position`, which wins when both are sent.",
            "schema": position,
        },
        "tag": {
            "name": "tag",
            "in": "query",
            "description": "Only records with this tag.",
            "schema": { "type": "string" },
        },
        "owner_id": {
            "name": "owner_id",
            "in": "query",
            "description": "Only records this user owns.",
            "schema": uuid,
        },
        "company_id": {
            "name": "company_id",
            "in": "query",
            "description": "Only records of this company.",
            "schema": uuid,
        },
        "status": {
            "name": "status",
            "in": "query",
            "description": "Only records in this status: leads new, qualified, disqualified or \
                converted; deals open, won or lost; activities logged, scheduled or cancelled; \
                tasks pending or completed; cases new, open, pending, resolved or closed.",
            "schema": { "type": "string" },
        },
        "contact_id": {
            "name": "contact_id",
            "in": "query",
            "description": "Only records linked to this contact (deals, activities, tasks, cases).",
            "schema": uuid,
        },
        "due_before": {
            "name": "due_before",
            "in": "query",
            "description": "Only tasks due before this time (RFC 3339).",
            "schema": { "type": "string", "format": "date-time" },
        },
        "q": {
            "name": "q",
            "in": "query",
            "description": "Only records whose words start with these.",
            "schema": { "type": "string" },
        },
        "limit": {
            "name": "limit",
            "in": "query",
            "description": "The page size.",
            "schema": {
                "type": "integer",
                "minimum": 1,
                "maximum": records::MAX_LIMIT,
                "default": records::DEFAULT_LIMIT,
            },
        },
        "cursor": {
            "name": "cursor",
            "in": "query",
            "description": "The `next_cursor` of the previous page.",
            "schema": { "type": "string" },
        },
    })
}

/// The parameters of the reports, the scores and a record read in the past.
fn reading_parameters() -> Value {
    let uuid = json!({ "type": "string", "format": "uuid" });
    json!({
        "as_of": {
            "name": "as_of",
            "in": "query",
            "description": "The record as the store knew it at this time (RFC 3339), rebuilt \
                from its events; logged as a history read (analyst, admin).",
            "schema": { "type": "string", "format": "date-time" },
        },
        "pipeline_id": {
            "name": "pipeline_id",
            "in": "query",
            "description": "The pipeline (required by the pipeline, velocity and forecast \
                reports).",
            "schema": uuid,
        },
        "report_owner_id": {
            "name": "owner_id",
            "in": "query",
            "description": "Only deals (and leads) this user owns; for wins and losses, the \
                deals this user owned when they closed.",
            "schema": uuid,
        },
        "team": {
            "name": "team",
            "in": "query",
            "description": "Only deals (and leads) of this team; for wins and losses, the deals \
                of this team when they closed.",
            "schema": { "type": "string" },
        },
        "window_from": {
            "name": "from",
            "in": "query",
            "description": "Velocity and sources: from this time (RFC 3339; 90 days before \
                `to` by default).",
            "schema": { "type": "string", "format": "date-time" },
        },
        "window_to": {
            "name": "to",
            "in": "query",
            "description": "Velocity and sources: until this time (now by default).",
            "schema": { "type": "string", "format": "date-time" },
        },
        "group": {
            "name": "group",
            "in": "query",
            "description": "Velocity: one row in total, per owner or per team.",
            "schema": { "type": "string", "enum": ["total", "owner", "team"], "default": "total" },
        },
        "from_month": {
            "name": "from_month",
            "in": "query",
            "description": "Forecast and leaderboard: the first month, YYYY-MM (this month by \
                default).",
            "schema": { "type": "string", "pattern": "^[0-9]{4}-[0-9]{2}$" },
        },
        "months": {
            "name": "months",
            "in": "query",
            "description": "Forecast and leaderboard: how many months.",
            "schema": {
                "type": "integer",
                "minimum": 1,
                "maximum": pipeline::MAX_MONTHS,
                "default": 6,
            },
        },
        "format": {
            "name": "format",
            "in": "query",
            "description": "json (the default), or a file: csv or xlsx, one row per stage, \
                month, owner or source and currency.",
            "schema": { "type": "string", "enum": ["json", "csv", "xlsx"], "default": "json" },
        },
        "entry_kind": {
            "name": "kind",
            "in": "query",
            "description": "Only touchpoints (calls, e-mails, meetings, ...) or only changes.",
            "schema": { "type": "string", "enum": ["touchpoint", "change"] },
        },
        "order": {
            "name": "order",
            "in": "query",
            "description": "The score to rank by, highest first.",
            "schema": {
                "type": "string",
                "enum": ["value", "engagement", "touch_cost", "churn_risk"],
                "default": "value",
            },
        },
        "class": {
            "name": "class",
            "in": "query",
            "description": "Only customers of this value class (in force).",
            "schema": { "type": "string", "enum": ["A", "B", "C", "D"] },
        },
    })
}

/// The headers answers carry, by name; the ones marked required are on every answer that names
/// them.
fn headers() -> Value {
    json!({
        "X-Crm-Position": {
            "description": "The global position of the command's last event; send it as \
                `X-Crm-Min-Position` to read your own write.",
            "required": true,
            "schema": { "type": "integer", "format": "uint64", "minimum": 0 },
        },
        "ETag": {
            "description": "`\"<version>\"`, for `If-Match`; absent with `as_of`, since a past \
                state is no precondition for a command.",
            "schema": { "type": "string" },
        },
        "Retry-After": {
            "description": "Seconds to wait before trying again.",
            "required": true,
            "schema": { "type": "integer", "minimum": 0 },
        },
        "WWW-Authenticate": {
            "description": "`Bearer`.",
            "required": true,
            "schema": { "type": "string" },
        },
    })
}

/// The statuses an error can have, each with its name in `components/responses`.
const ERRORS: &[(u16, &str, &str)] = &[
    (400, "BadRequest", "The body is not valid JSON."),
    (
        401,
        "Unauthorized",
        "No bearer token, or one that is unknown, revoked or of a deactivated user.",
    ),
    (
        403,
        "Forbidden",
        "The caller's role or team may not do this; the attempt is logged.",
    ),
    (
        404,
        "NotFound",
        "No such record, or one the caller may not see.",
    ),
    (
        408,
        "RequestTimeout",
        "The body did not arrive in time (`[api] body_timeout_ms` after the request head); the \
         connection is closed.",
    ),
    (
        409,
        "Conflict",
        "The command no longer holds on the record as it is now; `current_version` says where it is.",
    ),
    (
        412,
        "PreconditionFailed",
        "The record is not at the version `If-Match` named.",
    ),
    (413, "ContentTooLarge", "The body is larger than the limit."),
    (
        422,
        "UnprocessableContent",
        "A value is invalid, a field is unknown or missing, a named record does not exist, or \
         the Idempotency-Key was first used with another request; `errors` names each field.",
    ),
    (
        429,
        "TooManyRequests",
        "More at once than the server takes (event streams open for the user or in all), or \
         more failed authentications for one user within a minute than are logged; retry after \
         `Retry-After` seconds.",
    ),
    (
        503,
        "ServiceUnavailable",
        "The store (or, for a stream, NATS) cannot be reached; nothing was written: retry after \
         `Retry-After` seconds. Without `Retry-After` (type `outcome-unknown`) a command may have \
         been recorded: send it again only with the same `Idempotency-Key`.",
    ),
    (
        504,
        "GatewayTimeout",
        "The read model did not reach `X-Crm-Min-Position` in time.",
    ),
];

fn error_name(status: u16) -> &'static str {
    ERRORS
        .iter()
        .find(|(known, _, _)| *known == status)
        .map_or("Error", |(_, name, _)| name)
}

/// One response per error status, each a problem+json body.
fn error_responses(problem: &Value) -> Value {
    let responses: Map<String, Value> = ERRORS
        .iter()
        .map(|(status, name, description)| {
            let description = if *status == 413 {
                format!("{description} ({MAX_BODY_BYTES} bytes).")
            } else {
                (*description).to_owned()
            };
            let mut response = json!({
                "description": description,
                "content": { PROBLEM_CONTENT_TYPE: { "schema": problem } },
            });
            let header = match status {
                401 => Some("WWW-Authenticate"),
                429 | 503 => Some("Retry-After"),
                _ => None,
            };
            if let Some(header) = header {
                response["headers"] =
                    json!({ header: { "$ref": format!("#/components/headers/{header}") } });
            }
            ((*name).to_owned(), response)
        })
        .collect();
    Value::Object(responses)
}

/// The answers' definitions that must be renamed `-Output`: those whose name the requests use
/// for another schema. Comparing one needs to know which of the definitions it refers to are
/// renamed, so this repeats until no more are.
fn output_renames(inputs: &Map<String, Value>, outputs: &Map<String, Value>) -> BTreeSet<String> {
    let mut renamed = BTreeSet::new();
    loop {
        let before = renamed.len();
        for (name, schema) in outputs {
            let Some(input) = inputs.get(name) else {
                continue;
            };
            if renamed.contains(name) {
                continue;
            }
            let mut merged = schema.clone();
            rewrite_references(&mut merged, &|reference| {
                merged_reference(reference, &renamed)
            });
            if merged != *input {
                renamed.insert(name.clone());
            }
        }
        if renamed.len() == before {
            return renamed;
        }
    }
}

/// `components/schemas`: the requests' definitions, and the answers' where they differ (still
/// referring into their temporary place, until [`merged_reference`] rewrites them).
fn merged_schemas(
    inputs: Map<String, Value>,
    outputs: Map<String, Value>,
    renamed: &BTreeSet<String>,
) -> Map<String, Value> {
    let mut merged = inputs;
    for (name, schema) in outputs {
        if renamed.contains(&name) {
            merged.insert(format!("{name}{OUTPUT_SUFFIX}"), schema);
        } else if !merged.contains_key(&name) {
            merged.insert(name, schema);
        }
    }
    merged
}

/// Where a reference into the answers' temporary place points once the definitions are merged.
fn merged_reference(reference: &str, renamed: &BTreeSet<String>) -> Option<String> {
    let name = reference
        .strip_prefix('#')?
        .strip_prefix(OUTPUT_SCHEMAS)?
        .strip_prefix('/')?;
    Some(if renamed.contains(name) {
        format!("#{SCHEMAS}/{name}{OUTPUT_SUFFIX}")
    } else {
        format!("#{SCHEMAS}/{name}")
    })
}

fn rewrite_references(value: &mut Value, rewrite: &dyn Fn(&str) -> Option<String>) {
    match value {
        Value::Object(object) => {
            for (key, value) in object.iter_mut() {
                match value {
                    Value::String(reference) if key == "$ref" => {
                        if let Some(rewritten) = rewrite(reference) {
                            *reference = rewritten;
                        }
                    }
                    other => rewrite_references(other, rewrite),
                }
            }
        }
        Value::Array(items) => {
            for item in items {
                rewrite_references(item, rewrite);
            }
        }
        _ => {}
    }
}

/// Every `$ref` in `value`.
pub fn references(value: &Value) -> Vec<&str> {
    let mut found = Vec::new();
    collect_references(value, &mut found);
    found
}

fn collect_references<'a>(value: &'a Value, found: &mut Vec<&'a str>) {
    match value {
        Value::Object(object) => {
            for (key, value) in object {
                match value {
                    Value::String(reference) if key == "$ref" => found.push(reference),
                    other => collect_references(other, found),
                }
            }
        }
        Value::Array(items) => items
            .iter()
            .for_each(|item| collect_references(item, found)),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn definitions(value: Value) -> Map<String, Value> {
        match value {
            Value::Object(map) => map,
            _ => Map::new(),
        }
    }

    #[test]
    fn an_answer_that_reads_differently_is_renamed_and_so_is_what_refers_to_it() {
        let inputs = definitions(json!({
            "Same": { "type": "string" },
            "Differs": { "type": "object", "properties": { "a": { "type": "string" } } },
            "Holder": { "$ref": "#/components/schemas/Differs" },
            "Sharer": { "$ref": "#/components/schemas/Same" },
        }));
        let outputs = definitions(json!({
            "Same": { "type": "string" },
            "Differs": {
                "type": "object",
                "required": ["a"],
                "properties": { "a": { "type": "string" } },
            },
            "Holder": { "$ref": "#/components/output-schemas/Differs" },
            "Sharer": { "$ref": "#/components/output-schemas/Same" },
            "OnlyOut": { "$ref": "#/components/output-schemas/Holder" },
        }));
        let renamed = output_renames(&inputs, &outputs);
        assert_eq!(
            renamed,
            BTreeSet::from(["Differs".to_owned(), "Holder".to_owned()])
        );
        let mut merged = Value::Object(merged_schemas(inputs, outputs, &renamed));
        rewrite_references(&mut merged, &|reference| {
            merged_reference(reference, &renamed)
        });
        let mut names: Vec<&String> = merged
            .as_object()
            .map(|m| m.keys().collect())
            .unwrap_or_default();
        names.sort();
        assert_eq!(
            names,
            [
                "Differs",
                "Differs-Output",
                "Holder",
                "Holder-Output",
                "OnlyOut",
                "Same",
                "Sharer"
            ]
        );
        assert_eq!(
            merged["Holder-Output"]["$ref"],
            "#/components/schemas/Differs-Output"
        );
        assert_eq!(
            merged["OnlyOut"]["$ref"],
            "#/components/schemas/Holder-Output"
        );
        assert_eq!(merged["Sharer"]["$ref"], "#/components/schemas/Same");
    }

    #[test]
    fn every_error_status_a_route_names_has_a_response() {
        for route in ROUTES {
            for status in route.errors {
                assert_ne!(error_name(*status), "Error", "{} {}", route.path, status);
            }
        }
    }
}
