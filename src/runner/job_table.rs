//! The Runner's jobs by index: every job of the batch, or in streaming mode only those between
//! the oldest one still held and the newest.

use std::collections::VecDeque;
use std::ops::{Index, IndexMut};

/// Records indexed by their job's place in the batch (from 0, global across forgetting): a
/// window `first..len()` of slots, each holding its record until [`forget`](Self::forget)
/// empties it. Forgotten slots at the front are dropped, so the window starts at the oldest
/// record still held; a forgotten slot behind it stays an empty `None` until the front catches
/// up (a streaming runner bounds that span: see `Runner::streaming`).
pub(super) struct JobTable<R> {
    /// The index of `slots[0]`.
    first: usize,
    slots: VecDeque<Option<R>>,
}

impl<R> Default for JobTable<R> {
    fn default() -> Self {
        JobTable {
            first: 0,
            slots: VecDeque::new(),
        }
    }
}

impl<R> JobTable<R> {
    /// How many jobs the batch has had: the index the next one gets.
    pub(super) fn len(&self) -> usize {
        self.first + self.slots.len()
    }

    /// The index of the oldest record held (`len()` when none is).
    pub(super) fn first(&self) -> usize {
        self.first
    }

    /// Adds `record` as job `len()`.
    pub(super) fn push(&mut self, record: R) {
        self.slots.push_back(Some(record));
    }

    /// Job `index`'s record, if it is held.
    pub(super) fn get(&self, index: usize) -> Option<&R> {
        self.slots.get(index.checked_sub(self.first)?)?.as_ref()
    }

    /// Drops job `index`'s record (its index stays taken).
    pub(super) fn forget(&mut self, index: usize) {
        if let Some(slot) = index
            .checked_sub(self.first)
            .and_then(|offset| self.slots.get_mut(offset))
        {
            *slot = None;
        }
        while let Some(None) = self.slots.front() {
            self.slots.pop_front();
            self.first += 1;
        }
    }

    /// The records held, with their indices, in index order.
    pub(super) fn iter(&self) -> impl Iterator<Item = (usize, &R)> {
        let first = self.first;
        self.slots
            .iter()
            .enumerate()
            .filter_map(move |(offset, slot)| Some((first + offset, slot.as_ref()?)))
    }

    /// How many records are held.
    #[cfg(test)]
    pub(super) fn held(&self) -> usize {
        self.slots.iter().filter(|slot| slot.is_some()).count()
    }
}

impl<R> Index<usize> for JobTable<R> {
    type Output = R;

    /// Job `index`'s record; panics if it is not held (a forgotten job is never looked up).
    fn index(&self, index: usize) -> &R {
        self.get(index).expect("the job's record is held")
    }
}

impl<R> IndexMut<usize> for JobTable<R> {
    fn index_mut(&mut self, index: usize) -> &mut R {
        self.slots[index - self.first]
            .as_mut()
            .expect("the job's record is held")
    }
}

impl<R> IntoIterator for JobTable<R> {
    type Item = R;
    type IntoIter = std::iter::Flatten<std::collections::vec_deque::IntoIter<Option<R>>>;

    /// The records held, in index order.
    fn into_iter(self) -> Self::IntoIter {
        self.slots.into_iter().flatten()
    }
}

#[cfg(test)]
mod tests {
    use super::JobTable;

    #[test]
    fn indices_stay_global_as_records_are_forgotten() {
        let mut table = JobTable::default();
        for job in 0..5 {
            table.push(job * 10);
        }
        table.forget(1);
        assert_eq!((table.first(), table.held()), (0, 4)); // a hole behind job 0
        table.forget(0);
        assert_eq!((table.first(), table.len(), table.held()), (2, 5, 3));
        assert_eq!(table[3], 30);
        assert_eq!(table.get(1), None);
        table.push(50);
        assert_eq!(
            table.iter().collect::<Vec<_>>(),
            [(2, &20), (3, &30), (4, &40), (5, &50)]
        );
        table.forget(0); // already gone: nothing changes
        assert_eq!(table.into_iter().collect::<Vec<_>>(), [20, 30, 40, 50]);
    }
}
