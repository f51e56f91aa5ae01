/* Interaction data from text: the "user item [weight]" parser, the file
 * reader, the per-user split and the crash-safe text writer (ALGORITHM.md
 * §2). The in-memory structure lives in dataset.c. */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "dataset_internal.h"
#include "error.h"
#include "idmap_internal.h"
#include "rng.h"

/* Counts are max id + 1 and must fit the int32 index type. */
#define MAX_ID 2147483646u
/* Stream purpose of the split's generator (the batcher uses others). */
#define SPLIT_PURPOSE 0x73706c6974ull /* "split" */
/* The reader's first chunk; it doubles while one line does not fit. */
#define READ_CHUNK ((size_t)1 << 18)

/* ---- the line parser ---------------------------------------------------- */

/* How the parser reads ids (docs/DATA.md "Ids"). */
enum {
    P_DENSE = 0,          /* ids are indices (training file) */
    P_MAP = 1,            /* ids go through p->map, built here (training file) */
    P_RESOLVE_DENSE = 2,  /* ids are indices of p->train (validation, test) */
    P_RESOLVE_MAP = 3     /* ids are looked up in p->through (validation, test) */
};

typedef struct parser {
    const cns__alloc *al;
    char name[128];       /* label for messages, shortened from the left */
    unsigned flags;
    size_t line;          /* 1-based number of the line being parsed */
    int32_t *users, *items;
    size_t n, cap;
    size_t first_cap;     /* the pair arrays' first size, from the input size */
    size_t skipped;
    cns_error *err;
    int mode;             /* P_* */
    int auto_ids;         /* P_DENSE that turns into P_MAP when the first pair has a
                             non-numeric id, or a number is above the bound */
    int64_t max_dense;    /* the host's dense bound, 0 for the derived one */
    int32_t max_u, max_i; /* P_DENSE: largest ids so far, and their first lines */
    size_t max_u_line, max_i_line;
    cns_idmap *map;       /* P_MAP: owned until handed out */
    const cns_dataset *train;   /* P_RESOLVE_*: the training id space */
    const cns_idmap *through;   /* P_RESOLVE_MAP */
    size_t unknown;       /* P_RESOLVE_*: lines skipped for an unknown id */
} parser;

/* bytes: the input size when known (0 otherwise), to size the pair
 * arrays once for typical files (about 8 bytes or more per line). */
static void parser_init(parser *p, const cns__alloc *al, const char *name, unsigned flags,
                        size_t bytes, cns_error *err) {
    memset(p, 0, sizeof *p);
    p->first_cap = bytes / 8 < 4096 ? 4096 : bytes / 8 > ((size_t)1 << 22) ? (size_t)1 << 22 : bytes / 8;
    p->al = al;
    p->flags = flags;
    p->err = err;
    p->max_u = p->max_i = -1;
    size_t len = strlen(name);
    /* Keep the end of a long path: the file name and line number matter most. */
    if (len < sizeof p->name)
        memcpy(p->name, name, len + 1);
    else
        snprintf(p->name, sizeof p->name, "...%s", name + len - (sizeof p->name - 4));
}

static void parser_release(parser *p) {
    cns__free(p->al, p->users);
    cns__free(p->al, p->items);
    p->users = p->items = NULL;
    cns_idmap_free(p->map);
    p->map = NULL;
}

static int is_blank(char c) { return c == ' ' || c == '\t'; }
static int is_digit(char c) { return (unsigned)(unsigned char)c - '0' <= 9; }

/* Parses a decimal id of len bytes. Returns CNS_OK, CNS_E_BAD_ID (not a
 * non-negative integer) or CNS_E_ID_RANGE (> MAX_ID). */
static cns_status parse_id(const char *s, size_t len, int32_t *out) {
    uint64_t v = 0;
    if (len == 0) return CNS_E_BAD_ID;
    for (size_t k = 0; k < len; ++k) {
        unsigned d = (unsigned)(unsigned char)s[k] - '0';
        if (d > 9) return CNS_E_BAD_ID;
        /* Saturate instead of overflowing; the rest must still be digits. */
        if (v <= MAX_ID) v = v * 10 + d;
    }
    if (v > MAX_ID) return CNS_E_ID_RANGE;
    *out = (int32_t)v;
    return CNS_OK;
}

/* The decimal digits of 2^1024 - 2^970: the smallest value that rounds
 * to infinity as a double (python3: print(2**1024 - 2**970)). */
static const char k_overflow_digits[] =
    "179769313486231580793728971405303415079934132710037826936173778980444968"
    "292764750946649017977587207096330286416692887910946555547851940402630657"
    "488671505820681908902000708383676273854845817711531764475730270069855571"
    "366959622842914819860834936475292719074168444365510704342711559699508093"
    "042880177904174497792";

/* Compares the significant digits of a decimal token (its digits in
 * order, leading zeros skipped) with k_overflow_digits, both read as
 * 0.ddd...: returns 1 when the token's are smaller. */
static int below_overflow(const char *s, size_t len) {
    size_t at = 0;
    int started = 0;
    for (size_t k = 0; k < len; ++k) {
        char c = s[k];
        if (c == 'e' || c == 'E') break;
        if (!is_digit(c)) continue; /* sign, decimal point */
        if (!started && c == '0') continue;
        started = 1;
        if (at == sizeof k_overflow_digits - 1) return 0; /* equal so far, more digits: >= */
        if (c != k_overflow_digits[at]) return c < k_overflow_digits[at];
        ++at;
    }
    /* Ran out first: trailing zeros against a non-zero rest, so smaller;
     * all digits equal means the value is the threshold itself. */
    return at < sizeof k_overflow_digits - 1;
}

/* 1 when s[0..len) is a decimal floating-point number whose value is
 * finite as a double, 0 otherwise. Grammar: [+-] digits [. digits]
 * [(e|E) [+-] digits] with at least one mantissa digit. Locale-free and
 * allocation-free (strtod would depend on LC_NUMERIC). */
static int weight_ok(const char *s, size_t len) {
    size_t k = 0;
    if (k < len && (s[k] == '+' || s[k] == '-')) ++k;
    size_t int_digits = 0, frac_digits = 0, lead_int_zeros = 0, lead_frac_zeros = 0;
    int seen_nonzero = 0;
    for (; k < len && is_digit(s[k]); ++k, ++int_digits) {
        if (!seen_nonzero && s[k] == '0') ++lead_int_zeros;
        else seen_nonzero = 1;
    }
    if (k < len && s[k] == '.') {
        for (++k; k < len && is_digit(s[k]); ++k, ++frac_digits) {
            if (!seen_nonzero && s[k] == '0') ++lead_frac_zeros;
            else seen_nonzero = 1;
        }
    }
    if (int_digits + frac_digits == 0) return 0;
    long exp10 = 0;
    if (k < len && (s[k] == 'e' || s[k] == 'E')) {
        ++k;
        int neg = 0;
        if (k < len && (s[k] == '+' || s[k] == '-')) neg = s[k++] == '-';
        size_t first = k;
        for (; k < len && is_digit(s[k]); ++k)
            if (exp10 < 100000) exp10 = exp10 * 10 + (s[k] - '0');
        if (k == first) return 0;
        if (neg) exp10 = -exp10;
    }
    if (k != len) return 0;
    if (!seen_nonzero) return 1; /* zero is finite whatever the exponent */
    /* The value is 0.ddd... * 10^mag with a non-zero first digit. */
    long sig_int = (long)(int_digits - lead_int_zeros);
    if (sig_int > 100000) sig_int = 100000;
    long mag = sig_int > 0 ? sig_int + exp10 : exp10 - (long)lead_frac_zeros;
    if (mag < 309) return 1;  /* < 1e308 < DBL_MAX */
    if (mag > 309) return 0;  /* >= 1e309 > DBL_MAX */
    return below_overflow(s, len);
}

/* Up to this many bytes of an offending field are quoted in a message. */
#define QUOTE 24

static cns_status line_error(parser *p, cns_status st, const char *what, const char *tok,
                             size_t len) {
    return cns__fail(p->err, st, "%s:%zu: %s '%.*s'%s", p->name, p->line, what,
                     (int)(len > QUOTE ? QUOTE : len), tok, len > QUOTE ? "..." : "");
}

/* Doubles the pair arrays (out of push_pair's hot path). */
static cns_status grow_pairs(parser *p) {
    size_t cap = p->cap ? p->cap * 2 : p->first_cap;
    size_t bytes, old = p->cap * sizeof(int32_t);
    if (!cns__mul_ok(cap, sizeof(int32_t), &bytes))
        return cns__fail(p->err, CNS_E_NOMEM, "%s: too many interactions", p->name);
    int32_t *nu = cns__realloc(p->al, p->users, old, bytes);
    if (nu == NULL)
        return cns__fail(p->err, CNS_E_NOMEM, "%s:%zu: out of memory for %zu interactions",
                         p->name, p->line, cap);
    p->users = nu;
    int32_t *ni = cns__realloc(p->al, p->items, old, bytes);
    if (ni == NULL)
        return cns__fail(p->err, CNS_E_NOMEM, "%s:%zu: out of memory for %zu interactions",
                         p->name, p->line, cap);
    p->items = ni;
    p->cap = cap;
    return CNS_OK;
}

static inline cns_status push_pair(parser *p, int32_t u, int32_t i) {
    if (p->n == p->cap) {
        cns_status st = grow_pairs(p);
        if (st != CNS_OK) return st;
    }
    p->users[p->n] = u;
    p->items[p->n] = i;
    p->n++;
    return CNS_OK;
}

/* Applies the skip rule to a line that failed with st. */
static cns_status line_failed(parser *p, cns_status st) {
    if (p->flags & CNS_LOAD_SKIP_BAD) {
        p->skipped++;
        return CNS_OK;
    }
    return st;
}

/* Decimal digits of v >= 0 into dst (12 bytes); returns the length. */
static size_t id_digits(char *dst, int32_t v) {
    char tmp[12];
    size_t n = 0;
    uint32_t x = (uint32_t)v;
    do {
        tmp[n++] = (char)('0' + x % 10);
        x /= 10;
    } while (x != 0);
    for (size_t k = 0; k < n; ++k) dst[k] = tmp[n - 1 - k];
    return n;
}

/* CNS_IDS_AUTO: the file is not dense after all. Every pair so far
 * becomes a pair of map indices (its ids as decimal keys), and the rest
 * of the file is read in map mode. */
static cns_status switch_to_map(parser *p) {
    cns_status st = cns__idmap_new(p->al, &p->map);
    if (st != CNS_OK)
        return cns__fail(p->err, st, "%s:%zu: out of memory for the id map", p->name, p->line);
    for (size_t k = 0; k < p->n; ++k) {
        char buf[12];
        if ((st = cns__idmap_intern(p->map, 0, buf, id_digits(buf, p->users[k]), &p->users[k])) !=
                CNS_OK ||
            (st = cns__idmap_intern(p->map, 1, buf, id_digits(buf, p->items[k]), &p->items[k])) !=
                CNS_OK)
            return cns__fail(p->err, st, "%s:%zu: out of memory for the id map", p->name,
                             p->line);
    }
    p->mode = P_MAP;
    p->auto_ids = 0;
    return CNS_OK;
}

/* A pair of dense ids, checked against the training space or recorded
 * for the bound. */
static inline cns_status accept_dense(parser *p, int32_t u, int32_t i) {
    if (p->mode == P_RESOLVE_DENSE) {
        if (u >= p->train->num_users || i >= p->train->num_items) {
            if (p->flags & CNS_LOAD_SKIP_BAD) {
                p->unknown++;
                return CNS_OK;
            }
            int user = u >= p->train->num_users;
            return cns__fail(p->err, CNS_E_ID_RANGE,
                             "%s:%zu: %s id %d is not in the training set's ids (it has %d %s)",
                             p->name, p->line, user ? "user" : "item", (int)(user ? u : i),
                             (int)(user ? p->train->num_users : p->train->num_items),
                             user ? "users" : "items");
        }
    } else {
        if (u > p->max_u) p->max_u = u, p->max_u_line = p->line;
        if (i > p->max_i) p->max_i = i, p->max_i_line = p->line;
    }
    return push_pair(p, u, i);
}

/* The raw ids of a line in map or resolve-map mode. */
static cns_status accept_raw(parser *p, const char *tok[2], const size_t len[2]) {
    int32_t idx[2];
    for (int f = 0; f < 2; ++f) {
        const char *who = f ? "item" : "user";
        if (p->mode == P_MAP) {
            const char *why = cns__id_bytes_bad(tok[f], len[f]);
            if (why != NULL) {
                char what[64];
                snprintf(what, sizeof what, "%s id %s:", who, why);
                return line_failed(p, line_error(p, CNS_E_BAD_ID, what, tok[f], len[f]));
            }
        } else if (cns__id_bytes_bad(tok[f], len[f]) != NULL ||
                   (idx[f] = cns__idmap_lookup(p->through, f, tok[f], len[f])) < 0) {
            if (p->flags & CNS_LOAD_SKIP_BAD) {
                p->unknown++;
                return CNS_OK;
            }
            char what[64];
            snprintf(what, sizeof what, "%s id is not in the training set's ids:", who);
            return line_error(p, CNS_E_ID_RANGE, what, tok[f], len[f]);
        }
    }
    if (p->mode == P_MAP) {
        /* Only a line that is kept adds ids, so every id has a pair. */
        for (int f = 0; f < 2; ++f) {
            cns_status st = cns__idmap_intern(p->map, f, tok[f], len[f], &idx[f]);
            if (st == CNS_E_ID_RANGE)
                return cns__fail(p->err, st, "%s:%zu: more than 2147483646 distinct %s ids",
                                 p->name, p->line, f ? "item" : "user");
            if (st != CNS_OK)
                return cns__fail(p->err, st, "%s:%zu: out of memory for the id map", p->name,
                                 p->line);
        }
    }
    return push_pair(p, idx[0], idx[1]);
}

/* One line without its '\n'. A malformed line is an error, or with
 * CNS_LOAD_SKIP_BAD a count in p->skipped. */
static cns_status parse_line(parser *p, const char *s, const char *end) {
    if (end > s && end[-1] == '\r') --end; /* CRLF */
    while (s < end && is_blank(*s)) ++s;
    if (s == end || *s == '#') return CNS_OK;
    const char *tok[3];
    size_t len[3];
    size_t nf = 0;
    while (s < end) {
        const char *t = s;
        while (s < end && !is_blank(*s)) ++s;
        if (nf < 3) {
            tok[nf] = t;
            len[nf] = (size_t)(s - t);
        }
        ++nf;
        while (s < end && is_blank(*s)) ++s;
    }
    if (nf != 2 && nf != 3)
        return line_failed(p, cns__fail(p->err, CNS_E_FIELDS,
                                        "%s:%zu: expected 2 or 3 fields, found %zu", p->name,
                                        p->line, nf));
    const int weight_bad = nf == 3 && !weight_ok(tok[2], len[2]);
    cns_status st;
    int32_t u = 0, i = 0;
    if (p->mode == P_DENSE || p->mode == P_RESOLVE_DENSE) {
        cns_status su = parse_id(tok[0], len[0], &u);
        cns_status si = parse_id(tok[1], len[1], &i); /* both, to tell numbers from text */
        /* CNS_IDS_AUTO: a numeral longer than a raw id may be (leading
         * zeros) is left to map mode, which refuses it, so that auto never
         * accepts a line that map mode refuses once it needs a map. */
        const int too_long = p->auto_ids && (len[0] > CNS_IDMAP_MAX_ID_LEN ||
                                             len[1] > CNS_IDMAP_MAX_ID_LEN);
        if (su == CNS_OK && si == CNS_OK && !weight_bad && !too_long)
            return accept_dense(p, u, i);
        const int non_numeric = su == CNS_E_BAD_ID || si == CNS_E_BAD_ID;
        if ((su != CNS_OK || si != CNS_OK || too_long) && !weight_bad && p->auto_ids &&
            (!non_numeric || p->n == 0)) {
            /* A number too large for an index or longer than a raw id, or
             * raw ids from the first pair on: the file has raw ids. After
             * numeric pairs, a non-numeric id is a malformed line, as in
             * dense mode. */
            if ((st = switch_to_map(p)) != CNS_OK) return st;
            return accept_raw(p, tok, len);
        }
        if (p->mode == P_RESOLVE_DENSE && su != CNS_E_BAD_ID && si != CNS_E_BAD_ID &&
            !weight_bad) {
            /* Too large for an index, so outside the training set's ids. */
            if (p->flags & CNS_LOAD_SKIP_BAD) {
                p->unknown++;
                return CNS_OK;
            }
            int f = su != CNS_OK ? 0 : 1;
            return line_error(p, CNS_E_ID_RANGE,
                              f ? "item id is not in the training set's ids:"
                                : "user id is not in the training set's ids:",
                              tok[f], len[f]);
        }
        if (su != CNS_OK && !(p->auto_ids && weight_bad))
            st = line_error(p, su,
                            su == CNS_E_BAD_ID ? "user id is not a non-negative integer:"
                                               : "user id is larger than 2147483646:",
                            tok[0], len[0]);
        else if (si != CNS_OK && !(p->auto_ids && weight_bad))
            st = line_error(p, si,
                            si == CNS_E_BAD_ID ? "item id is not a non-negative integer:"
                                               : "item id is larger than 2147483646:",
                            tok[1], len[1]);
        else
            st = line_error(p, CNS_E_BAD_VALUE, "weight is not a finite decimal number:", tok[2],
                            len[2]);
        return line_failed(p, st);
    }
    /* Raw ids: the weight first, so a bad line adds no id to the map. */
    if (weight_bad)
        return line_failed(p, line_error(p, CNS_E_BAD_VALUE,
                                         "weight is not a finite decimal number:", tok[2], len[2]));
    return accept_raw(p, tok, len);
}

/* Fast path: up to 10 digits with a value <= MAX_ID and no digit after
 * them. Anything else returns 0 and is left to parse_line. */
static inline int fast_id(const char **ps, const char *end, int32_t *out) {
    const char *s = *ps, *stop = end - s > 10 ? s + 10 : end;
    uint64_t v = 0;
    while (s < stop && is_digit(*s)) v = v * 10 + (uint64_t)(*s++ - '0');
    if (s == *ps || v > MAX_ID || (s < end && is_digit(*s))) return 0;
    *ps = s;
    *out = (int32_t)v;
    return 1;
}

/* One pass over the common line "id blanks id [blanks digits] [blanks]
 * [\r]\n". Returns the end of the line (after '\n') with the pair in
 * *u, *i, or NULL when parse_line must judge the line. */
static const char *fast_line(const char *s, const char *end, int32_t *u, int32_t *i) {
    if (!fast_id(&s, end, u) || s == end || !is_blank(*s)) return NULL;
    do ++s;
    while (s < end && is_blank(*s));
    if (!fast_id(&s, end, i)) return NULL;
    while (s < end && is_blank(*s)) ++s;
    if (s < end && is_digit(*s)) {
        /* An integer weight of at most 15 digits is finite. */
        const char *w = s;
        while (s < end && is_digit(*s)) ++s;
        if (s - w > 15) return NULL;
        while (s < end && is_blank(*s)) ++s;
    }
    if (s < end && *s == '\r') ++s;
    return s < end && *s == '\n' ? s + 1 : NULL;
}

/* Parses every complete line of [s, end); with final, the rest too.
 * Returns the status and in *used the bytes consumed. */
static cns_status parse_lines(parser *p, const char *s, const char *end, int final,
                              size_t *used) {
    const char *start = s;
    while (s < end) {
        int32_t u, i;
        const char *next =
            p->mode == P_DENSE || p->mode == P_RESOLVE_DENSE ? fast_line(s, end, &u, &i) : NULL;
        if (next != NULL) {
            p->line++;
            cns_status st = accept_dense(p, u, i);
            if (st != CNS_OK) return st;
            s = next;
            continue;
        }
        const char *nl = memchr(s, '\n', (size_t)(end - s));
        if (nl == NULL) {
            if (!final) break;
            nl = end;
        }
        p->line++;
        cns_status st = parse_line(p, s, nl);
        if (st != CNS_OK) return st;
        s = nl < end ? nl + 1 : end;
    }
    *used = (size_t)(s - start);
    return CNS_OK;
}

/* The largest id dense mode accepts for a file of n interaction lines. */
static int64_t dense_bound(const parser *p) {
    if (p->max_dense > 0) return p->max_dense;
    uint64_t b = (uint64_t)CNS_DENSE_IDS_PER_LINE * p->n + CNS_DENSE_IDS_SLACK;
    return b > MAX_ID ? (int64_t)MAX_ID : (int64_t)b;
}

/* P_DENSE: the bound, checked before any table is sized from an id. */
static cns_status check_dense_bound(parser *p) {
    const int64_t bound = dense_bound(p);
    if (p->max_u <= bound && p->max_i <= bound) return CNS_OK;
    if (p->auto_ids) return switch_to_map(p);
    if (!(p->flags & CNS_LOAD_SKIP_BAD)) {
        int user = p->max_u > bound;
        const char *how = p->max_dense > 0 ? "the host's max_dense_id"
                                           : "16 x interaction lines + 1048575";
        return cns__fail(p->err, CNS_E_ID_RANGE,
                         "%s:%zu: %s id %d is above the dense-id bound %lld (%s); load with "
                         "map ids or raise the bound",
                         p->name, user ? p->max_u_line : p->max_i_line, user ? "user" : "item",
                         (int)(user ? p->max_u : p->max_i), (long long)bound, how);
    }
    /* Skip the lines with an id above the bound (the bound stays the one
     * of the whole file). */
    size_t w = 0;
    for (size_t k = 0; k < p->n; ++k) {
        if (p->users[k] > bound || p->items[k] > bound) continue;
        p->users[w] = p->users[k];
        p->items[w++] = p->items[k];
    }
    p->skipped += p->n - w;
    p->n = w;
    return CNS_OK;
}

/* Builds the dataset (and the map) from the parsed pairs and releases
 * them. */
static cns_status parser_finish(parser *p, cns_dataset **out, cns_idmap **map_out) {
    cns_status st = CNS_OK;
    int32_t nu = 0, ni = 0;
    if (p->mode == P_DENSE) st = check_dense_bound(p);
    if (st == CNS_OK && p->mode == P_MAP) {
        /* Indices in sorted id order (dense files map to themselves). */
        int32_t *pu = NULL, *pi = NULL;
        st = cns__idmap_sort(p->map, &pu, &pi);
        if (st != CNS_OK) {
            st = cns__fail(p->err, st, "%s: out of memory sorting the id map", p->name);
        } else {
            for (size_t k = 0; k < p->n; ++k) {
                p->users[k] = pu[p->users[k]];
                p->items[k] = pi[p->items[k]];
            }
            cns__free(p->al, pu);
            cns__free(p->al, pi);
            nu = cns_idmap_count(p->map, CNS_TABLE_USERS);
            ni = cns_idmap_count(p->map, CNS_TABLE_ITEMS);
        }
    }
    if (p->mode == P_RESOLVE_DENSE || p->mode == P_RESOLVE_MAP) {
        nu = p->train->num_users;
        ni = p->train->num_items;
    }
    if (st == CNS_OK && p->n == 0) {
        if (p->unknown > 0)
            st = cns__fail(p->err, CNS_E_EMPTY,
                           "%s: no interactions (%zu malformed lines and %zu lines with unknown "
                           "ids skipped)",
                           p->name, p->skipped, p->unknown);
        else if (p->skipped > 0)
            st = cns__fail(p->err, CNS_E_EMPTY, "%s: no interactions (%zu malformed lines skipped)",
                           p->name, p->skipped);
        else
            st = cns__fail(p->err, CNS_E_EMPTY,
                           "%s: no interactions (the input is empty or only blank and comment "
                           "lines)",
                           p->name);
    }
    if (st == CNS_OK) {
        st = cns__dataset_build(p->al, p->users, p->items, p->n, nu, ni, out, p->err);
        if (st == CNS_OK) {
            (*out)->skipped = p->skipped;
            (*out)->unknown = p->unknown;
            if (map_out != NULL) {
                *map_out = p->map;
                p->map = NULL;
            }
        }
    }
    parser_release(p);
    return st;
}

/* Checks the arguments every loader shares and sets the parser's mode
 * from opt (NULL: the defaults). legacy: the dataset.h loaders (dense).
 * fn names the public loader in misuse messages ("fn: detail"). */
static cns_status loader_prologue(const char *fn, cns__alloc *al, const cns_allocator *alloc,
                                  cns_dataset **out, cns_idmap **map_out,
                                  const cns_load_options *opt, int legacy, cns_load_options *o,
                                  cns_error *err) {
    if (map_out != NULL) *map_out = NULL;
    if (out == NULL) return cns__fail(err, CNS_E_ARG, "%s: out is NULL", fn);
    *out = NULL;
    cns_load_options_init(o);
    if (opt != NULL) {
        const size_t first = offsetof(cns_load_options, map) + sizeof opt->map;
        if (opt->struct_size < first)
            return cns__fail(err, CNS_E_ARG, "%s: opt->struct_size = %zu, at least %zu expected",
                             fn, opt->struct_size, first);
        memcpy(o, opt, first);
        o->struct_size = sizeof *o;
    }
    if (legacy) o->ids = CNS_IDS_DENSE; /* the dataset.h loaders know no maps */
    if (o->flags & ~CNS_LOAD_SKIP_BAD)
        return cns__fail(err, CNS_E_ARG, "%s: unknown flags 0x%x", fn, o->flags);
    if (o->train == NULL) {
        if (o->map != NULL)
            return cns__fail(err, CNS_E_ARG, "%s: opt->map is set without opt->train", fn);
        if (o->ids != CNS_IDS_AUTO && o->ids != CNS_IDS_DENSE && o->ids != CNS_IDS_MAP)
            return cns__fail(err, CNS_E_ARG, "%s: opt->ids = %d is not a cns_id_mode", fn,
                             (int)o->ids);
        if (o->max_dense_id < 0 || o->max_dense_id > (int64_t)MAX_ID)
            return cns__fail(err, CNS_E_ARG, "%s: opt->max_dense_id = %lld is outside [0, %u]",
                             fn, (long long)o->max_dense_id, MAX_ID);
        if (o->ids != CNS_IDS_DENSE && map_out == NULL)
            return cns__fail(err, CNS_E_ARG, "%s: map_out is NULL but the ids may need a map", fn);
    } else if (o->map != NULL &&
               (cns_idmap_count(o->map, CNS_TABLE_USERS) != o->train->num_users ||
                cns_idmap_count(o->map, CNS_TABLE_ITEMS) != o->train->num_items)) {
        return cns__fail(err, CNS_E_SIZE,
                         "%s: opt->map has %d users and %d items, opt->train %d and %d", fn,
                         (int)cns_idmap_count(o->map, CNS_TABLE_USERS),
                         (int)cns_idmap_count(o->map, CNS_TABLE_ITEMS), (int)o->train->num_users,
                         (int)o->train->num_items);
    }
    if (cns__alloc_init(al, alloc) != CNS_OK)
        return cns__fail(err, CNS_E_ARG, "%s: allocator has a NULL function", fn);
    return CNS_OK;
}

static cns_status parser_setup(parser *p, const cns_load_options *o) {
    if (o->train != NULL) {
        p->train = o->train;
        p->through = o->map;
        p->mode = o->map ? P_RESOLVE_MAP : P_RESOLVE_DENSE;
        return CNS_OK;
    }
    p->max_dense = o->max_dense_id;
    p->auto_ids = o->ids == CNS_IDS_AUTO;
    if (o->ids != CNS_IDS_MAP) return CNS_OK;
    p->mode = P_MAP;
    cns_status st = cns__idmap_new(p->al, &p->map);
    return st == CNS_OK ? st : cns__fail(p->err, st, "%s: out of memory for the id map", p->name);
}

static cns_status load_buffer(const char *fn, const char *data, size_t size, const char *name,
                              const cns_load_options *opt, int legacy, const cns_allocator *alloc,
                              cns_dataset **out, cns_idmap **map_out, cns_error *err) {
    cns__alloc al;
    cns_load_options o;
    cns_status st = loader_prologue(fn, &al, alloc, out, map_out, opt, legacy, &o, err);
    if (st != CNS_OK) return st;
    if (data == NULL && size > 0)
        return cns__fail(err, CNS_E_ARG, "%s: data is NULL but size is %zu", fn, size);
    parser p;
    parser_init(&p, &al, name ? name : "<buffer>", o.flags, size, err);
    size_t used;
    if ((st = parser_setup(&p, &o)) == CNS_OK && data != NULL)
        st = parse_lines(&p, data, data + size, 1, &used);
    if (st != CNS_OK) {
        parser_release(&p);
        return st;
    }
    return parser_finish(&p, out, map_out);
}

CNS_API cns_status cns_dataset_load_buffer(const char *data, size_t size, const char *name,
                                           unsigned flags, const cns_allocator *alloc,
                                           cns_dataset **out, cns_error *err) {
    cns_load_options o;
    cns_load_options_init(&o);
    o.flags = flags;
    return load_buffer("cns_dataset_load_buffer", data, size, name, &o, 1, alloc, out, NULL, err);
}

CNS_API cns_status cns_dataset_load_buffer_ids(const char *data, size_t size, const char *name,
                                               const cns_load_options *opt,
                                               const cns_allocator *alloc, cns_dataset **out,
                                               cns_idmap **map_out, cns_error *err) {
    return load_buffer("cns_dataset_load_buffer_ids", data, size, name, opt, 0, alloc, out, map_out,
                       err);
}

/* Thread-safe strerror (the XSI strerror_r under _POSIX_C_SOURCE). */
static const char *errno_text(int e, char *buf, size_t len) {
    if (strerror_r(e, buf, len) != 0) snprintf(buf, len, "error %d", e);
    return buf;
}

static cns_status load_file(const char *fn, const char *path, const cns_load_options *opt,
                            int legacy, const cns_allocator *alloc, cns_dataset **out,
                            cns_idmap **map_out, cns_error *err) {
    cns__alloc al;
    cns_load_options o;
    cns_status st = loader_prologue(fn, &al, alloc, out, map_out, opt, legacy, &o, err);
    if (st != CNS_OK) return st;
    if (path == NULL) return cns__fail(err, CNS_E_ARG, "%s: path is NULL", fn);
    char ebuf[96];
    int fd;
    do fd = open(path, O_RDONLY);
    while (fd < 0 && errno == EINTR);
    if (fd < 0)
        return cns__fail(err, CNS_E_NOFILE, "cannot open '%s': %s", path,
                         errno_text(errno, ebuf, sizeof ebuf));
    struct stat sb;
    size_t bytes = fstat(fd, &sb) == 0 && sb.st_size > 0 ? (size_t)sb.st_size : 0;
    parser p;
    parser_init(&p, &al, path, o.flags, bytes, err);
    /* Stream the file in chunks: memory stays at the pair arrays plus one
     * chunk, whatever the file size. */
    size_t cap = READ_CHUNK, have = 0;
    char *buf = NULL;
    if ((st = parser_setup(&p, &o)) == CNS_OK && (buf = cns__malloc(&al, cap)) == NULL)
        st = cns__fail(err, CNS_E_NOMEM, "%s: out of memory for the read buffer", p.name);
    while (st == CNS_OK) {
        if (have == cap) { /* one line longer than the buffer: grow it */
            char *nb = cns__realloc(&al, buf, cap, cap * 2);
            if (nb == NULL) {
                st = cns__fail(err, CNS_E_NOMEM, "%s:%zu: out of memory for a long line", p.name,
                               p.line + 1);
                break;
            }
            buf = nb;
            cap *= 2;
        }
        ssize_t got = read(fd, buf + have, cap - have);
        if (got < 0) {
            if (errno == EINTR) continue;
            st = cns__fail(err, CNS_E_IO, "%s: read error after %zu lines: %s", p.name, p.line,
                           errno_text(errno, ebuf, sizeof ebuf));
            break;
        }
        have += (size_t)got;
        size_t used;
        st = parse_lines(&p, buf, buf + have, got == 0, &used);
        if (st != CNS_OK || got == 0) break;
        memmove(buf, buf + used, have - used);
        have -= used;
    }
    cns__free(&al, buf);
    close(fd);
    if (st != CNS_OK) {
        parser_release(&p);
        return st;
    }
    return parser_finish(&p, out, map_out);
}

CNS_API cns_status cns_dataset_load_file(const char *path, unsigned flags,
                                         const cns_allocator *alloc, cns_dataset **out,
                                         cns_error *err) {
    cns_load_options o;
    cns_load_options_init(&o);
    o.flags = flags;
    return load_file("cns_dataset_load_file", path, &o, 1, alloc, out, NULL, err);
}

CNS_API cns_status cns_dataset_load_file_ids(const char *path, const cns_load_options *opt,
                                             const cns_allocator *alloc, cns_dataset **out,
                                             cns_idmap **map_out, cns_error *err) {
    return load_file("cns_dataset_load_file_ids", path, opt, 0, alloc, out, map_out, err);
}

CNS_API void cns_load_options_init(cns_load_options *opt) {
    if (opt == NULL) return;
    memset(opt, 0, sizeof *opt);
    opt->struct_size = sizeof *opt;
    opt->ids = CNS_IDS_AUTO;
}

/* ---- split ---------------------------------------------------------------- */

/* Held-out pairs of a user with n pairs: round(fraction * n), at most
 * n - 1 so every user keeps a training pair (0 for a single pair). */
static size_t held_count(size_t n, double fraction) {
    if (n < 2) return 0;
    double h = floor(fraction * (double)n + 0.5);
    size_t k = (size_t)h;
    return k > n - 1 ? n - 1 : k;
}

CNS_API cns_status cns_dataset_split(const cns_dataset *ds, double fraction, uint64_t seed,
                                     const cns_allocator *alloc, cns_dataset **kept,
                                     cns_dataset **held_out, cns_error *err) {
    if (kept != NULL) *kept = NULL;
    if (held_out != NULL) *held_out = NULL;
    if (ds == NULL || kept == NULL || held_out == NULL)
        return cns__fail(err, CNS_E_ARG, "%s is NULL",
                         ds == NULL ? "ds" : kept == NULL ? "kept" : "held_out");
    if (!(fraction > 0.0 && fraction < 1.0))
        return cns__fail(err, CNS_E_ARG, "fraction %g is not in (0, 1)", fraction);
    cns__alloc al;
    if (cns__alloc_init(&al, alloc) != CNS_OK)
        return cns__fail(err, CNS_E_ARG, "allocator has a NULL function");

    size_t n_held = 0, max_deg = 0;
    for (int32_t u = 0; u < ds->num_users; ++u) {
        size_t deg = ds->user_ptr[u + 1] - ds->user_ptr[u];
        n_held += held_count(deg, fraction);
        if (deg > max_deg) max_deg = deg;
    }
    if (n_held == 0)
        return cns__fail(err, CNS_E_EMPTY,
                         "fraction %g holds out no pair (every user keeps at least one)", fraction);
    size_t n_kept = ds->nnz - n_held;
    int32_t *ku = cns__malloc(&al, n_kept * sizeof *ku);
    int32_t *ki = cns__malloc(&al, n_kept * sizeof *ki);
    int32_t *hu = cns__malloc(&al, n_held * sizeof *hu);
    int32_t *hi = cns__malloc(&al, n_held * sizeof *hi);
    int32_t *row = cns__malloc(&al, max_deg * sizeof *row);
    cns_status st = CNS_OK;
    if (!ku || !ki || !hu || !hi || !row) {
        st = cns__fail(err, CNS_E_NOMEM, "out of memory splitting %zu interactions", ds->nnz);
        goto done;
    }
    size_t wk = 0, wh = 0;
    for (int32_t u = 0; u < ds->num_users; ++u) {
        size_t lo = ds->user_ptr[u], deg = ds->user_ptr[u + 1] - lo;
        size_t h = held_count(deg, fraction);
        memcpy(row, ds->items + lo, deg * sizeof *row);
        /* A stream per user: a user's split depends on (seed, user) only. */
        cns__rng r;
        cns__rng_seed(&r, seed, cns__rng_key(SPLIT_PURPOSE, (uint64_t)u, 0));
        /* Partial Fisher–Yates: the first h slots become a uniform h-subset. */
        for (size_t k = 0; k < h; ++k) {
            size_t j = k + cns__rng_below(&r, (uint32_t)(deg - k));
            int32_t t = row[k];
            row[k] = row[j];
            row[j] = t;
        }
        for (size_t k = 0; k < deg; ++k) {
            if (k < h) {
                hu[wh] = u;
                hi[wh++] = row[k];
            } else {
                ku[wk] = u;
                ki[wk++] = row[k];
            }
        }
    }
    st = cns__dataset_build(&al, ku, ki, n_kept, ds->num_users, ds->num_items, kept, err);
    if (st != CNS_OK) goto done;
    st = cns__dataset_build(&al, hu, hi, n_held, ds->num_users, ds->num_items, held_out, err);
    if (st != CNS_OK) {
        cns_dataset_free(*kept);
        *kept = NULL;
    }
done:
    cns__free(&al, ku);
    cns__free(&al, ki);
    cns__free(&al, hu);
    cns__free(&al, hi);
    cns__free(&al, row);
    return st;
}

/* ---- save ------------------------------------------------------------------ */

/* Writes all of buf, retrying short writes and EINTR. 0 or an errno. */
static int write_all(int fd, const char *buf, size_t n) {
    while (n > 0) {
        ssize_t w = write(fd, buf, n);
        if (w < 0) {
            if (errno == EINTR) continue;
            return errno;
        }
        buf += w;
        n -= (size_t)w;
    }
    return 0;
}

/* Decimal of a non-negative id followed by c; returns the bytes written. */
static size_t put_id(char *dst, int32_t v, char c) {
    char tmp[12];
    size_t n = 0;
    uint32_t x = (uint32_t)v;
    do {
        tmp[n++] = (char)('0' + x % 10);
        x /= 10;
    } while (x != 0);
    for (size_t k = 0; k < n; ++k) dst[k] = tmp[n - 1 - k];
    dst[n] = c;
    return n + 1;
}

/* Creates "<path>.tmp.<random>" with O_EXCL (mode 0666 less the umask,
 * like the final file would get). Returns the fd or -1 with errno set. */
static int create_temp(const char *path, char *tmp, size_t tmp_len) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    cns__rng r;
    /* Entropy only for a unique name; no determinism is wanted here. */
    cns__rng_seed(&r, (uint64_t)ts.tv_nsec ^ ((uint64_t)ts.tv_sec << 30),
                  ((uint64_t)getpid() << 20) ^ (uint64_t)(uintptr_t)tmp);
    for (int attempt = 0; attempt < 100; ++attempt) {
        snprintf(tmp, tmp_len, "%s.tmp.%08x", path, (unsigned)(cns__rng_u64(&r) >> 32));
        int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL, 0666);
        if (fd >= 0 || errno != EEXIST) return fd;
    }
    return -1;
}

/* fsync of the directory holding path, so the rename itself is durable. */
static int sync_parent_dir(const char *path, char *scratch) {
    strcpy(scratch, path);
    char *slash = strrchr(scratch, '/');
    const char *dir = ".";
    if (slash == scratch)
        dir = "/";
    else if (slash != NULL) {
        *slash = '\0';
        dir = scratch;
    }
    int fd = open(dir, O_RDONLY);
    if (fd < 0) return errno;
    int e = fsync(fd) == 0 ? 0 : errno;
    close(fd);
    /* Some file systems cannot fsync a directory; that is not a failure. */
    return e == EINVAL || e == EROFS ? 0 : e;
}

/* Appends the raw id of index (its bytes, at most CNS_IDMAP_MAX_ID_LEN) and c. */
static size_t put_raw(char *dst, const cns_idmap *map, int table, int32_t index, char c) {
    const char *id = NULL;
    size_t len = 0;
    if (cns_idmap_raw(map, (cns_table)table, index, &id, &len) != CNS_OK) return 0;
    memcpy(dst, id, len);
    dst[len] = c;
    return len + 1;
}

static cns_status save_text(const cns_dataset *ds, const cns_idmap *map, const char *path,
                            cns_error *err);

CNS_API cns_status cns_dataset_save_text(const cns_dataset *ds, const char *path,
                                         cns_error *err) {
    return save_text(ds, NULL, path, err);
}

CNS_API cns_status cns_dataset_save_text_ids(const cns_dataset *ds, const cns_idmap *map,
                                             const char *path, cns_error *err) {
    if (ds != NULL && map != NULL &&
        (cns_idmap_count(map, CNS_TABLE_USERS) < ds->num_users ||
         cns_idmap_count(map, CNS_TABLE_ITEMS) < ds->num_items))
        return cns__fail(err, CNS_E_SIZE,
                         "cns_dataset_save_text_ids: the map holds %d users and %d items, "
                         "the dataset %d and %d",
                         (int)cns_idmap_count(map, CNS_TABLE_USERS),
                         (int)cns_idmap_count(map, CNS_TABLE_ITEMS), (int)ds->num_users,
                         (int)ds->num_items);
    return save_text(ds, map, path, err);
}

static cns_status save_text(const cns_dataset *ds, const cns_idmap *map, const char *path,
                            cns_error *err) {
    if (ds == NULL || path == NULL)
        return cns__fail(err, CNS_E_ARG, "%s is NULL", ds == NULL ? "ds" : "path");
    const cns__alloc *al = &ds->al;
    size_t plen = strlen(path);
    if (plen == 0) return cns__fail(err, CNS_E_ARG, "path is empty");
    const size_t buf_cap = (size_t)1 << 16;
    size_t tmp_len = plen + 32;
    char *tmp = cns__malloc(al, tmp_len);
    char *buf = cns__malloc(al, buf_cap);
    char ebuf[96];
    cns_status st = CNS_OK;
    if (tmp == NULL || buf == NULL) {
        st = cns__fail(err, CNS_E_NOMEM, "out of memory saving '%s'", path);
        goto out;
    }
    int fd = create_temp(path, tmp, tmp_len);
    if (fd < 0) {
        st = cns__fail(err, CNS_E_IO, "cannot create a temporary file beside '%s': %s", path,
                       errno_text(errno, ebuf, sizeof ebuf));
        goto out;
    }
    int e = 0;
    size_t used = 0;
    for (int32_t u = 0; u < ds->num_users && e == 0; ++u) {
        for (size_t k = ds->user_ptr[u]; k < ds->user_ptr[u + 1]; ++k) {
            /* Room for the longest line: two raw ids of CNS_IDMAP_MAX_ID_LEN bytes. */
            if (buf_cap - used < 2 * CNS_IDMAP_MAX_ID_LEN + 4) {
                if ((e = write_all(fd, buf, used)) != 0) break;
                used = 0;
            }
            if (map == NULL) {
                used += put_id(buf + used, u, ' ');
                used += put_id(buf + used, ds->items[k], '\n');
            } else {
                used += put_raw(buf + used, map, CNS_TABLE_USERS, u, ' ');
                used += put_raw(buf + used, map, CNS_TABLE_ITEMS, ds->items[k], '\n');
            }
        }
    }
    if (e == 0) e = write_all(fd, buf, used);
    const char *step = "write";
    if (e == 0 && fsync(fd) != 0) {
        e = errno;
        step = "fsync";
    }
    if (close(fd) != 0 && e == 0) {
        e = errno;
        step = "close";
    }
    if (e == 0 && rename(tmp, path) != 0) {
        e = errno;
        step = "rename";
    }
    if (e != 0) {
        unlink(tmp); /* the target is untouched: the rename never happened */
        st = cns__fail(err, CNS_E_IO, "saving '%s': %s failed: %s", path, step,
                       errno_text(e, ebuf, sizeof ebuf));
        goto out;
    }
    /* tmp is no longer needed as a name; reuse it as scratch for the dir. */
    if ((e = sync_parent_dir(path, tmp)) != 0) {
        st = cns__fail(err, CNS_E_IO, "saved '%s' but the directory fsync failed: %s", path,
                       errno_text(e, ebuf, sizeof ebuf));
        goto out;
    }
    cns__ok(err);
out:
    cns__free(al, tmp);
    cns__free(al, buf);
    return st;
}
