//! What the embedded store decodes from disk: any bytes, read as each record kind (event, summary,
//! attempt), are a record or an error, never a panic; a record that decodes encodes back to bytes
//! that decode to the same record.
#![no_main]

use hookgate::store::codec::{self, Attempt, EventRecord, Summary};
use libfuzzer_sys::fuzz_target;

fn check<T>(what: &'static str, data: &[u8])
where
    T: codec::Record + PartialEq + std::fmt::Debug,
{
    if let Ok(record) = codec::decode::<T>(what, data) {
        let again = codec::encode(&record);
        assert_eq!(codec::decode::<T>(what, &again).expect("re-encoded record decodes"), record);
    }
}

fuzz_target!(|data: &[u8]| {
    check::<EventRecord>("event", data);
    check::<Summary>("summary", data);
    check::<Attempt>("attempt", data);
});
