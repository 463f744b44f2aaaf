//! One delivery attempt of a batch: encode, authorize, send, follow redirects, and settle
//! what the answer settles (the worker schedules what is left).

use crate::answer::{Answer, DropReason};
use crate::encode::Encoder;
use crate::redirect::{self, mask_url};
use crate::stats::Counter;
use crate::transport::{Method, Request, Response};
use crate::worker::{Delivery, Worker};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant, SystemTime};

impl<E: Encoder> Worker<E> {
    /// Sends `items` once (following redirects, refreshing a token once on 401) and
    /// settles what the answer settles.
    /// `kinds` holds each item's kind: what the answer settles is counted per kind too.
    pub(crate) fn deliver(
        &mut self,
        items: Vec<Vec<u8>>,
        kinds: Vec<u8>,
        deadline: Option<Instant>,
    ) -> Delivery {
        let n = items.len() as u64;
        let none = || Delivery::Settled {
            accepted: 0,
            kinds: Vec::new(),
        };
        let body = match self.encoder.encode(&items) {
            Ok(b) => b,
            Err(e) => {
                self.stats.drop_kinds(DropReason::Rejected, &kinds);
                self.stats
                    .set_error(format!("could not encode {n} items: {e}"));
                return none();
            }
        };
        let offset = body.leading;
        let mut redirects = 0;
        let mut refreshed = false;
        loop {
            let auth = match &self.cfg.auth {
                Some(a) => match a.authorization() {
                    Ok(v) => Some(v),
                    Err(e) => {
                        return Delivery::Retry {
                            items,
                            kinds,
                            retry_after: None,
                            error: format!("no token for {}: {e}", mask_url(&self.url)),
                        }
                    }
                },
                None => None,
            };
            if self.stats.halted.load(Ordering::Acquire) {
                // The guard gave up waiting for a shutdown: nothing is sent after it returned.
                return Delivery::Retry {
                    items,
                    kinds,
                    retry_after: None,
                    error: "the exporter was stopped".into(),
                };
            }
            let timeout = self.timeout(deadline);
            self.stats.requests.fetch_add(1, Ordering::Relaxed);
            let request = Request {
                method: Method::Post,
                url: &self.url,
                headers: &self.cfg.headers,
                authorization: auth.as_deref(),
                body: &body,
                timeout,
            };
            let response = match self.transport.send(&request) {
                Ok(a) => a,
                Err(error) => {
                    return Delivery::Retry {
                        items,
                        kinds,
                        retry_after: None,
                        error,
                    }
                }
            };
            self.stats
                .bytes_sent
                .fetch_add(body.bytes.len() as u64, Ordering::Relaxed);
            let decision = self.cfg.classifier.classify(&response, SystemTime::now());
            let said = || self.said(&response);
            match decision {
                Answer::Accepted => {
                    self.stats.sent.fetch_add(n, Ordering::Relaxed);
                    self.stats.count_kinds(Counter::Sent, &kinds);
                    return Delivery::Settled { accepted: n, kinds };
                }
                Answer::PartiallyRejected { rejected, message } => {
                    let rejected = rejected.min(n);
                    self.stats.sent.fetch_add(n - rejected, Ordering::Relaxed);
                    // The answer does not say which items were refused: per kind, the
                    // batch's last ones are counted as the refused.
                    let (sent, refused) = kinds.split_at((n - rejected) as usize);
                    self.stats.count_kinds(Counter::Sent, sent);
                    self.stats.drop_kinds(DropReason::Rejected, refused);
                    let msg = format!("{}: {rejected} of {n} items refused: {message}", said());
                    eprintln!("[tracing-insights] {}: {msg}", self.cfg.name);
                    self.stats.set_error(msg);
                    return Delivery::Settled {
                        accepted: n - rejected,
                        kinds: sent.to_vec(),
                    };
                }
                Answer::Partial {
                    retry,
                    rejected,
                    sampled_out,
                    retry_after,
                } => {
                    let ours = |v: Vec<usize>| -> Vec<usize> {
                        let mut v: Vec<usize> = v
                            .into_iter()
                            .filter_map(|i| i.checked_sub(offset))
                            .filter(|i| *i < items.len())
                            .collect();
                        v.sort_unstable();
                        v.dedup();
                        v
                    };
                    let retry = ours(retry);
                    let rejected: Vec<usize> = ours(rejected)
                        .into_iter()
                        .filter(|i| !retry.contains(i))
                        .collect();
                    let sampled: Vec<usize> = ours(sampled_out)
                        .into_iter()
                        .filter(|i| !retry.contains(i) && !rejected.contains(i))
                        .collect();
                    let accepted = n - (retry.len() + rejected.len() + sampled.len()) as u64;
                    self.stats.sent.fetch_add(accepted, Ordering::Relaxed);
                    self.stats
                        .sampled_out
                        .fetch_add(sampled.len() as u64, Ordering::Relaxed);
                    // Each index's result goes to that item's kind.
                    let kinds_at =
                        |idx: &[usize]| -> Vec<u8> { idx.iter().map(|i| kinds[*i]).collect() };
                    let accepted_kinds: Vec<u8> = kinds
                        .iter()
                        .enumerate()
                        .filter(|(i, _)| {
                            !retry.contains(i) && !rejected.contains(i) && !sampled.contains(i)
                        })
                        .map(|(_, k)| *k)
                        .collect();
                    self.stats.count_kinds(Counter::Sent, &accepted_kinds);
                    self.stats
                        .count_kinds(Counter::SampledOut, &kinds_at(&sampled));
                    if !rejected.is_empty() {
                        self.stats
                            .drop_kinds(DropReason::Rejected, &kinds_at(&rejected));
                        self.stats.set_error(format!(
                            "{}: {} items refused",
                            said(),
                            rejected.len()
                        ));
                    }
                    if retry.is_empty() {
                        return Delivery::Settled {
                            accepted,
                            kinds: accepted_kinds,
                        };
                    }
                    let mut items = items;
                    let again: Vec<Vec<u8>> = retry
                        .iter()
                        .map(|i| std::mem::take(&mut items[*i]))
                        .collect();
                    return Delivery::Retry {
                        error: format!("{}: {} items to send again", said(), again.len()),
                        items: again,
                        kinds: kinds_at(&retry),
                        retry_after,
                    };
                }
                Answer::Retry {
                    retry_after,
                    unauthorized,
                } => {
                    if unauthorized && !refreshed {
                        if let Some(a) = &self.cfg.auth {
                            a.invalidate();
                            refreshed = true;
                            self.stats.retried.fetch_add(1, Ordering::Relaxed);
                            continue;
                        }
                    }
                    return Delivery::Retry {
                        items,
                        kinds,
                        retry_after,
                        error: said(),
                    };
                }
                Answer::Redirect(location) => {
                    redirects += 1;
                    if redirects > redirect::MAX_REDIRECTS {
                        self.stats.drop_kinds(DropReason::Redirect, &kinds);
                        self.stats
                            .set_error(format!("circular redirects from {}", mask_url(&self.url)));
                        return none();
                    }
                    match redirect::follow_within(
                        &self.url,
                        location.as_deref(),
                        self.cfg.redirect_suffixes,
                    ) {
                        Ok(url) => self.url = url,
                        Err(why) => {
                            self.stats.drop_kinds(DropReason::Redirect, &kinds);
                            self.stats
                                .set_error(format!("{}: refused redirect ({why:?})", said()));
                            return none();
                        }
                    }
                }
                Answer::Drop(reason) => {
                    let msg = format!("{}: {n} items dropped", said());
                    eprintln!("[tracing-insights] {}: {msg}", self.cfg.name);
                    self.stats.drop_kinds(reason, &kinds);
                    self.stats.set_error(msg);
                    return none();
                }
            }
        }
    }

    /// "HTTP 404 Not Found from http://host/v1/traces" (in the classifier's words).
    fn said(&self, response: &Response) -> String {
        format!(
            "{} from {}",
            self.cfg.classifier.describe(response),
            mask_url(&self.url)
        )
    }

    /// The request timeout, shortened to what is left before a flush or shutdown deadline.
    fn timeout(&self, deadline: Option<Instant>) -> Option<Duration> {
        let configured = (!self.cfg.request_timeout.is_zero()).then_some(self.cfg.request_timeout);
        let left = deadline.map(|d| {
            d.saturating_duration_since(Instant::now())
                .max(Duration::from_millis(50))
        });
        match (configured, left) {
            (Some(c), Some(l)) => Some(c.min(l)),
            (c, l) => c.or(l),
        }
    }
}
