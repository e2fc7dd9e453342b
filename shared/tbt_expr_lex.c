/* tbt_expr_lex.c - tokens of the expression language, with byte offsets. */
#include "tbt_expr_private.h"

#include <stdlib.h>
#include <string.h>

void tbt_xlex_init(xlexer *lx, const char *src, size_t len, size_t start)
{
    lx->src = src;
    lx->len = len;
    lx->pos = start;
    lx->has_peek = false;
}

const char *tbt_xtok_name(xtok_kind k)
{
    switch (k) {
    case XT_EOF: return "the end of the expression";
    case XT_NUM: return "a number";
    case XT_DUR: return "a duration";
    case XT_STR: return "a string";
    case XT_ATTR: return "an attribute";
    case XT_VAR: return "a variable";
    case XT_ENV: return "a variable";
    case XT_IDENT: return "a word";
    case XT_LPAREN: return "'('";
    case XT_RPAREN: return "')'";
    case XT_LBRACK: return "'['";
    case XT_RBRACK: return "']'";
    case XT_COMMA: return "','";
    case XT_PIPE: return "'|'";
    case XT_PLUS: return "'+'";
    case XT_MINUS: return "'-'";
    case XT_STAR: return "'*'";
    case XT_SLASH: return "'/'";
    case XT_CMP: return "a comparator";
    case XT_ERROR: return "an invalid token";
    }
    return "?";
}

static bool is_alpha(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}

static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

static bool is_ident(char c)
{
    return is_alpha(c) || is_digit(c);
}

size_t tbt_xlex_interp_end(const char *src, size_t len, size_t off)
{
    /* src[off] == '$', src[off+1] == '{' */
    int depth = 0;
    for (size_t i = off + 1; i < len; i++) {
        char c = src[i];
        if (c == '"' || c == '\'') {
            size_t j = i + 1;
            while (j < len && src[j] != c) {
                if (src[j] == '\\' && j + 1 < len)
                    j++;
                j++;
            }
            if (j >= len)
                return 0;
            i = j;
        } else if (c == '{') {
            depth++;
        } else if (c == '}') {
            if (--depth == 0)
                return i + 1;
        }
    }
    return 0;
}

/* attr/var names: letters, digits, '_' and '.', plus '-' between word
 * characters when a letter follows (http.request.header.content-type),
 * so that "attr:a - 1" and "attr:a-1" still subtract. */
static size_t scan_name(const char *s, size_t len, size_t i)
{
    while (i < len) {
        char c = s[i];
        if (is_ident(c) || c == '.' || c == '/' || (unsigned char)c >= 0x80) {
            i++;
        } else if (c == '-' && i > 0 && is_ident(s[i - 1]) && i + 1 < len && is_alpha(s[i + 1])) {
            i++;
        } else {
            break;
        }
    }
    while (i > 0 && s[i - 1] == '.')
        i--;
    return i;
}

static xtok lex(xlexer *lx)
{
    const char *s = lx->src;
    size_t n = lx->len;
    while (lx->pos < n && (s[lx->pos] == ' ' || s[lx->pos] == '\t' || s[lx->pos] == '\n' || s[lx->pos] == '\r'))
        lx->pos++;
    xtok t;
    memset(&t, 0, sizeof(t));
    t.off = lx->pos;
    if (lx->pos >= n) {
        t.kind = XT_EOF;
        t.end = n;
        return t;
    }
    char c = s[lx->pos];
    size_t i = lx->pos;
#define ONE(k)          \
    do {                \
        t.kind = (k);   \
        lx->pos = i + 1; \
        t.end = lx->pos; \
        return t;       \
    } while (0)
    switch (c) {
    case '(': ONE(XT_LPAREN);
    case ')': ONE(XT_RPAREN);
    case '[': ONE(XT_LBRACK);
    case ']': ONE(XT_RBRACK);
    case ',': ONE(XT_COMMA);
    case '|': ONE(XT_PIPE);
    case '+': ONE(XT_PLUS);
    case '-': ONE(XT_MINUS);
    case '*': ONE(XT_STAR);
    case '/': ONE(XT_SLASH);
    case '=':
        t.kind = XT_CMP;
        t.cmp = TBT_CMP_EQ;
        lx->pos = i + 1;
        if (i + 1 < n && s[i + 1] == '=') {
            t.kind = XT_ERROR;
            t.error = "'==' is not a comparator; use '='";
            lx->pos = i + 2;
        }
        t.end = lx->pos;
        return t;
    case '!':
        if (i + 1 < n && s[i + 1] == '=') {
            t.kind = XT_CMP;
            t.cmp = TBT_CMP_NE;
            lx->pos = i + 2;
            t.end = lx->pos;
            return t;
        }
        t.kind = XT_ERROR;
        t.error = "unexpected '!'; did you mean '!='?";
        lx->pos = i + 1;
        t.end = lx->pos;
        return t;
    case '<':
    case '>':
        t.kind = XT_CMP;
        if (i + 1 < n && s[i + 1] == '=') {
            t.cmp = c == '<' ? TBT_CMP_LE : TBT_CMP_GE;
            lx->pos = i + 2;
        } else {
            t.cmp = c == '<' ? TBT_CMP_LT : TBT_CMP_GT;
            lx->pos = i + 1;
        }
        t.end = lx->pos;
        return t;
    case '"':
    case '\'': {
        size_t j = i + 1;
        while (j < n && s[j] != c) {
            if (s[j] == '\\' && j + 1 < n && s[j + 1] == c) {
                j += 2;
                continue;
            }
            if (s[j] == '$' && j + 1 < n && s[j + 1] == '{') {
                size_t e = tbt_xlex_interp_end(s, n, j);
                if (e == 0) {
                    t.kind = XT_ERROR;
                    t.error = "unterminated '${' in string";
                    t.off = j;
                    lx->pos = n;
                    t.end = n;
                    return t;
                }
                j = e;
                continue;
            }
            j++;
        }
        if (j >= n) {
            t.kind = XT_ERROR;
            t.error = "unterminated string";
            lx->pos = n;
            t.end = n;
            return t;
        }
        t.kind = XT_STR;
        t.voff = i + 1;
        t.vend = j;
        lx->pos = j + 1;
        t.end = lx->pos;
        return t;
    }
    default:
        break;
    }
#undef ONE
    if (is_digit(c) || (c == '.' && i + 1 < n && is_digit(s[i + 1]))) {
        size_t j = i;
        while (j < n && is_digit(s[j]))
            j++;
        bool frac = false;
        if (j < n && s[j] == '.' && j + 1 < n && is_digit(s[j + 1])) {
            frac = true;
            j++;
            while (j < n && is_digit(s[j]))
                j++;
        }
        if (j < n && (s[j] == 'e' || s[j] == 'E') && j + 1 < n &&
            (is_digit(s[j + 1]) || ((s[j + 1] == '-' || s[j + 1] == '+') && j + 2 < n && is_digit(s[j + 2])))) {
            frac = true;
            j += 2;
            while (j < n && is_digit(s[j]))
                j++;
        }
        size_t numend = j;
        /* optional blank and a unit: a duration */
        size_t k = j;
        while (k < n && s[k] == ' ')
            k++;
        size_t us = k;
        while (k < n && ((s[k] >= 'a' && s[k] <= 'z') || (unsigned char)s[k] == 0xC2 || (unsigned char)s[k] == 0xB5))
            k++;
        size_t ul = k - us;
        bool unit = false;
        if (ul > 0 && (k >= n || !is_ident(s[k]))) {
            const char *u = s + us;
            unit = (ul == 2 && (!memcmp(u, "ns", 2) || !memcmp(u, "us", 2) || !memcmp(u, "ms", 2))) ||
                   (ul == 3 && !memcmp(u, "\xC2\xB5s", 3)) || (ul == 1 && (u[0] == 's' || u[0] == 'm' || u[0] == 'h'));
        }
        if (unit) {
            int64_t ns;
            if (tbt_parse_duration(s + i, k - i, &ns) != 0) {
                t.kind = XT_ERROR;
                t.error = "invalid duration";
                lx->pos = k;
                t.end = k;
                return t;
            }
            t.kind = XT_DUR;
            t.ns = ns;
            lx->pos = k;
            t.end = k;
            return t;
        }
        if (numend < n && is_alpha(s[numend])) {
            t.kind = XT_ERROR;
            t.error = "a number must not be followed by letters (durations take ns, us, ms, s, m or h)";
            lx->pos = numend;
            t.end = numend + 1;
            t.off = numend;
            return t;
        }
        char tmp[64];
        size_t l = numend - i;
        if (l >= sizeof(tmp)) {
            t.kind = XT_ERROR;
            t.error = "number too long";
            lx->pos = numend;
            t.end = numend;
            return t;
        }
        memcpy(tmp, s + i, l);
        tmp[l] = '\0';
        t.kind = XT_NUM;
        t.num = strtod(tmp, NULL);
        t.is_int = !frac && l <= 18;
        t.ival = t.is_int ? strtoll(tmp, NULL, 10) : 0;
        lx->pos = numend;
        t.end = numend;
        return t;
    }
    if (is_alpha(c)) {
        size_t j = i;
        while (j < n && (is_ident(s[j]) || (s[j] == '-' && j + 1 < n && is_alpha(s[j + 1]))))
            j++;
        size_t wl = j - i;
        if (j < n && s[j] == ':' && ((wl == 4 && !memcmp(s + i, "attr", 4)) || (wl == 3 && !memcmp(s + i, "var", 3)) ||
                                     (wl == 3 && !memcmp(s + i, "env", 3)))) {
            size_t ns = j + 1;
            size_t ne = scan_name(s, n, ns);
            if (ne == ns) {
                t.kind = XT_ERROR;
                t.error = wl == 4 ? "expected an attribute name after 'attr:'" : "expected a variable name";
                t.off = ns;
                lx->pos = ns;
                t.end = ns + 1;
                return t;
            }
            t.kind = wl == 4 ? XT_ATTR : (s[i] == 'v' ? XT_VAR : XT_ENV);
            t.voff = ns;
            t.vend = ne;
            lx->pos = ne;
            t.end = ne;
            return t;
        }
        t.voff = i;
        t.vend = j;
        lx->pos = j;
        t.end = j;
        if (wl == 8 && !memcmp(s + i, "contains", 8)) {
            t.kind = XT_CMP;
            t.cmp = TBT_CMP_CONTAINS;
        } else if (wl == 12 && !memcmp(s + i, "not-contains", 12)) {
            t.kind = XT_CMP;
            t.cmp = TBT_CMP_NOT_CONTAINS;
        } else {
            t.kind = XT_IDENT;
        }
        return t;
    }
    t.kind = XT_ERROR;
    t.error = "unexpected character";
    if ((unsigned char)c >= 0x80)
        t.error = "unexpected character (non-ASCII text must be quoted)";
    else if (c == ';' || c == '@' || c == '#' || c == '&' || c == '%' || c == '^' || c == '~' || c == '`' || c == '?' ||
             c == ':' || c == '{' || c == '}' || c == '\\' || c == '$' || c == '.')
        t.error = NULL; /* reported with the character itself */
    lx->pos = i + 1;
    while (lx->pos < n && ((unsigned char)s[lx->pos] & 0xC0) == 0x80)
        lx->pos++;
    t.end = lx->pos;
    return t;
}

xtok tbt_xlex_next(xlexer *lx)
{
    if (lx->has_peek) {
        lx->has_peek = false;
        return lx->peeked;
    }
    return lex(lx);
}

xtok tbt_xlex_peek(xlexer *lx)
{
    if (!lx->has_peek) {
        lx->peeked = lex(lx);
        lx->has_peek = true;
    }
    return lx->peeked;
}
