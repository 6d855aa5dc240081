#ifndef CVPEER_CBENCHREF_H
#define CVPEER_CBENCHREF_H

// The C reference for cvpeer-bench: the libsodium calls PeerCrypto makes, made directly from C,
// so a benchmark can tell Swift's overhead apart from libsodium's own cost.

#include <stddef.h>
#include <stdint.h>

/// Key material shared with the Swift side, so both seal and open the very same batches.
typedef struct cbenchref_keys {
    unsigned char public_key[32];
    unsigned char secret_key[64];
    unsigned char content_key[32];
} cbenchref_keys;

/// What an opened batch yields; `author` and `payload` are malloc'd because the Swift result owns heap copies too.
typedef struct cbenchref_opened {
    unsigned char *author;
    uint64_t sequence;
    uint32_t epoch;
    unsigned char *payload;
    size_t payload_length;
} cbenchref_opened;

/// The libsodium version both sides link against, for the report header.
const char *cbenchref_sodium_version(void);

/// Initialises libsodium and derives the Ed25519 key pair from `seed`, as Identity(seed:) does; 0 on success.
int cbenchref_keys_init(cbenchref_keys *keys, const unsigned char seed[32], const unsigned char content_key[32]);

/// BatchSealer.seal in C: returns a malloc'd sealed batch of `*sealed_length` bytes (caller frees).
unsigned char *cbenchref_seal(
    const cbenchref_keys *keys, const unsigned char *payload, size_t payload_length, uint64_t sequence,
    uint32_t epoch, size_t *sealed_length);

/// Frees a batch returned by cbenchref_seal.
void cbenchref_free(unsigned char *sealed);

/// BatchSealer.open in C: 0 on success (release with cbenchref_opened_free), -1 malformed, -2 forged, -3 bad signature.
int cbenchref_open(const cbenchref_keys *keys, const unsigned char *sealed, size_t sealed_length, cbenchref_opened *out);

/// Frees what cbenchref_open allocated.
void cbenchref_opened_free(cbenchref_opened *opened);

/// Seals `iterations` batches, freeing each; the loop lives in C so the reference pays no Swift call cost.
uint64_t cbenchref_seal_loop(
    const cbenchref_keys *keys, const unsigned char *payload, size_t payload_length, size_t iterations);

/// Opens the same batch `iterations` times; returns UINT64_MAX if any open fails.
uint64_t cbenchref_open_loop(
    const cbenchref_keys *keys, const unsigned char *sealed, size_t sealed_length, size_t iterations);

/// Bare XChaCha20-Poly1305 seals into a preallocated `out` (`length + 16` bytes), no signature, no allocation.
uint64_t cbenchref_aead_loop(
    unsigned char *out, const unsigned char *plaintext, size_t length, const unsigned char *ad, size_t ad_length,
    const unsigned char nonce[24], const unsigned char key[32], size_t iterations);

/// Bare Ed25519 checks: `crypto_sign_verify_detached` over `count` messages of `message_length` bytes laid
/// end to end, each with its 64-byte signature and 32-byte key at the same index; returns how many verified.
uint64_t cbenchref_verify_loop(
    const unsigned char *messages, size_t message_length, const unsigned char *signatures, const unsigned char *keys,
    size_t count);

/// Bytes malloc has handed out and not had back, mapped blocks included (glibc's mallinfo2(): uordblks + hblkhd); 0 without glibc.
size_t cbenchref_heap_in_use(void);

/// Gives malloc's free memory back to the system (glibc's malloc_trim(0)); does nothing without glibc.
void cbenchref_heap_trim(void);

#endif
