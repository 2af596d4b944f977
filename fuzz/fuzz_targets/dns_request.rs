//! Arbitrary bytes as a DNS request: through the request handler and pipeline.
#![no_main]

use std::sync::OnceLock;

use hush::fuzzing::RequestFuzzer;

static FUZZER: OnceLock<RequestFuzzer> = OnceLock::new();

libfuzzer_sys::fuzz_target!(|data: &[u8]| FUZZER.get_or_init(RequestFuzzer::new).run(data));
