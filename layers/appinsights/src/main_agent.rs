//! GenAI main-agent attribution, as Microsoft's distro does it: every span under an agent
//! carries `microsoft.gen_ai.main_agent.{name,id,version,conversation_id}`, so the portal's
//! agent views can group an agent's model and tool calls under the agent that started them.
//!
//! When a span starts, the attribution is taken from its parent: the parent's own
//! attribution, else the parent's `microsoft.gen_ai.main_agent.*` fields, else the parent's
//! agent (`gen_ai.agent.{name,id,version}`, `gen_ai.conversation.id`). A root
//! `invoke_agent` span attributes itself. The result lives in the span's extensions (one
//! `Arc`, shared by the whole subtree) and becomes properties on the encoder thread; a field
//! the span sets itself wins.

use crate::mapping::StrMap;
use crate::text::value_string;
use std::sync::Arc;
use tracing_core::Metadata;
use tracing_insights_correlation::{FieldValue, SpanData};
use tracing_subscriber::registry::{LookupSpan, SpanRef};

/// The property names, in the order of [`MainAgent::values`].
const KEYS: [&str; 4] = [
    "microsoft.gen_ai.main_agent.name",
    "microsoft.gen_ai.main_agent.id",
    "microsoft.gen_ai.main_agent.version",
    "microsoft.gen_ai.main_agent.conversation_id",
];

/// The agent a span is attributed to.
#[derive(Debug, Default, Clone, PartialEq)]
pub(crate) struct MainAgent {
    values: [Option<String>; 4],
}

impl MainAgent {
    /// Read from `fields` under `keys` (name, id, version, conversation id); `None` when
    /// none of them is set.
    fn read(fields: &[(&'static str, FieldValue)], keys: [&str; 4]) -> Option<Self> {
        let get = |key: &str| {
            fields
                .iter()
                .find(|(k, _)| *k == key)
                .map(|(_, v)| value_string(v))
                .filter(|s| !s.is_empty())
        };
        let values = keys.map(get);
        values
            .iter()
            .any(Option::is_some)
            .then_some(Self { values })
    }

    /// The attribution a span's own fields give its children.
    fn of_fields(fields: &[(&'static str, FieldValue)]) -> Option<Self> {
        Self::read(fields, KEYS).or_else(|| {
            Self::read(
                fields,
                [
                    "gen_ai.agent.name",
                    "gen_ai.agent.id",
                    "gen_ai.agent.version",
                    "gen_ai.conversation.id",
                ],
            )
        })
    }

    /// Adds the attribution to `props`, never over a property the span set itself.
    pub(crate) fn add_to<'a>(&'a self, props: &mut StrMap<'a>) {
        for (key, value) in KEYS.iter().zip(&self.values) {
            if let Some(v) = value {
                props.insert_absent(*key, || v.as_str().into());
            }
        }
    }

    /// Adds the attribution to an event's fields (a log record in the span), never over a
    /// field the event has itself.
    pub(crate) fn add_fields(&self, fields: &mut Vec<(&'static str, FieldValue)>) {
        for (key, value) in KEYS.iter().zip(&self.values) {
            if let Some(v) = value {
                if !fields.iter().any(|(k, _)| k == key) {
                    fields.push((key, FieldValue::Str(v.as_str().into())));
                }
            }
        }
    }
}

/// Whether spans of this callsite may carry what an attribution is read from: a
/// `gen_ai.*` field (the agent, the conversation, `gen_ai.operation.name`) or a
/// `microsoft.gen_ai.*` one. Every field a span can ever record is declared in its
/// callsite, so until such a callsite is registered no span needs the lookup.
pub(crate) fn declares_agent_fields(metadata: &Metadata<'_>) -> bool {
    metadata.is_span()
        && metadata.fields().iter().any(|f| {
            let name = f.name();
            name.starts_with("gen_ai.") || name.starts_with("microsoft.gen_ai.")
        })
}

/// Attributes a span that has just started (its correlation record is already there);
/// `true` when it has an attribution.
pub(crate) fn on_new_span<S>(span: &SpanRef<'_, S>) -> bool
where
    S: for<'a> LookupSpan<'a>,
{
    let found = match span.parent() {
        Some(parent) => {
            let ext = parent.extensions();
            match ext.get::<Arc<MainAgent>>() {
                Some(a) => Some(a.clone()),
                None => ext
                    .get::<SpanData>()
                    .and_then(|d| MainAgent::of_fields(d.record().fields()))
                    .map(Arc::new),
            }
        }
        None => {
            let ext = span.extensions();
            ext.get::<SpanData>().and_then(|d| {
                let fields = d.record().fields();
                let invoke = fields.iter().any(|(k, v)| {
                    *k == "gen_ai.operation.name" && value_string(v) == "invoke_agent"
                });
                invoke
                    .then(|| MainAgent::of_fields(fields))
                    .flatten()
                    .map(Arc::new)
            })
        }
    };
    match found {
        Some(agent) => {
            span.extensions_mut().insert(agent);
            true
        }
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(k: &'static str, v: &str) -> (&'static str, FieldValue) {
        (k, FieldValue::Str(v.into()))
    }

    #[test]
    fn own_attribution_first_then_the_agent_fields() {
        let agent = MainAgent::of_fields(&[
            s("gen_ai.agent.name", "support-bot"),
            s("gen_ai.agent.id", "a-1"),
            s("gen_ai.conversation.id", "c-9"),
        ])
        .unwrap();
        let mut props = StrMap::default();
        props.insert(KEYS[1], "own");
        agent.add_to(&mut props);
        assert_eq!(props.get(KEYS[0]), Some("support-bot"));
        assert_eq!(props.get(KEYS[1]), Some("own"), "a span's own field wins");
        assert_eq!(props.get(KEYS[3]), Some("c-9"));
        assert!(props.get(KEYS[2]).is_none());
        let main = MainAgent::of_fields(&[
            s("microsoft.gen_ai.main_agent.name", "planner"),
            s("gen_ai.agent.name", "sub-agent"),
        ])
        .unwrap();
        assert_eq!(main.values[0].as_deref(), Some("planner"));
        assert!(MainAgent::of_fields(&[s("http.route", "/x")]).is_none());
    }
}
