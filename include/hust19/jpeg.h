/* jpeg.h — 8-bit grey JPEG files through TurboJPEG (libjpeg-turbo), and contact sheets.
 *
 * Used for the slice previews and the figures of docs/ (windowed CT slices, dcm_window_u8). All
 * functions return a status (include/hust19/err.h) with a message naming the file.
 *
 *     uint8_t *px; int w, h;
 *     if (jpg_read_gray("a.jpg", &px, &w, &h)) fail(h19_errmsg());
 *     jpg_write_gray("b.jpg", px, w, h, 90);
 *     free(px);
 */
#ifndef HUST19_JPEG_H
#define HUST19_JPEG_H

#include <stddef.h>
#include <stdint.h>

/* Write w x h grey pixels (row-major, borrowed) as a baseline grey JPEG, quality 1..100, atomically
 * (path.tmp.<pid>, fsync, rename). */
int jpg_write_gray(const char *path, const uint8_t *px, int w, int h, int quality);

/* Encode to memory: *buf is malloc'd (caller frees), *len its size. */
int jpg_encode_gray(const uint8_t *px, int w, int h, int quality, uint8_t **buf, size_t *len);

/* Read a JPEG as 8-bit grey: colour (YCbCr/RGB) images are converted to their luma by libjpeg
 * (Y = 0.299 R + 0.587 G + 0.114 B, JFIF). *px is malloc'd (w*h, caller frees). Truncated or
 * corrupt data (any libjpeg warning) and CMYK images are errors (H19_EFORMAT / H19_EUNSUP). */
int jpg_read_gray(const char *path, uint8_t **px, int *w, int *h);
int jpg_decode_gray(const uint8_t *buf, size_t len, const char *name, uint8_t **px, int *w, int *h);

/* Tile n grey images (each w x h, imgs[i] borrowed) into a sheet of ncols columns and
 * ceil(n/ncols) rows, with `gap` pixels of `background` between tiles and around the border.
 * *out is malloc'd (*ow x *oh). */
int jpg_tile_gray(const uint8_t *const *imgs, int n, int w, int h, int ncols, int gap, uint8_t background,
                  uint8_t **out, int *ow, int *oh);

/* jpg_tile_gray, then jpg_write_gray to path. */
int jpg_contact_sheet(const char *path, const uint8_t *const *imgs, int n, int w, int h, int ncols, int gap,
                      uint8_t background, int quality);

#endif
