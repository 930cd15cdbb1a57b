#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| gorefs_fuzz::pclntab(data));
