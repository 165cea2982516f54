//! `ssl_ciphers`: OpenSSL's cipher-list syntax (SSL_CTX_set_cipher_list,
//! as nginx's ngx_ssl_ciphers passes it on) mapped onto the TLS 1.2 suites
//! rustls implements.
//!
//! The list is evaluated as OpenSSL does: tokens separated by `:`, `,` or
//! spaces; a token is a suite name or aliases joined by `+` (all must
//! match); a bare token appends the matching suites not yet listed, `+`
//! moves listed ones to the end, `-` removes them (they may come back), `!`
//! removes them for good. `@STRENGTH` and `@SECLEVEL=n` are accepted and
//! ignored. Suites OpenSSL knows but rustls does not implement (DHE, CBC,
//! CCM, ARIA, Camellia, PSK, …) take part in the evaluation and are then
//! left out; a token neither knows is refused. TLS 1.3 suites are not set
//! here (OpenSSL's SSL_CTX_set_ciphersuites), as in nginx.

use rustls::CipherSuite;

/// nginx's default `ssl_ciphers`.
pub const SSL_CIPHERS: &str = "HIGH:!aNULL:!MD5";

/// Key exchange (OpenSSL's `Kx=`).
#[allow(clippy::upper_case_acronyms, clippy::enum_variant_names)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum K {
    RSA,
    DH,
    ECDH,
    PSK,
    RSAPSK,
    DHEPSK,
    ECDHEPSK,
    SRP,
}

/// Authentication (`Au=`).
#[allow(clippy::upper_case_acronyms, clippy::enum_variant_names)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum A {
    RSA,
    ECDSA,
    DSS,
    PSK,
    SRP,
    NULL,
}

/// Bulk encryption (`Enc=`).
#[allow(clippy::upper_case_acronyms, clippy::enum_variant_names)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum E {
    AESGCM,
    AESCCM,
    AESCCM8,
    AES,
    CHACHA20,
    ARIAGCM,
    CAMELLIA,
    TripleDES,
    RC4,
    NULL,
}

/// Message authentication (`Mac=`).
#[allow(clippy::upper_case_acronyms, clippy::enum_variant_names)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum M {
    AEAD,
    SHA384,
    SHA256,
    SHA1,
    MD5,
}

/// One suite: OpenSSL's name, its algorithms, the key bits.
type Suite = (&'static str, K, A, E, u16, M);

/// The TLS 1.2 and older suites OpenSSL 3 knows, in its default order
/// (`openssl ciphers -v 'ALL:COMPLEMENTOFALL'`), then a few older names
/// still found in configurations (3DES, RC4).
#[rustfmt::skip]
static SUITES: &[Suite] = &[
    ("ECDHE-ECDSA-AES256-GCM-SHA384", K::ECDH, A::ECDSA, E::AESGCM, 256, M::AEAD),
    ("ECDHE-RSA-AES256-GCM-SHA384", K::ECDH, A::RSA, E::AESGCM, 256, M::AEAD),
    ("DHE-DSS-AES256-GCM-SHA384", K::DH, A::DSS, E::AESGCM, 256, M::AEAD),
    ("DHE-RSA-AES256-GCM-SHA384", K::DH, A::RSA, E::AESGCM, 256, M::AEAD),
    ("ECDHE-ECDSA-CHACHA20-POLY1305", K::ECDH, A::ECDSA, E::CHACHA20, 256, M::AEAD),
    ("ECDHE-RSA-CHACHA20-POLY1305", K::ECDH, A::RSA, E::CHACHA20, 256, M::AEAD),
    ("DHE-RSA-CHACHA20-POLY1305", K::DH, A::RSA, E::CHACHA20, 256, M::AEAD),
    ("ECDHE-ECDSA-AES256-CCM8", K::ECDH, A::ECDSA, E::AESCCM8, 256, M::AEAD),
    ("ECDHE-ECDSA-AES256-CCM", K::ECDH, A::ECDSA, E::AESCCM, 256, M::AEAD),
    ("DHE-RSA-AES256-CCM8", K::DH, A::RSA, E::AESCCM8, 256, M::AEAD),
    ("DHE-RSA-AES256-CCM", K::DH, A::RSA, E::AESCCM, 256, M::AEAD),
    ("ECDHE-ECDSA-ARIA256-GCM-SHA384", K::ECDH, A::ECDSA, E::ARIAGCM, 256, M::AEAD),
    ("ECDHE-ARIA256-GCM-SHA384", K::ECDH, A::RSA, E::ARIAGCM, 256, M::AEAD),
    ("DHE-DSS-ARIA256-GCM-SHA384", K::DH, A::DSS, E::ARIAGCM, 256, M::AEAD),
    ("DHE-RSA-ARIA256-GCM-SHA384", K::DH, A::RSA, E::ARIAGCM, 256, M::AEAD),
    ("ADH-AES256-GCM-SHA384", K::DH, A::NULL, E::AESGCM, 256, M::AEAD),
    ("ECDHE-ECDSA-AES128-GCM-SHA256", K::ECDH, A::ECDSA, E::AESGCM, 128, M::AEAD),
    ("ECDHE-RSA-AES128-GCM-SHA256", K::ECDH, A::RSA, E::AESGCM, 128, M::AEAD),
    ("DHE-DSS-AES128-GCM-SHA256", K::DH, A::DSS, E::AESGCM, 128, M::AEAD),
    ("DHE-RSA-AES128-GCM-SHA256", K::DH, A::RSA, E::AESGCM, 128, M::AEAD),
    ("ECDHE-ECDSA-AES128-CCM8", K::ECDH, A::ECDSA, E::AESCCM8, 128, M::AEAD),
    ("ECDHE-ECDSA-AES128-CCM", K::ECDH, A::ECDSA, E::AESCCM, 128, M::AEAD),
    ("DHE-RSA-AES128-CCM8", K::DH, A::RSA, E::AESCCM8, 128, M::AEAD),
    ("DHE-RSA-AES128-CCM", K::DH, A::RSA, E::AESCCM, 128, M::AEAD),
    ("ECDHE-ECDSA-ARIA128-GCM-SHA256", K::ECDH, A::ECDSA, E::ARIAGCM, 128, M::AEAD),
    ("ECDHE-ARIA128-GCM-SHA256", K::ECDH, A::RSA, E::ARIAGCM, 128, M::AEAD),
    ("DHE-DSS-ARIA128-GCM-SHA256", K::DH, A::DSS, E::ARIAGCM, 128, M::AEAD),
    ("DHE-RSA-ARIA128-GCM-SHA256", K::DH, A::RSA, E::ARIAGCM, 128, M::AEAD),
    ("ADH-AES128-GCM-SHA256", K::DH, A::NULL, E::AESGCM, 128, M::AEAD),
    ("ECDHE-ECDSA-AES256-SHA384", K::ECDH, A::ECDSA, E::AES, 256, M::SHA384),
    ("ECDHE-RSA-AES256-SHA384", K::ECDH, A::RSA, E::AES, 256, M::SHA384),
    ("DHE-RSA-AES256-SHA256", K::DH, A::RSA, E::AES, 256, M::SHA256),
    ("DHE-DSS-AES256-SHA256", K::DH, A::DSS, E::AES, 256, M::SHA256),
    ("ECDHE-ECDSA-CAMELLIA256-SHA384", K::ECDH, A::ECDSA, E::CAMELLIA, 256, M::SHA384),
    ("ECDHE-RSA-CAMELLIA256-SHA384", K::ECDH, A::RSA, E::CAMELLIA, 256, M::SHA384),
    ("DHE-RSA-CAMELLIA256-SHA256", K::DH, A::RSA, E::CAMELLIA, 256, M::SHA256),
    ("DHE-DSS-CAMELLIA256-SHA256", K::DH, A::DSS, E::CAMELLIA, 256, M::SHA256),
    ("ADH-AES256-SHA256", K::DH, A::NULL, E::AES, 256, M::SHA256),
    ("ADH-CAMELLIA256-SHA256", K::DH, A::NULL, E::CAMELLIA, 256, M::SHA256),
    ("ECDHE-ECDSA-AES128-SHA256", K::ECDH, A::ECDSA, E::AES, 128, M::SHA256),
    ("ECDHE-RSA-AES128-SHA256", K::ECDH, A::RSA, E::AES, 128, M::SHA256),
    ("DHE-RSA-AES128-SHA256", K::DH, A::RSA, E::AES, 128, M::SHA256),
    ("DHE-DSS-AES128-SHA256", K::DH, A::DSS, E::AES, 128, M::SHA256),
    ("ECDHE-ECDSA-CAMELLIA128-SHA256", K::ECDH, A::ECDSA, E::CAMELLIA, 128, M::SHA256),
    ("ECDHE-RSA-CAMELLIA128-SHA256", K::ECDH, A::RSA, E::CAMELLIA, 128, M::SHA256),
    ("DHE-RSA-CAMELLIA128-SHA256", K::DH, A::RSA, E::CAMELLIA, 128, M::SHA256),
    ("DHE-DSS-CAMELLIA128-SHA256", K::DH, A::DSS, E::CAMELLIA, 128, M::SHA256),
    ("ADH-AES128-SHA256", K::DH, A::NULL, E::AES, 128, M::SHA256),
    ("ADH-CAMELLIA128-SHA256", K::DH, A::NULL, E::CAMELLIA, 128, M::SHA256),
    ("ECDHE-ECDSA-AES256-SHA", K::ECDH, A::ECDSA, E::AES, 256, M::SHA1),
    ("ECDHE-RSA-AES256-SHA", K::ECDH, A::RSA, E::AES, 256, M::SHA1),
    ("DHE-RSA-AES256-SHA", K::DH, A::RSA, E::AES, 256, M::SHA1),
    ("DHE-DSS-AES256-SHA", K::DH, A::DSS, E::AES, 256, M::SHA1),
    ("DHE-RSA-CAMELLIA256-SHA", K::DH, A::RSA, E::CAMELLIA, 256, M::SHA1),
    ("DHE-DSS-CAMELLIA256-SHA", K::DH, A::DSS, E::CAMELLIA, 256, M::SHA1),
    ("AECDH-AES256-SHA", K::ECDH, A::NULL, E::AES, 256, M::SHA1),
    ("ADH-AES256-SHA", K::DH, A::NULL, E::AES, 256, M::SHA1),
    ("ADH-CAMELLIA256-SHA", K::DH, A::NULL, E::CAMELLIA, 256, M::SHA1),
    ("ECDHE-ECDSA-AES128-SHA", K::ECDH, A::ECDSA, E::AES, 128, M::SHA1),
    ("ECDHE-RSA-AES128-SHA", K::ECDH, A::RSA, E::AES, 128, M::SHA1),
    ("DHE-RSA-AES128-SHA", K::DH, A::RSA, E::AES, 128, M::SHA1),
    ("DHE-DSS-AES128-SHA", K::DH, A::DSS, E::AES, 128, M::SHA1),
    ("DHE-RSA-CAMELLIA128-SHA", K::DH, A::RSA, E::CAMELLIA, 128, M::SHA1),
    ("DHE-DSS-CAMELLIA128-SHA", K::DH, A::DSS, E::CAMELLIA, 128, M::SHA1),
    ("AECDH-AES128-SHA", K::ECDH, A::NULL, E::AES, 128, M::SHA1),
    ("ADH-AES128-SHA", K::DH, A::NULL, E::AES, 128, M::SHA1),
    ("ADH-CAMELLIA128-SHA", K::DH, A::NULL, E::CAMELLIA, 128, M::SHA1),
    ("RSA-PSK-AES256-GCM-SHA384", K::RSAPSK, A::RSA, E::AESGCM, 256, M::AEAD),
    ("DHE-PSK-AES256-GCM-SHA384", K::DHEPSK, A::PSK, E::AESGCM, 256, M::AEAD),
    ("RSA-PSK-CHACHA20-POLY1305", K::RSAPSK, A::RSA, E::CHACHA20, 256, M::AEAD),
    ("DHE-PSK-CHACHA20-POLY1305", K::DHEPSK, A::PSK, E::CHACHA20, 256, M::AEAD),
    ("ECDHE-PSK-CHACHA20-POLY1305", K::ECDHEPSK, A::PSK, E::CHACHA20, 256, M::AEAD),
    ("DHE-PSK-AES256-CCM8", K::DHEPSK, A::PSK, E::AESCCM8, 256, M::AEAD),
    ("DHE-PSK-AES256-CCM", K::DHEPSK, A::PSK, E::AESCCM, 256, M::AEAD),
    ("RSA-PSK-ARIA256-GCM-SHA384", K::RSAPSK, A::RSA, E::ARIAGCM, 256, M::AEAD),
    ("DHE-PSK-ARIA256-GCM-SHA384", K::DHEPSK, A::PSK, E::ARIAGCM, 256, M::AEAD),
    ("AES256-GCM-SHA384", K::RSA, A::RSA, E::AESGCM, 256, M::AEAD),
    ("AES256-CCM8", K::RSA, A::RSA, E::AESCCM8, 256, M::AEAD),
    ("AES256-CCM", K::RSA, A::RSA, E::AESCCM, 256, M::AEAD),
    ("ARIA256-GCM-SHA384", K::RSA, A::RSA, E::ARIAGCM, 256, M::AEAD),
    ("PSK-AES256-GCM-SHA384", K::PSK, A::PSK, E::AESGCM, 256, M::AEAD),
    ("PSK-CHACHA20-POLY1305", K::PSK, A::PSK, E::CHACHA20, 256, M::AEAD),
    ("PSK-AES256-CCM8", K::PSK, A::PSK, E::AESCCM8, 256, M::AEAD),
    ("PSK-AES256-CCM", K::PSK, A::PSK, E::AESCCM, 256, M::AEAD),
    ("PSK-ARIA256-GCM-SHA384", K::PSK, A::PSK, E::ARIAGCM, 256, M::AEAD),
    ("RSA-PSK-AES128-GCM-SHA256", K::RSAPSK, A::RSA, E::AESGCM, 128, M::AEAD),
    ("DHE-PSK-AES128-GCM-SHA256", K::DHEPSK, A::PSK, E::AESGCM, 128, M::AEAD),
    ("DHE-PSK-AES128-CCM8", K::DHEPSK, A::PSK, E::AESCCM8, 128, M::AEAD),
    ("DHE-PSK-AES128-CCM", K::DHEPSK, A::PSK, E::AESCCM, 128, M::AEAD),
    ("RSA-PSK-ARIA128-GCM-SHA256", K::RSAPSK, A::RSA, E::ARIAGCM, 128, M::AEAD),
    ("DHE-PSK-ARIA128-GCM-SHA256", K::DHEPSK, A::PSK, E::ARIAGCM, 128, M::AEAD),
    ("AES128-GCM-SHA256", K::RSA, A::RSA, E::AESGCM, 128, M::AEAD),
    ("AES128-CCM8", K::RSA, A::RSA, E::AESCCM8, 128, M::AEAD),
    ("AES128-CCM", K::RSA, A::RSA, E::AESCCM, 128, M::AEAD),
    ("ARIA128-GCM-SHA256", K::RSA, A::RSA, E::ARIAGCM, 128, M::AEAD),
    ("PSK-AES128-GCM-SHA256", K::PSK, A::PSK, E::AESGCM, 128, M::AEAD),
    ("PSK-AES128-CCM8", K::PSK, A::PSK, E::AESCCM8, 128, M::AEAD),
    ("PSK-AES128-CCM", K::PSK, A::PSK, E::AESCCM, 128, M::AEAD),
    ("PSK-ARIA128-GCM-SHA256", K::PSK, A::PSK, E::ARIAGCM, 128, M::AEAD),
    ("AES256-SHA256", K::RSA, A::RSA, E::AES, 256, M::SHA256),
    ("CAMELLIA256-SHA256", K::RSA, A::RSA, E::CAMELLIA, 256, M::SHA256),
    ("AES128-SHA256", K::RSA, A::RSA, E::AES, 128, M::SHA256),
    ("CAMELLIA128-SHA256", K::RSA, A::RSA, E::CAMELLIA, 128, M::SHA256),
    ("ECDHE-PSK-AES256-CBC-SHA384", K::ECDHEPSK, A::PSK, E::AES, 256, M::SHA384),
    ("ECDHE-PSK-AES256-CBC-SHA", K::ECDHEPSK, A::PSK, E::AES, 256, M::SHA1),
    ("SRP-DSS-AES-256-CBC-SHA", K::SRP, A::DSS, E::AES, 256, M::SHA1),
    ("SRP-RSA-AES-256-CBC-SHA", K::SRP, A::RSA, E::AES, 256, M::SHA1),
    ("SRP-AES-256-CBC-SHA", K::SRP, A::SRP, E::AES, 256, M::SHA1),
    ("RSA-PSK-AES256-CBC-SHA384", K::RSAPSK, A::RSA, E::AES, 256, M::SHA384),
    ("DHE-PSK-AES256-CBC-SHA384", K::DHEPSK, A::PSK, E::AES, 256, M::SHA384),
    ("RSA-PSK-AES256-CBC-SHA", K::RSAPSK, A::RSA, E::AES, 256, M::SHA1),
    ("DHE-PSK-AES256-CBC-SHA", K::DHEPSK, A::PSK, E::AES, 256, M::SHA1),
    ("ECDHE-PSK-CAMELLIA256-SHA384", K::ECDHEPSK, A::PSK, E::CAMELLIA, 256, M::SHA384),
    ("RSA-PSK-CAMELLIA256-SHA384", K::RSAPSK, A::RSA, E::CAMELLIA, 256, M::SHA384),
    ("DHE-PSK-CAMELLIA256-SHA384", K::DHEPSK, A::PSK, E::CAMELLIA, 256, M::SHA384),
    ("AES256-SHA", K::RSA, A::RSA, E::AES, 256, M::SHA1),
    ("CAMELLIA256-SHA", K::RSA, A::RSA, E::CAMELLIA, 256, M::SHA1),
    ("PSK-AES256-CBC-SHA384", K::PSK, A::PSK, E::AES, 256, M::SHA384),
    ("PSK-AES256-CBC-SHA", K::PSK, A::PSK, E::AES, 256, M::SHA1),
    ("PSK-CAMELLIA256-SHA384", K::PSK, A::PSK, E::CAMELLIA, 256, M::SHA384),
    ("ECDHE-PSK-AES128-CBC-SHA256", K::ECDHEPSK, A::PSK, E::AES, 128, M::SHA256),
    ("ECDHE-PSK-AES128-CBC-SHA", K::ECDHEPSK, A::PSK, E::AES, 128, M::SHA1),
    ("SRP-DSS-AES-128-CBC-SHA", K::SRP, A::DSS, E::AES, 128, M::SHA1),
    ("SRP-RSA-AES-128-CBC-SHA", K::SRP, A::RSA, E::AES, 128, M::SHA1),
    ("SRP-AES-128-CBC-SHA", K::SRP, A::SRP, E::AES, 128, M::SHA1),
    ("RSA-PSK-AES128-CBC-SHA256", K::RSAPSK, A::RSA, E::AES, 128, M::SHA256),
    ("DHE-PSK-AES128-CBC-SHA256", K::DHEPSK, A::PSK, E::AES, 128, M::SHA256),
    ("RSA-PSK-AES128-CBC-SHA", K::RSAPSK, A::RSA, E::AES, 128, M::SHA1),
    ("DHE-PSK-AES128-CBC-SHA", K::DHEPSK, A::PSK, E::AES, 128, M::SHA1),
    ("ECDHE-PSK-CAMELLIA128-SHA256", K::ECDHEPSK, A::PSK, E::CAMELLIA, 128, M::SHA256),
    ("RSA-PSK-CAMELLIA128-SHA256", K::RSAPSK, A::RSA, E::CAMELLIA, 128, M::SHA256),
    ("DHE-PSK-CAMELLIA128-SHA256", K::DHEPSK, A::PSK, E::CAMELLIA, 128, M::SHA256),
    ("AES128-SHA", K::RSA, A::RSA, E::AES, 128, M::SHA1),
    ("CAMELLIA128-SHA", K::RSA, A::RSA, E::CAMELLIA, 128, M::SHA1),
    ("PSK-AES128-CBC-SHA256", K::PSK, A::PSK, E::AES, 128, M::SHA256),
    ("PSK-AES128-CBC-SHA", K::PSK, A::PSK, E::AES, 128, M::SHA1),
    ("PSK-CAMELLIA128-SHA256", K::PSK, A::PSK, E::CAMELLIA, 128, M::SHA256),
    ("ECDHE-ECDSA-NULL-SHA", K::ECDH, A::ECDSA, E::NULL, 0, M::SHA1),
    ("ECDHE-RSA-NULL-SHA", K::ECDH, A::RSA, E::NULL, 0, M::SHA1),
    ("AECDH-NULL-SHA", K::ECDH, A::NULL, E::NULL, 0, M::SHA1),
    ("NULL-SHA256", K::RSA, A::RSA, E::NULL, 0, M::SHA256),
    ("ECDHE-PSK-NULL-SHA384", K::ECDHEPSK, A::PSK, E::NULL, 0, M::SHA384),
    ("ECDHE-PSK-NULL-SHA256", K::ECDHEPSK, A::PSK, E::NULL, 0, M::SHA256),
    ("ECDHE-PSK-NULL-SHA", K::ECDHEPSK, A::PSK, E::NULL, 0, M::SHA1),
    ("RSA-PSK-NULL-SHA384", K::RSAPSK, A::RSA, E::NULL, 0, M::SHA384),
    ("RSA-PSK-NULL-SHA256", K::RSAPSK, A::RSA, E::NULL, 0, M::SHA256),
    ("DHE-PSK-NULL-SHA384", K::DHEPSK, A::PSK, E::NULL, 0, M::SHA384),
    ("DHE-PSK-NULL-SHA256", K::DHEPSK, A::PSK, E::NULL, 0, M::SHA256),
    ("RSA-PSK-NULL-SHA", K::RSAPSK, A::RSA, E::NULL, 0, M::SHA1),
    ("DHE-PSK-NULL-SHA", K::DHEPSK, A::PSK, E::NULL, 0, M::SHA1),
    ("NULL-SHA", K::RSA, A::RSA, E::NULL, 0, M::SHA1),
    ("NULL-MD5", K::RSA, A::RSA, E::NULL, 0, M::MD5),
    ("PSK-NULL-SHA384", K::PSK, A::PSK, E::NULL, 0, M::SHA384),
    ("PSK-NULL-SHA256", K::PSK, A::PSK, E::NULL, 0, M::SHA256),
    ("PSK-NULL-SHA", K::PSK, A::PSK, E::NULL, 0, M::SHA1),
    ("ECDHE-ECDSA-DES-CBC3-SHA", K::ECDH, A::ECDSA, E::TripleDES, 168, M::SHA1),
    ("ECDHE-RSA-DES-CBC3-SHA", K::ECDH, A::RSA, E::TripleDES, 168, M::SHA1),
    ("EDH-RSA-DES-CBC3-SHA", K::DH, A::RSA, E::TripleDES, 168, M::SHA1),
    ("EDH-DSS-DES-CBC3-SHA", K::DH, A::DSS, E::TripleDES, 168, M::SHA1),
    ("DES-CBC3-SHA", K::RSA, A::RSA, E::TripleDES, 168, M::SHA1),
    ("ECDHE-ECDSA-RC4-SHA", K::ECDH, A::ECDSA, E::RC4, 128, M::SHA1),
    ("ECDHE-RSA-RC4-SHA", K::ECDH, A::RSA, E::RC4, 128, M::SHA1),
    ("RC4-SHA", K::RSA, A::RSA, E::RC4, 128, M::SHA1),
    ("RC4-MD5", K::RSA, A::RSA, E::RC4, 128, M::MD5),
];

/// The suites rustls implements, by OpenSSL name.
fn rustls_suite(name: &str) -> Option<CipherSuite> {
    use CipherSuite as C;
    Some(match name {
        "ECDHE-ECDSA-AES256-GCM-SHA384" => C::TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
        "ECDHE-RSA-AES256-GCM-SHA384" => C::TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
        "ECDHE-ECDSA-CHACHA20-POLY1305" => C::TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
        "ECDHE-RSA-CHACHA20-POLY1305" => C::TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
        "ECDHE-ECDSA-AES128-GCM-SHA256" => C::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
        "ECDHE-RSA-AES128-GCM-SHA256" => C::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
        _ => return None,
    })
}

/// TLS 1.3 suite names: OpenSSL takes them from SSL_CTX_set_ciphersuites,
/// not from this list.
const TLS13_NAMES: &[&str] = &[
    "TLS_AES_128_GCM_SHA256",
    "TLS_AES_256_GCM_SHA384",
    "TLS_CHACHA20_POLY1305_SHA256",
    "TLS_AES_128_CCM_SHA256",
    "TLS_AES_128_CCM_8_SHA256",
];

/// Does OpenSSL's alias `alias` take `s`? None: no such alias.
fn alias_matches(alias: &str, s: &Suite) -> Option<bool> {
    let &(_, k, a, e, bits, m) = s;
    let weak = matches!(e, E::TripleDES | E::RC4 | E::NULL);
    let psk = matches!(k, K::PSK | K::RSAPSK | K::DHEPSK | K::ECDHEPSK);
    Some(match alias {
        "ALL" => e != E::NULL,
        "COMPLEMENTOFALL" | "eNULL" | "NULL" => e == E::NULL,
        "DEFAULT" => e != E::NULL && a != A::NULL,
        "COMPLEMENTOFDEFAULT" => e != E::NULL && a == A::NULL,
        "HIGH" => !weak,
        "MEDIUM" => matches!(e, E::TripleDES | E::RC4),
        "LOW" | "EXPORT" | "EXP" | "DES" | "IDEA" | "SEED" | "RC2" | "GOST94" | "GOST89MAC" => {
            false
        }
        // OpenSSL 0.9.8's name for the elliptic-curve suites; later
        // OpenSSLs ignore it (nginx's own tests still write it).
        "ECCdraft" => false,
        "aNULL" => a == A::NULL,
        "RSA" | "kRSA" => k == K::RSA,
        "aRSA" => a == A::RSA,
        "DH" | "DHE" | "EDH" | "kDHE" | "kEDH" => k == K::DH,
        "ADH" => k == K::DH && a == A::NULL,
        "ECDH" | "ECDHE" | "EECDH" | "kECDHE" | "kEECDH" => k == K::ECDH,
        "AECDH" => k == K::ECDH && a == A::NULL,
        "ECDSA" | "aECDSA" => a == A::ECDSA,
        "DSS" | "aDSS" => a == A::DSS,
        "PSK" => psk,
        "kPSK" => k == K::PSK,
        "kRSAPSK" => k == K::RSAPSK,
        "kDHEPSK" => k == K::DHEPSK,
        "kECDHEPSK" => k == K::ECDHEPSK,
        "aPSK" => a == A::PSK,
        "SRP" | "kSRP" => k == K::SRP,
        "aSRP" => a == A::SRP,
        "AES" => matches!(e, E::AES | E::AESGCM | E::AESCCM | E::AESCCM8),
        "AES128" => matches!(e, E::AES | E::AESGCM | E::AESCCM | E::AESCCM8) && bits == 128,
        "AES256" => matches!(e, E::AES | E::AESGCM | E::AESCCM | E::AESCCM8) && bits == 256,
        "AESGCM" => e == E::AESGCM,
        "AESCCM" => matches!(e, E::AESCCM | E::AESCCM8),
        "AESCCM8" => e == E::AESCCM8,
        "CHACHA20" => e == E::CHACHA20,
        "ARIA" | "ARIAGCM" => e == E::ARIAGCM,
        "ARIA128" => e == E::ARIAGCM && bits == 128,
        "ARIA256" => e == E::ARIAGCM && bits == 256,
        "CAMELLIA" => e == E::CAMELLIA,
        "CAMELLIA128" => e == E::CAMELLIA && bits == 128,
        "CAMELLIA256" => e == E::CAMELLIA && bits == 256,
        "3DES" => e == E::TripleDES,
        "RC4" => e == E::RC4,
        "MD5" => m == M::MD5,
        "SHA1" | "SHA" => m == M::SHA1,
        "SHA256" => m == M::SHA256,
        "SHA384" => m == M::SHA384,
        "TLSv1.2" => matches!(m, M::AEAD | M::SHA256 | M::SHA384),
        "TLSv1.0" | "TLSv1" | "SSLv3" => matches!(m, M::SHA1 | M::MD5),
        _ => return None,
    })
}

/// What a list came to.
#[derive(Debug)]
pub struct Ciphers {
    /// The rustls suites selected, in the list's order.
    pub suites: Vec<CipherSuite>,
    /// Suites named exactly that rustls does not implement (left out).
    pub skipped: Vec<&'static str>,
}

/// Mirrors SSL_CTX_set_cipher_list()'s evaluation of `list`; Err names
/// the token neither OpenSSL nor holdfast knows.
pub fn parse(list: &str) -> Result<Ciphers, String> {
    let mut order: Vec<usize> = Vec::new();
    let mut killed = vec![false; SUITES.len()];
    let mut skipped = Vec::new();
    for token in list.split([':', ',', ' ']).filter(|t| !t.is_empty()) {
        if token.starts_with('@') {
            // @STRENGTH, @SECLEVEL=n: ignored.
            continue;
        }
        let (op, body) = match token.as_bytes()[0] {
            b'!' | b'-' | b'+' => (token.as_bytes()[0], &token[1..]),
            _ => (0, token),
        };
        if let Some(n) = TLS13_NAMES.iter().find(|n| **n == body) {
            skipped.push(*n);
            continue;
        }
        let mut matched = Vec::new();
        for (i, s) in SUITES.iter().enumerate() {
            let m = if s.0 == body {
                true
            } else {
                let mut all = true;
                for alias in body.split('+') {
                    match alias_matches(alias, s) {
                        Some(m) => all &= m,
                        None if SUITES.iter().any(|x| x.0 == alias) => all &= s.0 == alias,
                        None => return Err(format!("unknown cipher \"{alias}\"")),
                    }
                }
                all
            };
            if m {
                matched.push(i);
            }
        }
        if op == 0 && !body.contains('+') && matched.len() == 1 && SUITES[matched[0]].0 == body {
            let name = SUITES[matched[0]].0;
            if rustls_suite(name).is_none() && !skipped.contains(&name) {
                skipped.push(name);
            }
        }
        match op {
            b'!' => {
                order.retain(|i| !matched.contains(i));
                for &i in &matched {
                    killed[i] = true;
                }
            }
            b'-' => order.retain(|i| !matched.contains(i)),
            b'+' => {
                let moved: Vec<usize> = order
                    .iter()
                    .copied()
                    .filter(|i| matched.contains(i))
                    .collect();
                order.retain(|i| !matched.contains(i));
                order.extend(moved);
            }
            _ => {
                for i in matched {
                    if !killed[i] && !order.contains(&i) {
                        order.push(i);
                    }
                }
            }
        }
    }
    Ok(Ciphers {
        suites: order
            .iter()
            .filter_map(|&i| rustls_suite(SUITES[i].0))
            .collect(),
        skipped,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use CipherSuite as C;

    #[test]
    fn the_default_is_every_rustls_suite_in_openssl_order() {
        let c = parse(SSL_CIPHERS).unwrap();
        assert_eq!(
            c.suites,
            [
                C::TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
                C::TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
                C::TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
                C::TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
                C::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
                C::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
            ]
        );
        assert!(c.skipped.is_empty());
    }

    #[test]
    fn mozilla_intermediate_loads_and_names_what_is_skipped() {
        let c = parse(
            "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:\
             ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:\
             ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305:\
             DHE-RSA-AES128-GCM-SHA256:DHE-RSA-AES256-GCM-SHA384:DHE-RSA-CHACHA20-POLY1305",
        )
        .unwrap();
        assert_eq!(c.suites.len(), 6);
        assert_eq!(c.suites[0], C::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256);
        assert_eq!(
            c.skipped,
            [
                "DHE-RSA-AES128-GCM-SHA256",
                "DHE-RSA-AES256-GCM-SHA384",
                "DHE-RSA-CHACHA20-POLY1305"
            ]
        );
    }

    #[test]
    fn operators_and_combined_aliases() {
        let c = parse("ECDHE+AESGCM:!aRSA").unwrap();
        assert_eq!(
            c.suites,
            [
                C::TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
                C::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
            ]
        );
        // `+` moves to the end; `-` removes and lets a later token add back.
        let c = parse("AESGCM+ECDHE CHACHA20 +AES256 -ECDSA aECDSA+AES128 @STRENGTH").unwrap();
        assert_eq!(
            c.suites,
            [
                C::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
                C::TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
                C::TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
                C::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
            ]
        );
        // `!` is for good.
        let c = parse("!CHACHA20,ALL,CHACHA20").unwrap();
        assert_eq!(c.suites.len(), 4);
        assert!(parse("AES128-SHA:DES-CBC3-SHA").unwrap().suites.is_empty());
        assert_eq!(parse("HIGH:NOPE").unwrap_err(), "unknown cipher \"NOPE\"");
        assert!(parse("kEECDH+AES128:!MD5").is_ok());
    }
}
