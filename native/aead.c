/*
 * ChaCha20-Poly1305 IETF in place, with the OpenSSL that Node itself links
 * (its EVP symbols are exported by the node binary; node-gyp ships the
 * headers). The same construction as node:crypto and libsodium
 * (src/crypto/aead.ts): what is new is only that the bytes are encrypted or
 * decrypted where they lie, so a 64 KiB super-frame costs no JS-visible
 * allocation for the cipher's output (node:crypto returns a fresh Buffer from
 * every update(), and V8 runs a full GC for each 64 MB of such memory).
 *
 *   aeadSeal(key, frame, plaintextLength) -> bool
 *       frame = header(18) | plaintext | room for the tag(16); the header is
 *       the associated data, header[6..18) the nonce. Encrypts the plaintext
 *       in place and writes the tag after it.
 *   aeadOpen(key, frame) -> bool
 *       frame = header(18) | ciphertext | tag(16). Decrypts in place; false,
 *       with the ciphertext restored, when the tag does not verify.
 */
#include <node_api.h>
#include <openssl/evp.h>
#include <stdbool.h>
#include <stdint.h>

#define HEADER_BYTES 18
#define NONCE_OFFSET 6
#define NONCE_BYTES 12
#define TAG_BYTES 16
#define KEY_BYTES 32

static bool bytes_of(napi_env env, napi_value value, uint8_t **data, size_t *length) {
  napi_typedarray_type type;
  void *raw;
  if (napi_get_typedarray_info(env, value, &type, length, &raw, NULL, NULL) != napi_ok ||
      type != napi_uint8_array)
    return false;
  *data = raw;
  return true;
}

static napi_value boolean(napi_env env, bool value) {
  napi_value result;
  napi_get_boolean(env, value, &result);
  return result;
}

static EVP_CIPHER_CTX *start(uint8_t *key, uint8_t *frame, int encrypt) {
  EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
  if (ctx == NULL) return NULL;
  int outl = 0;
  if (EVP_CipherInit_ex(ctx, EVP_chacha20_poly1305(), NULL, NULL, NULL, encrypt) != 1 ||
      EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_SET_IVLEN, NONCE_BYTES, NULL) != 1 ||
      EVP_CipherInit_ex(ctx, NULL, NULL, key, frame + NONCE_OFFSET, encrypt) != 1 ||
      EVP_CipherUpdate(ctx, NULL, &outl, frame, HEADER_BYTES) != 1) {
    EVP_CIPHER_CTX_free(ctx);
    return NULL;
  }
  return ctx;
}

static napi_value aead_seal(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  uint8_t *key, *frame;
  size_t key_length, frame_length;
  uint32_t plaintext_length;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 3 ||
      !bytes_of(env, argv[0], &key, &key_length) || !bytes_of(env, argv[1], &frame, &frame_length) ||
      napi_get_value_uint32(env, argv[2], &plaintext_length) != napi_ok) {
    napi_throw_type_error(env, NULL, "aeadSeal(key, frame, plaintextLength)");
    return NULL;
  }
  if (key_length != KEY_BYTES ||
      frame_length < (size_t)HEADER_BYTES + plaintext_length + TAG_BYTES)
    return boolean(env, false);
  EVP_CIPHER_CTX *ctx = start(key, frame, 1);
  if (ctx == NULL) return boolean(env, false);
  int outl = 0, finl = 0;
  uint8_t *text = frame + HEADER_BYTES;
  bool ok = EVP_CipherUpdate(ctx, text, &outl, text, (int)plaintext_length) == 1 &&
            EVP_CipherFinal_ex(ctx, text + outl, &finl) == 1 &&
            EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_GET_TAG, TAG_BYTES, text + plaintext_length) == 1;
  EVP_CIPHER_CTX_free(ctx);
  return boolean(env, ok);
}

static napi_value aead_open(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  uint8_t *key, *frame;
  size_t key_length, frame_length;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 2 ||
      !bytes_of(env, argv[0], &key, &key_length) || !bytes_of(env, argv[1], &frame, &frame_length)) {
    napi_throw_type_error(env, NULL, "aeadOpen(key, frame)");
    return NULL;
  }
  if (key_length != KEY_BYTES || frame_length < HEADER_BYTES + TAG_BYTES) return boolean(env, false);
  size_t text_length = frame_length - HEADER_BYTES - TAG_BYTES;
  EVP_CIPHER_CTX *ctx = start(key, frame, 0);
  if (ctx == NULL) return boolean(env, false);
  int outl = 0, finl = 0;
  uint8_t *text = frame + HEADER_BYTES;
  bool ok = EVP_CipherUpdate(ctx, text, &outl, text, (int)text_length) == 1 &&
            EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_SET_TAG, TAG_BYTES, text + text_length) == 1 &&
            EVP_CipherFinal_ex(ctx, text + outl, &finl) == 1;
  EVP_CIPHER_CTX_free(ctx);
  if (!ok) {
    /* A refusal changes nothing: the same keystream XORed in again gives the
     * ciphertext back (a caller may try another key on the same bytes). */
    EVP_CIPHER_CTX *undo = start(key, frame, 1);
    if (undo != NULL) {
      EVP_CipherUpdate(undo, text, &outl, text, (int)text_length);
      EVP_CIPHER_CTX_free(undo);
    }
  }
  return boolean(env, ok);
}

void register_aead(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
      {"aeadSeal", NULL, aead_seal, NULL, NULL, NULL, napi_enumerable, NULL},
      {"aeadOpen", NULL, aead_open, NULL, NULL, NULL, napi_enumerable, NULL},
  };
  napi_define_properties(env, exports, sizeof props / sizeof props[0], props);
}
