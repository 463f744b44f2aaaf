//! A hook for ids made elsewhere: another layer (a bridge to another tracing system) that
//! already gives spans trace and span ids, which the correlation layer must adopt so that
//! there is one trace id, not two.

use crate::data::SpanContext;
use crate::ids::{SpanId, TraceId};
use std::fmt;
use tracing_core::Metadata;
use tracing_subscriber::registry::Extensions;

/// What an [`IdSource`] is shown of a new span.
#[derive(Debug)]
#[non_exhaustive]
pub struct NewSpan<'a> {
    /// The span's metadata.
    pub metadata: &'static Metadata<'static>,
    /// The span's extensions, with what the layers stacked **before** the correlation layer
    /// stored there in their `on_new_span` (layers after it have not run yet).
    pub extensions: &'a Extensions<'a>,
    /// The context of the span's nearest ancestor with ids, as the correlation layer has it;
    /// `None` for a root.
    pub parent: Option<SpanContext>,
}

/// Ids an [`IdSource`] gives a span.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ExternalIds {
    /// The trace (`operation_Id`). Must be valid (non-zero).
    pub trace_id: TraceId,
    /// The span. Must be valid (non-zero).
    pub span_id: SpanId,
    /// The parent span, local or remote; `None` for a root.
    pub parent_span_id: Option<SpanId>,
    /// Whether that parent is in another process.
    pub remote_parent: bool,
    /// The source's sampling decision; `None` lets the correlation layer decide as for its
    /// own ids (a root asks the sampler, a child follows its parent).
    pub sampled: Option<bool>,
}

/// A source of ids the correlation layer consults for every new span **before** it makes
/// its own: when the source answers, the span takes those ids; when it answers `None`, the
/// layer makes ids as usual. Install it with
/// [`CorrelationLayer::with_id_source`](crate::CorrelationLayer::with_id_source).
///
/// For a bridge to another tracing system whose layer assigns ids in its own `on_new_span`:
/// stack that layer before the correlation layer, and read its span data from
/// [`NewSpan::extensions`]. Ids taken from a source are fixed at once: a remote parent must
/// be given to the source's system (before or when the span is made), since
/// [`CorrelationSpanExt::set_parent_from_traceparent`](crate::CorrelationSpanExt::set_parent_from_traceparent)
/// is refused for them (it would part the two systems' ids). Invalid (all-zero) ids are
/// ignored. The source runs on the application's thread for every span, while the span's
/// extensions are read-locked: keep it short, and do not take the span's extensions again.
///
/// ```
/// use tracing_insights_correlation::{self as correlation, ExternalIds, IdSource, NewSpan, SpanId, TraceId};
/// use tracing_subscriber::prelude::*;
///
/// /// Ids that another layer stacked before the correlation layer stored.
/// #[derive(Clone, Copy)]
/// struct TheirIds(TraceId, SpanId);
///
/// #[derive(Debug)]
/// struct Theirs;
///
/// impl IdSource for Theirs {
///     fn ids(&self, span: &NewSpan<'_>) -> Option<ExternalIds> {
///         let TheirIds(trace_id, span_id) = *span.extensions.get::<TheirIds>()?;
///         Some(ExternalIds {
///             trace_id,
///             span_id,
///             parent_span_id: span.parent.map(|p| p.span_id),
///             remote_parent: false,
///             sampled: None,
///         })
///     }
/// }
///
/// let subscriber = tracing_subscriber::registry()
///     // .with(their_layer)
///     .with(correlation::layer().with_id_source(Theirs));
/// # drop(subscriber);
/// ```
pub trait IdSource: Send + Sync + fmt::Debug + 'static {
    /// The ids `span` should have, or `None` to let the correlation layer make them.
    fn ids(&self, span: &NewSpan<'_>) -> Option<ExternalIds>;
}
