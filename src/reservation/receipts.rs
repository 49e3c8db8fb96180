use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};

use super::id_hasher::BuildIdHasher;

/// How many receipts the core keeps in places (see [`Receipts`]): one bit each in a `u32`.
const PLACES: usize = u32::BITS as usize;

/// The low bits of a reservation's id that name its place (0: none).
const PLACE_BITS: u32 = 6;

/// The id of the `serial`th reservation, kept in `place` (if any). Ids without a place keep the
/// order of their serials (the FIFO queue's order).
pub(super) fn id_of(serial: u64, place: Option<usize>) -> u64 {
    (serial << PLACE_BITS) | place.map_or(0, |place| place as u64 + 1)
}

/// Whether reservation `id` was kept in a place: it went at once, holding no slot, and its
/// place stays taken until it is dropped.
pub(crate) fn has_place(id: u64) -> bool {
    place_of(id).is_some()
}

/// The place that reservation `id` was kept in, if any.
fn place_of(id: u64) -> Option<usize> {
    match (id & ((1 << PLACE_BITS) - 1)) as usize {
        0 => None,
        tag => Some(tag - 1),
    }
}

/// One flag per place, outside the core's lock: set when the reservation kept there is dropped,
/// so that its place comes back at the core's next lock round ([`Receipts::take_back`]).
pub(super) struct Dropped([AtomicBool; PLACES]);

impl Dropped {
    pub(super) fn new() -> Dropped {
        Dropped(std::array::from_fn(|_| AtomicBool::new(false)))
    }

    /// Marks the place of reservation `id` dropped, without the lock: whether it had one.
    pub(super) fn mark(&self, id: u64) -> bool {
        let Some(place) = place_of(id) else {
            return false;
        };
        self.0[place].store(true, Ordering::Release);
        true
    }
}

/// The receipts the core keeps of reservations that went, for a later settle or cancel.
///
/// One that went at once and holds no concurrency slot is kept in one of a few places, named by
/// its id: dropping it then changes nothing for anyone, so its drop only marks the place
/// ([`Dropped`]), without the lock, and the place comes back when the core next takes its lock.
/// The others (and those that find every place taken) are kept by id in a map.
///
/// A place stays taken until its reservation is dropped, also once its receipt is gone (a
/// cancel): a stale id (a cancel handle's) finds another id there, never someone else's receipt.
/// A place taken back keeps its last receipt until it is handed out again (overwritten then):
/// only a taken place's receipt counts, so taking a place back is clearing one bit.
pub(super) struct Receipts<G> {
    by_id: HashMap<u64, G, BuildIdHasher>,
    places: Vec<Option<(u64, G)>>,
    /// Bit `p`: place `p` is taken (its reservation not yet dropped).
    taken: u32,
}

impl<G> Receipts<G> {
    pub(super) fn new() -> Receipts<G> {
        Receipts {
            by_id: HashMap::default(),
            places: Vec::new(),
            taken: 0,
        }
    }

    /// Keeps the receipt of the `serial`th reservation, in a free place when `placed` and there
    /// is one (its drop is then [marked](Dropped::mark), not forgotten under the lock); its id.
    #[inline(always)]
    pub(super) fn keep(&mut self, serial: u64, grant: G, placed: bool) -> u64 {
        let place = (!self.taken).trailing_zeros() as usize;
        if !placed || place >= PLACES {
            let id = id_of(serial, None);
            self.by_id.insert(id, grant);
            return id;
        }
        let id = id_of(serial, Some(place));
        if place == self.places.len() {
            self.places.push(Some((id, grant)));
        } else {
            self.places[place] = Some((id, grant));
        }
        self.taken |= 1 << place;
        id
    }

    /// [`keep`](Self::keep)s the receipt of the `serial`th reservation in a free place, written
    /// by `rewrite` over the receipt last kept there when there is one (a place taken back keeps
    /// it), else built by `make`: no new receipt built on the stack and copied in (its wide copy
    /// read narrower stores just made: a store-forwarding stall per decision). By id when every
    /// place is taken. Its id.
    #[inline(always)]
    pub(super) fn keep_placed(
        &mut self,
        serial: u64,
        rewrite: impl FnOnce(&mut G),
        make: impl FnOnce() -> G,
    ) -> u64 {
        let place = (!self.taken).trailing_zeros() as usize;
        if place >= PLACES {
            let id = id_of(serial, None);
            self.by_id.insert(id, make());
            return id;
        }
        let id = id_of(serial, Some(place));
        // Every place below the first free one is taken, so it exists: this one is the next.
        match self.places.get_mut(place) {
            Some(Some((kept, receipt))) => {
                *kept = id;
                rewrite(receipt);
            }
            Some(empty) => *empty = Some((id, make())),
            None => self.places.push(Some((id, make()))),
        }
        self.taken |= 1 << place;
        id
    }

    /// Puts back the receipt of reservation `id` (taken out by [`remove`](Self::remove)).
    pub(super) fn insert(&mut self, id: u64, grant: G) {
        match place_of(id) {
            Some(place) => self.places[place] = Some((id, grant)),
            None => {
                self.by_id.insert(id, grant);
            }
        }
    }

    /// Whether `place` is taken (its receipt, if any, counts); a place beyond the last (an id
    /// made up) never is.
    fn is_taken(&self, place: usize) -> bool {
        place < PLACES && self.taken & (1 << place) != 0
    }

    pub(super) fn get(&self, id: u64) -> Option<&G> {
        match place_of(id) {
            Some(place) if !self.is_taken(place) => None,
            Some(place) => match self.places.get(place)? {
                Some((kept, grant)) if *kept == id => Some(grant),
                _ => None,
            },
            None => self.by_id.get(&id),
        }
    }

    /// Takes the receipt of reservation `id` out (its place stays taken until it is dropped).
    pub(super) fn remove(&mut self, id: u64) -> Option<G> {
        match place_of(id) {
            Some(place) if !self.is_taken(place) => None,
            Some(place) => {
                let slot = self.places.get_mut(place)?;
                match slot {
                    Some((kept, _)) if *kept == id => slot.take().map(|(_, grant)| grant),
                    _ => None,
                }
            }
            None => self.by_id.remove(&id),
        }
    }

    pub(super) fn values_mut(&mut self) -> impl Iterator<Item = &mut G> {
        let taken = self.taken;
        let placed = self
            .places
            .iter_mut()
            .enumerate()
            .filter_map(move |(place, kept)| {
                let (_, grant) = kept.as_mut().filter(|_| taken & (1 << place) != 0)?;
                Some(grant)
            });
        self.by_id.values_mut().chain(placed)
    }

    /// Places taken: reservations kept in a place and not yet dropped (as of the last
    /// [`take_back`](Self::take_back)).
    pub(super) fn places_taken(&self) -> u64 {
        u64::from(self.taken.count_ones())
    }

    pub(super) fn is_empty(&self) -> bool {
        let no_receipt =
            |(place, kept): (usize, &Option<(u64, G)>)| kept.is_none() || !self.is_taken(place);
        self.by_id.is_empty() && self.places.iter().enumerate().all(no_receipt)
    }

    /// Takes back the places whose reservations were dropped, their receipts with them (inline:
    /// it runs at every lock round of the core). A receipt stays where it is until its place is
    /// handed out again (clearing it here copied a whole receipt at every lock round).
    #[inline]
    pub(super) fn take_back(&mut self, dropped: &Dropped) {
        let mut taken = self.taken;
        while taken != 0 {
            let place = taken.trailing_zeros() as usize;
            taken &= taken - 1;
            if dropped.0[place].load(Ordering::Acquire) {
                dropped.0[place].store(false, Ordering::Relaxed);
                self.taken &= !(1 << place);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{Dropped, Receipts, PLACES};

    #[test]
    fn places_come_back_once_dropped_and_stale_ids_find_nothing() {
        let dropped = Dropped::new();
        let mut receipts = Receipts::new();
        let first = receipts.keep(0, "first", true);
        assert_eq!(receipts.get(first), Some(&"first"));
        // Cancelled: the receipt goes, the place stays taken until the drop.
        assert_eq!(receipts.remove(first), Some("first"));
        let second = receipts.keep(1, "second", true);
        assert_ne!(second & 63, first & 63);
        assert!(dropped.mark(first));
        receipts.take_back(&dropped);
        let third = receipts.keep(2, "third", true);
        assert_eq!(
            third & 63,
            first & 63,
            "the dropped place is handed out again"
        );
        assert_eq!(receipts.get(first), None);
        assert_eq!(receipts.remove(first), None);
        assert_eq!(receipts.get(third), Some(&"third"));
        let mapped = receipts.keep(3, "mapped", false);
        assert!(!dropped.mark(mapped));
        assert_eq!(receipts.values_mut().count(), 3);
        for id in [second, third, mapped] {
            assert!(receipts.remove(id).is_some());
        }
        assert!(receipts.is_empty());
    }

    #[test]
    fn a_receipt_left_in_a_place_taken_back_is_found_by_nobody() {
        let dropped = Dropped::new();
        let mut receipts = Receipts::new();
        let kept = receipts.keep(0, "kept", true);
        assert!(dropped.mark(kept));
        receipts.take_back(&dropped);
        // Still written in its place, it no longer counts.
        assert_eq!(receipts.get(kept), None);
        assert_eq!(receipts.remove(kept), None);
        assert_eq!(receipts.values_mut().count(), 0);
        assert!(receipts.is_empty());
        assert_eq!(receipts.places_taken(), 0);
        // Handed out again, the place holds the new receipt only.
        let next = receipts.keep(1, "next", true);
        assert_eq!(next & 63, kept & 63);
        assert_eq!(receipts.get(kept), None);
        assert_eq!(receipts.values_mut().collect::<Vec<_>>(), [&mut "next"]);
    }

    #[test]
    fn a_place_taken_back_is_rewritten_in_place_and_a_new_one_built() {
        let dropped = Dropped::new();
        let mut receipts = Receipts::new();
        let built = |name: &'static str| move || name;
        let first = receipts.keep_placed(0, |_| panic!("no receipt to rewrite"), built("first"));
        let second = receipts.keep_placed(1, |_| panic!("place taken"), built("second"));
        assert_ne!(first & 63, second & 63);
        assert!(dropped.mark(first));
        receipts.take_back(&dropped);
        let mut rewrote = None;
        let third = receipts.keep_placed(
            2,
            |kept| {
                rewrote = Some(*kept);
                *kept = "third";
            },
            || panic!("the receipt left in the place is rewritten"),
        );
        assert_eq!(rewrote, Some("first"));
        assert_eq!(third & 63, first & 63);
        assert_eq!(receipts.get(first), None);
        assert_eq!(receipts.get(third), Some(&"third"));
        assert_eq!(receipts.get(second), Some(&"second"));
        // Every place taken: kept by id, built.
        let mut receipts = Receipts::new();
        for serial in 0..PLACES as u64 {
            receipts.keep_placed(serial, |_| panic!("all new"), built("placed"));
        }
        let mapped = receipts.keep_placed(99, |_| panic!("no place"), built("mapped"));
        assert_eq!(mapped & 63, 0);
        assert_eq!(receipts.get(mapped), Some(&"mapped"));
    }

    #[test]
    fn every_place_taken_keeps_by_id() {
        let mut receipts = Receipts::new();
        let ids: Vec<u64> = (0..PLACES as u64 + 2)
            .map(|serial| receipts.keep(serial, serial, true))
            .collect();
        assert!(ids[..PLACES].iter().all(|id| id & 63 != 0));
        assert!(ids[PLACES..].iter().all(|id| id & 63 == 0));
        for (serial, id) in ids.iter().enumerate() {
            assert_eq!(receipts.get(*id), Some(&(serial as u64)));
        }
    }
}
