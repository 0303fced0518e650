/* SPDX-License-Identifier: MIT */
/* jsonx.c -- JSON helpers. cairn_json_locate() is a small scanner over the
 * original text: jansson does not keep positions, and users need to be told
 * where in their job file a problem is. */
#include "core/jsonx.h"
#include "core/codec.h"
#include "core/fsx.h"

#include <ctype.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int cairn_json_load_file(const char *path, json_t **out, struct cairn_buf *text,
                         cairn_err *err)
{
  struct cairn_buf local = {0};
  struct cairn_buf *b = text ? text : &local;
  json_error_t je;
  size_t start = b->len;
  int rc;

  *out = NULL;
  rc = cairn_fs_read_all(path, b, err);
  if (rc < 0)
    goto done;
  /* Positions count from after a byte order mark, as editors show
   * them. */
  cairn_json_drop_bom(b, start);
  *out = json_loadb(b->data + start, b->len - start,
                    JSON_REJECT_DUPLICATES, &je);
  if (!*out)
    rc = CAIRN_RAISE(err, CAIRN_EPARSE, 0, "%s:%d:%d: %s", path,
                     je.line > 0 ? je.line : 1, je.column > 0 ? je.column : 1,
                     je.text);
done:
  cairn_buf_free(&local);
  return rc;
}

int cairn_json_drop_bom(struct cairn_buf *b, size_t start)
{
  if (b->len < start + 3 || memcmp(b->data + start, "\xEF\xBB\xBF", 3) != 0)
    return 0;
  memmove(b->data + start, b->data + start + 3, b->len - start - 3);
  b->len -= 3;
  b->data[b->len] = '\0';
  return 1;
}

const char *cairn_json_error_what(const json_error_t *je,
                                  char out[JSON_ERROR_TEXT_LENGTH])
{
  char *near;
  snprintf(out, JSON_ERROR_TEXT_LENGTH, "%s", je->text);
  near = strstr(out, " near '");
  if (near)
    *near = '\0';
  return out;
}

void cairn_json_map_strings(json_t *v, char *(*fn)(const char *s, void *ud),
                            void *ud)
{
  if (json_is_string(v)) {
    char *e = fn(json_string_value(v), ud);
    if (e)
      json_string_set(v, e);
    free(e);
  } else if (json_is_object(v)) {
    const char *k;
    json_t *child;
    json_object_foreach(v, k, child)
      cairn_json_map_strings(child, fn, ud);
  } else if (json_is_array(v)) {
    size_t i;
    json_t *child;
    json_array_foreach(v, i, child)
      cairn_json_map_strings(child, fn, ud);
  }
}

/* ---- position scanner ------------------------------------------------ */

static const char *ws(const char *p)
{
  while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')
    p++;
  return p;
}

static const char *skip_string(const char *p)
{
  p++; /* opening quote */
  while (*p && *p != '"') {
    if (*p == '\\' && p[1])
      p++;
    p++;
  }
  return *p ? p + 1 : p;
}

static const char *skip_value(const char *p)
{
  int depth = 0;
  p = ws(p);
  if (*p == '"')
    return skip_string(p);
  if (*p != '{' && *p != '[') {
    while (*p && !strchr(",]} \t\r\n", *p))
      p++;
    return p;
  }
  do {
    if (*p == '"') {
      p = skip_string(p);
      continue;
    }
    if (*p == '{' || *p == '[')
      depth++;
    else if (*p == '}' || *p == ']')
      depth--;
    if (*p)
      p++;
  } while (*p && depth > 0);
  return p;
}

/* Compare the JSON string at p (with quotes) with a decoded token, every
 * escape decoded as jansson does. */
static int key_equals(const char *p, const char *tok)
{
  static const char from[] = "nrtbf", to[] = "\n\r\t\b\f";

  p++;
  while (*p && *p != '"') {
    char c[4];
    size_t n = 1, k;
    if (*p != '\\') {
      c[0] = *p++;
    } else if (p[1] != 'u') {
      const char *f = p[1] ? strchr(from, p[1]) : NULL;
      c[0] = f ? to[f - from] : p[1];
      p += 1 + (p[1] != '\0');
    } else if ((k = cairn_json_unescape_u(p + 2, p + 2 + strnlen(p + 2, 10),
                                          c, &n)) != 0) {
      p += 2 + k;
    } else {
      return 0;
    }
    if (strncmp(tok, c, n) != 0)
      return 0;
    tok += n;
  }
  return *tok == '\0';
}

const char *cairn_json_pointer_token(const char *ptr, char *buf, size_t n)
{
  size_t i = 0;
  if (*ptr != '/')
    return NULL;
  ptr++;
  while (*ptr && *ptr != '/') {
    char c = *ptr++;
    if (c == '~' && (*ptr == '0' || *ptr == '1'))
      c = *ptr++ == '0' ? '~' : '/';
    if (i + 1 < n)
      buf[i++] = c;
  }
  buf[i] = '\0';
  return ptr;
}

void cairn_json_locate(const char *text, const char *ptr, int want_key,
                       int *line, int *col)
{
  const char *p = ws(text), *found = p;
  char tok[256];

  while (ptr && *ptr) {
    const char *rest = cairn_json_pointer_token(ptr, tok, sizeof tok);
    const char *hit = NULL, *hit_key = NULL;
    if (!rest)
      break;
    if (*p == '{') {
      p = ws(p + 1);
      while (*p == '"') {
        const char *k = p;
        p = ws(skip_string(p));
        if (*p == ':')
          p = ws(p + 1);
        if (key_equals(k, tok)) {
          hit = p;
          hit_key = k;
          break;
        }
        p = ws(skip_value(p));
        if (*p == ',')
          p = ws(p + 1);
      }
    } else if (*p == '[') {
      long idx = strtol(tok, NULL, 10);
      p = ws(p + 1);
      for (long i = 0; *p && *p != ']'; i++) {
        if (i == idx) {
          hit = hit_key = p;
          break;
        }
        p = ws(skip_value(p));
        if (*p == ',')
          p = ws(p + 1);
      }
    }
    if (!hit)
      break;
    ptr = rest;
    found = (want_key && !*rest) ? hit_key : hit;
    p = hit;
  }
  *line = 1;
  *col = 1;
  for (const char *q = text; q < found && *q; q++) {
    if (*q == '\n') {
      (*line)++;
      *col = 1;
    } else if (((unsigned char)*q & 0xC0) != 0x80) {
      (*col)++;
    }
  }
}

/* ---- pointers -------------------------------------------------------- */

/* A reference token as an array index: 0 or -1. RFC 6901 allows "0" or
 * digits without a leading zero, nothing else: "01", "+1", " 1" and "-0"
 * name no element (strtol read them all as indexes). */
static int array_index(const char *tok, size_t *out)
{
  size_t i = 0;
  if (!tok[0] || (tok[0] == '0' && tok[1]))
    return -1;
  for (; *tok; tok++) {
    if (*tok < '0' || *tok > '9' || i > (SIZE_MAX - 9) / 10)
      return -1;
    i = i * 10 + (size_t)(*tok - '0');
  }
  *out = i;
  return 0;
}

int cairn_json_pointer_valid(const char *ptr)
{
  return ptr && (*ptr == '\0' || *ptr == '/');
}

json_t *cairn_json_pointer_get(const json_t *root, const char *ptr)
{
  char tok[1024];
  const json_t *v = root;

  if (!ptr)
    return NULL;
  while (v && *ptr) {
    ptr = cairn_json_pointer_token(ptr, tok, sizeof tok);
    if (!ptr)
      return NULL;
    if (json_is_object(v)) {
      v = json_object_get(v, tok);
    } else if (json_is_array(v)) {
      size_t i;
      if (array_index(tok, &i) < 0)
        return NULL;
      v = json_array_get(v, i);
    } else {
      return NULL;
    }
  }
  return (json_t *)v;
}

int cairn_json_pointer_set(json_t *root, const char *ptr, json_t *value)
{
  char tok[1024];
  json_t *v = root;

  while (*ptr) {
    const char *rest = cairn_json_pointer_token(ptr, tok, sizeof tok);
    size_t i;
    if (rest && json_is_array(v) && array_index(tok, &i) == 0 &&
        i < json_array_size(v)) {
      /* an element that is there, as cairn_json_pointer_get finds it */
      if (!*rest)
        return json_array_set_new(v, i, value) == 0 ? 0 : -1;
      v = json_array_get(v, i);
      ptr = rest;
      continue;
    }
    if (!rest || !json_is_object(v)) {
      json_decref(value);
      return -1;
    }
    if (!*rest)
      return json_object_set_new(v, tok, value) == 0 ? 0 : -1;
    json_t *child = json_object_get(v, tok);
    if (!child) {
      child = json_object();
      json_object_set_new(v, tok, child);
    }
    v = child;
    ptr = rest;
  }
  json_decref(value);
  return -1;
}

void cairn_json_pointer_append(struct cairn_buf *b, const char *token)
{
  cairn_buf_putc(b, '/');
  for (; *token; token++) {
    if (*token == '~')
      cairn_buf_puts(b, "~0");
    else if (*token == '/')
      cairn_buf_puts(b, "~1");
    else
      cairn_buf_putc(b, *token);
  }
}

char *cairn_json_canonical(const json_t *v)
{
  char *s = json_dumps(v, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY);
  return s ? s : cairn_xstrdup("null");
}

static int hex4(const char *p, const char *end, unsigned *out)
{
  unsigned v = 0;
  if (end - p < 4)
    return -1;
  for (int i = 0; i < 4; i++) {
    int d = cairn_hexval(p[i]);
    if (d < 0)
      return -1;
    v = v * 16 + (unsigned)d;
  }
  *out = v;
  return 0;
}

size_t cairn_json_unescape_u(const char *p, const char *end, char out[4],
                             size_t *out_n)
{
  unsigned cp, lo;

  if (hex4(p, end, &cp) < 0 || cp == 0 || (cp >= 0xDC00 && cp <= 0xDFFF))
    return 0;
  if (cp >= 0xD800 && cp <= 0xDBFF) {
    if (end - p < 10 || p[4] != '\\' || p[5] != 'u' ||
        hex4(p + 6, end, &lo) < 0 || lo < 0xDC00 || lo > 0xDFFF)
      return 0;
    cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
  }
  if (cp < 0x80) {
    out[0] = (char)cp;
    *out_n = 1;
  } else if (cp < 0x800) {
    out[0] = (char)(0xC0 | (cp >> 6));
    out[1] = (char)(0x80 | (cp & 0x3F));
    *out_n = 2;
  } else if (cp < 0x10000) {
    out[0] = (char)(0xE0 | (cp >> 12));
    out[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
    out[2] = (char)(0x80 | (cp & 0x3F));
    *out_n = 3;
  } else {
    out[0] = (char)(0xF0 | (cp >> 18));
    out[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    out[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
    out[3] = (char)(0x80 | (cp & 0x3F));
    *out_n = 4;
  }
  return cp >= 0x10000 ? 10 : 4;
}

size_t cairn_utf8_len(const unsigned char *p, const unsigned char *end)
{
  unsigned c = p[0], cp;
  size_t n;

  if (c < 0x80)
    return 1;
  if (c >= 0xC2 && c <= 0xDF)
    n = 2, cp = c & 0x1F;
  else if (c >= 0xE0 && c <= 0xEF)
    n = 3, cp = c & 0x0F;
  else if (c >= 0xF0 && c <= 0xF4)
    n = 4, cp = c & 0x07;
  else
    return 0;
  if ((size_t)(end - p) < n)
    return 0;
  for (size_t i = 1; i < n; i++) {
    if ((p[i] & 0xC0) != 0x80)
      return 0;
    cp = (cp << 6) | (p[i] & 0x3F);
  }
  if ((n == 3 && (cp < 0x800 || (cp >= 0xD800 && cp <= 0xDFFF))) ||
      (n == 4 && (cp < 0x10000 || cp > 0x10FFFF)))
    return 0;
  return n;
}
