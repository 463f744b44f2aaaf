//! The response body of a traced request: keeps the span open until the body is sent and
//! reads gRPC's status from the trailers.

use http_body::{Body, Frame, SizeHint};
use pin_project_lite::pin_project;
use std::fmt;
use std::pin::Pin;
use std::task::{Context, Poll};

pin_project! {
    /// A response body that ends the request span when it ends (or is dropped), so the span's
    /// duration includes streaming the body. Reads no data, only watches for the end, an
    /// error and (gRPC) the `grpc-status` trailer.
    pub struct ResponseBody<B> {
        #[pin]
        inner: B,
        span: Option<tracing::Span>,
        grpc: bool,
    }
}

impl<B> ResponseBody<B> {
    pub(crate) fn new(inner: B, span: tracing::Span, grpc: bool) -> Self {
        Self {
            inner,
            span: Some(span),
            grpc,
        }
    }
}

impl<B> fmt::Debug for ResponseBody<B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResponseBody")
            .field("span", &self.span)
            .finish_non_exhaustive()
    }
}

impl<B> Body for ResponseBody<B>
where
    B: Body,
    B::Error: fmt::Display,
{
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let this = self.project();
        let polled = this.inner.poll_frame(cx);
        match &polled {
            Poll::Ready(Some(Ok(frame))) => {
                if let (Some(trailers), Some(span)) = (frame.trailers_ref(), this.span.as_ref()) {
                    if *this.grpc {
                        crate::grpc::record_status(span, trailers);
                    }
                    *this.span = None;
                }
            }
            Poll::Ready(Some(Err(err))) => {
                if let Some(span) = this.span.take() {
                    crate::server::record_error(&span, "response_body", err);
                }
            }
            Poll::Ready(None) => *this.span = None,
            Poll::Pending => {}
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
