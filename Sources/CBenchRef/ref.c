// Mirrors Sources/Crypto/BatchSealer.swift call for call, and allocation for allocation:
//
//   seal: Swift allocates one zero-filled [UInt8] for the whole batch; so does cbenchref_seal
//         (malloc + memset), returned to the caller, who frees it.
//   open: Swift allocates the author key copy (PublicKey's 32-byte array) and one zero-filled
//         plaintext buffer that becomes the payload; cbenchref_open mallocs the same two.
//
// Both sign the batch's digest: BLAKE2b-256 of "cvpeer/2 batch" ‖ room id ‖ header bytes 4..<80 ‖
// payload. The reference seals in the open room (room id all zeros), with no previous batch.
//
// Keep it in step with BatchSealer.swift: the cross-checks in cvpeer-bench open C batches with
// Swift and Swift batches with C, and refuse to benchmark if either fails.

#include "CBenchRef.h"

#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif

enum {
    header_length = 104,
    associated_data_length = 80,
    nonce_offset = 80,
    digest_length = 32,
    signature_length = crypto_sign_BYTES,
    tag_length = crypto_aead_xchacha20poly1305_ietf_ABYTES,
    max_payload_length = 4 << 20,
};

static const unsigned char magic[4] = {'c', 'v', 'b', '2'};
static const unsigned char digest_label[] = "cvpeer/2 batch";
static const unsigned char room_id[digest_length] = {0};

static void batch_digest(const unsigned char *header, const unsigned char *payload, size_t payload_length,
                         unsigned char digest[digest_length]) {
    crypto_generichash_state state;
    crypto_generichash_init(&state, NULL, 0, digest_length);
    crypto_generichash_update(&state, digest_label, sizeof digest_label - 1);
    crypto_generichash_update(&state, room_id, sizeof room_id);
    crypto_generichash_update(&state, header + 4, associated_data_length - 4);
    crypto_generichash_update(&state, payload, payload_length);
    crypto_generichash_final(&state, digest, digest_length);
}

static void store_be64(unsigned char *p, uint64_t v) {
    for (int i = 7; i >= 0; i--, v >>= 8) p[i] = (unsigned char)v;
}

static void store_be32(unsigned char *p, uint32_t v) {
    for (int i = 3; i >= 0; i--, v >>= 8) p[i] = (unsigned char)v;
}

static uint64_t load_be64(const unsigned char *p) {
    uint64_t v = 0;
    for (int i = 0; i < 8; i++) v = (v << 8) | p[i];
    return v;
}

static uint32_t load_be32(const unsigned char *p) {
    uint32_t v = 0;
    for (int i = 0; i < 4; i++) v = (v << 8) | p[i];
    return v;
}

const char *cbenchref_sodium_version(void) { return sodium_version_string(); }

int cbenchref_keys_init(cbenchref_keys *keys, const unsigned char seed[32], const unsigned char content_key[32]) {
    if (sodium_init() < 0) return -1;
    if (crypto_sign_seed_keypair(keys->public_key, keys->secret_key, seed) != 0) return -1;
    memcpy(keys->content_key, content_key, sizeof keys->content_key);
    return 0;
}

unsigned char *cbenchref_seal(
    const cbenchref_keys *keys, const unsigned char *payload, size_t payload_length, uint64_t sequence,
    uint32_t epoch, size_t *sealed_length) {
    if (payload_length > max_payload_length) return NULL;
    size_t n = payload_length + signature_length;
    size_t total = header_length + n + tag_length;
    // Swift's [UInt8](repeating: 0, count:) allocates and then zero-fills; do the same work.
    unsigned char *out = malloc(total);
    if (out == NULL) return NULL;
    memset(out, 0, total);
    memcpy(out, magic, 4);
    memcpy(out + 4, keys->public_key, 32);
    store_be64(out + 36, sequence);
    store_be32(out + 44, epoch);
    randombytes_buf(out + nonce_offset, 24);
    if (payload_length > 0) memcpy(out + header_length, payload, payload_length);
    unsigned char digest[digest_length];
    batch_digest(out, out + header_length, payload_length, digest);
    crypto_sign_detached(out + header_length + payload_length, NULL, digest, digest_length, keys->secret_key);
    crypto_aead_xchacha20poly1305_ietf_encrypt(
        out + header_length, NULL, out + header_length, n, out, associated_data_length, NULL, out + nonce_offset,
        keys->content_key);
    *sealed_length = total;
    return out;
}

void cbenchref_free(unsigned char *sealed) { free(sealed); }

int cbenchref_open(const cbenchref_keys *keys, const unsigned char *sealed, size_t sealed_length, cbenchref_opened *out) {
    size_t overhead = header_length + signature_length + tag_length;
    if (sealed_length < overhead || sealed_length - overhead > max_payload_length) return -1;
    if (memcmp(sealed, magic, 4) != 0) return -1;
    unsigned char *author = malloc(32);
    if (author == NULL) return -1;
    memcpy(author, sealed + 4, 32);
    uint64_t sequence = load_be64(sealed + 36);
    uint32_t epoch = load_be32(sealed + 44);

    size_t n = sealed_length - header_length - tag_length;
    unsigned char *payload = malloc(n);
    if (payload == NULL) {
        free(author);
        return -1;
    }
    memset(payload, 0, n);
    if (crypto_aead_xchacha20poly1305_ietf_decrypt(
            payload, NULL, NULL, sealed + header_length, sealed_length - header_length, sealed,
            associated_data_length, sealed + nonce_offset, keys->content_key) != 0) {
        free(payload);
        free(author);
        return -2;
    }
    size_t payload_length = n - signature_length;
    unsigned char digest[digest_length];
    batch_digest(sealed, payload, payload_length, digest);
    if (crypto_sign_verify_detached(payload + payload_length, digest, digest_length, author) != 0) {
        free(payload);
        free(author);
        return -3;
    }
    out->author = author;
    out->sequence = sequence;
    out->epoch = epoch;
    out->payload = payload;
    out->payload_length = payload_length;
    return 0;
}

void cbenchref_opened_free(cbenchref_opened *opened) {
    free(opened->author);
    free(opened->payload);
    opened->author = NULL;
    opened->payload = NULL;
}

uint64_t cbenchref_seal_loop(
    const cbenchref_keys *keys, const unsigned char *payload, size_t payload_length, size_t iterations) {
    uint64_t checksum = 0;
    for (size_t i = 0; i < iterations; i++) {
        size_t length = 0;
        unsigned char *sealed = cbenchref_seal(keys, payload, payload_length, (uint64_t)i + 1, 1, &length);
        if (sealed == NULL) return UINT64_MAX;
        checksum += sealed[length - 1];
        free(sealed);
    }
    return checksum;
}

uint64_t cbenchref_open_loop(
    const cbenchref_keys *keys, const unsigned char *sealed, size_t sealed_length, size_t iterations) {
    uint64_t checksum = 0;
    for (size_t i = 0; i < iterations; i++) {
        cbenchref_opened opened;
        if (cbenchref_open(keys, sealed, sealed_length, &opened) != 0) return UINT64_MAX;
        checksum += opened.payload_length + opened.sequence;
        cbenchref_opened_free(&opened);
    }
    return checksum;
}

uint64_t cbenchref_aead_loop(
    unsigned char *out, const unsigned char *plaintext, size_t length, const unsigned char *ad, size_t ad_length,
    const unsigned char nonce[24], const unsigned char key[32], size_t iterations) {
    uint64_t checksum = 0;
    for (size_t i = 0; i < iterations; i++) {
        crypto_aead_xchacha20poly1305_ietf_encrypt(out, NULL, plaintext, length, ad, ad_length, NULL, nonce, key);
        checksum += out[length + tag_length - 1];
    }
    return checksum;
}

uint64_t cbenchref_verify_loop(
    const unsigned char *messages, size_t message_length, const unsigned char *signatures, const unsigned char *keys,
    size_t count) {
    uint64_t verified = 0;
    for (size_t i = 0; i < count; i++) {
        if (crypto_sign_verify_detached(
                signatures + i * signature_length, messages + i * message_length, message_length, keys + i * 32) == 0) {
            verified++;
        }
    }
    return verified;
}

size_t cbenchref_heap_in_use(void) {
#ifdef __GLIBC__
    struct mallinfo2 info = mallinfo2();
    return info.uordblks + info.hblkhd;
#else
    return 0;
#endif
}

void cbenchref_heap_trim(void) {
#ifdef __GLIBC__
    malloc_trim(0);
#endif
}
