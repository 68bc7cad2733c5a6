//! Cost of the RSA-2048 (e = 3) operations, for callgrind and the wall clock.
//!
//! `rsa_cost verify N [LEN]` / `rsa_cost sign N [LEN]`: one key from a fixed seed, then N checks
//! (or N signatures) of a LEN-byte message (default 256). Run under `valgrind --tool=callgrind`
//! with N and with 0: the difference over N is the instructions per operation (the key
//! generation cancels out).
//! `rsa_cost keygen N`: wall time of `RsaSecretKey::from_seed` for N seeds (min, mean, max).
//! `rsa_cost export FILE`: the modulus of the key of seed 00 01 … 1f (the one pinned in the
//! tests) and its signature of FILE's bytes, in hex, one a line (for a check with OpenSSL).

use std::hint::black_box;
use std::time::Instant;
use tvmesh_crypto::{RsaPublicKey, RsaSecretKey};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let what = args.get(1).map(String::as_str).unwrap_or("verify");
    let n: u32 = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(100);
    if what == "export" {
        // A command-line tool: a missing or unreadable file ends it with the message.
        let path = args.get(2).expect("usage: rsa_cost export FILE");
        let msg = std::fs::read(path).expect("readable message file");
        let key = RsaSecretKey::from_seed(&core::array::from_fn(|i| i as u8));
        let hex = |b: &[u8]| b.iter().map(|x| format!("{x:02x}")).collect::<String>();
        println!("{}", hex(&key.public_key().modulus()));
        println!("{}", hex(&key.sign(&msg)));
        return;
    }
    if what == "keygen" {
        let mut times = Vec::new();
        for i in 0..n {
            let mut seed = [0u8; 32];
            seed[..4].copy_from_slice(&i.to_le_bytes());
            let t = Instant::now();
            black_box(RsaSecretKey::from_seed(black_box(&seed)));
            times.push(t.elapsed().as_secs_f64() * 1e3);
        }
        let mean = times.iter().sum::<f64>() / times.len().max(1) as f64;
        let min = times.iter().cloned().fold(f64::INFINITY, f64::min);
        let max = times.iter().cloned().fold(0.0, f64::max);
        println!("from_seed over {n} seeds: min {min:.1} ms, mean {mean:.1} ms, max {max:.1} ms");
        return;
    }
    let key = RsaSecretKey::from_seed(&[42; 32]);
    // A generated key's modulus is always a valid one (odd, 2048 bits, not a multiple of 3).
    let public = RsaPublicKey::from_modulus(&key.public_key().modulus()).unwrap();
    let len: u32 = args.get(3).and_then(|s| s.parse().ok()).unwrap_or(256);
    let msg: Vec<u8> = (0..len).map(|i| (i * 13) as u8).collect();
    let sig = key.sign(&msg);
    let t = Instant::now();
    let mut ok = 0u32;
    for _ in 0..n {
        match what {
            "sign" => ok += (black_box(key.sign(black_box(&msg))) == sig) as u32,
            _ => ok += public.verify(black_box(&msg), black_box(&sig)) as u32,
        }
    }
    let per = t.elapsed().as_secs_f64() * 1e6 / n.max(1) as f64;
    println!("{what} x{n}: {ok} ok, {per:.1} µs each");
}
