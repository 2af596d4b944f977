//! Arbitrary bytes as a config file: loaded and validated.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| hush::fuzzing::config_text(data));
