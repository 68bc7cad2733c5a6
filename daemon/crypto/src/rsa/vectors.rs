//! Byte-literal vectors from OpenSSL 3.0 (test-only): a 2048-bit key with e = 3 from
//! `openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -pkeyopt rsa_keygen_pubexp:3`
//! (its p and q are ≡ 2 mod 3, as e = 3 requires), and `openssl dgst -sha256 -sign` signatures
//! of the empty message, "abc" and [`LONG_MESSAGE`] (1100 bytes).

/// Hex digits (exactly `2·L` of them) as bytes, at compile time.
const fn hex<const L: usize>(s: &str) -> [u8; L] {
    const fn digit(c: u8) -> u8 {
        match c {
            b'0'..=b'9' => c - b'0',
            b'a'..=b'f' => c - b'a' + 10,
            _ => panic!("not a lower-case hex digit"),
        }
    }
    let s = s.as_bytes();
    assert!(s.len() == 2 * L);
    let mut out = [0; L];
    let mut i = 0;
    while i < L {
        out[i] = digit(s[2 * i]) << 4 | digit(s[2 * i + 1]);
        i += 1;
    }
    out
}

/// The 1100-byte message OpenSSL signed: byte `i` is `(7i + 3) mod 256`.
pub(super) const LONG_MESSAGE: [u8; 1100] = {
    let mut m = [0; 1100];
    let mut i = 0;
    while i < m.len() {
        m[i] = (i * 7 + 3) as u8;
        i += 1;
    }
    m
};

/// The modulus `n = p·q`.
pub(super) const N: [u8; 256] = hex(concat!(
    "c6b0b0cb4d71a6b8d4bf374d4facc4ef3f69e3be5c27cae3a430e0f5295e0151ece91556bb3c83dd117b6644",
    "448dad168e195b14f9282ca87bb911d827fc4fb0a98fb5452d99cfc0db8a75c2ed029f52b03f67664b652f92",
    "67e77d453dc761dcebc4c82df68c2bcf552bbcc01172c97e32bb4fb9f35eefff4645a497122f5a69a6c6c9d3",
    "e04934916b3e34a8a576a69e65b8253b7ce2f13b1e2e09f63838e677b822fb8018946bfe604634e179965b78",
    "739d30c9e138fc370c0576bf42749735cdbec73dcd3268e6a06b23f4d267011c3eec5d8e08294d20d6788c9a",
    "f587c59740ca84c36a058073c7e35ef39fee6f7a50d75d9863bd2e1ae2e57bde8fc82b0b",
));

/// OpenSSL's first prime.
pub(super) const P: [u8; 128] = hex(concat!(
    "fb36d85930c4764581ff14effebd3b8be389dac1dce69523eff22fda1c44c6e0779c56a0bffa1342b8157358",
    "65c949de6f3b287db8ce4dbfdf96d67b49e38149eb64149cbc41b3140bf3f2fcd4775c6fe74e2dd4e2926ac8",
    "2ca0d2f98cc9c885e017c80340b169c867b637722f1db994ece635401d3cc3d2e25da8b81beb59ad",
));

/// OpenSSL's second prime.
pub(super) const Q: [u8; 128] = hex(concat!(
    "ca79b07526b9b6eb8e05ee612a62b761f21fcf43ef2943c6273b3ca8edd35b791d13e51e1545fc08fefa6baa",
    "af15177953f30b03f520d244a6d38aa86b7c4eccd3b241e3f8ab5097631f3a3c48ae18c967caf30cfc6d037e",
    "80a7390c43e0bc948aeebd6e6269e07148eb08176701360f0822183c7ba38f0fb9e69790a7c41e97",
));

/// `openssl dgst -sha256 -sign` of the empty message.
pub(super) const SIG_EMPTY: [u8; 256] = hex(concat!(
    "4ab190806d2147fd3de1a2780bf47ce79490ba357b2c78b37b1390a54128fce621cb66acbc631e8bc51d95c9",
    "a2f4ee018d02a7e2a50b88b79951edd8ea056220724c7c7191d88d05f388e5f06c821273848d28b8c4c6f503",
    "e9b1a249eb9964db498ac29d05fe82bec26f3d4034b77f7aaa5dc315f851cad5f6babcfc577982df21234294",
    "1c2598a9c252d36ad8dce2e34c5e7132d0b89bbe0a8fa42b815a38a31492492cd7edecc47705a56ce26093c0",
    "212fff36cfa40c254ab47e7a52b232d13e9e8a6b73ffd93357530683872100afe998d42270da9e3583044c7d",
    "826925465a1e3f192dfaf0d4cae4c466e22b1ecf0595e50f3ffb9820859e146af3d2322f",
));

/// `openssl dgst -sha256 -sign` of the abc message.
pub(super) const SIG_ABC: [u8; 256] = hex(concat!(
    "922b61a64f5518b1857ac4d69c6d80ee24316468f7007dde5326211c1ceb31f1ea0a7aea6561deadc2ec80b2",
    "5167f93e71fea61ac735582fe7dd4066bfcbee0a662788963023b45fca305f00e94c0ac4bccc53f368700867",
    "4af580f90332307efe51f219b8752b85964476a0a4eaf774cd769381d9588ac42fe1e82c92ed5e57c94981df",
    "521898f73b830209f947284eaa850fac1ea210aef631dd49980dab70a0380d0bbacf20d4436998835c626649",
    "660d449d8b5018c40e0f910f2427befab3a9a97c26e0fefa0af3242d927875e8ca374b3f2bcdd6dd10d9725a",
    "8d9d51415ec85138cef07e167303794dde92f0eb7eefb8902f38f1f715d39012dd1a3e47",
));

/// `openssl dgst -sha256 -sign` of the long message.
pub(super) const SIG_LONG: [u8; 256] = hex(concat!(
    "8df20d6c6c8425a0adc456b7619e24a5d9e3995b2920f8b6a64256d0cb728103a43f25fa04517137f672b3dd",
    "e2d3716f4a4bc6f6efba2ac18099a10c69c609f8a94e7105f52d2c51ea833ff0f6a53dc687993fe2bbae3bb7",
    "36eb222bfc1d99a694b9a97354d51c01e49fb585106d536ae5ea751a36615a46b65852f726c4f42f4fac0e99",
    "7ea37c7f30b70d9c411de9ea191b23da66fee07bdacb88f7a89ec3ffdc6a41099342468068d2d7092021cb6d",
    "f189d3809fa7588ee5e1425a5b0e42fc4b6534915bc0d442e06e26875b56fd7f0936a32458be8cb4919d4fc3",
    "afa3e8c1f21fa627ded96db916082aba8c36513e99bdc180feab5c7f4870c6dbeec84ae9",
));

/// Bleichenbacher's 2006 forgery for e = 3 against a lax verifier, for "abc": the integer cube
/// root (rounded up) of `00 01 FF 00 ‖ DigestInfo ‖ SHA-256("abc") ‖ 00…00`; its cube (below
/// [`N`], so not reduced) starts with those 55 bytes, followed by garbage instead of padding.
pub(super) const FORGED_ABC: [u8; 256] = hex(concat!(
    "0000000000000000000000000000000000000000000000000000000000000000000000000000000000000000",
    "0000000000000000000000000000000000000000000000000000000000000000000000000000000000000000",
    "0000000000000000000000000000000000000000000000000000000000000000000000000000000000000000",
    "00000000000000000000000000000000000000000000000000000000000000000000000000000032c3862484",
    "5911817bf125c3cf15343cee1389f8cf0377b7460900d4991435c1eda76361287d27acafc13bb391428b8e86",
    "3f85a3d8e7cd58bdb7811afcdf180a26f73b9f1799f243ca4fb5ccea6de0893fc6d8fb72",
));

/// A 1024-bit product of two 512-bit primes (`openssl prime -generate -bits 512`): no small
/// factor, so only Miller–Rabin can reject it.
pub(super) const COMPOSITE: [u8; 128] = hex(concat!(
    "b37860f08925a08bbc5a0c8ef26871f197eaccfca67b0c3aae3054cd8a84d6b475c1887e5249786a01af365a",
    "7cd194201dd7bf890b2f18dcab9a643feda2a0e4a54fc45c52c8aa0b1e75a50303ef5e93f1f5b1be180e046b",
    "7bfe351316e872525c5e84a125c8b9b0b993a340349b9b2a754a3c65fc9e064a09148fad6f5f2ba3",
));
