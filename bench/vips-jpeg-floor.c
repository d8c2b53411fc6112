/* The bare libvips JPEG floor for bench/codecs-jpeg.ts: one raw RGB8 frame, encoded N times with
 * vips_image_new_from_memory + vips_jpegsave_buffer and the options sharp's .jpeg({quality,
 * chromaSubsampling: "4:2:0"}) passes (4:2:0, Huffman optimisation, no metadata), one frame after
 * another on this thread. The bench links it against sharp's own libvips, so the only difference left
 * between this and our encode path is our path.
 *
 *   vips-jpeg-floor RAW WIDTH HEIGHT QUALITY N  ->  one JSON line
 */
#include <vips/vips.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static double now_us(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec * 1e6 + t.tv_nsec / 1e3;
}

static double cpu_us(void) {
  struct timespec t;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
  return t.tv_sec * 1e6 + t.tv_nsec / 1e3;
}

static size_t encode(const unsigned char *rgb, size_t len, int w, int h, int q) {
  VipsImage *im = vips_image_new_from_memory(rgb, len, w, h, 3, VIPS_FORMAT_UCHAR);
  void *out = NULL;
  size_t olen = 0;
  /* "keep" is 0 = VIPS_FOREIGN_KEEP_NONE (libvips >= 8.15, which sharp ships). */
  if (!im || vips_jpegsave_buffer(im, &out, &olen, "Q", q, "subsample_mode", VIPS_FOREIGN_SUBSAMPLE_ON, "optimize_coding", TRUE, "keep", 0, NULL)) vips_error_exit(NULL);
  g_object_unref(im);
  g_free(out);
  return olen;
}

int main(int argc, char **argv) {
  if (argc < 6) {
    fprintf(stderr, "usage: %s RAW WIDTH HEIGHT QUALITY N\n", argv[0]);
    return 2;
  }
  if (VIPS_INIT(argv[0])) vips_error_exit(NULL);
  int w = atoi(argv[2]), h = atoi(argv[3]), q = atoi(argv[4]), n = atoi(argv[5]);
  size_t len = (size_t)w * h * 3;
  unsigned char *rgb = malloc(len);
  FILE *f = fopen(argv[1], "rb");
  if (!f || fread(rgb, 1, len, f) != len) {
    fprintf(stderr, "%s: short raw file\n", argv[1]);
    return 2;
  }
  fclose(f);
  encode(rgb, len, w, h, q); /* warm-up: the first call loads libvips' operation classes */
  size_t bytes = 0;
  double t0 = now_us(), c0 = cpu_us();
  for (int i = 0; i < n; i++) bytes = encode(rgb, len, w, h, q);
  double wall = now_us() - t0, cpu = cpu_us() - c0;
  printf("{\"us_per_frame\":%.2f,\"cpu_us_per_frame\":%.2f,\"bytes\":%zu,\"frames\":%d,\"vips\":\"%s\"}\n", wall / n, cpu / n, bytes, n, vips_version_string());
  return 0;
}
