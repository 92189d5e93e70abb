/*
 * Batch BLAKE2b-256 hashing for Walrus Merkle trees.
 *
 * Encoding a blob for n shards hashes every symbol of the n x n expanded matrix once and
 * builds 2n Merkle trees over those leaf hashes: about n^2 leaf hashes and 2n^2 inner-node
 * hashes (3 million at n = 1000). One Python-level hashlib call per node costs about a
 * microsecond of interpreter overhead, which dominates encoding; these functions hash whole
 * arrays of equal-size records in one call, with the GIL released so that threads can share
 * the work across cores.
 *
 * BLAKE2b is implemented from RFC 7693 (unkeyed, 32-byte digest). The test suite checks it
 * against hashlib.blake2b on random inputs of every length class.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static const uint64_t IV[8] = {
    0x6a09e667f3bcc908ULL, 0xbb67ae8584caa73bULL, 0x3c6ef372fe94f82bULL,
    0xa54ff53a5f1d36f1ULL, 0x510e527fade682d1ULL, 0x9b05688c2b3e6c1fULL,
    0x1f83d9abfb41bd6bULL, 0x5be0cd19137e2179ULL};

static const uint8_t SIGMA[12][16] = {
    {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15},
    {14, 10, 4, 8, 9, 15, 13, 6, 1, 12, 0, 2, 11, 7, 5, 3},
    {11, 8, 12, 0, 5, 2, 15, 13, 10, 14, 3, 6, 7, 1, 9, 4},
    {7, 9, 3, 1, 13, 12, 11, 14, 2, 6, 5, 10, 4, 0, 15, 8},
    {9, 0, 5, 7, 2, 4, 10, 15, 14, 1, 11, 12, 6, 8, 3, 13},
    {2, 12, 6, 10, 0, 11, 8, 3, 4, 13, 7, 5, 15, 14, 1, 9},
    {12, 5, 1, 15, 14, 13, 4, 10, 0, 7, 6, 3, 9, 2, 8, 11},
    {13, 11, 7, 14, 12, 1, 3, 9, 5, 0, 15, 4, 8, 6, 2, 10},
    {6, 15, 14, 9, 11, 3, 0, 8, 12, 2, 13, 7, 1, 4, 10, 5},
    {10, 2, 8, 4, 7, 6, 1, 5, 15, 11, 9, 14, 3, 12, 13, 0},
    {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15},
    {14, 10, 4, 8, 9, 15, 13, 6, 1, 12, 0, 2, 11, 7, 5, 3}};

#define BLOCK 128
#define DIGEST 32

static inline uint64_t rotr64(uint64_t x, unsigned n) { return (x >> n) | (x << (64 - n)); }

static inline uint64_t load64(const uint8_t *p) {
    uint64_t v;
    memcpy(&v, p, 8); /* little-endian hosts only; checked at import */
    return v;
}

#define G(a, b, c, d, x, y)          \
    do {                             \
        a = a + b + (x);             \
        d = rotr64(d ^ a, 32);       \
        c = c + d;                   \
        b = rotr64(b ^ c, 24);       \
        a = a + b + (y);             \
        d = rotr64(d ^ a, 16);       \
        c = c + d;                   \
        b = rotr64(b ^ c, 63);       \
    } while (0)

/* One round with the mixing function G_ (the scalar G, or G4 on four messages at once). */
#define ROUND_WITH(G_, r)                                                 \
    do {                                                                  \
        G_(v0, v4, v8, v12, m[SIGMA[r][0]], m[SIGMA[r][1]]);              \
        G_(v1, v5, v9, v13, m[SIGMA[r][2]], m[SIGMA[r][3]]);              \
        G_(v2, v6, v10, v14, m[SIGMA[r][4]], m[SIGMA[r][5]]);             \
        G_(v3, v7, v11, v15, m[SIGMA[r][6]], m[SIGMA[r][7]]);             \
        G_(v0, v5, v10, v15, m[SIGMA[r][8]], m[SIGMA[r][9]]);             \
        G_(v1, v6, v11, v12, m[SIGMA[r][10]], m[SIGMA[r][11]]);           \
        G_(v2, v7, v8, v13, m[SIGMA[r][12]], m[SIGMA[r][13]]);            \
        G_(v3, v4, v9, v14, m[SIGMA[r][14]], m[SIGMA[r][15]]);            \
    } while (0)

/* All twelve rounds, unrolled. */
#define ROUNDS_WITH(G_)                                                                        \
    do {                                                                                       \
        ROUND_WITH(G_, 0); ROUND_WITH(G_, 1); ROUND_WITH(G_, 2); ROUND_WITH(G_, 3);             \
        ROUND_WITH(G_, 4); ROUND_WITH(G_, 5); ROUND_WITH(G_, 6); ROUND_WITH(G_, 7);             \
        ROUND_WITH(G_, 8); ROUND_WITH(G_, 9); ROUND_WITH(G_, 10); ROUND_WITH(G_, 11);           \
    } while (0)

/* The rounds are unrolled so that the message schedule is resolved at compile time and the
 * sixteen state words stay in registers. */
static void compress(uint64_t h[8], const uint8_t block[BLOCK], uint64_t t, int last) {
    uint64_t m[16];
    for (int i = 0; i < 16; i++) m[i] = load64(block + 8 * i);
    uint64_t v0 = h[0], v1 = h[1], v2 = h[2], v3 = h[3], v4 = h[4], v5 = h[5], v6 = h[6], v7 = h[7];
    uint64_t v8 = IV[0], v9 = IV[1], v10 = IV[2], v11 = IV[3];
    uint64_t v12 = IV[4] ^ t, v13 = IV[5], v14 = last ? ~IV[6] : IV[6], v15 = IV[7];
    ROUNDS_WITH(G);
    h[0] ^= v0 ^ v8; h[1] ^= v1 ^ v9; h[2] ^= v2 ^ v10; h[3] ^= v3 ^ v11;
    h[4] ^= v4 ^ v12; h[5] ^= v5 ^ v13; h[6] ^= v6 ^ v14; h[7] ^= v7 ^ v15;
}

/* BLAKE2b-256 of (prefix byte || data[0:len]). */
static void hash_prefixed(uint8_t prefix, const uint8_t *data, size_t len, uint8_t out[DIGEST]) {
    uint64_t h[8];
    uint8_t block[BLOCK];
    size_t total = len + 1, filled = 1, pos = 0;
    uint64_t t = 0;
    memcpy(h, IV, sizeof h);
    h[0] ^= 0x01010000ULL ^ DIGEST;
    block[0] = prefix;
    for (;;) {
        size_t take = BLOCK - filled;
        if (take > len - pos) take = len - pos;
        memcpy(block + filled, data + pos, take);
        filled += take;
        pos += take;
        if (t + filled == total) break; /* this block is the last one */
        t += BLOCK;
        compress(h, block, t, 0);
        filled = 0;
    }
    memset(block + filled, 0, BLOCK - filled);
    t += filled;
    compress(h, block, t, 1);
    memcpy(out, h, DIGEST);
}

/* Four equal-length messages at once: on x86-64 with AVX2, each 64-bit lane of a 256-bit
 * register holds the same state word of a different message, so one pass of the rounds hashes
 * four records (Walrus hashes many equal-size symbols, which suits this exactly). Chosen at
 * import time by a CPU check; elsewhere hash4_prefixed falls back to four scalar hashes. */
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>
#define HAVE_X4 1

#define X4 __attribute__((target("avx2")))

X4 static inline __m256i rot32_x4(__m256i x) { return _mm256_shuffle_epi32(x, _MM_SHUFFLE(2, 3, 0, 1)); }
X4 static inline __m256i rot24_x4(__m256i x) {
    const __m256i r = _mm256_setr_epi8(3, 4, 5, 6, 7, 0, 1, 2, 11, 12, 13, 14, 15, 8, 9, 10,
                                       3, 4, 5, 6, 7, 0, 1, 2, 11, 12, 13, 14, 15, 8, 9, 10);
    return _mm256_shuffle_epi8(x, r);
}
X4 static inline __m256i rot16_x4(__m256i x) {
    const __m256i r = _mm256_setr_epi8(2, 3, 4, 5, 6, 7, 0, 1, 10, 11, 12, 13, 14, 15, 8, 9,
                                       2, 3, 4, 5, 6, 7, 0, 1, 10, 11, 12, 13, 14, 15, 8, 9);
    return _mm256_shuffle_epi8(x, r);
}
X4 static inline __m256i rot63_x4(__m256i x) {
    return _mm256_or_si256(_mm256_srli_epi64(x, 63), _mm256_add_epi64(x, x));
}

#define G4(a, b, c, d, x, y)                                          \
    do {                                                              \
        a = _mm256_add_epi64(_mm256_add_epi64(a, b), x);              \
        d = rot32_x4(_mm256_xor_si256(d, a));                         \
        c = _mm256_add_epi64(c, d);                                   \
        b = rot24_x4(_mm256_xor_si256(b, c));                         \
        a = _mm256_add_epi64(_mm256_add_epi64(a, b), y);              \
        d = rot16_x4(_mm256_xor_si256(d, a));                         \
        c = _mm256_add_epi64(c, d);                                   \
        b = rot63_x4(_mm256_xor_si256(b, c));                         \
    } while (0)

X4 static void compress_x4(__m256i h[8], uint8_t block[4][BLOCK], uint64_t t, int last) {
    __m256i m[16];
    for (int i = 0; i < 16; i++)
        m[i] = _mm256_set_epi64x((long long)load64(block[3] + 8 * i), (long long)load64(block[2] + 8 * i),
                                 (long long)load64(block[1] + 8 * i), (long long)load64(block[0] + 8 * i));
    __m256i v0 = h[0], v1 = h[1], v2 = h[2], v3 = h[3], v4 = h[4], v5 = h[5], v6 = h[6], v7 = h[7];
    __m256i v8 = _mm256_set1_epi64x((long long)IV[0]), v9 = _mm256_set1_epi64x((long long)IV[1]);
    __m256i v10 = _mm256_set1_epi64x((long long)IV[2]), v11 = _mm256_set1_epi64x((long long)IV[3]);
    __m256i v12 = _mm256_set1_epi64x((long long)(IV[4] ^ t)), v13 = _mm256_set1_epi64x((long long)IV[5]);
    __m256i v14 = _mm256_set1_epi64x((long long)(last ? ~IV[6] : IV[6]));
    __m256i v15 = _mm256_set1_epi64x((long long)IV[7]);
    ROUNDS_WITH(G4);
    h[0] = _mm256_xor_si256(h[0], _mm256_xor_si256(v0, v8));
    h[1] = _mm256_xor_si256(h[1], _mm256_xor_si256(v1, v9));
    h[2] = _mm256_xor_si256(h[2], _mm256_xor_si256(v2, v10));
    h[3] = _mm256_xor_si256(h[3], _mm256_xor_si256(v3, v11));
    h[4] = _mm256_xor_si256(h[4], _mm256_xor_si256(v4, v12));
    h[5] = _mm256_xor_si256(h[5], _mm256_xor_si256(v5, v13));
    h[6] = _mm256_xor_si256(h[6], _mm256_xor_si256(v6, v14));
    h[7] = _mm256_xor_si256(h[7], _mm256_xor_si256(v7, v15));
}

/* BLAKE2b-256 of (prefix || data[k][0:len]) for k = 0..3; all inputs are read before any
 * output is written, so outputs may overlap inputs. Same block walk as hash_prefixed. */
X4 static void hash4_avx2(uint8_t prefix, const uint8_t *const data[4], size_t len, uint8_t *const out[4]) {
    __m256i h[8];
    uint8_t block[4][BLOCK];
    size_t total = len + 1, filled = 1, pos = 0;
    uint64_t t = 0;
    for (int i = 0; i < 8; i++) h[i] = _mm256_set1_epi64x((long long)IV[i]);
    h[0] = _mm256_xor_si256(h[0], _mm256_set1_epi64x((long long)(0x01010000ULL ^ DIGEST)));
    for (int k = 0; k < 4; k++) block[k][0] = prefix;
    for (;;) {
        size_t take = BLOCK - filled;
        if (take > len - pos) take = len - pos;
        for (int k = 0; k < 4; k++) memcpy(block[k] + filled, data[k] + pos, take);
        filled += take;
        pos += take;
        if (t + filled == total) break;
        t += BLOCK;
        compress_x4(h, block, t, 0);
        filled = 0;
    }
    for (int k = 0; k < 4; k++) memset(block[k] + filled, 0, BLOCK - filled);
    t += filled;
    compress_x4(h, block, t, 1);
    uint64_t words[4][4];
    for (int w = 0; w < 4; w++) _mm256_storeu_si256((__m256i *)words[w], h[w]);
    for (int k = 0; k < 4; k++)
        for (int w = 0; w < 4; w++) memcpy(out[k] + 8 * w, &words[w][k], 8);
}
#endif

static int use_x4 = 0;

static void hash4_prefixed(uint8_t prefix, const uint8_t *const data[4], size_t len, uint8_t *const out[4]) {
#ifdef HAVE_X4
    if (use_x4) {
        hash4_avx2(prefix, data, len, out);
        return;
    }
#endif
    uint8_t digests[4][DIGEST];
    for (int k = 0; k < 4; k++) hash_prefixed(prefix, data[k], len, digests[k]);
    for (int k = 0; k < 4; k++) memcpy(out[k], digests[k], DIGEST);
}

/* hash_records(data, record_size, prefix) -> bytes: BLAKE2b-256(prefix || record) per record. */
static PyObject *hash_records(PyObject *self, PyObject *args) {
    Py_buffer buf;
    Py_ssize_t size;
    int prefix;
    if (!PyArg_ParseTuple(args, "y*ni", &buf, &size, &prefix)) return NULL;
    if (size <= 0 || buf.len % size != 0 || prefix < 0 || prefix > 255) {
        PyBuffer_Release(&buf);
        PyErr_SetString(PyExc_ValueError, "buffer length must be a multiple of a positive record size");
        return NULL;
    }
    Py_ssize_t count = buf.len / size;
    PyObject *result = PyBytes_FromStringAndSize(NULL, count * DIGEST);
    if (!result) {
        PyBuffer_Release(&buf);
        return NULL;
    }
    uint8_t *out = (uint8_t *)PyBytes_AS_STRING(result);
    const uint8_t *in = (const uint8_t *)buf.buf;
    Py_BEGIN_ALLOW_THREADS
    Py_ssize_t i = 0;
    for (; i + 4 <= count; i += 4) {
        const uint8_t *const data[4] = {in + i * size, in + (i + 1) * size, in + (i + 2) * size, in + (i + 3) * size};
        uint8_t *const dst[4] = {out + i * DIGEST, out + (i + 1) * DIGEST, out + (i + 2) * DIGEST, out + (i + 3) * DIGEST};
        hash4_prefixed((uint8_t)prefix, data, (size_t)size, dst);
    }
    for (; i < count; i++) hash_prefixed((uint8_t)prefix, in + i * size, (size_t)size, out + i * DIGEST);
    Py_END_ALLOW_THREADS
    PyBuffer_Release(&buf);
    return result;
}

/* merkle_roots(leaves, n_trees, n_leaves) -> bytes: the root of each of n_trees trees whose
 * n_leaves leaf hashes lie consecutively in `leaves`. Odd levels are padded with the Empty
 * node (32 zero bytes). */
static PyObject *merkle_roots(PyObject *self, PyObject *args) {
    Py_buffer buf;
    Py_ssize_t n_trees, n_leaves;
    if (!PyArg_ParseTuple(args, "y*nn", &buf, &n_trees, &n_leaves)) return NULL;
    if (n_trees < 0 || n_leaves < 1 || buf.len != n_trees * n_leaves * DIGEST) {
        PyBuffer_Release(&buf);
        PyErr_SetString(PyExc_ValueError, "leaves must hold n_trees * n_leaves digests");
        return NULL;
    }
    PyObject *result = PyBytes_FromStringAndSize(NULL, n_trees * DIGEST);
    uint8_t *work = PyMem_RawMalloc((size_t)(n_leaves + 1) * DIGEST);
    if (!result || !work) {
        Py_XDECREF(result);
        PyMem_RawFree(work);
        PyBuffer_Release(&buf);
        return PyErr_NoMemory();
    }
    uint8_t *out = (uint8_t *)PyBytes_AS_STRING(result);
    const uint8_t *in = (const uint8_t *)buf.buf;
    Py_BEGIN_ALLOW_THREADS
    for (Py_ssize_t tree = 0; tree < n_trees; tree++) {
        Py_ssize_t width = n_leaves;
        memcpy(work, in + tree * n_leaves * DIGEST, (size_t)n_leaves * DIGEST);
        while (width > 1) {
            if (width % 2) memset(work + width++ * DIGEST, 0, DIGEST);
            /* Parent i overwrites slot i only after children 2i, 2i+1 (>= i) are read. */
            Py_ssize_t i = 0;
            for (; i + 4 <= width / 2; i += 4) {
                const uint8_t *const pairs[4] = {work + 2 * i * DIGEST, work + 2 * (i + 1) * DIGEST,
                                                 work + 2 * (i + 2) * DIGEST, work + 2 * (i + 3) * DIGEST};
                uint8_t *const parents[4] = {work + i * DIGEST, work + (i + 1) * DIGEST,
                                             work + (i + 2) * DIGEST, work + (i + 3) * DIGEST};
                hash4_prefixed(1, pairs, 2 * DIGEST, parents);
            }
            for (; i < width / 2; i++) {
                uint8_t pair[2 * DIGEST];
                memcpy(pair, work + 2 * i * DIGEST, 2 * DIGEST);
                hash_prefixed(1, pair, 2 * DIGEST, work + i * DIGEST);
            }
            width /= 2;
        }
        memcpy(out + tree * DIGEST, work, DIGEST);
    }
    Py_END_ALLOW_THREADS
    PyMem_RawFree(work);
    PyBuffer_Release(&buf);
    return result;
}

/* Symbols of s bytes <-> the codec layout of reed-solomon-simd: whole 64-byte blocks, with a
 * tail of t = s mod 64 bytes split into low and high halves placed at offsets 0 and 32 of a
 * zero-padded block. `to_layout` maps s -> padded size, `from_layout` the reverse. */
static PyObject *relayout(PyObject *args, int to_codec) {
    Py_buffer buf;
    Py_ssize_t s;
    if (!PyArg_ParseTuple(args, "y*n", &buf, &s)) return NULL;
    Py_ssize_t padded = (s + 63) / 64 * 64;
    Py_ssize_t in_size = to_codec ? s : padded, out_size = to_codec ? padded : s;
    if (s <= 0 || s % 2 || buf.len % in_size) {
        PyBuffer_Release(&buf);
        PyErr_SetString(PyExc_ValueError, "buffer must hold whole symbols of an even size");
        return NULL;
    }
    Py_ssize_t count = buf.len / in_size;
    PyObject *result = PyBytes_FromStringAndSize(NULL, count * out_size);
    if (!result) {
        PyBuffer_Release(&buf);
        return NULL;
    }
    uint8_t *out = (uint8_t *)PyBytes_AS_STRING(result);
    const uint8_t *in = (const uint8_t *)buf.buf;
    Py_ssize_t full = s - s % 64, half = (s % 64) / 2;
    Py_BEGIN_ALLOW_THREADS
    for (Py_ssize_t i = 0; i < count; i++) {
        const uint8_t *src = in + i * in_size;
        uint8_t *dst = out + i * out_size;
        memcpy(dst, src, (size_t)full);
        if (!half) continue;
        if (to_codec) {
            memcpy(dst + full, src + full, (size_t)half);
            memset(dst + full + half, 0, (size_t)(32 - half));
            memcpy(dst + full + 32, src + full + half, (size_t)half);
            memset(dst + full + 32 + half, 0, (size_t)(32 - half));
        } else {
            memcpy(dst + full, src + full, (size_t)half);
            memcpy(dst + full + half, src + full + 32, (size_t)half);
        }
    }
    Py_END_ALLOW_THREADS
    PyBuffer_Release(&buf);
    return result;
}

static PyObject *to_layout(PyObject *self, PyObject *args) { return relayout(args, 1); }
static PyObject *from_layout(PyObject *self, PyObject *args) { return relayout(args, 0); }

static PyMethodDef methods[] = {
    {"to_layout", to_layout, METH_VARARGS, "Symbols of s bytes to the codec's block layout."},
    {"from_layout", from_layout, METH_VARARGS, "The codec's block layout back to s-byte symbols."},
    {"hash_records", hash_records, METH_VARARGS, "BLAKE2b-256(prefix || record) for every record."},
    {"merkle_roots", merkle_roots, METH_VARARGS, "Walrus Merkle roots of consecutive trees."},
    {NULL, NULL, 0, NULL}};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_native", "Batch BLAKE2b-256 for Merkle trees.", -1, methods};

PyMODINIT_FUNC PyInit__native(void) {
    const uint16_t probe = 1;
    if (*(const uint8_t *)&probe != 1) {
        PyErr_SetString(PyExc_ImportError, "pywalrus._native needs a little-endian host");
        return NULL;
    }
#ifdef HAVE_X4
    __builtin_cpu_init();
    const char *no_simd = getenv("PYWALRUS_NO_SIMD");
    use_x4 = __builtin_cpu_supports("avx2") && !(no_simd && *no_simd);
#endif
    PyObject *mod = PyModule_Create(&module);
    if (mod && PyModule_AddIntConstant(mod, "simd", use_x4) < 0) {
        Py_DECREF(mod);
        return NULL;
    }
    return mod;
}
