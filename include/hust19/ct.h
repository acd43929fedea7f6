/* ct.h — the paper's CT slice preprocessing (lung-parenchyma extraction), exact and fast.
 *
 * Input is an 8-bit lung-windowed slice (window it with dcm_window_u8() from dicom.h, centre -600,
 * width 1500). The pipeline (DESIGN.md "The model"; our reading of the ambiguous points is in
 * docs/preprocessing.md) is, on the centre square crop of the slice:
 *   1. mean adaptive threshold, block 15599, C = -96 (cv2.adaptiveThreshold, bit-exact);
 *   2. keep the largest 4-connected foreground component (the body);
 *   3. fill the background by flood fill from the image border;
 *   4. invert; keep the two largest 4-connected components (the lungs);
 *   5. dilate 5x5 x3, erode 5x5 x2, close 10x10 x2, median 21 (cv2 semantics) -> the mask;
 *      multiply the slice by the mask;
 *   6. bilinear resize to 200x200 (cv2.resize INTER_LINEAR, bit-exact fixed point).
 *
 * Worked example:
 *
 *     ct_prep *ctx;
 *     if (ct_prep_create(&ctx, 512, 512)) return ...;          // scratch for slices up to 512x512
 *     uint8_t out[CT_OUT * CT_OUT], mask[512 * 512];
 *     for (each slice) {
 *         dcm_window_u8(hu, w * h, DCM_LUNG_CENTER, DCM_LUNG_WIDTH, u8);
 *         int rc = ct_preprocess(ctx, u8, w, h, out, mask);       // no allocation
 *         if (rc) return rc;                                      // message in h19_errmsg()
 *     }
 *     ct_prep_free(ctx);
 *
 * Images are row-major, 8-bit, tightly packed (stride = width). Binary images hold 0 and 255.
 * A context is not thread-safe: use one per thread.
 */
#ifndef HUST19_CT_H
#define HUST19_CT_H

#include <stdint.h>

#define CT_OUT 200            /* output side (pixels) */
#define CT_THRESH_BLOCK 15599 /* adaptive-threshold block (wider than any slice) */
#define CT_THRESH_C (-96)     /* adaptive-threshold offset C */

typedef struct ct_prep ct_prep;

/* A context owning every scratch buffer for slices up to max_w x max_h (and resize targets up
 * to max(max_w, max_h, CT_OUT) wide). *ctx is owned by the caller: free with ct_prep_free. */
int ct_prep_create(ct_prep **ctx, int max_w, int max_h);
void ct_prep_free(ct_prep *ctx); /* NULL is fine */

/* The whole pipeline on one w x h slice (borrowed). out (200x200) receives the masked, resized
 * slice. mask_out, if not NULL, receives the lung mask (0/255) at the size of the square crop,
 * s x s with s = min(w, h): the mask the slice is multiplied by, before the resize.
 * Allocation-free. Errors: H19_EARG (w or h beyond the context's maximum, or < 1). */
int ct_preprocess(ct_prep *ctx, const uint8_t *in, int w, int h, uint8_t out[CT_OUT * CT_OUT],
                  uint8_t *mask_out);

/* ---- the steps, exposed for tests (each allocation-free; images at most the context's size) ---- */

/* Centre square of a w x h image: side s = min(w, h), top-left (x0, y0) = ((w-s)/2, (h-s)/2)
 * with integer division (the extra pixel of an odd difference goes to the right/bottom). */
void ct_square_crop_box(int w, int h, int *x0, int *y0, int *side);
/* Copy that centre square of in into out (s*s bytes); *side = s. */
void ct_square_crop(const uint8_t *in, int w, int h, uint8_t *out, int *side);

/* cv2.adaptiveThreshold(src, 255, ADAPTIVE_THRESH_MEAN_C, THRESH_BINARY, block, c):
 * dst = 255 if src - mean > -c else 0, where mean = cvRound(box sum / block^2) over the
 * BORDER_REPLICATE image (the sum in exact integers, O(w*h) from prefix sums whatever the block).
 * block odd in 3..32767. The mean is the exactly rounded (half to even) box mean, which is what
 * OpenCV's boxFilter gives both with its integer sums (block^2 <= 2^23) and its double sums
 * (checked against cv2.boxFilter for blocks 3..2899 and 15599): bit-exact with cv2. */
int ct_threshold_mean(ct_prep *ctx, const uint8_t *src, int w, int h, int block, int c,
                      uint8_t *dst);

/* Keep the k largest connected components of the non-zero pixels of src (conn 4 or 8): dst = 255
 * on them, 0 elsewhere (dst may equal src). Equal areas: the component met first in raster
 * order wins. Fewer than k components: all are kept. *ncomp (may be NULL) = components found. */
int ct_keep_largest(ct_prep *ctx, const uint8_t *src, int w, int h, int conn, int k, uint8_t *dst,
                    int *ncomp);

/* In place: set to 255 every 0 pixel connected (conn 4 or 8) to a 0 pixel on the image border,
 * as cv2.floodFill(img, newVal=255) seeded from every border pixel that is 0. */
int ct_fill_border(ct_prep *ctx, uint8_t *img, int w, int h, int conn);

/* In place: p = 255 - p. */
void ct_invert(uint8_t *img, int n);

/* cv2.dilate / cv2.erode with an all-ones kw x kh kernel, anchor (ax, ay), default border (pixels
 * outside the image never win): dst(x,y) = max (min) of src over [x-ax, x-ax+kw-1] x
 * [y-ay, y-ay+kh-1] clipped to the image. van Herk / Gil-Werman running max: O(1) per pixel
 * whatever the kernel. dst may equal src. */
int ct_dilate_rect(ct_prep *ctx, const uint8_t *src, uint8_t *dst, int w, int h, int kw, int kh,
                   int ax, int ay);
int ct_erode_rect(ct_prep *ctx, const uint8_t *src, uint8_t *dst, int w, int h, int kw, int kh,
                  int ax, int ay);

/* cv2.dilate/erode(img, ones(k,k), iterations=it) and cv2.morphologyEx(MORPH_CLOSE, ones(k,k),
 * iterations=it), in place. As OpenCV does, `it` passes of a k x k rectangle are one pass of a
 * (k + (it-1)(k-1)) square with anchor it*(k/2) (so an even k closes with a one-pixel shift). */
enum { CT_MORPH_DILATE = 0, CT_MORPH_ERODE = 1, CT_MORPH_CLOSE = 2 };
int ct_morph(ct_prep *ctx, uint8_t *img, int w, int h, int op, int k, int it);

/* cv2.medianBlur(src, ksize) (BORDER_REPLICATE), ksize odd >= 3, dst != src.
 * ct_median_u8: any 8-bit image, Huang's sliding histogram (O(ksize) per pixel).
 * ct_median_binary: src holding only 0 and 255: the median is the majority, counted with
 * per-column counts (Perreault & Hebert's constant-time scheme with two bins), O(1) per pixel. */
int ct_median_u8(ct_prep *ctx, const uint8_t *src, uint8_t *dst, int w, int h, int ksize);
int ct_median_binary(ct_prep *ctx, const uint8_t *src, uint8_t *dst, int w, int h, int ksize);

/* cv2.resize(src, (dw, dh), interpolation=INTER_LINEAR) for 8-bit: half-pixel centres, edge
 * clamping, OpenCV's 11-bit fixed-point weights and its rounding. dw <= the context's resize width. */
int ct_resize_linear(ct_prep *ctx, const uint8_t *src, int sw, int sh, uint8_t *dst, int dw, int dh);

#endif
