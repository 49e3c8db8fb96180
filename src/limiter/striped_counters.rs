use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

/// Admission and rejection counts, striped so that threads bump counters on cache lines of
/// their own: counting never makes two threads write the same line (a rejection stays free of
/// shared writes). Reads sum the stripes.
#[derive(Debug)]
pub(super) struct StripedCounters {
    stripes: Box<[Stripe; STRIPES]>,
}

const STRIPES: usize = 8;

/// One thread's counters, alone on a cache line pair (adjacent-line prefetching pairs 64-byte
/// lines on x86).
#[derive(Debug, Default)]
#[repr(align(128))]
struct Stripe {
    admitted: AtomicU64,
    rejected: AtomicU64,
}

/// The stripe of the calling thread: threads take stripes in turn as they first count.
fn stripe_index() -> usize {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    thread_local! {
        static INDEX: usize = NEXT.fetch_add(1, Ordering::Relaxed) % STRIPES;
    }
    INDEX.with(|index| *index)
}

impl StripedCounters {
    pub(super) fn new() -> StripedCounters {
        StripedCounters {
            stripes: Box::default(),
        }
    }

    #[inline]
    pub(super) fn admitted(&self) {
        self.stripes[stripe_index()]
            .admitted
            .fetch_add(1, Ordering::Relaxed);
    }

    #[inline]
    pub(super) fn rejected(&self) {
        self.stripes[stripe_index()]
            .rejected
            .fetch_add(1, Ordering::Relaxed);
    }

    /// `(admitted, rejected)` summed over the stripes.
    pub(super) fn totals(&self) -> (u64, u64) {
        self.stripes
            .iter()
            .fold((0, 0), |(admitted, rejected), stripe| {
                (
                    admitted + stripe.admitted.load(Ordering::Relaxed),
                    rejected + stripe.rejected.load(Ordering::Relaxed),
                )
            })
    }
}
