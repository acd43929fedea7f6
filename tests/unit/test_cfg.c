/* test_cfg.c — strict YAML: types, ranges, unknown keys with line/column, --set overrides. */
#include "check.h"
#include "hust19/cfg.h"
#include "hust19/err.h"

#include <string.h>

int main(void)
{
    const char *text = "job:\n  name: demo\n  seed: 7\ntrain:\n  lr: 0.001\n  epochs: 5\n  dropout: [0.5, 0.25]\n  use_bn: false\n";
    cfg_doc d;
    CHECK_OK(cfg_load_string(&d, "t.yaml", text));
    int rc;
    cfg_node *job = cfg_map(&d, d.root, "job", 1, &rc);
    CHECK(job && rc == 0);
    const char *name;
    CHECK_OK(cfg_str(&d, job, "name", NULL, 1, &name));
    CHECK(strcmp(name, "demo") == 0);
    long seed;
    CHECK_OK(cfg_int(&d, job, "seed", 0, 0, 100, &seed));
    CHECK(seed == 7);
    cfg_node *train = cfg_map(&d, d.root, "train", 1, &rc);
    double lr;
    CHECK_OK(cfg_double(&d, train, "lr", 0, 0, 1, &lr));
    CHECK_NEAR(lr, 0.001, 0);
    long ep;
    /* out of range */
    rc = cfg_int(&d, train, "epochs", 0, 10, 100, &ep);
    CHECK(rc == H19_ECONFIG);
    CHECK_MSG(strstr(h19_errmsg(), "t.yaml:6:11") != NULL, "%s", h19_errmsg());
    cfg_node *dr = cfg_seq(&d, train, "dropout", 1, &rc);
    CHECK(dr && dr->n == 2);
    double x;
    CHECK_OK(cfg_node_double(&d, dr->items[1], &x));
    CHECK_NEAR(x, 0.25, 0);
    /* use_bn never read -> unknown key error naming line and column */
    rc = cfg_check_unused(&d);
    CHECK(rc == H19_ECONFIG);
    CHECK_MSG(strstr(h19_errmsg(), "t.yaml:8:3: unknown key 'use_bn' in 'train'") != NULL, "%s", h19_errmsg());
    bool b;
    CHECK_OK(cfg_bool(&d, train, "use_bn", true, &b));
    CHECK(b == false);
    CHECK_OK(cfg_check_unused(&d));

    /* --set replaces and creates */
    CHECK_OK(cfg_set(&d, "train.lr=0.5"));
    CHECK_OK(cfg_set(&d, "cv.repeats=3"));
    CHECK_OK(cfg_set(&d, "cv.models=[a, b]"));
    CHECK_OK(cfg_double(&d, train, "lr", 0, 0, 1, &lr));
    CHECK_NEAR(lr, 0.5, 0);
    cfg_node *cv = cfg_map(&d, d.root, "cv", 1, &rc);
    long rep;
    CHECK_OK(cfg_int(&d, cv, "repeats", 0, 0, 10, &rep));
    CHECK(rep == 3);
    cfg_node *models = cfg_seq(&d, cv, "models", 1, &rc);
    CHECK(models && models->n == 2);
    /* wrong type: a string where a number is expected */
    CHECK_OK(cfg_set(&d, "train.lr=fast"));
    rc = cfg_double(&d, train, "lr", 0, 0, 1, &lr);
    CHECK(rc == H19_ECONFIG && strstr(h19_errmsg(), "'train.lr' must be a finite number") != NULL);
    cfg_free(&d);

    /* syntax error and duplicate keys name the place */
    CHECK(cfg_load_string(&d, "bad.yaml", "a: [1, 2\nb: 3\n") == H19_ECONFIG);
    CHECK_MSG(strstr(h19_errmsg(), "bad.yaml:") != NULL, "%s", h19_errmsg());
    CHECK(cfg_load_string(&d, "dup.yaml", "a: 1\nb: 2\na: 3\n") == H19_ECONFIG);
    CHECK_MSG(strstr(h19_errmsg(), "dup.yaml:3:1: duplicate key 'a'") != NULL, "%s", h19_errmsg());
    CHECK(cfg_load(&d, "/nonexistent/x.yaml") == H19_EIO);
    CHECK(strstr(h19_errmsg(), "/nonexistent/x.yaml") != NULL);
    CHECK_DONE();
}
