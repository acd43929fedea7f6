/* test_cv_features.c — cf_dnn.features (cv_select_columns): the N columns that separate the
 * training classes best on their own are kept, in their original order, in both matrices; a column
 * that separates inversely counts as much as one that separates directly; ties go to the lower
 * column; three classes use the best one-vs-rest separation; N = 0 or N >= width changes nothing.
 * The expected AUCs are worked by hand in the comments. */
#include "check.h"
#include "hust19/cv.h"
#include "hust19/err.h"

#include <string.h>

int main(void)
{
    /* 8 training rows, 5 columns, y = 0 0 0 0 1 1 1 1 */
    int y[8] = {0, 0, 0, 0, 1, 1, 1, 1};
    float Xtr[8 * 5], Xte[2 * 5];
    for (int i = 0; i < 8; i++) {
        float *r = Xtr + i * 5;
        r[0] = 0.5f;                        /* constant: AUC 0.5, separation 0 */
        r[1] = (float)i;                    /* perfect: AUC 1, separation 0.5 */
        r[2] = (float)(i % 2);              /* AUC 0.5 (two of each value per class) */
        r[3] = (float)(8 - i);              /* perfect, inverted: AUC 0, separation 0.5 */
        r[4] = i == 0 || i >= 5 ? 1.f : 0.f; /* 0: 1 0 0 0; 1: 0 1 1 1 -> AUC 12/16, separation 0.25 */
    }
    for (int i = 0; i < 10; i++) Xte[i] = (float)(100 + i);
    int w = 5;
    CHECK_OK(cv_select_columns(Xtr, y, 8, Xte, 2, 2, 2, &w));
    CHECK(w == 2);
    /* columns 1 and 3, in that order */
    for (int i = 0; i < 8; i++) {
        CHECK(Xtr[i * 2 + 0] == (float)i);
        CHECK(Xtr[i * 2 + 1] == (float)(8 - i));
    }
    CHECK(Xte[0] == 101.f && Xte[1] == 103.f && Xte[2] == 106.f && Xte[3] == 108.f);

    /* N = 3 on a fresh copy: 1, 3 and 4 (0.25 beats the 0 of columns 0 and 2) */
    for (int i = 0; i < 8; i++) {
        float *r = Xtr + i * 5;
        r[0] = 0.5f, r[1] = (float)i, r[2] = (float)(i % 2), r[3] = (float)(8 - i);
        r[4] = i == 0 || i >= 5 ? 1.f : 0.f;
    }
    for (int i = 0; i < 10; i++) Xte[i] = (float)(100 + i);
    w = 5;
    CHECK_OK(cv_select_columns(Xtr, y, 8, Xte, 2, 2, 3, &w));
    CHECK(w == 3 && Xtr[3 * 3 + 2] == 0.f && Xtr[5 * 3 + 2] == 1.f && Xte[3] == 106.f && Xte[5] == 109.f);

    /* ties: N = 4 keeps column 0 (constant, separation 0) before column 2 (also 0): the lower one */
    for (int i = 0; i < 8; i++) {
        float *r = Xtr + i * 5;
        r[0] = 0.5f, r[1] = (float)i, r[2] = (float)(i % 2), r[3] = (float)(8 - i);
        r[4] = i == 0 || i >= 5 ? 1.f : 0.f;
    }
    w = 5;
    CHECK_OK(cv_select_columns(Xtr, y, 8, Xte, 0, 2, 4, &w));
    CHECK(w == 4 && Xtr[0] == 0.5f && Xtr[1] == 0.f && Xtr[2] == 8.f && Xtr[3] == 1.f);

    /* N = 0 and N >= width: nothing changes */
    float before[40];
    memcpy(before, Xtr, sizeof before);
    w = 5;
    CHECK_OK(cv_select_columns(Xtr, y, 8, NULL, 0, 2, 0, &w));
    CHECK(w == 5 && !memcmp(before, Xtr, sizeof before));
    CHECK_OK(cv_select_columns(Xtr, y, 8, NULL, 0, 2, 5, &w));
    CHECK(w == 5 && !memcmp(before, Xtr, sizeof before));

    /* three classes: column 1 separates class 2 from the rest perfectly, column 0 only weakly any */
    int y3[6] = {0, 0, 1, 1, 2, 2};
    float X3[6 * 2] = {
        0.f, 0.f, /* class 0 */
        1.f, 0.f, /* class 0 */
        0.f, 0.f, /* class 1 */
        1.f, 0.f, /* class 1 */
        0.f, 1.f, /* class 2 */
        1.f, 1.f, /* class 2 */
    };
    w = 2;
    CHECK_OK(cv_select_columns(X3, y3, 6, NULL, 0, 3, 1, &w));
    CHECK(w == 1);
    for (int i = 0; i < 6; i++) CHECK(X3[i] == (i >= 4 ? 1.f : 0.f));
    CHECK_DONE();
}
