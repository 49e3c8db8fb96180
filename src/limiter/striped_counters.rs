use std::cell::Cell;
use std::sync::atomic::{AtomicU64, Ordering};

use parking_lot::Mutex;

/// Admission and rejection counts that cost no shared write: each thread counts in a slot of its
/// own (a cache line no other thread writes), with a plain load and store rather than a locked
/// read-modify-write. Reads sum the slots.
///
/// Slots are leased to threads for their lifetime (returned when the thread exits, so thread
/// pools that come and go reuse them); threads beyond [`OWNED_SLOTS`] share one overflow slot,
/// counted with `fetch_add`.
#[derive(Debug)]
pub(crate) struct StripedCounters {
    /// The owned slots, then the overflow slot.
    slots: Box<[Slot; OWNED_SLOTS + 1]>,
}

const OWNED_SLOTS: usize = 16;
/// The slot shared by threads beyond [`OWNED_SLOTS`], after the owned ones.
const OVERFLOW_SLOT: usize = OWNED_SLOTS;

#[derive(Debug, Default)]
#[repr(align(64))]
struct Slot {
    admitted: AtomicU64,
    rejected: AtomicU64,
}

/// Slot numbers not leased to any living thread.
static FREE_SLOTS: Mutex<Vec<usize>> = Mutex::new(Vec::new());
static NEVER_LEASED: Mutex<usize> = Mutex::new(0);

/// A slot number meaning "no lease yet".
const UNLEASED: usize = usize::MAX;

thread_local! {
    /// The calling thread's slot (read on every count: const-initialised, no lazy check).
    static SLOT: Cell<usize> = const { Cell::new(UNLEASED) };
    /// Returns the slot when the thread exits (touched once per thread).
    static LEASE: Lease = const { Lease };
}

struct Lease;

impl Drop for Lease {
    fn drop(&mut self) {
        let slot = SLOT.with(|slot| slot.replace(OVERFLOW_SLOT));
        if slot < OWNED_SLOTS {
            FREE_SLOTS.lock().push(slot);
        }
    }
}

/// Leases a slot to the calling thread on its first count: the slot number, or
/// [`OVERFLOW_SLOT`] when every owned slot is taken.
#[cold]
fn lease_slot() -> usize {
    let slot = FREE_SLOTS.lock().pop().unwrap_or_else(|| {
        let mut never_leased = NEVER_LEASED.lock();
        if *never_leased < OWNED_SLOTS {
            *never_leased += 1;
            *never_leased - 1
        } else {
            OVERFLOW_SLOT
        }
    });
    // Register the guard that gives the slot back; a thread already exiting returns it at once.
    let slot = if slot == OVERFLOW_SLOT || LEASE.try_with(|_| ()).is_ok() {
        slot
    } else {
        FREE_SLOTS.lock().push(slot);
        OVERFLOW_SLOT
    };
    SLOT.with(|cell| cell.set(slot));
    slot
}

impl StripedCounters {
    pub(crate) fn new() -> StripedCounters {
        StripedCounters {
            slots: Box::default(),
        }
    }

    /// Counts an admission, and returns it for the decision to return.
    #[inline]
    pub(crate) fn admit<E>(&self) -> Result<(), E> {
        self.admitted();
        Ok(())
    }

    /// Counts a rejection, and returns it (`err`) for the decision to return.
    #[inline]
    pub(crate) fn reject<E>(&self, err: E) -> Result<(), E> {
        self.rejected();
        Err(err)
    }

    #[inline]
    pub(crate) fn admitted(&self) {
        self.bump(|slot| &slot.admitted);
    }

    #[inline]
    pub(crate) fn rejected(&self) {
        self.bump(|slot| &slot.rejected);
    }

    /// Adds one to the calling thread's `counter`. The fast case is one thread-local read and
    /// one bounds check: an index past the owned slots is the rare case (no lease yet, or the
    /// shared overflow slot).
    #[inline]
    fn bump(&self, counter: impl Fn(&Slot) -> &AtomicU64) {
        match self.slots[..OWNED_SLOTS].get(SLOT.with(Cell::get)) {
            // The only writer of this slot: no read-modify-write needed.
            Some(slot) => {
                let counter = counter(slot);
                counter.store(counter.load(Ordering::Relaxed) + 1, Ordering::Relaxed);
            }
            None => self.bump_shared(counter),
        }
    }

    /// [`bump`](Self::bump) for a thread without a lease yet (it takes one) or counting in the
    /// overflow slot (shared: `fetch_add`).
    #[cold]
    fn bump_shared(&self, counter: impl Fn(&Slot) -> &AtomicU64) {
        let mut index = SLOT.with(Cell::get);
        if index == UNLEASED {
            index = lease_slot();
        }
        let counter = counter(&self.slots[index]);
        if index == OVERFLOW_SLOT {
            counter.fetch_add(1, Ordering::Relaxed);
        } else {
            counter.store(counter.load(Ordering::Relaxed) + 1, Ordering::Relaxed);
        }
    }

    /// `(admitted, rejected)` summed over the slots.
    pub(crate) fn totals(&self) -> (u64, u64) {
        self.slots
            .iter()
            .fold((0, 0), |(admitted, rejected), slot| {
                (
                    admitted + slot.admitted.load(Ordering::Relaxed),
                    rejected + slot.rejected.load(Ordering::Relaxed),
                )
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_from_many_short_lived_threads_add_up() {
        let counters = StripedCounters::new();
        for _ in 0..5 {
            std::thread::scope(|s| {
                for _ in 0..(OWNED_SLOTS + 4) {
                    s.spawn(|| {
                        for _ in 0..1_000 {
                            counters.admitted();
                            counters.rejected();
                        }
                    });
                }
            });
        }
        let expected = 5 * (OWNED_SLOTS as u64 + 4) * 1_000;
        assert_eq!(counters.totals(), (expected, expected));
    }
}
