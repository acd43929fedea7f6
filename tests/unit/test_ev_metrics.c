/* test_ev_metrics.c — confusion counts and the six measures on hand-worked cases (including the
 * 0/0 conventions), Youden and sensitive thresholds, ROC points, multiclass confusion matrices,
 * mean/SD, stratified folds (balance, determinism, key dependence). */
#include "check.h"
#include "hust19/err.h"
#include "hust19/ev.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

int main(void)
{
    /* ---- confusion and measures: 10 samples, hand count at threshold 0.5 (score >= thr). */
    double s[10] = {0.9, 0.8, 0.7, 0.6, 0.55, 0.5, 0.4, 0.3, 0.2, 0.1};
    int y[10] = {1, 1, 0, 1, 0, 1, 0, 1, 0, 0};
    ev_conf c;
    ev_measures m;
    CHECK_OK(ev_confusion(s, y, 10, 0.5, &c));
    /* predicted positive: first 6 -> y = 1,1,0,1,0,1: TP 4, FP 2; rest: y = 0,1,0,0: FN 1, TN 3 */
    CHECK(c.tp == 4 && c.fp == 2 && c.fn == 1 && c.tn == 3);
    ev_measures_from(&c, &m);
    CHECK_NEAR(m.sn, 4.0 / 5.0, 1e-15);
    CHECK_NEAR(m.sp, 3.0 / 5.0, 1e-15);
    CHECK_NEAR(m.ac, 7.0 / 10.0, 1e-15);
    CHECK_NEAR(m.ppv, 4.0 / 6.0, 1e-15);
    CHECK_NEAR(m.npv, 3.0 / 4.0, 1e-15);
    CHECK_NEAR(m.mcc, (4.0 * 3 - 1.0 * 2) / sqrt(5.0 * 5 * 6 * 4), 1e-15);

    /* 0/0: nothing predicted positive -> PPV 0, Sn 0, MCC 0; Sp 1, NPV = 5/10. */
    CHECK_OK(ev_confusion(s, y, 10, 2.0, &c));
    ev_measures_from(&c, &m);
    CHECK(c.tp == 0 && c.fp == 0 && c.tn == 5 && c.fn == 5);
    CHECK(m.ppv == 0.0 && m.sn == 0.0 && m.mcc == 0.0 && m.sp == 1.0);
    CHECK_NEAR(m.npv, 0.5, 1e-15);
    ev_conf z = {0, 0, 0, 0};
    ev_measures_from(&z, &m);
    CHECK(m.sn == 0 && m.sp == 0 && m.ac == 0 && m.ppv == 0 && m.npv == 0 && m.mcc == 0);
    /* Perfect and inverted classifiers: MCC +1 and -1. */
    ev_conf perfect = {3, 0, 4, 0}, inverted = {0, 4, 0, 3};
    ev_measures_from(&perfect, &m);
    CHECK_NEAR(m.mcc, 1.0, 1e-15);
    ev_measures_from(&inverted, &m);
    CHECK_NEAR(m.mcc, -1.0, 1e-15);

    CHECK(ev_confusion(s, y, 10, NAN, &c) == H19_EARG);
    double sinf[2] = {INFINITY, 0.0};
    int y01[2] = {1, 0};
    CHECK(ev_confusion(sinf, y01, 2, 0.5, &c) == H19_EARG);
    int yone[2] = {1, 1}; /* counting needs no negatives */
    CHECK_OK(ev_confusion(s, yone, 2, 0.5, &c));
    CHECK(c.tp == 2 && c.tn + c.fp + c.fn == 0);

    /* ---- thresholds. J(t) over the distinct scores (P = N = 5):
     * t=0.9 (1,0) J=.2; 0.8 (2,0) .4; 0.7 (2,1) .2; 0.6 (3,1) .4; 0.55 (3,2) .2; 0.5 (4,2) .4;
     * 0.4 (4,3) .2; 0.3 (5,3) .4; ... -> ties at .4: the largest threshold, 0.8, wins. */
    double t;
    CHECK_OK(ev_threshold_youden(s, y, 10, &t));
    CHECK(t == 0.8);
    /* Sn >= 0.95 needs all 5 positives: largest such threshold is 0.3; Sn >= 0.6 -> 0.6. */
    CHECK_OK(ev_threshold_sensitive(s, y, 10, 0.95, &t));
    CHECK(t == 0.3);
    CHECK_OK(ev_threshold_sensitive(s, y, 10, 0.6, &t));
    CHECK(t == 0.6);
    CHECK(ev_threshold_sensitive(s, y, 10, 0.0, &t) == H19_EARG);
    /* Ties: all scores equal -> the only threshold. */
    double st[4] = {0.5, 0.5, 0.5, 0.5};
    int yt[4] = {0, 1, 0, 1};
    CHECK_OK(ev_threshold_youden(st, yt, 4, &t));
    CHECK(t == 0.5);

    /* ---- ROC points with ties: scores {3,2,2,1}, y {1,1,0,0}. */
    double sr[4] = {2, 3, 1, 2};
    int yr[4] = {0, 1, 0, 1};
    double *fpr, *tpr, *thr;
    int np;
    CHECK_OK(ev_roc(sr, yr, 4, &fpr, &tpr, &thr, &np));
    CHECK(np == 4);
    if (np == 4) {
        CHECK(thr[0] == 4 && thr[1] == 3 && thr[2] == 2 && thr[3] == 1);
        CHECK(fpr[0] == 0 && fpr[1] == 0 && fpr[2] == 0.5 && fpr[3] == 1);
        CHECK(tpr[0] == 0 && tpr[1] == 0.5 && tpr[2] == 1 && tpr[3] == 1);
    }
    free(fpr);
    free(tpr);
    free(thr);

    /* ---- multiclass: 6 samples, 3 classes. */
    double P[18] = {0.7, 0.2, 0.1,   /* y0 -> 0 */
                    0.4, 0.5, 0.1,   /* y0 -> 1 */
                    0.1, 0.8, 0.1,   /* y1 -> 1 */
                    0.3, 0.3, 0.4,   /* y1 -> 2 */
                    0.2, 0.3, 0.5,   /* y2 -> 2 */
                    0.45, 0.1, 0.45}; /* y2 -> tie 0/2 -> 0 (lowest index) */
    int yc[6] = {0, 0, 1, 1, 2, 2};
    long cm[9];
    CHECK_OK(ev_confusion_argmax(P, yc, 6, 3, cm));
    long want[9] = {1, 1, 0, 0, 1, 1, 1, 0, 1};
    CHECK(memcmp(cm, want, sizeof want) == 0);
    /* Per-class thresholds {0.6, 0.45, 0.2}: margins of sample 1: (-.2, .05, -.1) -> 1; sample 3:
     * (-.3, -.15, .2) -> 2; sample 5: (-.15, -.35, .25) -> 2; sample 0: (.1, -.25, -.1) -> 0. */
    double th[3] = {0.6, 0.45, 0.2};
    CHECK_OK(ev_confusion_thresholds(P, yc, 6, 3, th, cm));
    long want2[9] = {1, 1, 0, 0, 1, 1, 0, 0, 2};
    CHECK(memcmp(cm, want2, sizeof want2) == 0);
    /* Equal thresholds reproduce argmax. */
    double th0[3] = {0.3, 0.3, 0.3};
    long cm2[9];
    CHECK_OK(ev_confusion_thresholds(P, yc, 6, 3, th0, cm2));
    CHECK_OK(ev_confusion_argmax(P, yc, 6, 3, cm));
    CHECK(memcmp(cm, cm2, sizeof cm) == 0);
    ev_conf_from_matrix(want2, 3, 2, &c);
    CHECK(c.tp == 2 && c.fn == 0 && c.fp == 1 && c.tn == 3);
    double auc[3];
    CHECK_OK(ev_ovr_auc(P, yc, 6, 3, auc));
    /* class 0 column: positives {.7,.4}, negatives {.1,.3,.2,.45}: .7 beats 4, .4 beats 3 -> 7/8 */
    CHECK_NEAR(auc[0], 7.0 / 8.0, 1e-15);
    /* Per-class thresholds and CIs equal the binary functions on each column. */
    double tho[3], col[6];
    int yb[6];
    CHECK_OK(ev_ovr_thresholds(P, yc, 6, 3, EV_THR_YOUDEN, 0, tho));
    for (int k = 0; k < 3; k++) {
        for (int i = 0; i < 6; i++) {
            col[i] = P[i * 3 + k];
            yb[i] = yc[i] == k;
        }
        CHECK_OK(ev_threshold_youden(col, yb, 6, &t));
        CHECK(tho[k] == t);
    }
    CHECK(tho[0] == 0.4); /* class 0: J(.7) = 1/2 - 0, J(.45) = 1/2 - 1/4, J(.4) = 1 - 1/4 */
    CHECK_OK(ev_ovr_thresholds(P, yc, 6, 3, EV_THR_SENSITIVE, 0.5, tho));
    CHECK(tho[0] == 0.7 && tho[1] == 0.8 && tho[2] == 0.5);
    ev_delong dk[3];
    CHECK_OK(ev_ovr_delong(P, yc, 6, 3, 0.95, EV_CI_NORMAL, dk));
    CHECK_NEAR(dk[0].auc, auc[0], 1e-15);
    CHECK(dk[0].npos == 2 && dk[0].nneg == 4);
    int ybad[6] = {0, 0, 1, 1, 2, 3};
    CHECK(ev_confusion_argmax(P, ybad, 6, 3, cm) == H19_EARG);

    /* ---- mean and sample SD. */
    double x[4] = {1, 2, 3, 4}, mean, sd;
    CHECK_OK(ev_mean_sd(x, 4, &mean, &sd));
    CHECK_NEAR(mean, 2.5, 1e-15);
    CHECK_NEAR(sd, sqrt(5.0 / 3.0), 1e-15);
    CHECK_OK(ev_mean_sd(x, 1, &mean, &sd));
    CHECK(mean == 1 && isnan(sd));
    CHECK(ev_mean_sd(x, 0, &mean, &sd) == H19_EARG);

    /* ---- stratified folds: 3 unbalanced classes, n = 103, k = 10. */
    enum { N = 103, K = 10 };
    int yf[N], f1[N], f2[N], f3[N], f4[N];
    for (int i = 0; i < N; i++) yf[i] = i < 22 ? 0 : (i < 66 ? 1 : 2);
    CHECK_OK(ev_stratified_folds(yf, N, K, 3, 42, 0, f1));
    CHECK_OK(ev_stratified_folds(yf, N, K, 3, 42, 0, f2));
    CHECK_OK(ev_stratified_folds(yf, N, K, 3, 42, 1, f3));
    CHECK_OK(ev_stratified_folds_keyed(yf, N, K, 3, 42, 0, 1, f4));
    CHECK(memcmp(f1, f2, sizeof f1) == 0); /* deterministic from the key */
    CHECK(memcmp(f1, f3, sizeof f1) != 0); /* another repeat, another split */
    CHECK(memcmp(f1, f4, sizeof f1) != 0); /* inner subkey differs from the outer split */
    int size[K] = {0}, cnt[3][K];
    memset(cnt, 0, sizeof cnt);
    int inrange = 1;
    for (int i = 0; i < N; i++) {
        inrange &= f1[i] >= 0 && f1[i] < K;
        if (f1[i] < 0 || f1[i] >= K) continue;
        size[f1[i]]++;
        cnt[yf[i]][f1[i]]++;
    }
    CHECK(inrange);
    int smin = N, smax = 0;
    for (int k = 0; k < K; k++) {
        smin = size[k] < smin ? size[k] : smin;
        smax = size[k] > smax ? size[k] : smax;
    }
    CHECK(smax - smin <= 1);
    for (int cl = 0; cl < 3; cl++) {
        int lo = N, hi = 0;
        for (int k = 0; k < K; k++) {
            lo = cnt[cl][k] < lo ? cnt[cl][k] : lo;
            hi = cnt[cl][k] > hi ? cnt[cl][k] : hi;
        }
        CHECK_MSG(hi - lo <= 1, "class %d per-fold counts range %d..%d", cl, lo, hi);
    }
    /* Shuffled, not dealt in index order: the first 10 of class 0 are not folds 0..9 in order. */
    int inorder = 1;
    for (int i = 0; i < 10; i++) inorder &= f1[i] == i;
    CHECK(!inorder);
    CHECK(ev_stratified_folds(yf, N, 1, 3, 42, 0, f1) == H19_EARG);
    CHECK(ev_stratified_folds(yf, N, K, 2, 42, 0, f1) == H19_EARG); /* label 2 out of range */
    CHECK_DONE();
}
