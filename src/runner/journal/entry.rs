//! A journal entry's integrity and a job's stable key: the checksum every entry carries (over
//! its key and its content), and the hash of a job's canonical JSON encoding.

use serde_json::Value;

/// The checksum of the entry `entry` stored under `key`: FNV-1a 128 over the key, a zero byte
/// and the entry, so that a damaged key fails it as a damaged entry does.
pub(super) fn entry_checksum(key: &str, entry: &[u8]) -> u128 {
    fnv1a_128(key.as_bytes().iter().chain(&[0]).chain(entry))
}

/// The entry of `stored` (as written under `key`), if its checksum holds.
pub(super) fn checked_entry<'s>(key: &str, stored: &'s [u8]) -> Option<&'s [u8]> {
    if stored.get(32) != Some(&b' ') {
        return None;
    }
    let (checksum, entry) = stored.split_at(33);
    let expected = format!("{:032x}", entry_checksum(key, entry));
    (checksum[..32] == *expected.as_bytes()).then_some(entry)
}

/// `value` as JSON text with every object's keys sorted, so that a job's hash does not depend on
/// the order a map yields its entries in.
pub(super) fn canonical_json(value: &Value) -> Vec<u8> {
    fn write(value: &Value, out: &mut Vec<u8>) {
        match value {
            Value::Object(map) => {
                let mut entries: Vec<(&String, &Value)> = map.iter().collect();
                entries.sort_by(|a, b| a.0.cmp(b.0));
                out.push(b'{');
                for (position, (key, value)) in entries.into_iter().enumerate() {
                    if position > 0 {
                        out.push(b',');
                    }
                    out.extend_from_slice(Value::from(key.as_str()).to_string().as_bytes());
                    out.push(b':');
                    write(value, out);
                }
                out.push(b'}');
            }
            Value::Array(items) => {
                out.push(b'[');
                for (position, item) in items.iter().enumerate() {
                    if position > 0 {
                        out.push(b',');
                    }
                    write(item, out);
                }
                out.push(b']');
            }
            scalar => out.extend_from_slice(scalar.to_string().as_bytes()),
        }
    }
    let mut out = Vec::new();
    write(value, &mut out);
    out
}

/// FNV-1a over 128 bits: fixed by its specification, so a job's key is the same on every
/// machine, release and run.
pub(super) fn fnv1a_128<'b>(bytes: impl IntoIterator<Item = &'b u8>) -> u128 {
    const OFFSET_BASIS: u128 = 0x6c62_272e_07bb_0142_62b8_2175_6295_c58d;
    const PRIME: u128 = 0x0000_0000_0100_0000_0000_0000_0000_013b;
    bytes.into_iter().fold(OFFSET_BASIS, |hash, byte| {
        (hash ^ u128::from(*byte)).wrapping_mul(PRIME)
    })
}

#[cfg(test)]
mod tests {
    use super::fnv1a_128;

    #[test]
    fn the_hash_is_fnv1a_128_as_specified() {
        // The published test vectors of FNV-1a, 128 bits.
        assert_eq!(fnv1a_128(b""), 0x6c62_272e_07bb_0142_62b8_2175_6295_c58d);
        assert_eq!(fnv1a_128(b"a"), 0xd228_cb69_6f1a_8caf_7891_2b70_4e4a_8964);
    }
}
