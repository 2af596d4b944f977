//! Arbitrary bytes as a DNS-over-HTTPS request (a path, a zero byte, the message): through
//! the HTTPS request parsing, the request handler and the pipeline.
#![no_main]

use std::sync::OnceLock;

use hush::fuzzing::RequestFuzzer;

static FUZZER: OnceLock<RequestFuzzer> = OnceLock::new();

libfuzzer_sys::fuzz_target!(|data: &[u8]| FUZZER.get_or_init(RequestFuzzer::new).run_https(data));
