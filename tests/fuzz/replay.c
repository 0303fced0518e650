/* SPDX-License-Identifier: MIT */
/* replay.c -- main() for the fuzz targets without libFuzzer: runs
 * LLVMFuzzerTestOneInput once over each file named, or over each file in
 * each directory named (one level), so that the corpus under
 * tests/fuzz/corpus/ (seeds and every input a fuzzer once failed on) is
 * replayed by `make test` with the project's own compiler and sanitizers.
 * `make fuzz` links the same targets with libFuzzer instead. */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int replay_file(const char *path)
{
  FILE *fp = fopen(path, "rb");
  uint8_t *buf = NULL;
  size_t n = 0, cap = 0, got;
  if (!fp) {
    perror(path);
    return -1;
  }
  do {
    if (n == cap) {
      cap = cap ? 2 * cap : 65536;
      buf = realloc(buf, cap);
      if (!buf)
        abort();
    }
    got = fread(buf + n, 1, cap - n, fp);
    n += got;
  } while (got > 0);
  fclose(fp);
  LLVMFuzzerTestOneInput(buf, n);
  free(buf);
  return 0;
}

int main(int argc, char **argv)
{
  long files = 0;
  for (int i = 1; i < argc; i++) {
    struct stat st;
    if (stat(argv[i], &st) != 0) {
      perror(argv[i]);
      return 2;
    }
    if (S_ISDIR(st.st_mode)) {
      struct dirent **names;
      int n = scandir(argv[i], &names, NULL, alphasort);
      if (n < 0) {
        perror(argv[i]);
        return 2;
      }
      for (int k = 0; k < n; k++) {
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", argv[i], names[k]->d_name);
        if (names[k]->d_name[0] != '.' && stat(path, &st) == 0 &&
            S_ISREG(st.st_mode)) {
          if (replay_file(path) < 0)
            return 2;
          files++;
        }
        free(names[k]);
      }
      free(names);
    } else {
      if (replay_file(argv[i]) < 0)
        return 2;
      files++;
    }
  }
  printf("%s: %ld input(s) replayed\n", argv[0], files);
  return files ? 0 : 2;
}
