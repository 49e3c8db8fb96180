use std::cell::Cell;
use std::sync::atomic::{AtomicU64, Ordering};

use parking_lot::Mutex;

/// Admission and rejection counts that cost no shared write: each thread counts in a slot of its
/// own (cache lines no other thread writes), with a plain load and store rather than a locked
/// read-modify-write. Reads sum the slots.
///
/// Slots are leased to threads for their lifetime (returned when the thread exits, so thread
/// pools that come and go reuse them); threads beyond [`OWNED_SLOTS`] share one overflow slot,
/// counted with `fetch_add`.
#[derive(Debug)]
pub(super) struct StripedCounters {
    slots: Box<[Slot; OWNED_SLOTS + 1]>,
}

const OWNED_SLOTS: usize = 16;
const OVERFLOW_SLOT: usize = OWNED_SLOTS;

/// On 128 bytes: adjacent-line prefetchers fetch 64-byte lines in pairs, so two threads'
/// slots on one pair would still contend.
#[derive(Debug, Default)]
#[repr(align(128))]
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

/// The calling thread's slot, leasing one on first use.
#[inline]
fn slot_index() -> usize {
    let slot = SLOT.with(Cell::get);
    if slot != UNLEASED {
        return slot;
    }
    lease_slot()
}

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
    pub(super) fn new() -> StripedCounters {
        StripedCounters {
            slots: Box::default(),
        }
    }

    #[inline]
    pub(super) fn admitted(&self) {
        self.bump(|slot| &slot.admitted);
    }

    #[inline]
    pub(super) fn rejected(&self) {
        self.bump(|slot| &slot.rejected);
    }

    #[inline]
    fn bump(&self, counter: impl Fn(&Slot) -> &AtomicU64) {
        let index = slot_index();
        let counter = counter(&self.slots[index]);
        if index == OVERFLOW_SLOT {
            counter.fetch_add(1, Ordering::Relaxed);
        } else {
            // The only writer of this slot: no read-modify-write needed.
            counter.store(counter.load(Ordering::Relaxed) + 1, Ordering::Relaxed);
        }
    }

    /// `(admitted, rejected)` summed over the slots.
    pub(super) fn totals(&self) -> (u64, u64) {
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
