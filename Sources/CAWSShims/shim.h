// The single C boundary of the AWS module: headers only, plus `static inline` shims (prefixed `cawss_`).
//
// Nothing here is linked: the module map has no `link` line, so the plugin binary has no DT_NEEDED entry for
// libcurl or libcrypto. The Swift side loads them on first use with `cawss_curl_load` / `cawss_crypto_load`
// (dlopen with RTLD_NOW|RTLD_LOCAL, then dlsym into the typed function pointers below). Never call the
// functions the headers declare directly (`curl_easy_init`, `EVP_Digest`, …): that would fail to link, which is
// the point.
#ifndef CAWSSHIMS_SHIM_H
#define CAWSSHIMS_SHIM_H

#include <dlfcn.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

// The type-checking macros of curl/typecheck-gcc.h would wrap curl_easy_setopt; we call through pointers.
#define CURL_DISABLE_TYPECHECK 1
#include <curl/curl.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

// MARK: - shared

/// Copies `dlerror()` (or `fallback`) into `err`, prefixed with `what`.
static inline void cawss_dlerror(const char *what, const char *fallback, char *err, size_t errlen) {
    const char *e = dlerror();
    if (errlen == 0) return;
    size_t n = strlen(what);
    if (n >= errlen) n = errlen - 1;
    memcpy(err, what, n);
    const char *text = e ? e : fallback;
    size_t m = strlen(text);
    if (n + m >= errlen) m = errlen - 1 - n;
    memcpy(err + n, text, m);
    err[n + m] = 0;
}

// MARK: - libcurl (libcurl.so.4)

typedef CURLcode (*cawss_curl_global_init_fn)(long flags);
typedef CURL *(*cawss_curl_easy_init_fn)(void);
typedef void (*cawss_curl_easy_cleanup_fn)(CURL *handle);
typedef void (*cawss_curl_easy_reset_fn)(CURL *handle);
typedef CURLcode (*cawss_curl_easy_setopt_fn)(CURL *handle, CURLoption option, ...);
typedef CURLcode (*cawss_curl_easy_getinfo_fn)(CURL *handle, CURLINFO info, ...);
typedef CURLcode (*cawss_curl_easy_perform_fn)(CURL *handle);
typedef const char *(*cawss_curl_easy_strerror_fn)(CURLcode code);
typedef struct curl_slist *(*cawss_curl_slist_append_fn)(struct curl_slist *list, const char *string);
typedef void (*cawss_curl_slist_free_all_fn)(struct curl_slist *list);

/// `CURLOPT_WRITEFUNCTION` / `CURLOPT_HEADERFUNCTION` callback.
typedef size_t (*cawss_curl_data_cb)(char *ptr, size_t size, size_t nmemb, void *userdata);

/// The libcurl entry points the transport uses, resolved once.
typedef struct cawss_curl {
    void *library;
    cawss_curl_global_init_fn global_init;
    cawss_curl_easy_init_fn easy_init;
    cawss_curl_easy_cleanup_fn easy_cleanup;
    cawss_curl_easy_reset_fn easy_reset;
    cawss_curl_easy_setopt_fn easy_setopt;
    cawss_curl_easy_getinfo_fn easy_getinfo;
    cawss_curl_easy_perform_fn easy_perform;
    cawss_curl_easy_strerror_fn easy_strerror;
    cawss_curl_slist_append_fn slist_append;
    cawss_curl_slist_free_all_fn slist_free_all;
} cawss_curl;

#define CAWSS_SYM(api, lib, field, name, err, errlen)                                                     \
    do {                                                                                                   \
        *(void **)(&(api)->field) = dlsym((lib), (name));                                                  \
        if (!(api)->field) {                                                                               \
            cawss_dlerror("dlsym " name ": ", "not found", (err), (errlen));                              \
            dlclose(lib);                                                                                  \
            memset((api), 0, sizeof(*(api)));                                                              \
            return -1;                                                                                     \
        }                                                                                                  \
    } while (0)

/// `dlopen(path, RTLD_NOW|RTLD_LOCAL)`; NULL with the dlerror text in `err` on failure.
static inline void *cawss_dlopen(const char *path, char *err, size_t errlen) {
    dlerror();
    void *lib = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (!lib) cawss_dlerror("dlopen: ", "unknown error", err, errlen);
    return lib;
}

/// `dlopen(path, RTLD_NOW|RTLD_LOCAL)`, resolves every entry point and runs `curl_global_init`.
/// Returns 0, or -1 with the dlerror text in `err`. Call once (the Swift side keeps the result in a lazy global).
static inline int cawss_curl_load(cawss_curl *api, const char *path, char *err, size_t errlen) {
    memset(api, 0, sizeof(*api));
    void *lib = cawss_dlopen(path, err, errlen);
    if (!lib) return -1;
    CAWSS_SYM(api, lib, global_init, "curl_global_init", err, errlen);
    CAWSS_SYM(api, lib, easy_init, "curl_easy_init", err, errlen);
    CAWSS_SYM(api, lib, easy_cleanup, "curl_easy_cleanup", err, errlen);
    CAWSS_SYM(api, lib, easy_reset, "curl_easy_reset", err, errlen);
    CAWSS_SYM(api, lib, easy_setopt, "curl_easy_setopt", err, errlen);
    CAWSS_SYM(api, lib, easy_getinfo, "curl_easy_getinfo", err, errlen);
    CAWSS_SYM(api, lib, easy_perform, "curl_easy_perform", err, errlen);
    CAWSS_SYM(api, lib, easy_strerror, "curl_easy_strerror", err, errlen);
    CAWSS_SYM(api, lib, slist_append, "curl_slist_append", err, errlen);
    CAWSS_SYM(api, lib, slist_free_all, "curl_slist_free_all", err, errlen);
    api->library = lib;
    CURLcode rc = api->global_init(CURL_GLOBAL_DEFAULT);
    if (rc != CURLE_OK) {
        const char *s = api->easy_strerror(rc);
        snprintf(err, errlen, "curl_global_init: %s", s ? s : "failed");
        return -1;
    }
    return 0;
}

// curl_easy_setopt / curl_easy_getinfo are variadic, which Swift cannot call: one shim per argument type.

/// `curl_easy_setopt(h, opt, (long)value)`.
static inline CURLcode cawss_curl_setopt_long(const cawss_curl *api, CURL *h, CURLoption opt, long value) {
    return api->easy_setopt(h, opt, value);
}
/// `curl_easy_setopt(h, opt, (curl_off_t)value)` (the `_LARGE` options).
static inline CURLcode cawss_curl_setopt_off(const cawss_curl *api, CURL *h, CURLoption opt, int64_t value) {
    return api->easy_setopt(h, opt, (curl_off_t)value);
}
/// `curl_easy_setopt(h, opt, pointer)`: strings (copied by libcurl, except CURLOPT_POSTFIELDS), slists, userdata.
static inline CURLcode cawss_curl_setopt_ptr(const cawss_curl *api, CURL *h, CURLoption opt, const void *value) {
    return api->easy_setopt(h, opt, value);
}
/// `curl_easy_setopt(h, opt, callback)` for CURLOPT_WRITEFUNCTION / CURLOPT_HEADERFUNCTION.
static inline CURLcode cawss_curl_setopt_data_cb(const cawss_curl *api, CURL *h, CURLoption opt,
                                                 cawss_curl_data_cb cb) {
    return api->easy_setopt(h, opt, cb);
}
/// `curl_easy_getinfo(h, info, &long)`.
static inline CURLcode cawss_curl_getinfo_long(const cawss_curl *api, CURL *h, CURLINFO info, long *out) {
    return api->easy_getinfo(h, info, out);
}

// MARK: - libcrypto (libcrypto.so.3)

typedef const EVP_MD *(*cawss_EVP_sha256_fn)(void);
typedef int (*cawss_EVP_Digest_fn)(const void *data, size_t count, unsigned char *md, unsigned int *size,
                                   const EVP_MD *type, ENGINE *impl);
typedef unsigned char *(*cawss_HMAC_fn)(const EVP_MD *evp_md, const void *key, int key_len,
                                        const unsigned char *data, size_t data_len, unsigned char *md,
                                        unsigned int *md_len);

typedef struct cawss_crypto {
    void *library;
    cawss_EVP_sha256_fn EVP_sha256;
    cawss_EVP_Digest_fn EVP_Digest;
    cawss_HMAC_fn HMAC;
    const EVP_MD *sha256;
} cawss_crypto;

/// `dlopen(path, RTLD_NOW|RTLD_LOCAL)` and resolves EVP_sha256, EVP_Digest, HMAC. Returns 0 or -1 (dlerror in `err`).
static inline int cawss_crypto_load(cawss_crypto *api, const char *path, char *err, size_t errlen) {
    memset(api, 0, sizeof(*api));
    void *lib = cawss_dlopen(path, err, errlen);
    if (!lib) return -1;
    CAWSS_SYM(api, lib, EVP_sha256, "EVP_sha256", err, errlen);
    CAWSS_SYM(api, lib, EVP_Digest, "EVP_Digest", err, errlen);
    CAWSS_SYM(api, lib, HMAC, "HMAC", err, errlen);
    api->library = lib;
    api->sha256 = api->EVP_sha256();
    if (!api->sha256) {
        snprintf(err, errlen, "EVP_sha256 returned NULL");
        return -1;
    }
    return 0;
}

/// SHA-256 of `len` bytes into `out` (32 bytes). Returns 1 on success.
static inline int cawss_sha256(const cawss_crypto *api, const void *data, size_t len, unsigned char *out) {
    unsigned int n = 0;
    return api->EVP_Digest(data, len, out, &n, api->sha256, NULL) == 1 && n == 32;
}

/// HMAC-SHA256 into `out` (32 bytes). Returns 1 on success.
static inline int cawss_hmac_sha256(const cawss_crypto *api, const void *key, size_t key_len, const void *data,
                                    size_t data_len, unsigned char *out) {
    unsigned int n = 0;
    if (key_len > 0x7fffffff) return 0;
    static const unsigned char empty = 0;
    return api->HMAC(api->sha256, key_len ? key : &empty, (int)key_len,
                     data_len ? (const unsigned char *)data : &empty, data_len, out, &n) != NULL && n == 32;
}

#undef CAWSS_SYM

#endif
