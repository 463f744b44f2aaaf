//! What the layer writes and the worker reads: sharded atomic counters, the applied
//! configuration (read through a per-thread cache, so no lock per span), and a bounded
//! document buffer behind a `try_lock`.

use serde_json::Value;
use std::cell::RefCell;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::Duration;

use crate::config::{CollectionConfig, DocumentDecision};
use crate::telemetry::{Item, ItemType};

const SHARDS: usize = 8;

#[derive(Debug, Default)]
#[repr(align(64))]
struct Shard {
    requests: AtomicU64,
    requests_failed: AtomicU64,
    request_us: AtomicU64,
    dependencies: AtomicU64,
    dependencies_failed: AtomicU64,
    dependency_us: AtomicU64,
    exceptions: AtomicU64,
}

/// Counts over one interval.
#[derive(Debug, Default, Clone, Copy, PartialEq)]
pub(crate) struct Counts {
    pub(crate) requests: u64,
    pub(crate) requests_failed: u64,
    pub(crate) request_ms_sum: f64,
    pub(crate) dependencies: u64,
    pub(crate) dependencies_failed: u64,
    pub(crate) dependency_ms_sum: f64,
    pub(crate) exceptions: u64,
}

static NEXT_ID: AtomicUsize = AtomicUsize::new(1);
static NEXT_SHARD: AtomicUsize = AtomicUsize::new(0);

thread_local! {
    static SHARD: usize = NEXT_SHARD.fetch_add(1, Ordering::Relaxed) % SHARDS;
    static CONFIG_CACHE: RefCell<Option<(usize, u64, Arc<CollectionConfig>)>> = const { RefCell::new(None) };
}

/// State shared by the layer (writer) and the control loop (reader).
#[derive(Debug)]
pub(crate) struct Collector {
    id: usize,
    /// The one atomic the hot path loads while nobody watches.
    collecting: AtomicBool,
    shards: [Shard; SHARDS],
    config: RwLock<Arc<CollectionConfig>>,
    config_gen: AtomicU64,
    config_has_metrics: AtomicBool,
    docs: Mutex<Vec<Value>>,
    docs_len: AtomicUsize,
    max_docs: usize,
    docs_dropped: AtomicU64,
    /// Panics caught in the layer's callbacks.
    panics: AtomicU64,
    /// The document processors, run on the worker when documents are taken.
    pub(crate) processors: crate::processor::Processors,
}

impl Collector {
    pub(crate) fn new(max_docs: usize) -> Self {
        Self {
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
            collecting: AtomicBool::new(false),
            shards: Default::default(),
            config: RwLock::new(Arc::new(CollectionConfig::default())),
            config_gen: AtomicU64::new(0),
            config_has_metrics: AtomicBool::new(false),
            docs: Mutex::new(Vec::new()),
            docs_len: AtomicUsize::new(0),
            max_docs,
            docs_dropped: AtomicU64::new(0),
            panics: AtomicU64::new(0),
            processors: crate::processor::Processors::default(),
        }
    }

    /// Runs `f`, containing a panic (counted): a bug in a layer callback must never unwind
    /// into the application.
    pub(crate) fn contain(&self, f: impl FnOnce()) {
        if std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).is_err() {
            self.panics.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Panics contained so far.
    pub(crate) fn contained_panics(&self) -> u64 {
        self.panics.load(Ordering::Relaxed) + self.processors.panics()
    }

    #[inline]
    pub(crate) fn is_collecting(&self) -> bool {
        self.collecting.load(Ordering::Relaxed)
    }

    /// Starts or stops collection; either way the interval starts afresh.
    pub(crate) fn set_collecting(&self, on: bool) {
        self.collecting.store(on, Ordering::Relaxed);
        let _ = self.take_counts();
        let _ = self.take_documents();
        let _ = self.config().take_metrics();
    }

    /// The applied configuration: a generation check and a thread-local `Arc`, the lock only
    /// when the configuration changed since this thread last looked.
    pub(crate) fn config(&self) -> Arc<CollectionConfig> {
        let gen = self.config_gen.load(Ordering::Acquire);
        let fresh = || {
            self.config
                .read()
                .unwrap_or_else(PoisonError::into_inner)
                .clone()
        };
        CONFIG_CACHE
            .try_with(|cell| {
                let Ok(mut slot) = cell.try_borrow_mut() else {
                    return fresh();
                };
                match &*slot {
                    Some((id, g, cfg)) if *id == self.id && *g == gen => cfg.clone(),
                    _ => {
                        let cfg = fresh();
                        *slot = Some((self.id, gen, cfg.clone()));
                        cfg
                    }
                }
            })
            .unwrap_or_else(|_| fresh())
    }

    pub(crate) fn set_config(&self, cfg: CollectionConfig) {
        self.config_has_metrics
            .store(cfg.has_metrics(), Ordering::Relaxed);
        *self.config.write().unwrap_or_else(PoisonError::into_inner) = Arc::new(cfg);
        self.config_gen.fetch_add(1, Ordering::AcqRel);
    }

    fn shard(&self) -> &Shard {
        let i = SHARD.try_with(|s| *s).unwrap_or(0);
        &self.shards[i]
    }

    /// Whether an item needs more than counting: a derived metric may read it, or the
    /// document buffer has room. When not, the layer only calls [`Collector::count`].
    #[inline]
    pub(crate) fn wants_detail(&self) -> bool {
        self.config_has_metrics.load(Ordering::Relaxed)
            || self.docs_len.load(Ordering::Relaxed) < self.max_docs
    }

    /// Counts an item that is not looked at further (the document buffer is full).
    pub(crate) fn count(&self, ty: ItemType, success: bool, duration: Duration) {
        self.count_only(ty, success, duration);
        self.docs_dropped.fetch_add(1, Ordering::Relaxed);
    }

    fn count_only(&self, ty: ItemType, success: bool, duration: Duration) {
        let s = self.shard();
        let us = u64::try_from(duration.as_micros()).unwrap_or(u64::MAX);
        match ty {
            ItemType::Request => {
                if success {
                    s.requests.fetch_add(1, Ordering::Relaxed);
                } else {
                    s.requests_failed.fetch_add(1, Ordering::Relaxed);
                }
                s.request_us.fetch_add(us, Ordering::Relaxed);
            }
            ItemType::Dependency => {
                if success {
                    s.dependencies.fetch_add(1, Ordering::Relaxed);
                } else {
                    s.dependencies_failed.fetch_add(1, Ordering::Relaxed);
                }
                s.dependency_us.fetch_add(us, Ordering::Relaxed);
            }
            ItemType::Exception => {
                s.exceptions.fetch_add(1, Ordering::Relaxed);
            }
            ItemType::Trace => {}
        }
    }

    /// Counts, filters and keeps (as a document) one item.
    pub(crate) fn observe(&self, item: &Item<'_>) {
        self.count_only(item.ty, item.success, item.duration);
        let cfg = self.config();
        if cfg.has_metrics() {
            cfg.observe(item);
        }
        if self.docs_len.load(Ordering::Relaxed) >= self.max_docs {
            self.docs_dropped.fetch_add(1, Ordering::Relaxed);
            return;
        }
        let doc = match cfg.document_decision(item) {
            DocumentDecision::Drop => return,
            DocumentDecision::Unfiltered => item.document(&[]),
            DocumentDecision::Streams(ids) => item.document(&ids),
        };
        match self.docs.try_lock() {
            Ok(mut docs) if docs.len() < self.max_docs => {
                docs.push(doc);
                self.docs_len.store(docs.len(), Ordering::Relaxed);
            }
            _ => {
                self.docs_dropped.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    /// The counts since the last call, resetting them.
    pub(crate) fn take_counts(&self) -> Counts {
        let mut c = Counts::default();
        let mut req_us = 0u64;
        let mut dep_us = 0u64;
        for s in &self.shards {
            c.requests += s.requests.swap(0, Ordering::Relaxed);
            c.requests_failed += s.requests_failed.swap(0, Ordering::Relaxed);
            req_us = req_us.saturating_add(s.request_us.swap(0, Ordering::Relaxed));
            c.dependencies += s.dependencies.swap(0, Ordering::Relaxed);
            c.dependencies_failed += s.dependencies_failed.swap(0, Ordering::Relaxed);
            dep_us = dep_us.saturating_add(s.dependency_us.swap(0, Ordering::Relaxed));
            c.exceptions += s.exceptions.swap(0, Ordering::Relaxed);
        }
        c.request_ms_sum = Duration::from_micros(req_us).as_secs_f64() * 1000.0;
        c.dependency_ms_sum = Duration::from_micros(dep_us).as_secs_f64() * 1000.0;
        c
    }

    /// The documents since the last call, through the document processors (a blocking
    /// lock: the worker may wait, the application never does; the processors run after it
    /// is released).
    pub(crate) fn take_documents(&self) -> Vec<Value> {
        let docs = {
            let mut docs = self.docs.lock().unwrap_or_else(PoisonError::into_inner);
            self.docs_len.store(0, Ordering::Relaxed);
            std::mem::take(&mut *docs)
        };
        self.processors.apply(docs)
    }

    /// Items not kept as documents because the per-second bound was reached or the buffer
    /// was busy (once the bound is reached, items are no longer matched against the
    /// document streams, so this counts them all).
    pub(crate) fn documents_dropped(&self) -> u64 {
        self.docs_dropped.load(Ordering::Relaxed)
    }
}
