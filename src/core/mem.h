/* SPDX-License-Identifier: MIT */
/* mem.h -- allocation that aborts on OOM, and a capped growable buffer.
 *
 * cairn is a restartable batch job: the checkpoint makes a rerun cheap, so
 * small allocations abort on exhaustion instead of threading an OOM branch
 * through every call site. Data, I/O and network errors still return codes.
 * Everything returned by the x* functions is owned by the caller (free()). */
#ifndef CAIRN_MEM_H
#define CAIRN_MEM_H

#include <stdarg.h>
#include <stddef.h>

void *cairn_xmalloc(size_t n);
void *cairn_xcalloc(size_t n, size_t size);
void *cairn_xrealloc(void *p, size_t n);
char *cairn_xstrdup(const char *s);           /* NULL in, NULL out */
char *cairn_xstrndup(const char *s, size_t n);
/* printf into a new string. */
char *cairn_strfmt(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
char *cairn_vstrfmt(const char *fmt, va_list ap);

/* Growable byte buffer. 'data' is always NUL-terminated after any append
 * (the NUL is not counted in 'len'). 'cap_max' of 0 means unlimited; an
 * append that would grow past it fails with CAIRN_EIO-free -1 and leaves
 * the buffer unchanged (curl dynbuf "toobig"). */
struct cairn_buf {
  char  *data;    /* owned; NULL until the first append */
  size_t len;     /* bytes used, excluding the trailing NUL */
  size_t cap;     /* bytes allocated */
  size_t cap_max; /* hard ceiling on len, 0 = none */
};

/* Returns 0, or -1 when cap_max would be exceeded. */
int  cairn_buf_append(struct cairn_buf *b, const void *p, size_t n);
int  cairn_buf_puts(struct cairn_buf *b, const char *s);
int  cairn_buf_putc(struct cairn_buf *b, char c);
int  cairn_buf_printf(struct cairn_buf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Make room for n more bytes; returns a pointer to the free space. The
 * caller then adds to len itself. Aborts on OOM, NULL past cap_max. */
char *cairn_buf_reserve(struct cairn_buf *b, size_t n);
void cairn_buf_reset(struct cairn_buf *b);    /* len = 0, keeps memory */
void cairn_buf_free(struct cairn_buf *b);     /* releases memory */
/* Empty b and give the whole pages of its allocation back to the system
 * (MADV_DONTNEED: they read as zero when touched again), keeping the
 * allocation itself: for a large buffer about to sit idle, whose memory
 * free() would not return (glibc keeps a freed chunk below its mmap
 * threshold, which it raises after the first large free). */
void cairn_buf_idle(struct cairn_buf *b);
/* Hand the data to the caller (NUL-terminated, never NULL); buffer empties. */
char *cairn_buf_take(struct cairn_buf *b);

#endif
