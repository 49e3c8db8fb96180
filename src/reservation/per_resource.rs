use std::fmt;
use std::ops::{Deref, DerefMut};

/// How many resources a [`PerResource`] keeps inline: requests + tokens with room to spare.
const INLINE: usize = 4;

/// One figure per resource of a reservation (its costs, its charge marks), indexed like the
/// limiter's resources and used as a slice. Up to [`INLINE`] resources the figures are kept
/// inline, so a reservation record costs no allocation; beyond, they go on the heap.
#[derive(Clone)]
pub(crate) enum PerResource<T> {
    Inline { len: u8, items: [T; INLINE] },
    Heap(Vec<T>),
}

impl<T: Copy + Default> PerResource<T> {
    /// `len` figures, each `value`.
    pub(crate) fn filled(len: usize, value: T) -> PerResource<T> {
        match u8::try_from(len) {
            Ok(short) if len <= INLINE => PerResource::Inline {
                len: short,
                items: [value; INLINE],
            },
            _ => PerResource::Heap(vec![value; len]),
        }
    }

    /// A copy of `items` (inline: element by element, a few moves rather than a call to
    /// `memcpy` for a length known only at run time).
    #[inline]
    pub(crate) fn from_slice(items: &[T]) -> PerResource<T> {
        match u8::try_from(items.len()) {
            Ok(len) if items.len() <= INLINE => {
                let mut inline = [T::default(); INLINE];
                for (index, slot) in inline.iter_mut().enumerate() {
                    if let Some(item) = items.get(index) {
                        *slot = *item;
                    }
                }
                PerResource::Inline { len, items: inline }
            }
            _ => PerResource::Heap(items.to_vec()),
        }
    }
}

impl<T: Copy + Default> PerResource<T> {
    /// Becomes a copy of `items`, in place when they fit inline (element by element: no copy of
    /// a whole record built elsewhere).
    #[inline]
    pub(crate) fn copy_from(&mut self, items: &[T]) {
        match (self, u8::try_from(items.len())) {
            (PerResource::Inline { len, items: inline }, Ok(short)) if items.len() <= INLINE => {
                *len = short;
                for (slot, item) in inline.iter_mut().zip(items) {
                    *slot = *item;
                }
            }
            (this, _) => *this = PerResource::from_slice(items),
        }
    }
}

impl<T> Deref for PerResource<T> {
    type Target = [T];

    fn deref(&self) -> &[T] {
        match self {
            PerResource::Inline { len, items } => &items[..usize::from(*len)],
            PerResource::Heap(items) => items,
        }
    }
}

impl<T> DerefMut for PerResource<T> {
    fn deref_mut(&mut self) -> &mut [T] {
        match self {
            PerResource::Inline { len, items } => &mut items[..usize::from(*len)],
            PerResource::Heap(items) => items,
        }
    }
}

impl<T: fmt::Debug> fmt::Debug for PerResource<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::PerResource;

    #[test]
    fn inline_and_heap_read_the_same() {
        for len in [0usize, 1, 2, 4, 5, 9] {
            let figures: Vec<u64> = (0..len as u64).collect();
            let mut copy = PerResource::from_slice(&figures);
            assert_eq!(&copy[..], &figures[..]);
            assert_eq!(matches!(copy, PerResource::Inline { .. }), len <= 4);
            if len > 0 {
                copy[len - 1] = 99;
                assert_eq!(copy[len - 1], 99);
            }
            assert_eq!(&PerResource::filled(len, 7u64)[..], &vec![7; len][..]);
            for before in [0usize, 2, 4, 7] {
                let mut rewritten = PerResource::filled(before, 3u64);
                rewritten.copy_from(&figures);
                assert_eq!(&rewritten[..], &figures[..], "{before} figures, then {len}");
            }
        }
    }
}
