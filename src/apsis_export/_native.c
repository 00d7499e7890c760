/* The fast engine's compiled step: one profile member's text, in the common shape,
 * straight to the bytes of Arrow columns of the attributes and events tables.
 *
 * What it accepts it maps exactly as msgspec decoding into _shape.TYPED_PROFILES and
 * _shape.typed_profile_columns do, then the sinks' encoders (value text, compact JSON as
 * orjson writes it). Anything else -- an unknown key, a repeated key, an exponent or "-0",
 * a decimal Python would print in E notation, a lone surrogate, invalid UTF-8, deep
 * nesting, any syntax error -- is rejected: Builder.add rolls back what it appended and
 * returns None, and the Python path reads that profile as before. So this code never has
 * to agree with the other engines on anything it is unsure of: it may only say no.
 *
 * Two output modes: text (Parquet, CSV: strings as they are, null as null) and json
 * (JSONL: every text column as its JSON text, null as the text null).
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <limits.h>
#include <stdint.h>
#include <string.h>

#define OK 0
#define REJECT -1
#define NOMEM -2

#define MAX_DEPTH 64   /* nesting below an event's data or an attribute's value */
#define MAX_KEYS 64    /* members of one object below data/value checked for repeats */

static const int64_t MIN_MS = -62135596800000LL;  /* years 1..9999, as _shape._Millis */
static const int64_t MAX_MS = 253402300799999LL;

/* ---- growable byte buffers and columns ------------------------------------------ */

typedef struct { char *p; size_t len, cap; } Buf;

static int buf_grow(Buf *b, size_t extra) {
    size_t cap = b->cap ? b->cap : 4096;
    while (cap < b->len + extra) cap *= 2;
    char *n = PyMem_RawRealloc(b->p, cap);
    if (!n) return NOMEM;  /* (the caller raises MemoryError, holding the GIL again: see add_run) */
    b->p = n; b->cap = cap;
    return OK;
}
/* Byte `at` of a buffer: p stays NULL until its first byte, and no offset may be applied to
 * NULL, not even 0 (UBSan's pointer-overflow check, found by fuzz/fuzz_native.py). */
static inline const char *buf_at(const Buf *b, size_t at) { return b->p ? b->p + at : ""; }
#define RESERVE(b, n) do { if ((b)->len + (n) > (b)->cap && buf_grow((b), (n)) != OK) return NOMEM; } while (0)

/* n bytes from s to d, inline for the short strings most cells are (a call to memcpy costs
 * more than the copy): two fixed-size copies that may overlap, reading and writing only the
 * n bytes. */
static inline void copy_bytes(char *d, const char *s, size_t n) {
    if (n > 16) { memcpy(d, s, n); return; }
    if (n >= 8) { uint64_t a, z; memcpy(&a, s, 8); memcpy(&z, s + n - 8, 8); memcpy(d, &a, 8); memcpy(d + n - 8, &z, 8); return; }
    if (n >= 4) { uint32_t a, z; memcpy(&a, s, 4); memcpy(&z, s + n - 4, 4); memcpy(d, &a, 4); memcpy(d + n - 4, &z, 4); return; }
    for (size_t i = 0; i < n; i++) d[i] = s[i];
}

static inline int buf_put(Buf *b, const void *s, size_t n) {
    if (!n) return OK;  /* s and b->p may be NULL then: memcpy must not see them */
    RESERVE(b, n);
    copy_bytes(b->p + b->len, s, n);
    b->len += n;
    return OK;
}

typedef struct { Buf data, offsets, valid; Py_ssize_t rows, nulls; } StrCol;  /* offsets: int32 */
typedef struct { Buf values, valid; Py_ssize_t nulls; } IntCol;                /* values: int64 */
/* The text of row `row` of a string column (its data stays NULL while every string was empty). */
static inline const char *strcol_text(const StrCol *c, Py_ssize_t row) {
    return buf_at(&c->data, c->data.p ? ((const int32_t *)c->offsets.p)[row] : 0);
}

static int strcol_init(StrCol *c) {
    int32_t zero = 0;
    return buf_put(&c->offsets, &zero, sizeof zero);
}

/* End the row whose bytes were appended to c->data since the last row (once a row of every
 * column: inline, one capacity check a buffer, stores of fixed size). */
static inline int strcol_end_row(StrCol *c, int valid) {
    if (c->data.len > INT32_MAX) return REJECT;  /* a batch too long for 32-bit offsets */
    int32_t end = (int32_t)c->data.len;
    RESERVE(&c->offsets, sizeof end);
    RESERVE(&c->valid, 1);
    memcpy(c->offsets.p + c->offsets.len, &end, sizeof end);
    c->offsets.len += sizeof end;
    c->valid.p[c->valid.len++] = (char)valid;
    c->rows++;
    c->nulls += !valid;
    return OK;
}

static int strcol_row(StrCol *c, const char *s, size_t n, int valid) {
    if (buf_put(&c->data, s, n)) return NOMEM;
    return strcol_end_row(c, valid);
}

static int intcol_row(IntCol *c, int64_t value, int valid) {
    char v = (char)valid;
    if (buf_put(&c->values, &value, sizeof value) || buf_put(&c->valid, &v, 1)) return NOMEM;
    c->nulls += !valid;
    return OK;
}

typedef struct { size_t data, offsets, valid; Py_ssize_t rows, nulls; } StrMark;
typedef struct { size_t values, valid; Py_ssize_t nulls; } IntMark;

static StrMark strcol_mark(StrCol *c) { StrMark m = {c->data.len, c->offsets.len, c->valid.len, c->rows, c->nulls}; return m; }
static void strcol_reset(StrCol *c, StrMark m) {
    c->data.len = m.data; c->offsets.len = m.offsets; c->valid.len = m.valid; c->rows = m.rows; c->nulls = m.nulls;
}
static IntMark intcol_mark(IntCol *c) { IntMark m = {c->values.len, c->valid.len, c->nulls}; return m; }
static void intcol_reset(IntCol *c, IntMark m) { c->values.len = m.values; c->valid.len = m.valid; c->nulls = m.nulls; }

/* A hash set of rows of a StrCol (see repeated()): slots hold row - first, or -1. */
typedef struct { int32_t *slots; size_t n; } IdSet;

/* Why a profile is refused, counted per reason (Builder.refusals): what leaves the compiled
 * step for the Python mapping, so a slow run can be told apart from a broken one. */
enum { R_SHAPE, R_KEYS, R_DEPTH, R_REPEATED, R_NUMBER, R_TEXT, R_TIME, R_AMBIGUOUS, R_COUNT };
static const char *REASONS[R_COUNT] = {
    "not the common shape (an unknown or missing field, another type, a syntax error)",
    "an object below a value or data with more than 64 keys",
    "a value or data nested deeper than 64 levels",
    "a repeated key, attribute ID or section ID",
    "a number Python writes otherwise (an exponent, -0, a decimal below 1e-6, over 4000 digits)",
    "text Python reads otherwise (invalid UTF-8, a lone surrogate)",
    "a time that is not an integer within years 1..9999",
    "a bare profile keyed \"profiles\"",
};

/* ---- the builder ---------------------------------------------------------------- */

enum { A_KEY, A_SECTION, A_ID, A_VALUE, A_TYPE, A_COLUMNS };
enum { E_KEY, E_SECTION, E_CORRELATION, E_TYPE, E_DATA, E_SOURCE_TEXT, E_CREATED_TEXT, E_STRINGS };
enum { E_SOURCE_TIME, E_CREATED, E_INTS };
#define EVENT_COLUMNS 7  /* of the events table, as take() hands them */
#define INT_COLUMN(i) (-1 - (i))  /* int64 column i as a negative number, and back (take()'s order) */

typedef struct {
    PyObject_HEAD
    int json, attributes, events, iso_times;
    StrCol a[A_COLUMNS];
    StrCol e[E_STRINGS];
    IntCol t[E_INTS];
    Buf key, section, scratch, scratch2, type, data;  /* per-profile working space */
    Buf last_key;  /* add_many(): the key of the last member added */
    StrCol sections;  /* the section IDs of the current profile */
    IdSet section_ids, attribute_ids;  /* sets of the rows of sections / of a section's attribute IDs */
    int reason;  /* why the profile being added is refused (R_SHAPE unless said) */
    Py_ssize_t refused[R_COUNT];
} Builder;

typedef struct { const unsigned char *s, *end; Builder *b; } P;

#define REFUSE(p, why) ((p)->b->reason = (why), REJECT)

static inline void ws(P *p) {
    while (p->s < p->end && (*p->s == ' ' || *p->s == '\n' || *p->s == '\r' || *p->s == '\t')) p->s++;
}

static inline int expect(P *p, char c) {
    ws(p);
    if (p->s < p->end && *p->s == (unsigned char)c) { p->s++; return OK; }
    return REJECT;
}

/* ---- strings -------------------------------------------------------------------- */

static int put_utf8(Buf *out, uint32_t cp) {
    char u[4];
    size_t n;
    if (cp < 0x80) { u[0] = (char)cp; n = 1; }
    else if (cp < 0x800) { u[0] = (char)(0xC0 | (cp >> 6)); u[1] = (char)(0x80 | (cp & 0x3F)); n = 2; }
    else if (cp < 0x10000) {
        u[0] = (char)(0xE0 | (cp >> 12)); u[1] = (char)(0x80 | ((cp >> 6) & 0x3F)); u[2] = (char)(0x80 | (cp & 0x3F)); n = 3;
    } else {
        u[0] = (char)(0xF0 | (cp >> 18)); u[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
        u[2] = (char)(0x80 | ((cp >> 6) & 0x3F)); u[3] = (char)(0x80 | (cp & 0x3F)); n = 4;
    }
    return buf_put(out, u, n);
}

/* Length of the valid UTF-8 sequence (strict, as Python decodes) at s, 0 if invalid. */
static inline int utf8_len(const unsigned char *s, const unsigned char *end) {
    unsigned char c = s[0];
    int n;
    unsigned char lo = 0x80, hi = 0xBF;
    if (c >= 0xC2 && c <= 0xDF) n = 2;
    else if (c >= 0xE0 && c <= 0xEF) { n = 3; if (c == 0xE0) lo = 0xA0; else if (c == 0xED) hi = 0x9F; }
    else if (c >= 0xF0 && c <= 0xF4) { n = 4; if (c == 0xF0) lo = 0x90; else if (c == 0xF4) hi = 0x8F; }
    else return 0;
    if (end - s < n) return 0;
    if (s[1] < lo || s[1] > hi) return 0;
    for (int i = 2; i < n; i++) if (s[i] < 0x80 || s[i] > 0xBF) return 0;
    return n;
}

static int hex4(const unsigned char *s, uint32_t *out) {
    uint32_t v = 0;
    for (int i = 0; i < 4; i++) {
        unsigned char c = s[i];
        v <<= 4;
        if (c >= '0' && c <= '9') v |= c - '0';
        else if (c >= 'a' && c <= 'f') v |= c - 'a' + 10;
        else if (c >= 'A' && c <= 'F') v |= c - 'A' + 10;
        else return REJECT;
    }
    *out = v;
    return OK;
}

/* Word-at-a-time tests: a byte of x is zero / below 0x20 / 0x80 or above (no false negatives). */
#define ONES 0x0101010101010101ULL
#define HIGHS 0x8080808080808080ULL
#define HAS_ZERO(x) (((x) - ONES) & ~(x) & HIGHS)
#define HAS_BYTE(x, c) HAS_ZERO((x) ^ (ONES * (c)))

/* Eight bytes from s as a word whose lowest byte is s[0], whatever the machine's byte order:
 * a false flag can only come from a borrow out of a truly flagged byte below it, so the flag
 * of the lowest byte must be the first byte's. A plain load where the order is known to be
 * little-endian; elsewhere the bytes are put together one by one (which compilers turn
 * into a load and a byte swap on big-endian machines). */
#if !defined(APSIS_PORTABLE_WORDS) && (defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__ \
    || defined(_M_X64) || defined(_M_IX86) || defined(_M_ARM64))
static inline uint64_t load_word(const unsigned char *s) { uint64_t x; memcpy(&x, s, 8); return x; }
#else
static inline uint64_t load_word(const unsigned char *s) {
    uint64_t x = 0;
    for (int i = 7; i >= 0; i--) x = (x << 8) | s[i];
    return x;
}
#endif

/* The first flagged byte of a word (as load_word makes it): the lowest flag is exact. */
#if defined(__GNUC__) || defined(__clang__)
#define FIRST_FLAGGED(m) ((size_t)__builtin_ctzll(m) >> 3)
#else
static inline size_t FIRST_FLAGGED(uint64_t m) { size_t i = 0; while (!(m & 0x80)) { m >>= 8; i++; } return i; }
#endif

/* Past the bytes from s that a JSON string holds as they are: printable ASCII but " and \. */
static inline const unsigned char *skip_plain(const unsigned char *s, const unsigned char *end) {
    while (end - s >= 8) {
        uint64_t x = load_word(s);
        uint64_t m = HAS_BYTE(x, '"') | HAS_BYTE(x, '\\') | ((x - ONES * 0x20) & ~x & HIGHS) | (x & HIGHS);
        if (m) return s + FIRST_FLAGGED(m);
        s += 8;
    }
    while (s < end && *s >= 0x20 && *s != '"' && *s != '\\' && *s < 0x80) s++;
    return s;
}

/* Past the bytes from s that are neither " nor \ (the scan's view of a string). */
static inline const unsigned char *skip_to_quote(const unsigned char *s, const unsigned char *end) {
    while (end - s >= 8) {
        uint64_t x = load_word(s);
        uint64_t m = HAS_BYTE(x, '"') | HAS_BYTE(x, '\\');
        if (m) return s + FIRST_FLAGGED(m);
        s += 8;
    }
    while (s < end && *s != '"' && *s != '\\') s++;
    return s;
}

/* The escape sequence at *s (a backslash) of a string: its code point, *s moved past it. */
static int unescape(P *p, const unsigned char **at, uint32_t *out) {
    const unsigned char *s = *at, *end = p->end;
    if (end - s < 2) return REJECT;
    uint32_t cp;
    switch (s[1]) {
        case '"': cp = '"'; break;
        case '\\': cp = '\\'; break;
        case '/': cp = '/'; break;
        case 'b': cp = '\b'; break;
        case 'f': cp = '\f'; break;
        case 'n': cp = '\n'; break;
        case 'r': cp = '\r'; break;
        case 't': cp = '\t'; break;
        case 'u':
            if (end - s < 6 || hex4(s + 2, &cp)) return REJECT;
            if (cp >= 0xDC00 && cp <= 0xDFFF) return REFUSE(p, R_TEXT);  /* a lone low surrogate */
            if (cp >= 0xD800 && cp <= 0xDBFF) {
                uint32_t low;
                s += 6;
                if (end - s < 6 || s[0] != '\\' || s[1] != 'u' || hex4(s + 2, &low) || low < 0xDC00 || low > 0xDFFF)
                    return REFUSE(p, R_TEXT);  /* a lone high surrogate */
                cp = 0x10000 + ((cp - 0xD800) << 10) + (low - 0xDC00);
            }
            *at = s + 6;
            *out = cp;
            return OK;
        default: return REJECT;
    }
    *at = s + 2;
    *out = cp;
    return OK;
}

/* A JSON string at p (after whitespace) decoded to UTF-8, appended to out. */
static int parse_string(P *p, Buf *out) {
    ws(p);
    if (p->s >= p->end || *p->s != '"') return REJECT;
    const unsigned char *s = p->s + 1, *end = p->end;
    for (;;) {
        const unsigned char *run = s;
        s = skip_plain(s, end);
        if (s > run && buf_put(out, run, s - run)) return NOMEM;
        if (s >= end) return REJECT;
        unsigned char c = *s;
        if (c == '"') { p->s = s + 1; return OK; }
        if (c < 0x20) return REJECT;
        if (c >= 0x80) {
            int n = utf8_len(s, end);
            if (!n) return REFUSE(p, R_TEXT);
            if (buf_put(out, s, n)) return NOMEM;
            s += n;
            continue;
        }
        uint32_t cp;
        int r = unescape(p, &s, &cp);
        if (r) return r;
        if (put_utf8(out, cp)) return NOMEM;
    }
}

/* The escape of a byte a JSON string may not hold as it is (", \ or a control character), as
 * orjson and msgspec write it: \b \t \n \f \r by name, the rest as lowercase \u00xx. */
static int put_escape(Buf *out, unsigned char c) {
    static const char hexd[] = "0123456789abcdef";
    char esc[6] = {'\\', 0, 0, 0, 0, 0};
    size_t len = 2;
    switch (c) {
        case '"': esc[1] = '"'; break;
        case '\\': esc[1] = '\\'; break;
        case '\b': esc[1] = 'b'; break;
        case '\t': esc[1] = 't'; break;
        case '\n': esc[1] = 'n'; break;
        case '\f': esc[1] = 'f'; break;
        case '\r': esc[1] = 'r'; break;
        default:
            esc[1] = 'u'; esc[2] = '0'; esc[3] = '0'; esc[4] = hexd[c >> 4]; esc[5] = hexd[c & 15]; len = 6;
    }
    return buf_put(out, esc, len);
}

/* UTF-8 text as a JSON string the way orjson and msgspec write it: only ", \ and control
 * characters escaped (put_escape). */
static int put_json_string(Buf *out, const char *s, size_t n) {
    RESERVE(out, n + 2);
    out->p[out->len++] = '"';
    size_t run = 0;
    for (size_t i = 0; i < n; i++) {
        while (n - i >= 8) {  /* a word at a time past bytes kept as they are */
            uint64_t x = load_word((const unsigned char *)s + i);
            uint64_t m = HAS_BYTE(x, '"') | HAS_BYTE(x, '\\') | ((x - ONES * 0x20) & ~x & HIGHS);
            if (m) { i += FIRST_FLAGGED(m); break; }
            i += 8;
        }
        if (i >= n) break;
        unsigned char c = (unsigned char)s[i];
        if (c >= 0x20 && c != '"' && c != '\\') continue;
        if (buf_put(out, s + run, i - run) || put_escape(out, c)) return NOMEM;
        run = i + 1;
    }
    if (run < n && buf_put(out, s + run, n - run)) return NOMEM;  /* (s may be NULL when n is 0) */
    return buf_put(out, "\"", 1);
}

/* A JSON string at p (at its quote) appended to out as put_json_string writes what it decodes
 * to, in one pass: runs of bytes kept as they are (valid UTF-8 included) copied, only escapes
 * decoded and written again. */
static int copy_json_string(P *p, Buf *out) {
    const unsigned char *s = p->s + 1, *end = p->end, *run = p->s;
    for (;;) {
        s = skip_plain(s, end);
        if (s >= end) return REJECT;
        unsigned char c = *s;
        if (c == '"') { p->s = s + 1; return buf_put(out, run, s + 1 - run); }
        if (c < 0x20) return REJECT;
        if (c >= 0x80) {
            int n = utf8_len(s, end);
            if (!n) return REFUSE(p, R_TEXT);
            s += n;
            continue;
        }
        if (buf_put(out, run, s - run)) return NOMEM;  /* a backslash: the run before it, then */
        uint32_t cp;
        int r = unescape(p, &s, &cp);
        if (r) return r;
        run = s;
        r = cp >= 0x20 && cp != '"' && cp != '\\' ? put_utf8(out, cp) : put_escape(out, (unsigned char)cp);
        if (r) return r;
    }
}

/* ---- numbers and literals ------------------------------------------------------- */

/* A JSON number at p appended as written, where that is its text in Python (str of the
 * int, or of the Decimal msgspec's float_hook makes): no exponent, not "-0", and no
 * decimal below 1e-6 that str(Decimal) would write in E notation. */
static int parse_number(P *p, Buf *out) {
    const unsigned char *s = p->s, *start = s, *end = p->end;
    if (s < end && *s == '-') s++;
    if (s >= end) return REJECT;
    int zero_int = 0;
    if (*s == '0') { s++; zero_int = 1; }
    else if (*s >= '1' && *s <= '9') { while (s < end && *s >= '0' && *s <= '9') s++; }
    else return REJECT;
    if (s - start > 4000) return REFUSE(p, R_NUMBER);  /* beyond what Python converts int to str */
    if (s < end && *s == '.') {
        s++;
        const unsigned char *frac = s;
        while (s < end && *s >= '0' && *s <= '9') s++;
        if (s == frac) return REJECT;
        if (zero_int && s - frac >= 6 && memcmp(frac, "000000", 6) == 0) return REFUSE(p, R_NUMBER);
    } else if (zero_int && *start == '-') {
        return REFUSE(p, R_NUMBER);  /* -0: Python's int has no sign for zero */
    }
    if (s < end && (*s == 'e' || *s == 'E')) return REFUSE(p, R_NUMBER);
    p->s = s;
    return buf_put(out, start, s - start);
}

/* A JSON integer for a time: null (*valid = 0) or an integer within years 1..9999. */
static int parse_millis(P *p, int64_t *value, int *valid) {
    ws(p);
    const unsigned char *s = p->s, *end = p->end;
    if (s < end && *s == 'n') {
        if (end - s < 4 || memcmp(s, "null", 4) != 0) return REJECT;
        p->s = s + 4; *value = 0; *valid = 0; return OK;
    }
    int negative = 0;
    if (s < end && *s == '-') { negative = 1; s++; }
    const unsigned char *digits = s;
    int64_t v = 0;
    while (s < end && *s >= '0' && *s <= '9') {
        if (s - digits >= 15) return REFUSE(p, R_TIME);  /* beyond any time in range */
        v = v * 10 + (*s - '0');
        s++;
    }
    if (s == digits || (*digits == '0' && s - digits > 1)) return REJECT;
    if (s < end && (*s == '.' || *s == 'e' || *s == 'E')) return REFUSE(p, R_TIME);
    if (negative) { if (v == 0) return REFUSE(p, R_TIME); v = -v; }
    if (v < MIN_MS || v > MAX_MS) return REFUSE(p, R_TIME);
    p->s = s;
    *value = v;
    *valid = 1;
    return OK;
}

static int literal(P *p, const char *word, size_t n) {
    if ((size_t)(p->end - p->s) < n || memcmp(p->s, word, n) != 0) return REJECT;
    p->s += n;
    return OK;
}

/* Just after an object's or array's open: 1 if a member follows, 0 if ``close`` ends it at
 * once (consumed). */
static inline int first_member(P *p, char close) {
    ws(p);
    if (p->s < p->end && *p->s == (unsigned char)close) { p->s++; return 0; }
    return 1;
}

/* After a member: 1 if a comma says another follows, 0 if ``close`` ends the container
 * (either consumed), REJECT otherwise. */
static inline int next_member(P *p, char close) {
    ws(p);
    if (p->s < p->end) {
        if (*p->s == ',') { p->s++; return 1; }
        if (*p->s == (unsigned char)close) { p->s++; return 0; }
    }
    return REJECT;
}

/* ---- any value as compact JSON -------------------------------------------------- */

static int compact(P *p, Buf *out, int depth);

/* An object's members below data/value, keys checked for repeats (compared as the
 * canonical JSON text written to out, which is one text per string). */
static int compact_object(P *p, Buf *out, int depth) {
    size_t starts[MAX_KEYS], lens[MAX_KEYS];
    int count = 0, r;
    if (buf_put(out, "{", 1)) return NOMEM;
    int more = first_member(p, '}');
    while (more == 1) {
        if (count == MAX_KEYS) return REFUSE(p, R_KEYS);
        ws(p);
        if (p->s >= p->end || *p->s != '"') return REJECT;
        size_t start = out->len;
        if ((r = copy_json_string(p, out))) return r;
        size_t len = out->len - start;
        for (int i = 0; i < count; i++)
            if (lens[i] == len && memcmp(buf_at(out, starts[i]), buf_at(out, start), len) == 0) return REFUSE(p, R_REPEATED);
        starts[count] = start; lens[count] = len; count++;
        if (expect(p, ':')) return REJECT;
        if (buf_put(out, ":", 1)) return NOMEM;
        if ((r = compact(p, out, depth + 1))) return r;
        more = next_member(p, '}');
        if (more == 1 && buf_put(out, ",", 1)) return NOMEM;
    }
    return more ? more : buf_put(out, "}", 1);
}

static int compact_array(P *p, Buf *out, int depth) {
    int r;
    if (buf_put(out, "[", 1)) return NOMEM;
    int more = first_member(p, ']');
    while (more == 1) {
        if ((r = compact(p, out, depth + 1))) return r;
        more = next_member(p, ']');
        if (more == 1 && buf_put(out, ",", 1)) return NOMEM;
    }
    return more ? more : buf_put(out, "]", 1);
}

/* Any JSON value at p as compact JSON (as orjson/msgspec encode what msgspec decoded). */
static int compact(P *p, Buf *out, int depth) {
    if (depth > MAX_DEPTH) return REFUSE(p, R_DEPTH);
    ws(p);
    if (p->s >= p->end) return REJECT;
    switch (*p->s) {
        case '{': p->s++; return compact_object(p, out, depth);
        case '[': p->s++; return compact_array(p, out, depth);
        case '"': return copy_json_string(p, out);
        case 't': if (literal(p, "true", 4)) return REJECT; return buf_put(out, "true", 4);
        case 'f': if (literal(p, "false", 5)) return REJECT; return buf_put(out, "false", 5);
        case 'n': if (literal(p, "null", 4)) return REJECT; return buf_put(out, "null", 4);
        default: return parse_number(p, out);
    }
}

/* ---- the common shape ----------------------------------------------------------- */

/* Append one text cell: as it is (text mode), or as a JSON string (json mode). */
static int text_cell(Builder *b, StrCol *c, const char *s, size_t n) {
    int r = b->json ? put_json_string(&c->data, s, n) : buf_put(&c->data, s, n);
    return r ? r : strcol_end_row(c, 1);
}

static int null_cell(Builder *b, StrCol *c) {
    if (b->json) return strcol_row(c, "null", 4, 1);
    return strcol_row(c, "", 0, 0);
}

/* A field name of the common shape, and its length. */
typedef struct { const char *text; size_t len; } Word;
#define WORD(s) {s, sizeof(s) - 1}

/* The field name at p (after whitespace): *which is its index in words, or -1 for any other
 * name. Its JSON text is matched as written first (exports spell field names without escapes),
 * else decoded as any string and compared (an escaped name is the same name to msgspec). */
static int read_field(P *p, const Word *words, int count, int *which) {
    ws(p);
    const unsigned char *s = p->s;
    size_t left = (size_t)(p->end - s);
    if (left && *s == '"') {
        for (int i = 0; i < count; i++) {
            size_t n = words[i].len;
            if (left >= n + 2 && s[1] == words[i].text[0] && s[n + 1] == '"' && memcmp(s + 2, words[i].text + 1, n - 1) == 0) {
                p->s = s + n + 2;
                *which = i;
                return OK;
            }
        }
    }
    Buf *field = &p->b->scratch2;
    field->len = 0;
    int r = parse_string(p, field);
    if (r) return r;
    *which = -1;
    for (int i = 0; i < count; i++)
        if (field->len == words[i].len && memcmp(field->p, words[i].text, field->len) == 0) *which = i;
    return OK;
}

static int key_is(Buf *key, const char *word) {
    size_t n = strlen(word);
    return key->len == n && memcmp(key->p, word, n) == 0;
}

/* A string's hash keyed per process (CPython's SipHash-1-3 with the seed of str hashes), so
 * that no input can choose IDs that collide in the tables below (an unkeyed hash let crafted
 * IDs make every lookup walk the whole table: quadratic). */
static inline size_t hash_bytes(const char *s, size_t n) {
#if PY_VERSION_HEX >= 0x030E0000
    return (size_t)Py_HashBuffer(s, (Py_ssize_t)n);
#else
    return (size_t)_Py_HashBytes(s, (Py_ssize_t)n);
#endif
}

/* Forget what a set holds (a table grown by a huge profile or section is given back). */
static void idset_clear(IdSet *set) {
    if (set->n > 1024) { PyMem_RawFree(set->slots); set->slots = NULL; set->n = 0; }
    if (set->n) memset(set->slots, 0xFF, set->n * sizeof *set->slots);
}

/* True (REJECT) if the string of row `row` of `col` (its last row) repeats one of its rows from
 * `first` on, else it joins the set: a repeated key, which the typed decode would merge.
 * Linear probing in a table kept at most half full: expected O(1) a row, whatever the input. */
static int repeated(IdSet *set, const StrCol *col, Py_ssize_t first, Py_ssize_t row) {
    const int32_t *offsets = (const int32_t *)col->offsets.p;
    const char *data = buf_at(&col->data, 0);  /* (NULL while every string was empty) */
    Py_ssize_t count = row - first + 1;
    if ((size_t)count * 2 > set->n) {  /* grow the table and put the earlier rows back */
        size_t n = set->n ? set->n : 64;
        while ((size_t)count * 2 > n) n *= 2;
        int32_t *slots = PyMem_RawRealloc(set->slots, n * sizeof *slots);
        if (!slots) return NOMEM;
        set->slots = slots;
        set->n = n;
        memset(slots, 0xFF, n * sizeof *slots);
        for (Py_ssize_t r = first; r < row; r++) {
            size_t mask = n - 1, i = hash_bytes(data + offsets[r], offsets[r + 1] - offsets[r]) & mask;
            while (slots[i] >= 0) i = (i + 1) & mask;
            slots[i] = (int32_t)(r - first);
        }
    }
    const char *s = data + offsets[row];
    size_t n = offsets[row + 1] - offsets[row], mask = set->n - 1, i = hash_bytes(s, n) & mask;
    while (set->slots[i] >= 0) {
        Py_ssize_t other = first + set->slots[i];
        if ((size_t)(offsets[other + 1] - offsets[other]) == n && (!n || memcmp(data + offsets[other], s, n) == 0))
            return REJECT;
        i = (i + 1) & mask;
    }
    set->slots[i] = (int32_t)(row - first);
    return OK;
}

static const char *TYPE_NAMES[][2] = {  /* {text, json} of each value_type */
    {"string", "\"string\""}, {"number", "\"number\""}, {"boolean", "\"boolean\""},
    {"null", "\"null\""}, {"object", "\"object\""}, {"array", "\"array\""},
};
enum { T_STRING, T_NUMBER, T_BOOLEAN, T_NULL, T_OBJECT, T_ARRAY };

/* The value of {"value": V}: its cell in A_VALUE, and its type. */
static int attribute_value(P *p, StrCol *values, int *type) {
    Builder *b = p->b;
    Buf *out = &values->data;
    int r;
    ws(p);
    if (p->s >= p->end) return REJECT;
    switch (*p->s) {
        case '"': {
            *type = T_STRING;
            if (!b->json) { if ((r = parse_string(p, out))) return r; return strcol_end_row(values, 1); }
            break;  /* json mode: compact() writes it as a JSON string */
        }
        case '{': *type = T_OBJECT; break;
        case '[': *type = T_ARRAY; break;
        case 't': case 'f': *type = T_BOOLEAN; break;
        case 'n':
            *type = T_NULL;
            if (literal(p, "null", 4)) return REJECT;
            return null_cell(b, values);
        default: *type = T_NUMBER;
    }
    if ((r = compact(p, out, 1))) return r;
    return strcol_end_row(values, 1);
}

static int parse_attributes(P *p) {
    Builder *b = p->b;
    int r, keep = b->attributes;
    Py_ssize_t first = b->a[A_ID].rows;
    idset_clear(&b->attribute_ids);
    if (expect(p, '{')) return REJECT;
    int more = first_member(p, '}');
    while (more == 1) {
        Buf *id = &b->scratch;
        id->len = 0;
        if ((r = parse_string(p, id))) return r;
        if (expect(p, ':') || expect(p, '{')) return REJECT;
        static const Word value[] = {WORD("value")};
        int which;
        if ((r = read_field(p, value, 1, &which))) return r;
        if (which || expect(p, ':')) return REJECT;
        if (keep) {
            int type;
            Py_ssize_t row = b->a[A_ID].rows;
            if ((r = text_cell(b, &b->a[A_ID], id->p, id->len))) return r;
            if ((r = repeated(&b->attribute_ids, &b->a[A_ID], first, row))) return r == REJECT ? REFUSE(p, R_REPEATED) : r;
            if ((r = text_cell(b, &b->a[A_KEY], b->key.p, b->key.len))) return r;
            if ((r = text_cell(b, &b->a[A_SECTION], b->section.p, b->section.len))) return r;
            if ((r = attribute_value(p, &b->a[A_VALUE], &type))) return r;
            const char *name = TYPE_NAMES[type][b->json];
            if ((r = strcol_row(&b->a[A_TYPE], name, strlen(name), 1))) return r;
        } else {
            b->data.len = 0;
            if ((r = compact(p, &b->data, 1))) return r;  /* checked, not kept */
        }
        if (expect(p, '}')) return REJECT;  /* any other member: an unknown or repeated field */
        more = next_member(p, '}');
    }
    return more;
}

/* Milliseconds since the epoch (years 1..9999) as _encode.iso_millis writes them:
 * 2024-05-01T12:00:00.123Z (days to a civil date: H. Hinnant's algorithm). */
static size_t iso_millis(int64_t ms, char *out) {
    int64_t days = ms / 86400000, rest = ms % 86400000;
    if (rest < 0) { rest += 86400000; days--; }
    days += 719468;
    int64_t era = (days >= 0 ? days : days - 146096) / 146097;
    int64_t doe = days - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153;
    int day = (int)(doy - (153 * mp + 2) / 5 + 1), month = (int)(mp < 10 ? mp + 3 : mp - 9);
    int year = (int)(yoe + era * 400 + (month <= 2));
    int hour = (int)(rest / 3600000), minute = (int)(rest / 60000 % 60), second = (int)(rest / 1000 % 60);
    int milli = (int)(rest % 1000);
    int fields[] = {year, month, day, hour, minute, second, milli};
    int widths[] = {4, 2, 2, 2, 2, 2, 3};
    const char seps[] = "--T::.Z";
    size_t n = 0;
    for (int f = 0; f < 7; f++) {
        for (int w = widths[f] - 1, v = fields[f]; w >= 0; w--, v /= 10) out[n + w] = (char)('0' + v % 10);
        n += widths[f];
        out[n++] = seps[f];
    }
    return n;
}

/* One time cell as ISO text (json mode: quoted; null as the text null). */
static int time_cell(Builder *b, StrCol *c, int64_t ms, int valid) {
    if (!valid) return null_cell(b, c);
    char text[32];
    size_t n = iso_millis(ms, text + 1);
    if (b->json) { text[0] = '"'; text[n + 1] = '"'; return strcol_row(c, text, n + 2, 1); }
    return strcol_row(c, text + 1, n, 1);
}

enum { F_CORRELATION = 1, F_SOURCE_TIME = 2, F_TYPE = 4, F_CREATED = 8, F_DATA = 16 };

static int parse_event(P *p) {
    Builder *b = p->b;
    int r, seen = 0, source_valid = 0, created_valid = 0, correlation_null = 1, data_null = 1;
    int64_t source = 0, created = 0;
    Buf *correlation = &b->scratch, *type = &b->type, *data = &b->data;
    correlation->len = type->len = data->len = 0;
    if (expect(p, '{')) return REJECT;
    int more = first_member(p, '}');
    while (more == 1) {
        static const Word fields[] = {WORD("correlationId"), WORD("sourceEventTime"), WORD("typeId"),
                                      WORD("createdAt"), WORD("data")};
        static const int bits[] = {F_CORRELATION, F_SOURCE_TIME, F_TYPE, F_CREATED, F_DATA};
        int which;
        if ((r = read_field(p, fields, 5, &which))) return r;
        if (which < 0 || expect(p, ':')) return REJECT;
        int bit = bits[which];
        if (seen & bit) return REFUSE(p, R_REPEATED);
        seen |= bit;
        ws(p);
        int is_null = p->s < p->end && *p->s == 'n';
        switch (bit) {
            case F_CORRELATION:
                if (is_null) { if (literal(p, "null", 4)) return REJECT; break; }
                if ((r = parse_string(p, correlation))) return r;
                correlation_null = 0;
                break;
            case F_TYPE:
                if ((r = parse_string(p, type))) return r;
                break;
            case F_SOURCE_TIME:
                if ((r = parse_millis(p, &source, &source_valid))) return r;
                if (source == 0) source_valid = 0;  /* 0 means unknown, as in typed_profile_columns */
                break;
            case F_CREATED:
                if ((r = parse_millis(p, &created, &created_valid))) return r;
                break;
            case F_DATA:
                if (is_null) { if (literal(p, "null", 4)) return REJECT; break; }
                if ((r = compact(p, data, 1))) return r;
                data_null = 0;
                break;
        }
        more = next_member(p, '}');
    }
    if (more || !(seen & F_TYPE)) return REJECT;  /* a syntax error, or no typeId ({} too) */
    if (!b->events) return OK;
    if ((r = text_cell(b, &b->e[E_KEY], b->key.p, b->key.len))) return r;
    if ((r = text_cell(b, &b->e[E_SECTION], b->section.p, b->section.len))) return r;
    r = correlation_null ? null_cell(b, &b->e[E_CORRELATION])
                         : text_cell(b, &b->e[E_CORRELATION], correlation->p, correlation->len);
    if (r) return r;
    if ((r = text_cell(b, &b->e[E_TYPE], type->p, type->len))) return r;
    r = data_null ? null_cell(b, &b->e[E_DATA]) : strcol_row(&b->e[E_DATA], data->p, data->len, 1);
    if (r) return r;
    if (b->iso_times) {
        if ((r = time_cell(b, &b->e[E_SOURCE_TEXT], source, source_valid))) return r;
        return time_cell(b, &b->e[E_CREATED_TEXT], created, created_valid);
    }
    if ((r = intcol_row(&b->t[E_SOURCE_TIME], source, source_valid))) return r;
    return intcol_row(&b->t[E_CREATED], created, created_valid);
}

static int parse_events(P *p) {
    int r;
    if (expect(p, '[')) return REJECT;
    int more = first_member(p, ']');
    while (more == 1) {
        if ((r = parse_event(p))) return r;
        more = next_member(p, ']');
    }
    return more;
}

static int parse_section(P *p) {
    int r, seen = 0;
    if (expect(p, '{')) return REJECT;
    int more = first_member(p, '}');
    while (more == 1) {
        static const Word fields[] = {WORD("attributes"), WORD("events")};
        int which;
        if ((r = read_field(p, fields, 2, &which))) return r;
        if (expect(p, ':')) return REJECT;
        if (which == 0) {
            if (seen & 1) return REJECT;
            seen |= 1;
            if ((r = parse_attributes(p))) return r;
        } else if (which == 1) {
            if (seen & 2) return REJECT;
            seen |= 2;
            if ((r = parse_events(p))) return r;
        } else {
            return REJECT;
        }
        more = next_member(p, '}');
    }
    return more;
}

/* {section ID: section, ...}; the IDs are kept in b->sections. */
static int parse_sections(P *p) {
    Builder *b = p->b;
    int r;
    if (expect(p, '{')) return REJECT;
    int more = first_member(p, '}');
    while (more == 1) {
        Py_ssize_t row = b->sections.rows;
        if ((r = parse_string(p, &b->sections.data)) || (r = strcol_end_row(&b->sections, 1))) return r;
        if ((r = repeated(&b->section_ids, &b->sections, 0, row))) return r == REJECT ? REFUSE(p, R_REPEATED) : r;
        b->section.len = 0;
        const int32_t *offsets = (const int32_t *)b->sections.offsets.p;
        if (buf_put(&b->section, strcol_text(&b->sections, row), offsets[row + 1] - offsets[row])) return NOMEM;
        if (expect(p, ':')) return REJECT;
        if ((r = parse_section(p))) return r;
        more = next_member(p, '}');
    }
    return more;
}

/* One profile member ("key": value) from p, up to the end of its value. */
static int parse_member(P *p, int wrapped, int ambiguous) {
    Builder *b = p->b;
    int r;
    b->key.len = 0;
    strcol_reset(&b->sections, (StrMark){0, sizeof(int32_t), 0, 0, 0});
    idset_clear(&b->section_ids);
    if ((r = parse_string(p, &b->key))) return r;
    if (ambiguous && key_is(&b->key, "profiles")) return REFUSE(p, R_AMBIGUOUS);
    if (expect(p, ':')) return REJECT;
    if (!wrapped) {
        if ((r = parse_sections(p))) return r;
    } else {
        if (expect(p, '{')) return REJECT;
        ws(p);
        if (p->s < p->end && *p->s == '}') p->s++;
        else {
            static const Word sections[] = {WORD("sections")};
            int which;
            if ((r = read_field(p, sections, 1, &which))) return r;
            if (which || expect(p, ':')) return REJECT;
            if ((r = parse_sections(p))) return r;
            if (expect(p, '}')) return REJECT;  /* another member: unknown or repeated */
        }
    }
    return OK;
}

/* One profile member's text, all of it. */
static int parse_profile(P *p, int wrapped, int ambiguous) {
    int r = parse_member(p, wrapped, ambiguous);
    if (r) return r;
    ws(p);
    return p->s == p->end ? OK : REJECT;
}

/* ---- the structural scan -------------------------------------------------------- */

/* What a byte is to the scan (OTHER: nothing, but after a backslash). */
enum { S_OTHER, S_BACKSLASH, S_QUOTE, S_OPEN, S_CLOSE, S_COMMA };
static const unsigned char SCAN_CLASS[256] = {['\\'] = S_BACKSLASH, ['"'] = S_QUOTE, ['{'] = S_OPEN, ['['] = S_OPEN,
                                              ['}'] = S_CLOSE, [']'] = S_CLOSE, [','] = S_COMMA};
/* The depths whose members the scan splits (as _scan.TOP and _scan.PROFILES): inside the top
 * object, and inside "profiles". */
enum { DEPTH_TOP = 1, DEPTH_PROFILES = 2 };

/* scan(block, base, *, in_string, odd_backslashes, depth, deep_from): _scan.BlockScanner.tokens in one
 * loop, with the same rules: a quote is escaped when an odd run of backslashes precedes it
 * (in or out of strings), and every unescaped quote flips in/out of a string. Returns
 * (tokens, deep, in_string, odd_backslashes, depth): tokens as (offset, byte, depth) of the
 * opens at depth 0/1, closes back to 0/1 (their depth after) and commas at depth 1/2; deep
 * the offsets of structural bytes whose depth after them is above deep_from, only the first
 * of each run between two tokens (and before the first): all a member's check needs, and a
 * bounded list whatever the nesting (one offset per deep byte cost a Python int each). */
static PyObject *scan(PyObject *Py_UNUSED(module), PyObject *args, PyObject *kwds) {
    static char *names[] = {"", "", "in_string", "odd_backslashes", "depth", "deep_from", NULL};
    Py_buffer view;
    long long base;
    int in_string = -1, odd = -1, deep_from = INT_MIN;
    long long depth = LLONG_MIN;
    /* the carried state: keyword-only, and all of it required (PyArg takes those after $ as optional) */
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "y*L|$ppLi", names, &view, &base, &in_string, &odd, &depth,
                                     &deep_from))
        return NULL;
    if (in_string < 0 || odd < 0 || depth == LLONG_MIN || deep_from == INT_MIN) {
        PyBuffer_Release(&view);
        PyErr_SetString(PyExc_TypeError, "scan() needs in_string, odd_backslashes, depth and deep_from");
        return NULL;
    }
    const unsigned char *a = view.buf;
    Py_ssize_t n = view.len;
    PyObject *tokens = PyList_New(0), *deep = PyList_New(0);
    if (!tokens || !deep) goto fail;
    Py_ssize_t i = 0;
    int deep_since_token = 0;
    while (i < n) {
        unsigned char c;
        if (in_string) {  /* skip to the next quote or backslash */
            if (!odd) {
                i = skip_to_quote(a + i, a + n) - a;
                if (i == n) break;
            }
            c = a[i++];
            if (c == '\\') { odd = !odd; continue; }
            if (c == '"' && !odd) in_string = 0;
            odd = 0;
            continue;
        }
        if (!odd) {  /* skip the bytes that matter to nobody */
            while (i < n && !SCAN_CLASS[a[i]]) i++;
            if (i == n) break;
        }
        Py_ssize_t at = i++;
        c = a[at];
        switch (SCAN_CLASS[c]) {
            case S_OTHER: odd = 0; continue;  /* after a backslash */
            case S_BACKSLASH: odd = !odd; continue;
            case S_QUOTE: if (!odd) in_string = 1; odd = 0; continue;
        }
        odd = 0;
        long long before = depth, reported;
        int keep;
        if (SCAN_CLASS[c] == S_OPEN) { depth++; keep = before <= DEPTH_TOP; reported = before; }
        else if (SCAN_CLASS[c] == S_CLOSE) { depth--; keep = depth <= DEPTH_TOP; reported = depth; }
        else { keep = before == DEPTH_TOP || before == DEPTH_PROFILES; reported = before; }
        if (depth > deep_from && !deep_since_token) {
            deep_since_token = 1;
            PyObject *offset = PyLong_FromLongLong(base + at);
            if (!offset || PyList_Append(deep, offset)) { Py_XDECREF(offset); goto fail; }
            Py_DECREF(offset);
        }
        if (keep) {
            deep_since_token = 0;
            PyObject *token = Py_BuildValue("(LiL)", base + at, (int)c, reported);
            if (!token || PyList_Append(tokens, token)) { Py_XDECREF(token); goto fail; }
            Py_DECREF(token);
        }
    }
    PyBuffer_Release(&view);
    return Py_BuildValue("(NNOOL)", tokens, deep, in_string ? Py_True : Py_False, odd ? Py_True : Py_False, depth);
fail:
    PyBuffer_Release(&view);
    Py_XDECREF(tokens);
    Py_XDECREF(deep);
    return NULL;
}

/* ---- JSON lines ------------------------------------------------------------------- */

/* Why a join_lines column (its buffers held in v: validity or none, offsets, data) cannot
 * give `rows` rows from array offset `first`, or NULL when every row it reads is inside its
 * buffers: the offsets in range and ascending, so that the lines' size computed from the
 * first and last offset is the size written. */
static const char *bad_column(const Py_buffer v[3], Py_ssize_t first, Py_ssize_t rows) {
    if (first < 0) return "join_lines: a negative array offset";
    if (first > PY_SSIZE_T_MAX / (Py_ssize_t)sizeof(int64_t) - rows - 1
        || v[1].len / (Py_ssize_t)sizeof(int64_t) < first + rows + 1)
        return "join_lines: offsets shorter than the rows";
    if (v[0].obj && v[0].len < (first + rows + 7) / 8) return "join_lines: validity shorter than the rows";
    const int64_t *offsets = (const int64_t *)v[1].buf + first;
    if (offsets[0] < 0 || offsets[rows] > v[2].len) return "join_lines: offsets outside the data";
    for (Py_ssize_t r = 0; r < rows; r++)
        if (offsets[r + 1] < offsets[r]) return "join_lines: offsets not ascending";
    return NULL;
}

#define JOIN_MAX_COLUMNS 64  /* columns join_lines takes at the most (the module's JOIN_MAX_COLUMNS) */

/* join_lines(keys, end, columns, rows): each row's line, keys[i] before the i-th column's
 * text and end after the last, the rows back to back: what the JSONL sink makes with
 * pyarrow.compute.binary_join_element_wise, without its per-row cost. columns: for each,
 * (validity bitmap or None, int64 offsets, data, array offset) of a large_binary array of
 * JSON texts; a null row (never made by the sink) is written null. */
static PyObject *join_lines(PyObject *Py_UNUSED(module), PyObject *args) {
    PyObject *keys, *columns, *out = NULL;
    Py_buffer end;
    Py_ssize_t rows;
    if (!PyArg_ParseTuple(args, "O!y*O!n", &PyList_Type, &keys, &end, &PyList_Type, &columns, &rows)) return NULL;
    Py_ssize_t n = PyList_GET_SIZE(columns);
    if (PyList_GET_SIZE(keys) != n || n > JOIN_MAX_COLUMNS || rows < 0) {
        PyErr_Format(PyExc_ValueError, "join_lines: one key per column, at most %d columns", JOIN_MAX_COLUMNS);
        PyBuffer_Release(&end);
        return NULL;
    }
    Py_buffer views[JOIN_MAX_COLUMNS][3];
    const char *key_text[JOIN_MAX_COLUMNS];
    Py_ssize_t key_len[JOIN_MAX_COLUMNS], column_offset[JOIN_MAX_COLUMNS];
    int held = 0;
    if (rows && end.len > PY_SSIZE_T_MAX / rows) {
        PyErr_SetString(PyExc_OverflowError, "join_lines: lines too long");
        PyBuffer_Release(&end);
        return NULL;
    }
    size_t total = (size_t)end.len * rows;
    for (Py_ssize_t c = 0; c < n; c++, held++) {
        PyObject *column = PyList_GET_ITEM(columns, c), *key = PyList_GET_ITEM(keys, c);
        if (!PyBytes_Check(key) || !PyTuple_Check(column) || PyTuple_GET_SIZE(column) != 4) {
            PyErr_SetString(PyExc_TypeError, "join_lines: keys are bytes, columns (validity, offsets, data, offset)");
            goto done;
        }
        key_text[c] = PyBytes_AS_STRING(key);
        key_len[c] = PyBytes_GET_SIZE(key);
        column_offset[c] = PyLong_AsSsize_t(PyTuple_GET_ITEM(column, 3));
        if (column_offset[c] < 0 && PyErr_Occurred()) goto done;
        PyObject *validity = PyTuple_GET_ITEM(column, 0);
        views[c][0].obj = NULL;
        if (validity != Py_None && PyObject_GetBuffer(validity, &views[c][0], PyBUF_SIMPLE)) goto done;
        if (PyObject_GetBuffer(PyTuple_GET_ITEM(column, 1), &views[c][1], PyBUF_SIMPLE)) {
            if (views[c][0].obj) PyBuffer_Release(&views[c][0]);
            goto done;
        }
        if (PyObject_GetBuffer(PyTuple_GET_ITEM(column, 2), &views[c][2], PyBUF_SIMPLE)) {
            if (views[c][0].obj) PyBuffer_Release(&views[c][0]);
            PyBuffer_Release(&views[c][1]);
            goto done;
        }
        const char *bad = bad_column(views[c], column_offset[c], rows);
        if (bad) {
            PyErr_SetString(PyExc_ValueError, bad);
            held++;
            goto done;
        }
        const int64_t *offsets = (const int64_t *)views[c][1].buf + column_offset[c];
        size_t span = (size_t)(offsets[rows] - offsets[0]), per_row = (size_t)key_len[c] + 4;
        if (span > PY_SSIZE_T_MAX - total || (rows && per_row > (PY_SSIZE_T_MAX - total - span) / rows)) {
            PyErr_SetString(PyExc_OverflowError, "join_lines: lines too long");
            held++;
            goto done;
        }
        total += span + per_row * rows;
    }
    out = PyBytes_FromStringAndSize(NULL, (Py_ssize_t)total);
    if (!out) goto done;
    char *w = PyBytes_AS_STRING(out);
    Py_BEGIN_ALLOW_THREADS  /* only held buffers and the new bytes are touched */
    for (Py_ssize_t r = 0; r < rows; r++) {
        for (Py_ssize_t c = 0; c < n; c++) {
            memcpy(w, key_text[c], key_len[c]);
            w += key_len[c];
            Py_ssize_t at = column_offset[c] + r;
            const unsigned char *bits = views[c][0].obj ? views[c][0].buf : NULL;
            if (bits && !(bits[at >> 3] & (1 << (at & 7)))) { memcpy(w, "null", 4); w += 4; continue; }
            const int64_t *offsets = (const int64_t *)views[c][1].buf + at;
            size_t len = (size_t)(offsets[1] - offsets[0]);
            memcpy(w, (const char *)views[c][2].buf + offsets[0], len);
            w += len;
        }
        memcpy(w, end.buf, end.len);
        w += end.len;
    }
    Py_END_ALLOW_THREADS
    if (_PyBytes_Resize(&out, w - PyBytes_AS_STRING(out))) out = NULL;
done:
    for (int c = 0; c < held; c++) {
        if (views[c][0].obj) PyBuffer_Release(&views[c][0]);
        PyBuffer_Release(&views[c][1]);
        PyBuffer_Release(&views[c][2]);
    }
    PyBuffer_Release(&end);
    return out;
}

static PyMethodDef module_methods[] = {
    {"scan", (PyCFunction)(void (*)(void))scan, METH_VARARGS | METH_KEYWORDS,
     "scan(block, base, *, in_string, odd_backslashes, depth, deep_from): see _native.c."},
    {"join_lines", join_lines, METH_VARARGS, "join_lines(keys, end, columns, rows): see _native.c."},
    {NULL}};

/* ---- Python interface ----------------------------------------------------------- */

static void builder_free_buffers(Builder *b) {
    Buf *bufs[] = {&b->key, &b->section, &b->scratch, &b->scratch2, &b->type, &b->data, &b->last_key,
                   &b->sections.data, &b->sections.offsets, &b->sections.valid};
    for (size_t i = 0; i < sizeof bufs / sizeof *bufs; i++) PyMem_RawFree(bufs[i]->p);
    for (int i = 0; i < A_COLUMNS; i++) { PyMem_RawFree(b->a[i].data.p); PyMem_RawFree(b->a[i].offsets.p); PyMem_RawFree(b->a[i].valid.p); }
    for (int i = 0; i < E_STRINGS; i++) { PyMem_RawFree(b->e[i].data.p); PyMem_RawFree(b->e[i].offsets.p); PyMem_RawFree(b->e[i].valid.p); }
    for (int i = 0; i < E_INTS; i++) { PyMem_RawFree(b->t[i].values.p); PyMem_RawFree(b->t[i].valid.p); }
    PyMem_RawFree(b->section_ids.slots);
    PyMem_RawFree(b->attribute_ids.slots);
}

static void Builder_dealloc(Builder *b) {
    builder_free_buffers(b);
    Py_TYPE(b)->tp_free((PyObject *)b);
}

static int Builder_init(Builder *b, PyObject *args, PyObject *kwds) {
    static char *names[] = {"json", "attributes", "events", "iso_times", NULL};
    int json = -1, attributes = 1, events = 1, iso_times = 0;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "|$pppp", names, &json, &attributes, &events, &iso_times)) return -1;
    if (json < 0) {
        PyErr_SetString(PyExc_TypeError, "Builder() needs the keyword argument json");
        return -1;
    }
    builder_free_buffers(b);
    memset((char *)b + sizeof(PyObject), 0, sizeof *b - sizeof(PyObject));
    b->json = json;
    b->iso_times = iso_times; b->attributes = attributes; b->events = events;
    for (int i = 0; i < A_COLUMNS; i++) if (strcol_init(&b->a[i])) goto nomem;
    for (int i = 0; i < E_STRINGS; i++) if (strcol_init(&b->e[i])) goto nomem;
    if (strcol_init(&b->sections)) goto nomem;
    return 0;
nomem:
    PyErr_NoMemory();
    return -1;
}

/* add(text, *, wrapped, ambiguous), both flags required. Called once a profile: the arguments are
 * read by hand from the vector call (PyArg_ParseTupleAndKeywords builds a tuple and a dict first). */
static int add_arguments(PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames, Py_buffer *view,
                         int *wrapped, int *ambiguous) {
    Py_ssize_t nkw = kwnames ? PyTuple_GET_SIZE(kwnames) : 0;
    *wrapped = *ambiguous = -1;
    if (nargs == 1) {
        for (Py_ssize_t i = 0; i < nkw; i++) {
            PyObject *name = PyTuple_GET_ITEM(kwnames, i);
            int *flag = PyUnicode_CompareWithASCIIString(name, "wrapped") == 0     ? wrapped
                        : PyUnicode_CompareWithASCIIString(name, "ambiguous") == 0 ? ambiguous
                                                                                   : NULL;
            if (!flag || *flag >= 0) { *wrapped = *ambiguous = -1; break; }  /* unknown or repeated */
            if ((*flag = PyObject_IsTrue(args[nargs + i])) < 0) return -1;
        }
    }
    if (nargs != 1 || *wrapped < 0 || *ambiguous < 0) {
        PyErr_SetString(PyExc_TypeError, "add() takes the text and the keyword arguments wrapped and ambiguous");
        return -1;
    }
    return PyObject_GetBuffer(args[0], view, PyBUF_SIMPLE);
}

/* Before a member: give back the working space a huge one before it grew (its key, section IDs,
 * a big value or data compacted), so that one huge profile does not keep it for the rest of
 * the run. (Not after it: its key and section IDs are read once it is added.) */
#define BIG_SCRATCH (1 << 20)
static void release_if_big(Buf *buf) {
    if (buf->cap > BIG_SCRATCH) { PyMem_RawFree(buf->p); buf->p = NULL; buf->len = buf->cap = 0; }
}

static void release_big_scratch(Builder *b) {
    Buf *bufs[] = {&b->key, &b->section, &b->scratch, &b->scratch2, &b->type, &b->data,
                   &b->sections.data, &b->sections.valid};
    for (size_t i = 0; i < sizeof bufs / sizeof *bufs; i++) release_if_big(bufs[i]);
    if (b->sections.offsets.cap > BIG_SCRATCH) {  /* (its first offset, 0, stays) */
        int32_t *fit = PyMem_RawRealloc(b->sections.offsets.p, sizeof(int32_t));
        if (fit) { b->sections.offsets.p = (char *)fit; b->sections.offsets.cap = sizeof(int32_t); }
        b->sections.offsets.len = sizeof(int32_t);
    }
}

/* Where every column stands, to roll a refused member's rows back. */
typedef struct { StrMark a[A_COLUMNS], e[E_STRINGS]; IntMark t[E_INTS]; } Marks;

static void mark_columns(Builder *b, Marks *m) {
    for (int i = 0; i < A_COLUMNS; i++) m->a[i] = strcol_mark(&b->a[i]);
    for (int i = 0; i < E_STRINGS; i++) m->e[i] = strcol_mark(&b->e[i]);
    for (int i = 0; i < E_INTS; i++) m->t[i] = intcol_mark(&b->t[i]);
}

static void reset_columns(Builder *b, const Marks *m) {
    for (int i = 0; i < A_COLUMNS; i++) strcol_reset(&b->a[i], m->a[i]);
    for (int i = 0; i < E_STRINGS; i++) strcol_reset(&b->e[i], m->e[i]);
    for (int i = 0; i < E_INTS; i++) intcol_reset(&b->t[i], m->t[i]);
}

/* Append the rows of one profile member's text; OK, or REJECT (counted in refused) / NOMEM with
 * every column rolled back to where it was. */
static int add_member(Builder *b, const char *text, Py_ssize_t len, int wrapped, int ambiguous) {
    Marks marks;
    mark_columns(b, &marks);
    P p = {(const unsigned char *)text, (const unsigned char *)text + len, b};
    b->reason = R_SHAPE;
    release_big_scratch(b);
    int r = parse_profile(&p, wrapped, ambiguous);
    if (r == OK) return OK;
    if (r == REJECT) b->refused[b->reason]++;
    reset_columns(b, &marks);
    return r;
}

static PyObject *Builder_add(Builder *b, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames) {
    Py_buffer view;
    int wrapped, ambiguous;
    if (add_arguments(args, nargs, kwnames, &view, &wrapped, &ambiguous)) return NULL;
    int r = add_member(b, view.buf, view.len, wrapped, ambiguous);
    PyBuffer_Release(&view);
    if (r == NOMEM) return PyErr_NoMemory();
    if (r == REJECT) Py_RETURN_NONE;
    PyObject *sections = PyList_New(0);
    if (!sections) return NULL;
    const int32_t *offsets = (const int32_t *)b->sections.offsets.p;
    for (Py_ssize_t i = 0; i < b->sections.rows; i++) {
        PyObject *id = PyUnicode_DecodeUTF8(strcol_text(&b->sections, i), offsets[i + 1] - offsets[i], "strict");
        if (!id || PyList_Append(sections, id)) { Py_XDECREF(id); Py_DECREF(sections); return NULL; }
        Py_DECREF(id);
    }
    PyObject *key = PyUnicode_DecodeUTF8(b->key.p, b->key.len, "strict");
    if (!key) { Py_DECREF(sections); return NULL; }
    return Py_BuildValue("(NN)", key, sections);
}

/* add_many(buffer, base, spans, *, wrapped, ambiguous): add() for members of ``buffer`` (which
 * holds the input from offset ``base`` on), given as a flat list of their (start, end) offsets,
 * in order, until one is refused; (members added, the key of the last one, "" if none). One call a
 * run of members instead of one a profile: the Python steps a profile costs are gone. */
static PyObject *Builder_add_many(Builder *b, PyObject *args, PyObject *kwds) {
    static char *names[] = {"", "", "", "wrapped", "ambiguous", NULL};
    Py_buffer view;
    Py_ssize_t base;
    PyObject *spans;
    int wrapped = -1, ambiguous = -1;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "y*nO!$pp", names, &view, &base, &PyList_Type, &spans, &wrapped,
                                     &ambiguous))
        return NULL;
    Py_ssize_t n = PyList_GET_SIZE(spans) / 2, done = 0;
    int r = OK;
    release_if_big(&b->last_key);  /* (the key of a huge member of an earlier call) */
    b->last_key.len = 0;
    for (; done < n; done++) {
        Py_ssize_t start = PyLong_AsSsize_t(PyList_GET_ITEM(spans, 2 * done)) - base;
        Py_ssize_t end = PyLong_AsSsize_t(PyList_GET_ITEM(spans, 2 * done + 1)) - base;
        if (PyErr_Occurred()) { r = NOMEM; break; }
        if (start < 0 || end < start || end > view.len) {
            PyErr_SetString(PyExc_ValueError, "add_many(): a span outside the buffer");
            r = NOMEM;
            break;
        }
        if ((r = add_member(b, (const char *)view.buf + start, end - start, wrapped, ambiguous))) break;
        b->last_key.len = 0;
        if ((r = buf_put(&b->last_key, b->key.p, b->key.len))) break;
    }
    PyBuffer_Release(&view);
    if (r == NOMEM) return PyErr_Occurred() ? NULL : PyErr_NoMemory();
    return Py_BuildValue("(nN)", done, PyUnicode_DecodeUTF8(buf_at(&b->last_key, 0), b->last_key.len, "strict"));
}

/* add_run(buffer, base, start, *, wrapped, ambiguous, members, span): the profile members of
 * ``buffer`` (the input from offset ``base`` on) one after the other from offset ``start``, each
 * parsed where it lies (no scan first: the parse finds its end) and followed by a comma, until
 * one is not (the last member, the end of the buffer inside a member, or one this code refuses:
 * the caller's scan takes over from there), or ``members`` were added, or they span ``span``
 * bytes. (members added, the last one's key or "", the offset just past its comma or ``start``,
 * whether a limit stopped it). Nothing is counted as refused: a member may just be incomplete. */
static PyObject *Builder_add_run(Builder *b, PyObject *args, PyObject *kwds) {
    static char *names[] = {"", "", "", "wrapped", "ambiguous", "members", "span", NULL};
    Py_buffer view;
    Py_ssize_t base, start, members = 0, span = 0;
    int wrapped = -1, ambiguous = -1;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "y*nn$ppnn", names, &view, &base, &start, &wrapped, &ambiguous,
                                     &members, &span))
        return NULL;
    const unsigned char *buf = view.buf, *end = buf + view.len;
    if (start < base || start - base > view.len) {
        PyBuffer_Release(&view);
        PyErr_SetString(PyExc_ValueError, "add_run(): start outside the buffer");
        return NULL;
    }
    const unsigned char *from = buf + (start - base), *next = from;
    Py_ssize_t done = 0;
    int r = OK, limited = 0;
    release_if_big(&b->last_key);  /* (the key of a huge member of an earlier call) */
    b->last_key.len = 0;
    /* The parse calls nothing of Python's (its memory is PyMem_Raw*): other threads -- the
     * writers, the gzip read-ahead -- take the GIL meanwhile instead of waiting for a switch. */
    Py_BEGIN_ALLOW_THREADS
    while (!(limited = done >= members || (done && next - from >= span))) {
        Marks marks;
        mark_columns(b, &marks);
        P p = {next, end, b};
        release_big_scratch(b);
        r = parse_member(&p, wrapped, ambiguous);
        if (r == OK) {
            ws(&p);
            if (p.s < end && *p.s == ',') {
                next = p.s + 1;
                done++;
                b->last_key.len = 0;
                if ((r = buf_put(&b->last_key, b->key.p, b->key.len)) == OK) continue;
            } else {
                r = REJECT;
            }
        }
        reset_columns(b, &marks);
        break;
    }
    Py_END_ALLOW_THREADS
    PyBuffer_Release(&view);
    if (r == NOMEM) return PyErr_NoMemory();
    return Py_BuildValue("(nNnO)", done, PyUnicode_DecodeUTF8(buf_at(&b->last_key, 0), b->last_key.len, "strict"),
                         base + (Py_ssize_t)(next - buf), limited ? Py_True : Py_False);
}

/* Validity bytes (one per row) as an Arrow bitmap, or None when no row is null. */
static PyObject *bitmap(const Buf *valid, Py_ssize_t nulls) {
    if (!nulls) Py_RETURN_NONE;
    size_t rows = valid->len;
    PyObject *out = PyBytes_FromStringAndSize(NULL, (rows + 7) / 8);
    if (!out) return NULL;
    unsigned char *bits = (unsigned char *)PyBytes_AS_STRING(out);
    memset(bits, 0, (rows + 7) / 8);
    for (size_t i = 0; i < rows; i++) if (valid->p[i]) bits[i >> 3] |= (unsigned char)(1 << (i & 7));
    return out;
}

static PyObject *bytes_of(const Buf *b) { return PyBytes_FromStringAndSize(b->p ? b->p : "", (Py_ssize_t)b->len); }

/* A column's text bytes handed to Arrow without a copy: the Builder gives its buffer up at
 * take() (and grows a new one), the Chunk exports it read-only and frees it when the last
 * view of it is released. */
typedef struct { PyObject_HEAD char *p; Py_ssize_t len; } Chunk;

static int Chunk_getbuffer(Chunk *c, Py_buffer *view, int flags) {
    return PyBuffer_FillInfo(view, (PyObject *)c, c->p ? c->p : (char *)"", c->len, 1, flags);
}

static void Chunk_dealloc(Chunk *c) {
    PyMem_RawFree(c->p);
    Py_TYPE(c)->tp_free((PyObject *)c);
}

static PyBufferProcs Chunk_as_buffer = {(getbufferproc)Chunk_getbuffer, NULL};

static PyTypeObject ChunkType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "apsis_export._native.Chunk",
    .tp_basicsize = sizeof(Chunk),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "The bytes of one column taken from a Builder (read-only buffer).",
    .tp_dealloc = (destructor)Chunk_dealloc,
    .tp_as_buffer = &Chunk_as_buffer,
};

/* take() in two steps, so that a failure (no memory) leaves every column as it was: first
 * each column's result is made, its text bytes in an empty Chunk; then, once all are made,
 * each Chunk takes its column's buffer and the columns are emptied (nothing can fail). */
static PyObject *strings_result(StrCol *c, Chunk **chunk) {
    *chunk = PyObject_New(Chunk, &ChunkType);
    if (!*chunk) return NULL;
    (*chunk)->p = NULL;
    (*chunk)->len = 0;
    return Py_BuildValue("(NNN)", bitmap(&c->valid, c->nulls), bytes_of(&c->offsets), (PyObject *)*chunk);  /* on success the tuple holds the chunk; on failure it is freed */
}

#define PREALLOCATE_MAX (4 << 20)
static void strings_taken(StrCol *c, Chunk *chunk) {
    size_t cap = c->data.cap;
    if (c->data.len && c->data.len < c->data.cap) {  /* give the spare capacity back (in place) */
        char *fit = PyMem_RawRealloc(c->data.p, c->data.len);
        if (fit) c->data.p = fit;
    }
    chunk->p = c->data.p;
    chunk->len = (Py_ssize_t)c->data.len;
    /* The next batch's text starts at the size this one reached: growing it again from nothing
     * copied about as many bytes as the batch holds (realloc), each batch. (No memory: it grows.)
     * Not past PREALLOCATE_MAX: a batch made big by a few huge values would keep its size. */
    c->data.p = cap > 4096 && cap <= PREALLOCATE_MAX ? PyMem_RawMalloc(cap) : NULL;
    c->data.cap = c->data.p ? cap : 0;
    c->data.len = c->valid.len = 0;
    c->offsets.len = sizeof(int32_t);
    c->rows = c->nulls = 0;
}

static PyObject *ints_result(IntCol *c) {
    return Py_BuildValue("(NN)", bitmap(&c->valid, c->nulls), bytes_of(&c->values));
}

static void ints_taken(IntCol *c) {
    c->values.len = c->valid.len = 0;
    c->nulls = 0;
}

static PyObject *Builder_take(Builder *b, PyObject *Py_UNUSED(ignored)) {
    Py_ssize_t arows = b->a[A_KEY].rows, erows = b->e[E_KEY].rows;
    /* events in table order: key, section, correlation, type, source time, created, data; a string
     * column by its index (E_*), an int64 one by INT_COLUMN of its index */
    int order[] = {E_KEY, E_SECTION, E_CORRELATION, E_TYPE, INT_COLUMN(E_SOURCE_TIME), INT_COLUMN(E_CREATED), E_DATA};
    if (b->iso_times) { order[4] = E_SOURCE_TEXT; order[5] = E_CREATED_TEXT; }
    Chunk *achunks[A_COLUMNS], *echunks[EVENT_COLUMNS];
    PyObject *a = PyTuple_New(A_COLUMNS), *e = PyTuple_New(EVENT_COLUMNS);
    if (!a || !e) goto fail;
    for (int i = 0; i < A_COLUMNS; i++) {
        PyObject *col = strings_result(&b->a[i], &achunks[i]);
        if (!col) goto fail;  /* a chunk made without its tuple: freed with no buffer */
        PyTuple_SET_ITEM(a, i, col);
    }
    for (int i = 0; i < EVENT_COLUMNS; i++) {
        PyObject *col = order[i] >= 0 ? strings_result(&b->e[order[i]], &echunks[i])
                                      : ints_result(&b->t[INT_COLUMN(order[i])]);
        if (!col) goto fail;
        PyTuple_SET_ITEM(e, i, col);
    }
    for (int i = 0; i < A_COLUMNS; i++) strings_taken(&b->a[i], achunks[i]);
    for (int i = 0; i < EVENT_COLUMNS; i++) {
        if (order[i] >= 0) strings_taken(&b->e[order[i]], echunks[i]);
        else ints_taken(&b->t[INT_COLUMN(order[i])]);
    }
    return Py_BuildValue("(nNnN)", arows, a, erows, e);
fail:
    Py_XDECREF(a);
    Py_XDECREF(e);
    return NULL;
}

static PyObject *Builder_rows(Builder *b, void *Py_UNUSED(closure)) {
    return Py_BuildValue("(nn)", b->a[A_KEY].rows, b->e[E_KEY].rows);
}

static PyMethodDef Builder_methods[] = {
    {"add", (PyCFunction)(void (*)(void))Builder_add, METH_FASTCALL | METH_KEYWORDS,
     "add(text, *, wrapped, ambiguous): append the columns of one profile member (\"key\": value) of the "
     "wrapped or bare layout; (key, section IDs), or None if the profile is not one this code maps "
     "(nothing appended then). ambiguous: refuse a profile keyed \"profiles\"."},
    {"add_many", (PyCFunction)(void (*)(void))Builder_add_many, METH_VARARGS | METH_KEYWORDS,
     "add_many(buffer, base, spans, *, wrapped, ambiguous): add() for members of buffer (the input from offset "
     "base on) given as a flat list of (start, end) offsets, until one is refused; (members added, the last "
     "one's key or \"\")."},
    {"add_run", (PyCFunction)(void (*)(void))Builder_add_run, METH_VARARGS | METH_KEYWORDS,
     "add_run(buffer, base, start, *, wrapped, ambiguous, members, span): the members of buffer from offset "
     "start, each parsed where it lies, while each is followed by a comma (at most members of them, spanning "
     "span bytes); (members added, the last one's key or \"\", the offset after its comma, limited)."},
    {"take", (PyCFunction)Builder_take, METH_NOARGS,
     "take(): (attribute rows, attribute column buffers, event rows, event column buffers), emptied."},
    {NULL}};

static PyObject *Builder_refusals(Builder *b, void *Py_UNUSED(closure)) {
    PyObject *out = PyDict_New();
    for (int i = 0; out && i < R_COUNT; i++) {
        if (!b->refused[i]) continue;
        PyObject *count = PyLong_FromSsize_t(b->refused[i]);
        if (!count || PyDict_SetItemString(out, REASONS[i], count)) { Py_XDECREF(count); Py_CLEAR(out); break; }
        Py_DECREF(count);
    }
    return out;
}

static PyGetSetDef Builder_getset[] = {
    {"rows", (getter)Builder_rows, NULL, "(attribute rows, event rows) waiting", NULL},
    {"refusals", (getter)Builder_refusals, NULL, "{reason: profiles refused for it} since the Builder was made", NULL},
    {NULL}};

static PyTypeObject BuilderType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "apsis_export._native.Builder",
    .tp_basicsize = sizeof(Builder),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "Builder(*, json, attributes=True, events=True, iso_times=False): Arrow column buffers of the "
              "attributes and events of profiles in the common shape; json: every text column as JSON (JSONL); "
              "iso_times: event times as ISO 8601 text (else int64 milliseconds).",
    .tp_new = PyType_GenericNew,
    .tp_init = (initproc)Builder_init,
    .tp_dealloc = (destructor)Builder_dealloc,
    .tp_methods = Builder_methods,
    .tp_getset = Builder_getset,
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "apsis_export._native",
                                    "The fast engine's compiled step (see _native.c).", -1, module_methods, NULL, NULL, NULL, NULL};

PyMODINIT_FUNC PyInit__native(void) {
    if (PyType_Ready(&BuilderType) < 0 || PyType_Ready(&ChunkType) < 0) return NULL;
    PyObject *m = PyModule_Create(&module);
    if (!m) return NULL;
    if (PyModule_AddIntConstant(m, "JOIN_MAX_COLUMNS", JOIN_MAX_COLUMNS) < 0) {
        Py_DECREF(m);
        return NULL;
    }
    Py_INCREF(&BuilderType);
    if (PyModule_AddObject(m, "Builder", (PyObject *)&BuilderType) < 0) {
        Py_DECREF(&BuilderType);
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
