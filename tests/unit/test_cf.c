/* test_cf.c — CSV reading, CF cell parsing, the CF matrix, labels, cohorts and equation (9). */
#include "check.h"
#include "hust19/cf.h"
#include "hust19/csv.h"
#include "hust19/err.h"

#include <math.h>
#include <string.h>

static const char *CATALOG =
    "version: 1\n"
    "features:\n"
    "  - {column: Age, abbr: AGE, category: basic, unit: years}\n"
    "  - {column: Gender, abbr: SEX, category: basic, kind: binary, levels: {Male: 0, Female: 1}}\n"
    "  - {column: Udis, abbr: UDIS, category: basic, kind: binary, levels: {\"No underlying disease\": 1}, other: 0}\n"
    "  - {column: Hb, abbr: HGB, category: routine_blood, unit: g/L, normal: [130, 175]}\n";

int main(void)
{
    double v;
    uint8_t st;
    int8_t fl;
    CHECK_OK(cf_parse_cell("38.5°C", &v, &st, &fl));
    CHECK(v == 38.5 && st == CF_EXACT && fl == 0);
    CHECK_OK(cf_parse_cell("35.80 ↓", &v, &st, &fl));
    CHECK(v == 35.8 && st == CF_EXACT && fl == -1);
    CHECK_OK(cf_parse_cell("22.00 ↑", &v, &st, &fl));
    CHECK(v == 22.0 && fl == 1);
    CHECK_OK(cf_parse_cell("<0.13", &v, &st, &fl));
    CHECK(v == 0.13 && st == CF_BELOW);
    CHECK_OK(cf_parse_cell(">8.00", &v, &st, &fl));
    CHECK(v == 8.0 && st == CF_ABOVE);
    CHECK_OK(cf_parse_cell("", &v, &st, &fl));
    CHECK(isnan(v) && st == CF_MISSING);
    CHECK(cf_parse_cell("abc", &v, &st, &fl) == H19_EFORMAT);
    CHECK(cf_parse_cell("nan", &v, &st, &fl) == H19_EFORMAT);
    CHECK(cf_parse_cell("1.2.3", &v, &st, &fl) == H19_EFORMAT);
    CHECK(cf_parse_cell("3 5", &v, &st, &fl) == H19_EFORMAT);

    /* CSV: quotes, embedded commas and newlines, CRLF */
    const char *text = "id,Age,Gender,Udis,Hb,Outcome\r\n1,81,Male,\"Hypertension, Diabetes\",123.00 ↓,Severe\r\n"
                       "2,50,Female,No underlying disease,,Mild\n3,\"6\n0\",Male,,150,Control\n";
    csv_table t;
    CHECK_OK(csv_parse("t.csv", text, strlen(text), 1, &t));
    CHECK(t.nrows == 4);
    CHECK(strcmp(csv_cell(&t, 1, 3), "Hypertension, Diabetes") == 0);
    CHECK(t.line[3] == 4);
    CHECK(strcmp(csv_cell(&t, 3, 1), "6\n0") == 0);

    cf_catalog cat;
    {
        FILE *f = fopen("test_cf_catalog.yaml", "w");
        fputs(CATALOG, f);
        fclose(f);
    }
    CHECK_OK(cf_catalog_load("test_cf_catalog.yaml", &cat));
    CHECK(cat.n == 4 && cat.f[3].has_normal && cat.f[1].kind == CF_BINARY);
    cf_data d;
    /* row 3 has "6\n0" for Age: not a number -> error naming line 4 and the column */
    int rc = cf_data_build(&t, &cat, "id", &d);
    CHECK(rc == H19_EFORMAT);
    CHECK_MSG(strstr(h19_errmsg(), "t.csv:4: column 'Age'") != NULL, "%s", h19_errmsg());
    csv_free(&t);

    const char *good = "id,Age,Gender,Udis,Hb,Outcome\n1,81,Male,\"Hypertension, Diabetes\",123.00 ↓,Severe\n"
                       "2,50,Female,No underlying disease,,Mild\n3,60,Male,,152.5,Control\n4,70,Male,,,Weird\n";
    CHECK_OK(csv_parse("g.csv", good, strlen(good), 1, &t));
    CHECK_OK(cf_data_build(&t, &cat, "id", &d));
    CHECK(d.n == 4 && d.p == 4);
    CHECK(d.x[0 * 4 + 2] == 0 && d.x[1 * 4 + 2] == 1 && isnan(d.x[2 * 4 + 2]));
    CHECK(d.x[1 * 4 + 1] == 1);
    CHECK(d.flag[0 * 4 + 3] == -1);

    /* equation (9): Hb with the normal range, Age with the training rows' range */
    int train[2] = {0, 1}, rows[3] = {0, 1, 2};
    cf_norm_opts o = {0.5, 0, 0, 0, 0};
    float out[12];
    CHECK_OK(cf_normalise(&d, &cat, train, 2, rows, 3, &o, out));
    CHECK_NEAR(out[0 * 4 + 0], 1.0, 1e-6);                  /* age 81: max of training */
    CHECK_NEAR(out[1 * 4 + 0], 0.0, 1e-6);                  /* age 50: min */
    CHECK_NEAR(out[2 * 4 + 0], (60.0 - 50) / 31.0, 1e-6);   /* test row uses the training range */
    CHECK_NEAR(out[0 * 4 + 3], (123.0 - 130) / 45.0, 1e-6); /* normal range */
    CHECK_NEAR(out[1 * 4 + 3], 0.5, 0);                     /* missing */
    CHECK_NEAR(out[2 * 4 + 2], 0.5, 0);                     /* binary missing */
    /* range: data ignores the catalog's normal range: Hb then uses the training rows (rows 0 and
     * 2 here: 123 and 152.5) */
    int train2[2] = {0, 2};
    cf_norm_opts od = {0.5, 0, 0, 0, 1};
    CHECK_OK(cf_normalise(&d, &cat, train2, 2, rows, 3, &od, out));
    CHECK_NEAR(out[0 * 4 + 3], 0.0, 1e-6);
    CHECK_NEAR(out[2 * 4 + 3], 1.0, 1e-6);
    /* missing indicators append one column per numeric CF (Age, Hb) */
    cf_norm_opts oi = {0.5, 0, 0, 1, 0};
    CHECK(cf_norm_width(&cat, &oi) == 6);
    float outi[18];
    CHECK_OK(cf_normalise(&d, &cat, train, 2, rows, 3, &oi, outi));
    CHECK_NEAR(outi[1 * 6 + 5], 0.0, 0); /* row 1: Hb not measured */
    CHECK_NEAR(outi[0 * 6 + 5], 1.0, 0);

    /* labels: 'Weird' is outside the map -> error naming line 5 */
    cfg_doc jd;
    CHECK_OK(cfg_load_string(&jd, "job.yaml",
                             "m:\n  label_column: Outcome\n  classes: [control, t1, t2]\n"
                             "  map: {Control: control, Mild: t1, Severe: t2}\n"));
    cf_outcome oc;
    CHECK_OK(cf_outcome_parse(&jd, cfg_find(jd.root, "m"), "m", &oc));
    int y[4];
    rc = cf_labels_build(&t, &oc, "job.yaml", y);
    CHECK(rc == H19_EFORMAT);
    CHECK_MSG(strstr(h19_errmsg(), "g.csv:5: column 'Outcome': label 'Weird'") != NULL, "%s", h19_errmsg());
    cf_outcome_free(&oc);
    cfg_free(&jd);

    /* cohorts by id ranges */
    CHECK_OK(cfg_load_string(&jd, "job.yaml", "c:\n  id_ranges: {\"1\": [1, 2], \"2\": [3, 3]}\n"));
    cf_cohorts cc;
    CHECK_OK(cf_cohorts_parse(&jd, cfg_find(jd.root, "c"), &cc));
    int coh[4];
    CHECK_OK(cf_cohorts_assign(&t, &d, &cc, coh));
    CHECK(coh[0] == 1 && coh[1] == 1 && coh[2] == 2 && coh[3] == 0);
    cf_cohorts_free(&cc);
    cfg_free(&jd);

    cf_data_free(&d);
    csv_free(&t);

    /* truncated CSV (quote never closes) and wrong field count name the line */
    const char *trunc = "a,b\n1,\"unterminated\n";
    CHECK(csv_parse("tr.csv", trunc, strlen(trunc), 1, &t) == H19_EFORMAT);
    CHECK_MSG(strstr(h19_errmsg(), "tr.csv:2: quoted field never closed") != NULL, "%s", h19_errmsg());
    const char *wide = "a,b\n1,2\n1,2,3\n";
    CHECK(csv_parse("w.csv", wide, strlen(wide), 1, &t) == H19_EFORMAT);
    CHECK_MSG(strstr(h19_errmsg(), "w.csv:3: 3 fields, expected 2") != NULL, "%s", h19_errmsg());
    cf_catalog_free(&cat);
    CHECK_DONE();
}
