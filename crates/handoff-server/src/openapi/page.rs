//! The API reference page at `/openapi`: the document rendered for people, one section per
//! operation in the document's order.

use std::fmt::Write as _;

use utoipa::openapi::path::Operation;
use utoipa::openapi::{Content, OpenApi as Document, RefOr, Required};

use crate::http::pages::escape;

/// The reference page's body: one section per operation, in the document's order.
pub fn render(doc: &Document) -> String {
    let mut out = String::new();
    let _ = write!(
        out,
        "<h1>handoff API reference</h1><p>{}</p><p>Machine-readable: <a href=\"/openapi.json\">/openapi.json</a> (OpenAPI {}). \
         Error types: <a href=\"/errors/invalid-request\">/errors/…</a>.</p>",
        escape(doc.info.description.as_deref().unwrap_or_default()),
        escape(&serde_json::to_value(&doc.openapi).ok().and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_default()),
    );
    out.push_str("<ul>");
    for (path, item) in &doc.paths.paths {
        for (method, operation) in operations(item) {
            let summary = operation.summary.as_deref().map(|s| format!(" {}", escape(s))).unwrap_or_default();
            let _ = write!(
                out,
                "<li><a href=\"#{}\"><code>{method} {}</code></a>{summary}</li>",
                anchor(method, path),
                escape(path)
            );
        }
    }
    out.push_str("</ul>");
    for (path, item) in &doc.paths.paths {
        for (method, operation) in operations(item) {
            section(&mut out, method, path, operation);
        }
    }
    out
}

fn operations(item: &utoipa::openapi::PathItem) -> Vec<(&'static str, &Operation)> {
    [
        ("GET", &item.get),
        ("HEAD", &item.head),
        ("POST", &item.post),
        ("PUT", &item.put),
        ("PATCH", &item.patch),
        ("DELETE", &item.delete),
    ]
    .into_iter()
    .filter_map(|(method, operation)| operation.as_ref().map(|operation| (method, operation)))
    .collect()
}

fn anchor(method: &str, path: &str) -> String {
    format!("{}{}", method.to_ascii_lowercase(), path.replace(['/', '{', '}', '.'], "-"))
}

fn section(out: &mut String, method: &str, path: &str, operation: &Operation) {
    let _ = write!(out, "<h2 id=\"{}\"><code>{method} {}</code></h2>", anchor(method, path), escape(path));
    for text in [&operation.summary, &operation.description].into_iter().flatten() {
        let _ = write!(out, "<p>{}</p>", escape(text));
    }
    if operation.security.is_some() {
        out.push_str("<p>Needs <code>Authorization: Bearer &lt;admin token&gt;</code>.</p>");
    }
    if let Some(parameters) = &operation.parameters {
        out.push_str("<p>Parameters:</p><ul>");
        for parameter in parameters {
            let RefOr::T(parameter) = parameter else { continue };
            let location = serde_json::to_value(&parameter.parameter_in).ok();
            let _ = write!(
                out,
                "<li><code>{}</code> ({}{}){}</li>",
                escape(&parameter.name),
                location.as_ref().and_then(|v| v.as_str()).unwrap_or_default(),
                if matches!(parameter.required, Required::True) { ", required" } else { "" },
                parameter.description.as_deref().map(|d| format!(": {}", escape(d))).unwrap_or_default(),
            );
        }
        out.push_str("</ul>");
    }
    if let Some(RefOr::T(body)) = &operation.request_body {
        let _ = write!(out, "<p>Body: {}</p>", contents(&body.content));
    }
    out.push_str("<p>Answers:</p><ul>");
    for (status, response) in &operation.responses.responses {
        if let RefOr::T(response) = response {
            let _ = write!(
                out,
                "<li><code>{}</code> {} {}</li>",
                escape(status),
                escape(&response.description),
                contents(&response.content)
            );
        }
    }
    out.push_str("</ul>");
}

/// `application/json: OrganizationView` for each media type.
fn contents<'a>(content: impl IntoIterator<Item = (&'a String, &'a RefOr<Content>)>) -> String {
    content
        .into_iter()
        .map(|(media, content)| {
            let schema = match content {
                RefOr::T(content) => &content.schema,
                RefOr::Ref(_) => &None,
            };
            let schema = match schema {
                Some(RefOr::Ref(reference)) => reference.ref_location.rsplit('/').next().unwrap_or_default().to_owned(),
                Some(RefOr::T(_)) => "object".to_owned(),
                None => String::new(),
            };
            format!("<code>{}</code> {}", escape(media), escape(&schema))
        })
        .collect::<Vec<_>>()
        .join(", ")
}
