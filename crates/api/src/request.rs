//! What a request carries besides the route: the JSON body (kept raw as well, for the idempotency
//! fingerprint), `If-Match`, `Idempotency-Key` and the position a query must wait for. Each
//! extractor refuses bad input with the problem a client can act on: 400 for broken JSON, 422
//! naming the field for a value of the wrong shape or an unknown field, 413 for a body too large,
//! 408 for one that does not arrive in time.

use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::StatusCode;
use axum::http::request::Parts;
use bytes::Bytes;
use serde::de::DeserializeOwned;

use crate::problem::ApiError;
use crate::serve::BodyTimedOut;

/// The largest request body the API reads.
pub const MAX_BODY_BYTES: usize = 256 * 1024;

/// A JSON body, parsed strictly, with the bytes the client sent.
pub struct JsonBody<T> {
    pub value: T,
    pub raw: Bytes,
}

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, ApiError> {
        let raw = Bytes::from_request(request, state)
            .await
            .map_err(|rejection| {
                if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                    ApiError::TooLarge(MAX_BODY_BYTES)
                } else if caused_by::<BodyTimedOut>(&rejection) {
                    ApiError::BodyTimedOut
                } else {
                    ApiError::Malformed(rejection.body_text())
                }
            })?;
        // An empty body reads as `{}`: commands whose fields are all optional need none, and
        // the others get a 422 naming the first missing field.
        let value = if raw.is_empty() {
            parse_json(b"{}")?
        } else {
            parse_json(&raw)?
        };
        Ok(JsonBody { value, raw })
    }
}

/// Whether `error`, or an error it was caused by, is an `E`.
fn caused_by<E: std::error::Error + 'static>(error: &(dyn std::error::Error + 'static)) -> bool {
    let mut cause = Some(error);
    while let Some(error) = cause {
        if error.is::<E>() {
            return true;
        }
        cause = error.source();
    }
    false
}

/// The body of a command that takes none: nothing, or `{}`. Anything else is refused, naming
/// the field, rather than ignored.
pub struct NoBody;

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct NoFields {}

impl<S: Send + Sync> FromRequest<S> for NoBody {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, ApiError> {
        let JsonBody {
            value: NoFields {}, ..
        } = JsonBody::<NoFields>::from_request(request, state).await?;
        Ok(NoBody)
    }
}

/// Parses a JSON document into `T`, naming the field a value of the wrong shape sits at.
pub fn parse_json<T: DeserializeOwned>(raw: &[u8]) -> Result<T, ApiError> {
    let mut deserializer = serde_json::Deserializer::from_slice(raw);
    let value = serde_path_to_error::deserialize(&mut deserializer).map_err(|error| {
        let field = error.path().to_string();
        let inner = error.into_inner();
        if inner.is_syntax() || inner.is_eof() {
            ApiError::Malformed(inner.to_string())
        } else {
            invalid_at(field, without_location(&inner.to_string()))
        }
    })?;
    deserializer
        .end()
        .map_err(|error| ApiError::Malformed(error.to_string()))?;
    Ok(value)
}

/// Query parameters, parsed as strictly as a body: a 422 naming the parameter of a value of the
/// wrong shape or an unknown parameter (axum's own `Query` names none).
pub struct Query<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for Query<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        let query = parts.uri.query().unwrap_or_default();
        let deserializer =
            serde_urlencoded::Deserializer::new(form_urlencoded::parse(query.as_bytes()));
        serde_path_to_error::deserialize(deserializer)
            .map(Query)
            .map_err(|error| {
                let field = error.path().to_string();
                invalid_at(field, error.into_inner().to_string())
            })
    }
}

/// A 422 for `message` about the value at `path` (serde_path_to_error's, which names an
/// unknown field too; `.` is the whole document).
fn invalid_at(path: String, message: String) -> ApiError {
    let field = if path == "." { String::new() } else { path };
    ApiError::invalid(field, message)
}

/// serde_json ends its messages with " at line 1 column 42", which says nothing to a client
/// whose field is already named.
fn without_location(message: &str) -> String {
    match message.rfind(" at line ") {
        Some(index) => message[..index].to_owned(),
        None => message.to_owned(),
    }
}

/// `If-Match: "<version>"`: the command applies only to the record at exactly that version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct IfMatch(pub Option<u64>);

impl<S: Send + Sync> FromRequestParts<S> for IfMatch {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        let Some(value) = parts.headers.get("if-match") else {
            return Ok(IfMatch(None));
        };
        let text = value.to_str().unwrap_or_default().trim();
        // `*`: any version of a record that exists, which every command to one asks anyway.
        if text == "*" {
            return Ok(IfMatch(None));
        }
        let text = text.strip_prefix("W/").unwrap_or(text);
        text.trim_matches('"')
            .parse()
            .map(|version| IfMatch(Some(version)))
            .map_err(|_| ApiError::invalid("If-Match", "must be a version, e.g. \"3\""))
    }
}

/// `Idempotency-Key`: a retry with the same key and body gets the first response.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct IdempotencyKey(pub Option<String>);

const MAX_IDEMPOTENCY_KEY: usize = 200;

impl<S: Send + Sync> FromRequestParts<S> for IdempotencyKey {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        let Some(value) = parts.headers.get("idempotency-key") else {
            return Ok(IdempotencyKey(None));
        };
        match value.to_str() {
            Ok(key) if !key.is_empty() && key.len() <= MAX_IDEMPOTENCY_KEY => {
                Ok(IdempotencyKey(Some(key.to_owned())))
            }
            _ => Err(ApiError::invalid(
                "Idempotency-Key",
                format!("must be 1 to {MAX_IDEMPOTENCY_KEY} visible ASCII characters"),
            )),
        }
    }
}

/// `X-Crm-Min-Position` (or `?min_position=`): answer only from a read model at least there.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct MinPosition(pub Option<u64>);

impl<S: Send + Sync> FromRequestParts<S> for MinPosition {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        let from_header = parts
            .headers
            .get("x-crm-min-position")
            .map(|value| value.to_str().unwrap_or_default().trim().to_owned());
        let from_query = parts.uri.query().and_then(|query| {
            query
                .split('&')
                .find_map(|pair| pair.strip_prefix("min_position="))
                .map(str::to_owned)
        });
        match from_header.or(from_query) {
            None => Ok(MinPosition(None)),
            Some(text) => text.parse().map(|p| MinPosition(Some(p))).map_err(|_| {
                ApiError::invalid("X-Crm-Min-Position", "must be a non-negative integer")
            }),
        }
    }
}

/// Path parameters. A malformed id names no record, so it is a 404 problem like any other
/// unknown id (axum's own rejection would be a plain-text 400).
pub struct Path<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned + Send> FromRequestParts<S> for Path<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        axum::extract::Path::<T>::from_request_parts(parts, state)
            .await
            .map(|axum::extract::Path(value)| Path(value))
            .map_err(|_| ApiError::NotFound("record"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Body {
        name: String,
        stages: Vec<Stage>,
    }

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Stage {
        probability: u8,
    }

    fn field_of(error: ApiError) -> (String, String) {
        match error {
            ApiError::Invalid(mut errors) => {
                let error = errors.remove(0);
                (error.field, error.message)
            }
            other => panic!("expected a 422, got {other:?}"),
        }
    }

    #[test]
    fn broken_json_is_malformed() {
        assert!(matches!(
            parse_json::<Body>(b"{\"name\": "),
            Err(ApiError::Malformed(_))
        ));
        assert!(matches!(
            parse_json::<Body>(br#"{"name":"x","stages":[]} {}"#),
            Err(ApiError::Malformed(_))
        ));
    }

    #[test]
    fn a_value_of_the_wrong_shape_names_its_field() {
        let (field, message) = field_of(
            parse_json::<Body>(br#"{"name":"x","stages":[{"probability":300}]}"#).unwrap_err(),
        );
        assert_eq!(field, "stages[0].probability");
        assert!(!message.contains("line"), "{message}");
    }

    #[test]
    fn an_unknown_field_is_refused_by_name() {
        let (field, message) =
            field_of(parse_json::<Body>(br#"{"name":"x","stages":[],"nmae":1}"#).unwrap_err());
        assert_eq!(field, "nmae");
        assert!(message.contains("nmae"), "{message}");
        let (field, _) = field_of(
            parse_json::<Body>(br#"{"name":"x","stages":[{"probability":1,"p":2}]}"#).unwrap_err(),
        );
        assert_eq!(field, "stages[0].p");
    }

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Page {
        limit: Option<u32>,
        tag: Option<String>,
    }

    async fn query(uri: &str) -> Result<Page, ApiError> {
        let request = axum::http::Request::get(uri).body(()).unwrap();
        let (mut parts, ()) = request.into_parts();
        Query::<Page>::from_request_parts(&mut parts, &())
            .await
            .map(|Query(page)| page)
    }

    #[tokio::test]
    async fn a_bad_query_parameter_is_named() {
        let page = query("/x?limit=5&tag=vip%20one").await.unwrap();
        assert_eq!(
            (page.limit, page.tag.as_deref()),
            (Some(5), Some("vip one"))
        );
        assert_eq!(
            field_of(query("/x?limit=many").await.unwrap_err()).0,
            "limit"
        );
        assert_eq!(
            field_of(query("/x?colour=red").await.unwrap_err()).0,
            "colour"
        );
        assert!(query("/x").await.is_ok());
    }

    async fn if_match(value: &str) -> Result<IfMatch, ApiError> {
        let request = axum::http::Request::get("/x")
            .header("if-match", value)
            .body(())
            .unwrap();
        let (mut parts, ()) = request.into_parts();
        IfMatch::from_request_parts(&mut parts, &()).await
    }

    #[tokio::test]
    async fn if_match_takes_a_version_or_any() {
        assert_eq!(if_match("\"3\"").await.unwrap(), IfMatch(Some(3)));
        assert_eq!(if_match("W/\"3\"").await.unwrap(), IfMatch(Some(3)));
        assert_eq!(if_match("*").await.unwrap(), IfMatch(None));
        assert!(if_match("three").await.is_err());
    }
}
