//! Arbitrary bytes as a block list: parsed, compiled, queried.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| hush::fuzzing::list_text(data));
